"""What every section shares: figures and their settings, bounded waits, percentiles, processes."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
T = TypeVar("T")


class BenchError(RuntimeError):
    """A measurement could not be made; the message says which and why."""


@dataclass
class Figure:
    """One measured number, with everything it ran under."""

    system: str  # floor, taskq, pgqueuer, procrastinate
    measure: str  # e.g. "drain", "enqueue single", "claim latency"
    value: float
    unit: str
    settings: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        shown = {
            k: v
            for k, v in self.settings.items()
            if k in SHOWN_SETTINGS and v is not None and v != "" and v is not False
        }
        return ", ".join(f"{SHOWN_SETTINGS[k]}={v}" for k, v in shown.items())


# the settings printed in the terminal table, in this order, with short names
SHOWN_SETTINGS = {
    "via": "via",
    "calls": "calls",
    "clients": "clients",
    "processes": "processes",
    "concurrency": "concurrency",
    "batch_size": "batch",
    "pgqueuer_batch_size": "pgq_batch",
    "rounds": "rounds",
    "count": "n",
    "queued": "queued",
    "finished": "finished",
    "queued_together": "queued_together",
    "slots": "slots",
    "task_seconds": "task_s",
    "pause_s": "pause_s",
    "driver": "driver",
    "rate": "rate/s",
    "seconds": "s",
    "snapshot_held": "snapshot_held",
}


class Recorder:
    """Collects the figures of a run; every figure gets the run's common settings too."""

    def __init__(self, common: Mapping[str, Any]) -> None:
        self.common = dict(common)
        self.figures: list[Figure] = []
        self.notes: list[str] = []

    def add(
        self,
        system: str,
        measure: str,
        value: float,
        unit: str,
        settings: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Figure:
        figure = Figure(
            system,
            measure,
            value,
            unit,
            {**self.common, **(settings or {})},
            dict(detail or {}),
        )
        self.figures.append(figure)
        return figure

    def find(self, system: str, measure: str, **settings: Any) -> list[Figure]:
        return [
            f
            for f in self.figures
            if f.system == system
            and f.measure == measure
            and all(f.settings.get(k) == v for k, v in settings.items())
        ]

    def best(self, system: str, measure: str, **settings: Any) -> Figure | None:
        found = self.find(system, measure, **settings)
        return max(found, key=lambda f: f.value) if found else None


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.label = ""

    def start(self, label: str) -> None:
        self.label = label
        self._draw()

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.done + steps, self.total)
        self._draw()

    def note(self, message: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
        sys.stderr.write(f"  {message}\n")
        self._draw()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self) -> None:
        if not self.enabled:
            return
        width = 30
        filled = round(width * self.done / self.total)
        elapsed = time.monotonic() - self.started
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{elapsed:5.0f}s  {self.label}"
        )
        if self.tty:
            columns = 120
            with contextlib.suppress(OSError):
                columns = os.get_terminal_size(sys.stderr.fileno()).columns
            sys.stderr.write("\r\x1b[2K" + line[: max(columns - 1, 20)])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Call ``probe`` until it returns something truthy; BenchError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of milliseconds, rounded for the report."""
    return {
        "samples": len(values_ms),
        "p50": round(percentile(values_ms, 50), 3),
        "p95": round(percentile(values_ms, 95), 3),
        "p99": round(percentile(values_ms, 99), 3),
        "max": round(max(values_ms), 3),
        "mean": round(sum(values_ms) / len(values_ms), 3),
    }


class Processes:
    """Child processes started by a section; all of them stopped on the way out."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path = REPO,
    ) -> subprocess.Popen[bytes]:
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            child = subprocess.Popen(
                list(args),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self.children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in list(self.children):
            self.stop(child)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def tree_rss_kib(pid: int) -> int:
    """VmRSS of a process and its children (a CLI may run the worker in a child)."""
    total = rss_kib(pid).get("VmRSS", 0)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            try:
                total += tree_rss_kib(int(child))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total
