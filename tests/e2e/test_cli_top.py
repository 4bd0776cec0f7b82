"""``taskq workers`` and ``taskq top``: the worker list (table and --json), one frame of top
(``--once``) equal to queue_stats and worker_info, and the live view in a pseudo-terminal: it
draws, survives a database that goes away, quits on q and on Ctrl-C with status 0 and the
terminal as it was."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from tests.conftest import PgServer
from tests.e2e.test_cli import TASKQ
from tests.e2e.test_run import clean_env
from tests.processes import terminate


def fill(database_url: str) -> dict[str, UUID]:
    """Queues in every state and three workers: busy (alive, one task), idle, stale (dead)."""
    with psycopg.connect(database_url, autocommit=True) as conn:

        def one(query: str, *params: Any) -> Any:
            row = conn.execute(query, params).fetchone()
            assert row is not None
            return row[0]

        busy = one("SELECT taskq.register_worker('busy', '{mail}', 'host-a', 41)")
        idle = one("SELECT taskq.register_worker('idle', NULL, 'host-b', 42)")
        stale = one("SELECT taskq.register_worker('stale')")
        conn.execute("SELECT taskq.set_concurrency('mail', 5)")
        enqueue = "SELECT taskq.enqueue('send', queue => %s, scheduled_at => %s)"
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        for _ in range(4):
            conn.execute(enqueue, ("mail", hour_ago))
        conn.execute(enqueue, ("mail", datetime.now(UTC) + timedelta(days=1)))
        conn.execute("SELECT taskq.pause(%s)", (one(enqueue, "mail", None),))
        # two of the due ones run: one completes, one stays RUNNING with busy
        claim = "SELECT id, lease_token FROM taskq.claim_next(%s, %s, batch_size => %s)"
        claimed = conn.execute(claim, (busy, ["mail"], 2)).fetchall()
        conn.execute("SELECT taskq.complete(%s, %s)", claimed[0])
        # one FAILED in reports, which is then paused
        conn.execute("SELECT taskq.enqueue('send', queue => 'reports', max_attempts => 1)")
        failing = conn.execute(claim, (idle, ["reports"], 1)).fetchall()
        conn.execute("SELECT taskq.fail(%s, %s, 'boom')", failing[0])
        conn.execute("SELECT taskq.pause_queue('reports')")
        conn.execute(
            "UPDATE taskq.workers SET heartbeat_at = now() - interval '5 minutes' WHERE id = %s",
            (stale,),
        )
    return {"busy": busy, "idle": idle, "stale": stale}


def queue_stats(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        return {r["queue"]: r for r in conn.execute("SELECT * FROM taskq.queue_stats")}


def rows_of(out: str, header: str) -> dict[str, list[str]]:
    """The rows under the table whose header line starts with ``header``, by first cell."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [header])
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells
    return rows


def test_workers_lists_each_worker_alive_or_dead(cli: Any, database_url: str) -> None:
    assert cli("workers") == (0, "no workers\n", "")
    ids = fill(database_url)
    code, out, err = cli("workers")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == [
        "NAME",
        "HOST",
        "PID",
        "QUEUES",
        "RUNNING",
        "HEARTBEAT",
        "STATE",
    ]
    rows = rows_of(out, "NAME")
    assert rows["busy"][1:5] == ["host-a", "41", "mail", "1"]
    assert rows["busy"][-1] == "alive"
    assert rows["idle"][1:5] == ["host-b", "42", "all", "0"]
    assert rows["stale"][1:5] == ["-", "-", "all", "0"]
    assert re.fullmatch(r"5m0\ds", rows["stale"][5]), rows["stale"]
    assert rows["stale"][6:] == ["ago", "dead"]
    code, out, _ = cli("workers", "--json")
    listed = {w["name"]: w for w in json.loads(out)}
    assert listed["busy"]["id"] == str(ids["busy"])
    assert (listed["busy"]["running"], listed["busy"]["alive"]) == (1, True)
    assert (listed["stale"]["alive"], listed["stale"]["lease"]) == (False, "PT30S")
    assert listed["idle"]["queues"] is None


def test_top_once_shows_the_queue_stats_and_the_workers(cli: Any, database_url: str) -> None:
    fill(database_url)
    code, out, err = cli("top", "--once")
    assert (code, err) == (0, "")
    assert "\x1b" not in out
    assert out.startswith("taskq top  ")
    stats = queue_stats(database_url)
    queues = rows_of(out, "QUEUE")
    assert set(queues) == set(stats) == {"mail", "reports"}
    for name, row in stats.items():
        slots = "-" if row["concurrency"] is None else str(row["concurrency"])
        assert queues[name][1:5] == [
            str(row["queued"]),
            str(row["scheduled"]),
            f"{row['running']}/{slots}",
            "yes" if row["paused"] else "no",
        ], queues[name]
    assert queues["mail"][1:5] == ["2", "1", "1/5", "no"]
    # WAIT: scheduled an hour before fill(); then the last minute's DONE, FAILED, CANCELLED
    assert queues["mail"][5:] == ["1h00m", "1", "0", "0"]
    assert queues["reports"][4:] == ["yes", "-", "0", "1", "0"]
    workers = rows_of(out, "NAME")
    assert set(workers) == {"busy", "idle", "stale"}
    assert (workers["busy"][4], workers["busy"][-1]) == ("1", "alive")
    assert workers["stale"][-1] == "dead"


def test_top_once_on_a_database_that_does_not_answer_is_one_line() -> None:
    result = subprocess.run(
        [TASKQ, "top", "--once", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean_env(),
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("taskq: cannot connect to the database at 127.0.0.1:1/")
    assert len(result.stderr.strip().splitlines()) == 1


# -- the live view in a pseudo-terminal ----------------------------------------------------------


class Terminal:
    """``taskq top`` on the slave side of a pseudo-terminal of 40 x 200; the test reads the
    screen's bytes from the master side."""

    def __init__(self, database_url: str) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.settings = termios.tcgetattr(slave)
        self.slave = slave
        self.output = b""
        self.process = subprocess.Popen(
            [TASKQ, "top", "--database-url", database_url],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=clean_env(TERM="xterm-256color", COLUMNS="200", LINES="40"),
            start_new_session=True,
        )

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 30) -> bytes:
        """What the screen got until ``done`` holds of it; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done(self.output):
            left = deadline - time.monotonic()
            assert left > 0, self.output.decode(errors="replace")[-3000:]
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the slave side closed
                    time.sleep(0.1)
        return self.output

    def wait(self, timeout: float = 10) -> int:
        """The exit status, reading the screen meanwhile (a full pty would block the child)."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, "taskq top did not exit"
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    time.sleep(0.1)
        return self.process.returncode

    def close(self) -> None:
        terminate(self.process)
        os.close(self.master)
        os.close(self.slave)


@contextmanager
def terminal(database_url: str) -> Iterator[Terminal]:
    term = Terminal(database_url)
    try:
        yield term
    finally:
        term.close()


def frames(output: bytes) -> list[str]:
    """The screens drawn so far: rich's Live moves the cursor home before each one."""
    return [f for f in output.decode(errors="replace").split("\x1b[H") if "QUEUE" in f]


def test_top_draws_survives_the_database_going_away_and_quits_on_q(
    database_url: str, pg_server: PgServer
) -> None:
    fill(database_url)
    name = conninfo_to_dict(database_url)["dbname"]
    with terminal(database_url) as term:
        term.read_until(lambda out: any("mail" in f and "stale" in f for f in frames(out)))
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                term.read_until(lambda out: "error: " in frames(out)[-1])
                assert term.process.poll() is None
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        # a frame without the error after one with it: the view connected again
        term.read_until(lambda out: "error: " not in frames(out)[-1])
        errors = [i for i, f in enumerate(frames(term.output)) if "error: " in f]
        assert "trying again" in frames(term.output)[errors[0]]
        assert "mail" in frames(term.output)[errors[0]]  # the last frame stays on the screen
        os.write(term.master, b"q")
        assert term.wait() == 0
        assert termios.tcgetattr(term.slave) == term.settings
    assert "Traceback" not in term.output.decode(errors="replace")


def test_top_quits_on_ctrl_c_with_status_0(database_url: str) -> None:
    with terminal(database_url) as term:
        term.read_until(lambda out: bool(frames(out)))
        os.killpg(term.process.pid, signal.SIGINT)
        assert term.wait() == 0
        assert termios.tcgetattr(term.slave) == term.settings
    assert "Traceback" not in term.output.decode(errors="replace")
