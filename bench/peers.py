"""Peers (stub)."""

from __future__ import annotations

from bench.common import Progress, Recorder
from bench.scale import Scale
from bench.server import BenchServer


def steps(scale: Scale) -> int:
    return 0


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    return None
