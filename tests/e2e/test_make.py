"""What the Makefile's targets install, read from ``make -n`` in a folder with no venv yet."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def installs(target: str, venv: Path) -> list[str]:
    """The ``pip install`` lines ``make TARGET`` would run to make ``venv``."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "--no-print-directory", f"VENV={venv}", target],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if re.search(r"pip install", line)]


@pytest.mark.parametrize(
    ("target", "extras"),
    [("run", []), ("test", ["dev"]), ("lint", ["dev"]), ("bench", ["bench"])],
)
def test_each_target_installs_only_its_extras(
    tmp_path: Path, target: str, extras: list[str]
) -> None:
    lines = installs(target, tmp_path / "venv")
    assert lines[0].endswith(" -e ."), lines
    assert [re.findall(r"\.\[(\w+)\]", line) for line in lines[1:]] == [[e] for e in extras]
    assert all("--quiet" in line for line in lines)
