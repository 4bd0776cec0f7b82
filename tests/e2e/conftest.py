"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from taskq.pgserver import LocalServer, embedded_bin_dir


@pytest.fixture
def folder() -> Iterator[Path]:
    """An empty folder outside pytest's private base folder (whose mode pytest resets), so
    that the embedded server's unprivileged user can reach it. An embedded server left running
    in it is stopped on the way out."""
    path = Path(tempfile.mkdtemp(prefix="taskq-e2e-"))
    try:
        yield path
    finally:
        for data in (path / ".taskq" / "pgdata", path / "home" / "pgdata"):
            server = LocalServer(embedded_bin_dir(), data)
            if server.is_running():
                server.stop("immediate")
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """``taskq`` in-process on the test's database: (exit status, stdout, stderr) of a call."""
    monkeypatch.setenv("TASKQ_DATABASE_URL", database_url)

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call
