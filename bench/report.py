"""The output of a run: the terminal table, the JSON file, the targets and the chart."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import Figure, Recorder

SYSTEM_ORDER = ["floor", "taskq", "pgqueuer", "procrastinate"]
# the worker's VmRSS after 100,000 tasks in the run the README published before the lean
# worker loop (taskq ec67c89): what the memory figure is read beside
PREVIOUS_WORKER_MIB = 51.2


@dataclass
class Target:
    """One target of issue 11 (or a context line, goal "-"), evaluated on figures of one run."""

    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


def _fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "MiB":
        return f"{value:,.1f} MiB"
    if unit == "x":
        return f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}"


def _value_text(figure: Figure) -> str:
    text = _fmt(figure.value, figure.unit)
    detail = figure.detail
    if "p50" in detail and "p99" in detail and figure.unit == "ms":
        p95 = detail.get("p95", math.nan)
        text = f"p50 {detail['p50']:.2f} · p95 {p95:.2f} · p99 {detail['p99']:.2f} ms"
    return text


def table(figures: Sequence[Figure]) -> str:
    """An aligned text table of the figures, grouped by system."""
    rows: list[tuple[str, str, str, str]] = []
    ordered = sorted(
        figures,
        key=lambda f: (
            SYSTEM_ORDER.index(f.system) if f.system in SYSTEM_ORDER else 99,
            figures.index(f),
        ),
    )
    for figure in ordered:
        rows.append((figure.system, figure.measure, figure.label(), _value_text(figure)))
    return _align(("system", "measure", "settings", "result"), rows)


def targets_table(targets: Sequence[Target]) -> str:
    rows = [
        (
            t.name,
            t.goal,
            t.measured,
            ("n/a" if t.goal != "-" else "") if t.met is None else ("met" if t.met else "NOT MET"),
        )
        for t in targets
    ]
    return _align(("target", "goal", "measured", "status"), rows)


def markdown(figures: Sequence[Figure], targets: Sequence[Target]) -> str:
    """The same two tables in Markdown, for the README."""
    lines = ["| system | measure | settings | result |", "|---|---|---|---|"]
    for figure in sorted(
        figures,
        key=lambda f: (
            SYSTEM_ORDER.index(f.system) if f.system in SYSTEM_ORDER else 99,
            figures.index(f),
        ),
    ):
        lines.append(
            f"| {figure.system} | {figure.measure} | {figure.label()} | {_value_text(figure)} |"
        )
    lines += ["", "| target | goal | measured | status |", "|---|---|---|---|"]
    for t in targets:
        status = (
            ("n/a" if t.goal != "-" else "")
            if t.met is None
            else ("met" if t.met else "**not met**")
        )
        lines.append(f"| {t.name} | {t.goal} | {t.measured} | {status} |")
    return "\n".join(lines) + "\n"


def _align(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous and header[0] == "system":
            out.append("")
        previous = row[0]
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


# --- targets -----------------------------------------------------------------------------------
def _ratio(a: Figure | None, b: Figure | None) -> float | None:
    if a is None or b is None or b.value == 0:
        return None
    return a.value / b.value


def evaluate(recorder: Recorder) -> list[Target]:
    """The targets of issue 11, from the figures of this run, and context lines that explain
    them (goal "-": no target, a ratio or figure to read beside the targets)."""
    targets: list[Target] = []

    drain1 = recorder.best("taskq", "drain", processes=1)

    def ratio_target(name: str, goal: float, mine: Figure | None, other: Figure | None) -> None:
        ratio = _ratio(mine, other)
        if ratio is None or mine is None or other is None:
            targets.append(Target(name, f">= {goal:g}x", "not measured", None))
            return
        targets.append(
            Target(
                name,
                f">= {goal:g}x",
                f"{ratio:.2f}x ({mine.value:,.0f} vs {other.value:,.0f} {other.unit})",
                ratio >= goal,
            )
        )

    def context(label: str, mine: Figure | None, other: Figure | None) -> None:
        ratio = _ratio(mine, other)
        if ratio is not None and mine is not None and other is not None:
            targets.append(
                Target(
                    f"(context) {label}",
                    "-",
                    f"{ratio:.2f}x ({mine.value:,.0f} vs {other.value:,.0f} {other.unit})",
                    None,
                )
            )

    def paired_target(
        name: str, goal: float, paired: Figure | None, mine: Figure | None, other: Figure | None
    ) -> None:
        """The paired rounds' median decides (see bench.paired); the sections' bests are shown
        beside it. Without paired rounds, the sections' bests decide."""
        if paired is None:
            ratio_target(name, goal, mine, other)
            return
        ratios = ", ".join(f"{r:.2f}" for r in paired.detail.get("ratios", []))
        rounds = paired.settings.get("rounds")
        measured = f"{paired.value:.2f}x, the median of {rounds} paired rounds ({ratios})"
        bests = _ratio(mine, other)
        if bests is not None and mine is not None and other is not None:
            measured += (
                f"; the sections' bests {bests:.2f}x ({mine.value:,.0f} vs {other.value:,.0f})"
            )
        targets.append(Target(name, f">= {goal:g}x", measured, paired.value >= goal))

    paired_target(
        "drain, 1 process: taskq / PgQueuer best",
        2.0,
        recorder.best("taskq", "drain / PgQueuer (paired)", processes=1),
        drain1,
        recorder.best("pgqueuer", "drain", processes=1),
    )
    paired_target(
        "drain, 2 processes: taskq / PgQueuer best",
        1.3,
        recorder.best("taskq", "drain / PgQueuer (paired)", processes=2),
        recorder.best("taskq", "drain", processes=2),
        recorder.best("pgqueuer", "drain", processes=2),
    )
    slotted = recorder.best("taskq", "drain (slot-limited queue)")
    limit = int(slotted.settings["slots"]) if slotted else 200
    paired_target(
        f"drain, 1 process, concurrency {limit}: {limit}-slot queue / unlimited queue",
        0.8,
        recorder.best("taskq", "slot-limited / unlimited drain (paired)"),
        slotted,
        recorder.best("taskq", "drain", processes=1, concurrency=limit),
    )
    paired_target(
        "enqueue_many / PgQueuer batch enqueue",
        1.5,
        recorder.best("taskq", "enqueue_many / PgQueuer batch (paired)"),
        recorder.best("taskq", "enqueue_many", via="client"),
        recorder.best("pgqueuer", "enqueue batch"),
    )
    paired_target(
        "single enqueue / PgQueuer single enqueue",
        1.0,
        recorder.best("taskq", "enqueue / PgQueuer (paired)"),
        recorder.best("taskq", "enqueue", via="client"),
        recorder.best("pgqueuer", "enqueue"),
    )

    context(
        "enqueue_many: the client (array form) / the JSON form",
        recorder.best("taskq", "enqueue_many", via="client"),
        recorder.best("taskq", "enqueue_many", via="enqueue_many(jsonb)"),
    )
    # context, not targets: the peers and the floor, and where the drain's time goes
    context(
        "drain, 1 process: taskq / Procrastinate best",
        drain1,
        recorder.best("procrastinate", "drain", processes=1),
    )
    # the floor is compared at the worker's batch size: a worker claims up to its concurrency
    context(
        "drain, 1 process: taskq / floor claim (batch 50)",
        recorder.best("taskq", "drain", processes=1, batch_size=50),
        recorder.best("floor", "claim", clients=1, batch_size=50),
    )
    today = "claim_next + complete_many(jsonb)"
    lean = "claim + complete_many(arrays)"
    context(
        "taskq SQL claim+complete_many / floor claim+complete, batch 50",
        recorder.best("taskq", "claim+complete_many (SQL)", clients=1, calls=today),
        recorder.best("floor", "claim+complete", clients=1),
    )
    context(
        "taskq SQL, lean calls (claim + complete_many(arrays)) / claim_next + complete_many(jsonb)",
        recorder.best("taskq", "claim+complete_many (SQL)", clients=1, calls=lean),
        recorder.best("taskq", "claim+complete_many (SQL)", clients=1, calls=today),
    )
    context(
        "client batch loop / PgQueuer best, 1 process",
        recorder.best("taskq", "drain (client batch loop)"),
        recorder.best("pgqueuer", "drain", processes=1),
    )
    context(
        "taskq worker / client batch loop, 1 process",
        drain1,
        recorder.best("taskq", "drain (client batch loop)"),
    )

    latency = recorder.best("taskq", "enqueue-to-start latency")
    if latency is None:
        targets.append(
            Target("enqueue-to-start latency", "p50 <= 3 ms, p99 <= 10 ms", "not measured", None)
        )
    else:
        p50, p99 = latency.detail["p50"], latency.detail["p99"]
        targets.append(
            Target(
                "enqueue-to-start latency (idle worker)",
                "p50 <= 3 ms, p99 <= 10 ms",
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                p50 <= 3 and p99 <= 10,
            )
        )
    back_to_back = recorder.find("taskq", "claim round trip", pause_s=0.0)
    paused = [f for f in recorder.find("taskq", "claim round trip") if f.settings["pause_s"]]
    if back_to_back and paused:
        ratio = paused[0].value / back_to_back[0].value
        targets.append(
            Target(
                f"(context) claim round trip after a {paused[0].settings['pause_s'] * 1000:g} ms "
                "pause / back to back",
                "-",
                f"{ratio:.2f}x ({paused[0].value:.2f} vs {back_to_back[0].value:.2f} ms)",
                None,
            )
        )
    lateness = recorder.best("taskq", "scheduled lateness")
    if lateness is None:
        targets.append(Target("scheduled lateness p99", "<= 50 ms", "not measured", None))
    else:
        targets.append(
            Target(
                "scheduled lateness p99",
                "<= 50 ms",
                f"p50 {lateness.detail['p50']:.2f} ms, p99 {lateness.detail['p99']:.2f} ms",
                lateness.detail["p99"] <= 50,
            )
        )
    slots = recorder.find("taskq", "slot utilisation")
    if not slots:
        targets.append(
            Target("slot utilisation, 2 slots, 50 ms tasks", ">= 95 %", "not measured", None)
        )
    for figure in slots:
        targets.append(
            Target(
                f"slot utilisation, 2 slots, 50 ms tasks, "
                f"{figure.settings.get('processes')} process(es)",
                ">= 95 %",
                f"{figure.value:.1f} %",
                figure.value >= 95,
            )
        )
    small = recorder.best(
        "taskq",
        "claim latency",
        queued=recorder_small(recorder),
        finished=0,
        queued_together=False,
        unhandled_ahead=0,
    )
    for label, fig in (
        ("queued", _growth(recorder, queued=True)),
        ("finished", _growth(recorder, queued=False)),
    ):
        if small is None or fig is None:
            targets.append(
                Target(
                    f"claim p99 with many {label} rows / 10k case", "<= 1.5x", "not measured", None
                )
            )
            continue
        ratio = fig.detail["p99"] / small.detail["p99"]
        rows = fig.settings["queued"] if label == "queued" else fig.settings["finished"]
        targets.append(
            Target(
                f"claim p99, {rows:,} {label} / {small.settings['queued']:,} queued",
                "<= 1.5x",
                f"{ratio:.2f}x ({fig.detail['p99']:.2f} vs {small.detail['p99']:.2f} ms)",
                ratio <= 1.5,
            )
        )
    behind = recorder.find("taskq", "claim latency", queued_together=False)
    for fig in (f for f in behind if f.settings.get("unhandled_ahead")):
        if small is None:
            break
        targets.append(
            Target(
                f"(context) claim p99 of some names, {fig.settings['queued']:,} queued behind "
                f"{fig.settings['unhandled_ahead']:,} of other names / small case",
                "-",
                f"{fig.detail['p99'] / small.detail['p99']:.2f}x "
                f"({fig.detail['p99']:.2f} vs {small.detail['p99']:.2f} ms)",
                None,
            )
        )
    memory = recorder.best("taskq", "worker memory")
    if memory is not None:
        targets.append(
            Target(
                f"(context) worker memory after {memory.settings.get('count', 0):,} tasks",
                "-",
                f"{memory.value:.1f} MiB (peak {memory.detail.get('peak_mib', math.nan):.1f}); "
                f"{PREVIOUS_WORKER_MIB} MiB before the lean worker loop",
                None,
            )
        )
    together = recorder.best("taskq", "claim latency", queued_together=True)
    if small is not None and together is not None:
        targets.append(
            Target(
                f"(context) claim p99, {together.settings['queued']:,} queued in one "
                f"enqueue_many + {together.settings['finished']:,} finished / small case",
                "-",
                f"{together.detail['p99'] / small.detail['p99']:.2f}x "
                f"({together.detail['p99']:.2f} vs {small.detail['p99']:.2f} ms)",
                None,
            )
        )
    targets.extend(_held_snapshot(recorder))
    _soak_targets(recorder, targets)
    return targets


def _held_snapshot(recorder: Recorder) -> list[Target]:
    """Context: the claim's last window and the dead tuples, a snapshot held beside none."""
    free = recorder.find("taskq", "claim under a steady flow", snapshot_held=False)
    held = recorder.find("taskq", "claim under a steady flow", snapshot_held=True)
    if not free or not held:
        return []
    a, b = free[0], held[0]
    seconds = a.detail.get("window_s", ["?", "?"])
    return [
        Target(
            f"(context) claim p50 / p99 in the last window ({seconds[0]:g}-{seconds[1]:g} s) "
            f"at {a.settings['rate']} tasks/s, a REPEATABLE READ snapshot held / none",
            "-",
            f"p50 {b.detail['p50']:.2f} / {a.detail['p50']:.2f} ms, "
            f"p99 {b.detail['p99']:.2f} / {a.detail['p99']:.2f} ms; dead tuples at the end "
            f"{b.detail['dead_tuples']:,} / {a.detail['dead_tuples']:,}",
            None,
        )
    ]


def _soak_targets(recorder: Recorder, targets: list[Target]) -> None:
    """The churn soak's targets (issue 12): sizes plateau, the claim keeps its p99."""
    size = recorder.best("taskq", "soak size")
    claim = recorder.best("taskq", "soak claim p99")
    if size is None or claim is None:
        targets.append(Target("churn soak", "sizes <= 2x, claim p99 <= 1.5x", "not measured", None))
        return
    n = f"{size.settings['count']:,} tasks at {size.settings['rate']:,}/s"
    grown = size.detail["max_second_half_mib"] / size.detail["at_third_mib"]
    targets.append(
        Target(
            f"churn soak ({n}): table+indexes, largest in the second half / at a third",
            "<= 2x",
            f"{grown:.2f}x ({size.detail['max_second_half_mib']:.1f} vs "
            f"{size.detail['at_third_mib']:.1f} MiB; end {size.value:.1f} MiB)",
            grown <= 2,
        )
    )
    slowed = claim.detail["end_p99"] / claim.detail["start_p99"]
    targets.append(
        Target(
            f"churn soak ({n}): claim p99, end / start",
            "<= 1.5x",
            f"{slowed:.2f}x ({claim.detail['end_p99']:.2f} vs {claim.detail['start_p99']:.2f} ms)",
            slowed <= 1.5,
        )
    )


def recorder_small(recorder: Recorder) -> int | None:
    found = [
        f
        for f in recorder.find("taskq", "claim latency", queued_together=False, unhandled_ahead=0)
        if f.settings.get("finished") == 0
    ]
    if not found:
        return None
    return min(int(f.settings["queued"]) for f in found)


def _growth(recorder: Recorder, *, queued: bool) -> Figure | None:
    small = recorder_small(recorder)
    for figure in recorder.find("taskq", "claim latency", queued_together=False, unhandled_ahead=0):
        if queued and figure.settings.get("finished") == 0 and figure.settings["queued"] != small:
            return figure
        if not queued and figure.settings.get("finished", 0) > 0:
            return figure
    return None


def markdown_from_file(path: Path) -> str:
    """The Markdown tables of a results file written by :func:`write_json`."""
    document = json.loads(path.read_text())
    figures = [Figure(**f) for f in document["figures"]]
    targets = [Target(**t) for t in document["targets"]]
    return markdown(figures, targets)


# --- files -------------------------------------------------------------------------------------
def write_json(
    path: Path, run: dict[str, Any], recorder: Recorder, targets: Sequence[Target]
) -> None:
    document = {
        "run": run,
        "figures": [asdict(f) for f in recorder.figures],
        "targets": [asdict(t) for t in targets],
        "notes": recorder.notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
