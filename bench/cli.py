"""``python -m bench [--quick] [--only SECTION ...]``: run the benchmarks, print and save them."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import floor, growth, held_snapshot, limits, paired, peers, report, soak, taskq_bench
from bench.common import RESULTS, BenchError, Progress, Recorder
from bench.scale import FULL, QUICK, Scale
from bench.server import BenchServer, git_revision, machine

Runner = Callable[[BenchServer, Recorder, Scale, Progress], None]
Steps = Callable[[Scale], int]

# name -> (what it measures, how many progress steps, the function)
SECTIONS: dict[str, tuple[str, Steps, Runner]] = {
    "floor": ("a minimal SQL queue driven by pgbench", floor.steps, floor.run),
    "enqueue": (
        "taskq.enqueue one at a time and enqueue_many by 1,000",
        taskq_bench.enqueue_steps,
        taskq_bench.run_enqueue,
    ),
    "api": ("POST /api/tasks/ one at a time", taskq_bench.api_steps, taskq_bench.run_api),
    "drain": (
        "drain of no-op tasks by 1 and 2 worker processes, unlimited queue",
        taskq_bench.drain_steps,
        taskq_bench.run_drain,
    ),
    "limits": (
        "drains with a per-key limit and a rate limit beside the plain one; a full key's backlog",
        limits.steps,
        limits.run,
    ),
    "slots": (
        "drain of a 2-slot queue with 50 ms tasks: slot utilisation",
        taskq_bench.slot_steps,
        taskq_bench.run_slots,
    ),
    "latency": (
        "enqueue to handler start on an idle worker; lateness of scheduled tasks",
        taskq_bench.latency_steps,
        taskq_bench.run_latency,
    ),
    "peers": (
        "PgQueuer and Procrastinate: enqueue, drains, latency",
        peers.steps,
        peers.run,
    ),
    "pairs": (
        "taskq and PgQueuer in turn, round after round: the ratios of enqueues and drains",
        paired.steps,
        paired.run,
    ),
    "growth": (
        "claim latency with few and many queued or finished tasks; worker memory",
        growth.steps,
        growth.run,
    ),
    "held": (
        "claims while 150 tasks/s flow, with and without a REPEATABLE READ snapshot held open",
        held_snapshot.steps,
        held_snapshot.run,
    ),
    "soak": (
        "churn soak: enqueue, drain and prune at a steady rate; sizes and claim p99 over time",
        soak.steps,
        soak.run,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    sections = "\n".join(f"  {name:8} {about}" for name, (about, _, _) in SECTIONS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="taskq's benchmarks beside PostgreSQL's floor and the peers, on one "
        "throwaway PostgreSQL server.",
        epilog=f"sections:\n{sections}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a reduced run: about 3 minutes (growth at 100k), then a 2-minute soak",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        choices=list(SECTIONS),
        help="run only this section (repeatable)",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="off",
        help="the server's synchronous_commit (default: off; recorded in every figure)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="the JSON file to write (default: bench/results/latest.json for a full run, "
        "quick.json for --quick, only-SECTIONS.json with --only); the chart goes beside it",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="JSON",
        help="print the tables of a results file in Markdown (for the README) and exit",
    )
    parser.add_argument(
        "--redraw",
        type=Path,
        metavar="JSON",
        help="draw the chart of a results file again, beside it, and exit",
    )
    return parser


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # SIGTERM ends the run like Ctrl-C: the finally blocks stop the workers and the server
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.markdown is not None:
        print(report.markdown_from_file(args.markdown), end="")
        return 0
    if args.redraw is not None:
        from bench import chart as chart_module

        print(f"wrote {_relative(chart_module.redraw(args.redraw))}")
        return 0
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    scale = QUICK if args.quick else FULL
    chosen = args.only or list(SECTIONS)
    out: Path = args.out or _default_out(args.quick, args.only)
    started = time.monotonic()
    run_info = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "sections": chosen,
        "machine": machine(),
        "taskq": git_revision(),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
    }
    progress = Progress(
        sum(SECTIONS[name][1](scale) for name in chosen) + 1, enabled=not args.no_progress
    )
    failures: list[str] = []
    progress.start("starting PostgreSQL")
    try:
        with BenchServer(args.synchronous_commit) as server:
            run_info["server"] = server.in_force
            common = {
                "synchronous_commit": server.in_force.get("synchronous_commit"),
                "shared_buffers": server.in_force.get("shared_buffers"),
                "postgres": server.in_force.get("server_version"),
                "taskq": run_info["taskq"],
                "quick": args.quick,
            }
            recorder = Recorder(common)
            progress.advance()
            for name in chosen:
                runner = SECTIONS[name][2]
                try:
                    runner(server, recorder, scale, progress)
                except BenchError as error:
                    failures.append(f"{name}: {error}")
                    recorder.notes.append(f"section {name} failed: {error}")
                    progress.note(f"section {name} failed: {error}")
    except KeyboardInterrupt:
        progress.close()
        print("interrupted: the workers and the server are stopped", file=sys.stderr)
        return 130
    progress.close()
    run_info["seconds"] = round(time.monotonic() - started, 1)
    targets = report.evaluate(recorder)
    report.write_json(out, run_info, recorder, targets)
    chart = out.with_suffix(".png")
    try:
        from bench import chart as chart_module

        chart_module.draw(recorder, chart, run_info)
    except Exception as error:  # the numbers matter more than the picture
        failures.append(f"chart: {type(error).__name__}: {error}")
    print()
    print(report.table(recorder.figures))
    print()
    print(report.targets_table(targets))
    print()
    print(f"server: {_server_line(run_info)}")
    print(f"machine: {_machine_line(run_info)}")
    print(f"took {run_info['seconds']:.0f} s; wrote {_relative(out)} and {_relative(chart)}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _default_out(quick: bool, only: list[str] | None) -> Path:
    if only:
        return RESULTS / f"only-{'-'.join(only)}{'-quick' if quick else ''}.json"
    return RESULTS / ("quick.json" if quick else "latest.json")


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _server_line(run: dict[str, object]) -> str:
    server = run.get("server")
    if not isinstance(server, dict):
        return "?"
    keys = ["server_version", "shared_buffers", "synchronous_commit", "fsync", "max_wal_size"]
    return ", ".join(f"{k}={server.get(k)}" for k in keys)


def _machine_line(run: dict[str, object]) -> str:
    info = run.get("machine")
    if not isinstance(info, dict):
        return "?"
    return (
        f"{info.get('cpu')}, {info.get('cores')} cores, {info.get('memory')}, "
        f"Linux {info.get('kernel')}, Python {info.get('python')}, "
        f"load at start {info.get('load_at_start')}"
    )
