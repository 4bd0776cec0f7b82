"""Pairs: the ratios of the targets, each from measures of both sides run seconds apart.

The sections ``enqueue``, ``drain`` and ``peers`` measure taskq and PgQueuer minutes apart; on
a machine whose speed drifts by a third within minutes (2 shared cores), a ratio of two
sections' figures swings as much. Here each round measures both sides one after the other: the
enqueues (one at a time, and batches of 1,000, as the sections time them), then the drains
(:mod:`bench.drain`) of taskq at the concurrency that drained fastest in this run's ``drain``
section and of PgQueuer at its fastest ``--batch-size`` of ``peers``, by one process and by
two; one process also drains the 200-slot queue and the unlimited one at a concurrency of 200
in the round (a limit that never holds the worker back). The order turns from round to
round, so that neither side always goes first. A round's ratio divides two figures of that
round; each ratio's figure is the median of the rounds', with every round's rates beside it.

Without the sections it takes its settings from (``--only pairs``), it uses the largest of
the scale's: taskq's concurrency 1,000, PgQueuer's batch 1,000.
"""

from __future__ import annotations

import asyncio
import statistics

from bench import peers
from bench.common import Progress, Recorder
from bench.scale import Scale
from bench.server import BenchServer
from bench.taskq_bench import drain_taskq, enqueue_many_seconds, enqueue_single_seconds

PROCESSES = (1, 2)


def steps(scale: Scale) -> int:
    # a round: the enqueues of both; the drains of one process (taskq, PgQueuer, the
    # slot-limited queue and the unlimited one at its concurrency) and of two (taskq, PgQueuer)
    return 1 + scale.paired_rounds * (2 + 4 + 2)


def _enqueue_seconds(server: BenchServer, scale: Scale, name: str) -> tuple[float, float]:
    """The seconds of the single enqueues and of the batches (as the sections ``enqueue`` and
    ``peers`` time them) of taskq's client or PgQueuer, on a fresh database."""
    if name == "pgqueuer":
        return peers.pgqueuer_enqueue_seconds(server, scale)
    url = server.create_database("enqueue", taskq=True)
    try:
        single = asyncio.run(enqueue_single_seconds(url, scale.enqueue_single))
        many = asyncio.run(
            enqueue_many_seconds(url, scale.enqueue_many_batches, scale.enqueue_many_size)
        )
    finally:
        server.drop_database(url)
    return single, many


def _setting(recorder: Recorder, system: str, processes: int, key: str, default: int) -> int:
    best = recorder.best(system, "drain", processes=processes)
    return int(best.settings[key]) if best else default


def _drain(
    server: BenchServer, scale: Scale, name: str, processes: int, concurrency: int, batch: int
) -> float:
    """The rate of one drain: ``taskq`` (the unlimited queue at ``concurrency``), ``pgqueuer``
    (at ``batch``), ``slots`` (the slot-limited queue at as many as its slots) or ``unlimited``
    (the unlimited queue at that concurrency)."""
    if name == "pgqueuer":
        return peers.drain_pgqueuer(server, scale.drain_tasks, processes, batch).rate
    if name == "taskq":
        return drain_taskq(server, scale.drain_tasks, processes, concurrency).rate
    slots = scale.drain_slots
    return drain_taskq(
        server,
        scale.drain_tasks,
        processes,
        slots,
        queue_concurrency=slots if name == "slots" else None,
    ).rate


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    progress.start("paired drains: PgQueuer from PyPI into bench/.peers-venv")
    versions = peers.ensure_venv()
    progress.advance()
    _enqueues(server, recorder, scale, progress, versions.get("pgqueuer"))
    for processes in PROCESSES:
        concurrency = _setting(
            recorder, "taskq", processes, "concurrency", max(scale.taskq_concurrency)
        )
        batch = _setting(recorder, "pgqueuer", processes, "batch_size", max(scale.pgqueuer_batch))
        names = ["taskq", "pgqueuer"]
        if processes == 1:
            names += ["slots", "unlimited"]
        rates: dict[str, list[float]] = {name: [] for name in names}
        orders: list[str] = []
        for round_ in range(scale.paired_rounds):
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            orders.append(" ".join(order))
            for name in order:
                progress.start(
                    f"paired drains, {processes} process(es), round {round_ + 1} of "
                    f"{scale.paired_rounds}: {name}"
                )
                rate = _drain(server, scale, name, processes, concurrency, batch)
                rates[name].append(round(rate, 1))
                progress.advance()
        common = {
            "processes": processes,
            "count": scale.drain_tasks,
            "rounds": scale.paired_rounds,
            "concurrency": concurrency,
            "pgqueuer_batch_size": batch,
            "pgqueuer": versions.get("pgqueuer"),
        }
        _add_ratio(
            recorder,
            "drain / PgQueuer (paired)",
            rates["taskq"],
            rates["pgqueuer"],
            {**common, "queue": "unlimited"},
            {"taskq_tasks_per_s": rates["taskq"], "pgqueuer_tasks_per_s": rates["pgqueuer"]},
            orders,
        )
        if processes == 1:
            _add_ratio(
                recorder,
                "slot-limited / unlimited drain (paired)",
                rates["slots"],
                rates["unlimited"],
                {
                    **common,
                    "concurrency": scale.drain_slots,
                    "slots": scale.drain_slots,
                    "queue": f"{scale.drain_slots} slots",
                },
                {
                    "slot_limited_tasks_per_s": rates["slots"],
                    "unlimited_tasks_per_s": rates["unlimited"],
                },
                orders,
            )


def _enqueues(
    server: BenchServer,
    recorder: Recorder,
    scale: Scale,
    progress: Progress,
    version: str | None,
) -> None:
    single: dict[str, list[float]] = {"taskq": [], "pgqueuer": []}
    batched: dict[str, list[float]] = {"taskq": [], "pgqueuer": []}
    orders: list[str] = []
    total = scale.enqueue_many_batches * scale.enqueue_many_size
    for round_ in range(scale.paired_rounds):
        order = ["taskq", "pgqueuer"] if round_ % 2 == 0 else ["pgqueuer", "taskq"]
        orders.append(" ".join(order))
        for name in order:
            progress.start(f"paired enqueues, round {round_ + 1} of {scale.paired_rounds}: {name}")
            one, many = _enqueue_seconds(server, scale, name)
            single[name].append(round(scale.enqueue_single / one, 1))
            batched[name].append(round(total / many, 1))
            progress.advance()
    common = {"clients": 1, "rounds": scale.paired_rounds, "pgqueuer": version}
    _add_ratio(
        recorder,
        "enqueue / PgQueuer (paired)",
        single["taskq"],
        single["pgqueuer"],
        {**common, "via": "client", "batch_size": 1, "count": scale.enqueue_single},
        {"taskq_tasks_per_s": single["taskq"], "pgqueuer_tasks_per_s": single["pgqueuer"]},
        orders,
    )
    _add_ratio(
        recorder,
        "enqueue_many / PgQueuer batch (paired)",
        batched["taskq"],
        batched["pgqueuer"],
        {**common, "via": "client", "batch_size": scale.enqueue_many_size, "count": total},
        {"taskq_tasks_per_s": batched["taskq"], "pgqueuer_tasks_per_s": batched["pgqueuer"]},
        orders,
    )


def _add_ratio(
    recorder: Recorder,
    measure: str,
    mine: list[float],
    other: list[float],
    settings: dict[str, object],
    rates: dict[str, list[float]],
    orders: list[str],
) -> None:
    ratios = [round(a / b, 3) for a, b in zip(mine, other, strict=True)]
    recorder.add(
        "taskq",
        measure,
        round(statistics.median(ratios), 3),
        "x",
        settings,
        {
            "ratios": ratios,
            **rates,
            "orders": orders,
            "measured_as": "the median of the rounds' ratios, each the ratio of two figures "
            "of one round (two drains, or two enqueue loops); a round's measures run one after "
            "another, in the order given",
        },
    )
