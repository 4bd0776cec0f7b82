"""The chart of a run (matplotlib, PNG): taskq beside the peers and PostgreSQL's floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import Figure, Recorder
from bench.scale import FULL

COLOURS = {
    "floor": "#9e9e9e",
    "taskq": "#1f77b4",
    "pgqueuer": "#ff7f0e",
    "procrastinate": "#2ca02c",
}


def _value(figure: Figure | None) -> float:
    return figure.value if figure is not None else 0.0


def draw(recorder: Recorder, path: Path, run: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    _drains(axes[0][0], recorder)
    _enqueues(axes[0][1], recorder)
    _latency(axes[1][0], recorder)
    _growth(axes[1][1], recorder)
    server = run.get("server", {})
    info = run.get("machine", {})
    fig.suptitle(
        "taskq benchmarks"
        + (" (quick run)" if run.get("quick") else "")
        + f" — PostgreSQL {server.get('server_version')}, synchronous_commit="
        f"{server.get('synchronous_commit')}, shared_buffers={server.get('shared_buffers')}; "
        f"{info.get('cpu')}, {info.get('cores')} cores; taskq {run.get('taskq')}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _bars(
    ax: Any,
    groups: list[str],
    series: list[tuple[str, str, list[float]]],
    *,
    unit: str,
    log: bool = False,
) -> None:
    width = 0.8 / max(len(series), 1)
    for n, (label, system, values) in enumerate(series):
        xs = [g + (n - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=label, color=COLOURS.get(system, "#555555"))
        if system == "floor" and "complete" in label:
            for bar in bars:
                bar.set_hatch("//")
                bar.set_alpha(0.6)
        for x, v in zip(xs, values, strict=True):
            if v > 0:
                text = f"{v:,.0f}" if v >= 10 else f"{v:.2f}"
                ax.text(x, v, text, ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(unit)
    top = max((v for _, _, values in series for v in values), default=0.0)
    if log:
        ax.set_yscale("log")
        if top > 0:
            ax.set_ylim(top=top * 4)
    elif top > 0:
        ax.set_ylim(top=top * 1.2)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _drains(ax: Any, r: Recorder) -> None:
    groups = ["1 process / client", "2 processes / clients"]
    # the floor's batched claim, the size the drain target compares against
    size = FULL.drain_batch
    series = [
        (
            f"floor claim (batch {size})",
            "floor",
            [_value(r.best("floor", "claim", clients=c, batch_size=size)) for c in (1, 2)],
        ),
        (
            "floor claim+complete",
            "floor",
            [_value(r.best("floor", "claim+complete", clients=c)) for c in (1, 2)],
        ),
        ("taskq worker", "taskq", [_value(r.best("taskq", "drain", processes=p)) for p in (1, 2)]),
        (
            "PgQueuer (best)",
            "pgqueuer",
            [_value(r.best("pgqueuer", "drain", processes=p)) for p in (1, 2)],
        ),
        (
            "Procrastinate (best)",
            "procrastinate",
            [_value(r.best("procrastinate", "drain", processes=p)) for p in (1, 2)],
        ),
    ]
    _bars(ax, groups, series, unit="tasks (rows) per second, log scale", log=True)
    ax.set_title("Drain of no-op tasks, unlimited queue")


def _enqueues(ax: Any, r: Recorder) -> None:
    groups = ["one at a time", "batches (floor 50, others 1,000)"]
    series = [
        (
            "floor INSERT (pgbench)",
            "floor",
            [
                _value(r.best("floor", "insert", clients=1)),
                _value(r.best("floor", "insert batch", clients=1)),
            ],
        ),
        (
            "taskq (client; enqueue_many)",
            "taskq",
            [
                _value(r.best("taskq", "enqueue", via="client")),
                _value(r.best("taskq", "enqueue_many", via="client")),
            ],
        ),
        (
            "PgQueuer",
            "pgqueuer",
            [_value(r.best("pgqueuer", "enqueue")), _value(r.best("pgqueuer", "enqueue batch"))],
        ),
        (
            "Procrastinate",
            "procrastinate",
            [
                _value(r.best("procrastinate", "enqueue")),
                _value(r.best("procrastinate", "enqueue batch")),
            ],
        ),
    ]
    _bars(ax, groups, series, unit="tasks per second, log scale", log=True)
    api = r.best("taskq", "enqueue", via="POST /api/tasks/")
    extra = f"\ntaskq POST /api/tasks/: {api.value:,.0f} tasks/s" if api is not None else ""
    ax.set_title("Enqueue, one connection" + extra)


def _latency(ax: Any, r: Recorder) -> None:
    groups = ["p50", "p95", "p99"]
    series = []
    for label, system, measure in (
        ("taskq: enqueue to start", "taskq", "enqueue-to-start latency"),
        ("PgQueuer: enqueue to start", "pgqueuer", "enqueue-to-start latency"),
        ("taskq: scheduled lateness", "floor", "scheduled lateness"),
    ):
        found = r.best("taskq" if system == "floor" else system, measure)
        if found is not None:
            series.append((label, system, [float(found.detail[g]) for g in groups]))
    _bars(ax, groups, series, unit="milliseconds")
    ax.axhline(3, color="#1f77b4", linestyle=":", linewidth=1)
    ax.axhline(10, color="#1f77b4", linestyle="--", linewidth=1)
    slots = r.find("taskq", "slot utilisation")
    extra = ""
    if slots:
        text = "; ".join(
            f"{f.settings.get('processes')} process(es) {f.value:.1f} %" for f in slots
        )
        extra = f"\ntaskq slot utilisation, 2 slots x 50 ms tasks: {text}"
    ax.set_title("Latency on an idle worker (targets: p50 3 ms, p99 10 ms)" + extra)


def _growth(ax: Any, r: Recorder) -> None:
    found = r.find("taskq", "claim latency")
    groups = [
        f"{_short(f.settings['queued'])} queued"
        + (" in one call" if f.settings.get("queued_together") else "")
        + (f"\n+ {_short(f.settings['finished'])} finished" if f.settings.get("finished") else "")
        + (
            f"\nbehind {_short(f.settings['unhandled_ahead'])} unhandled"
            if f.settings.get("unhandled_ahead")
            else ""
        )
        for f in found
    ]
    series = [
        ("p50", "taskq", [float(f.detail["p50"]) for f in found]),
        ("p99", "pgqueuer", [float(f.detail["p99"]) for f in found]),
    ]
    _bars(ax, groups, series, unit="milliseconds")
    memory = r.best("taskq", "worker memory")
    extra = ""
    if memory is not None:
        extra = (
            f"\ntaskq worker RSS after {memory.settings.get('count'):,} tasks: "
            f"{memory.value:.0f} MiB (ready: {memory.detail.get('rss_ready_mib')} MiB)"
        )
    ax.set_title("taskq claim_next latency as the table grows" + extra)


def _short(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1_000 and count % 1_000 == 0:
        return f"{count // 1_000}k"
    return f"{count:,}"


def redraw(path: Path) -> Path:
    """Draw the chart of a results file again (after a change to this module)."""
    import json

    document = json.loads(path.read_text())
    recorder = Recorder({})
    recorder.figures = [Figure(**f) for f in document["figures"]]
    chart = path.with_suffix(".png")
    draw(recorder, chart, document["run"])
    return chart
