"""``taskq top``: a live view of the queues and the workers, read again every second.

Each frame reads ``taskq.queue_stats``, the last minute of ``taskq.throughput`` and
``taskq.worker_info`` on one autocommit connection. In a terminal the view takes the screen
(rich's ``Live``) and keys are read in cbreak mode: ``q`` or Ctrl-C quits with status 0 and
the terminal as it was. A database that goes away shows its error above the last frame it gave,
and each refresh tries again. ``--once`` prints one frame and exits; when standard output is no
terminal, frames are plain text (no colours, no box lines) for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import psycopg
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.admin import WORKER_COLUMNS, age, open_connection, place_of, run_call, worker_cells
from cli.options import add_database_option, database_url, seconds
from taskq import client
from taskq.errors import TaskqError

DESCRIPTION = (
    "A live view of the queues (queued, scheduled, running of the slots, paused or not, the "
    "oldest wait, the tasks finished in the last minute by outcome) and of the workers (running "
    "tasks, last heartbeat, alive or dead), read again every second. q or Ctrl-C quits. "
    "--once prints one frame (plain text when standard output is no terminal) and exits."
)
# How long a frame's reads (or a connection) may take before the view says the database does
# not answer and tries again.
READ_TIMEOUT: Final = 5.0
# Where standard output is no terminal: wide enough that no table wraps.
PLAIN_WIDTH: Final = 240
QUEUE_HEADERS: Final = (
    "QUEUE",
    "QUEUED",
    "SCHEDULED",
    "RUNNING",
    "PAUSED",
    "WAIT",
    "DONE",
    "FAILED",
    "CANCELLED",
)
QUEUE_LEGEND: Final = "queues (RUNNING/slots; WAIT: oldest due; DONE FAILED CANCELLED: last minute)"
QUIT_KEYS: Final = frozenset(b"qQ\x03")


@dataclass(frozen=True)
class Frame:
    """What one refresh read: the queues, their last minute of finished tasks, the workers."""

    at: datetime
    queues: list[client.QueueStats]
    last_minute: dict[str, client.Throughput]
    workers: list[client.WorkerInfo]


async def read_frame(conn: client.Connection) -> Frame:
    queues = await client.queue_stats(conn)
    finished = await client.throughput(conn, timedelta(minutes=1), 1)
    workers = await client.list_workers(conn)
    return Frame(
        at=datetime.now(UTC),
        queues=queues,
        last_minute={row.queue: row for row in finished},
        workers=workers,
    )


def _table(plain: bool) -> Table:
    """Narrow enough for 80 columns: one space between columns, none at the edges; a line under
    the header in a terminal, plain columns else."""
    return Table(
        box=None if plain else box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        header_style="" if plain else "bold",
    )


def _queue_table(frame: Frame, plain: bool) -> Table:
    queues = _table(plain)
    for header in QUEUE_HEADERS:
        queues.add_column(header, justify="left" if header == "QUEUE" else "right", no_wrap=True)
    for q in frame.queues:
        done = frame.last_minute.get(q.queue)
        slots = "-" if q.concurrency is None else str(q.concurrency)
        queues.add_row(
            q.queue,
            str(q.queued),
            str(q.scheduled),
            f"{q.running}/{slots}",
            "yes" if q.paused else "no",
            "-" if q.oldest_wait is None else age(q.oldest_wait),
            str(done.completed if done else 0),
            str(done.failed if done else 0),
            str(done.cancelled if done else 0),
            style="yellow" if q.paused and not plain else None,
        )
    return queues


def _worker_table(frame: Frame, plain: bool) -> Table:
    workers = _table(plain)
    for column in WORKER_COLUMNS:
        right = column in ("pid", "running", "heartbeat")
        workers.add_column(column.upper(), justify="right" if right else "left", no_wrap=True)
    for worker in frame.workers:
        cells = worker_cells(worker, frame.at)
        workers.add_row(
            *("-" if getattr(cells, c) is None else str(getattr(cells, c)) for c in WORKER_COLUMNS),
            style=None if worker.alive or plain else "red",
        )
    return workers


def render(place: str, frame: Frame | None, error: str | None, plain: bool) -> RenderableType:
    """One screen: a header line, the error (if the last read failed), the queues, the workers."""
    header = Text(f"taskq top  {place}")
    if frame is not None:
        header.append(f"  {frame.at.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    if not plain:
        header.append("  q: quit", style="dim")
    parts: list[RenderableType] = [header]
    if error is not None:
        parts.append(Text(f"error: {error} (trying again)", style="" if plain else "bold red"))
    if frame is not None:
        legend = "" if plain else "dim"
        parts += [Text(""), Text(QUEUE_LEGEND, style=legend), _queue_table(frame, plain)]
        parts += [Text(""), Text("workers", style=legend)]
        parts.append(_worker_table(frame, plain) if frame.workers else Text("no workers"))
    return Group(*parts)


class Reader:
    """The frames of one database: a connection kept between refreshes, opened again after an
    error, so that a database that went away is read again once it is back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: client.Connection | None = None

    async def _read(self) -> Frame:
        if self.conn is None:
            self.conn = await open_connection(self.url, connect_timeout=int(READ_TIMEOUT))
        return await read_frame(self.conn)

    async def frame(self) -> Frame:
        """The next frame; TaskqError (the connection dropped) when the database fails."""
        try:
            return await asyncio.wait_for(self._read(), READ_TIMEOUT)
        except TimeoutError:
            await self.close()
            raise TaskqError(f"the database did not answer within {READ_TIMEOUT:g}s") from None
        except (TaskqError, psycopg.Error) as error:
            await self.close()
            if isinstance(error, TaskqError):
                raise
            raise TaskqError(str(error).strip() or type(error).__name__) from error

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[bool]:
    """Standard input in cbreak mode (keys one by one, no echo, Ctrl-C still a signal), put
    back as it was on the way out; False (nothing changed) when it is no terminal."""
    if not os.isatty(fd):
        yield False
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def live(url: str, interval: float, console: Console) -> None:
    """Refresh every ``interval`` seconds until q, Ctrl-C or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reader = Reader(url)
    place = place_of(url)
    plain = not console.is_terminal
    stdin = sys.stdin.fileno()
    frame: Frame | None = None

    def on_key() -> None:
        keys = os.read(stdin, 64)
        if not keys:
            loop.remove_reader(stdin)
        elif QUIT_KEYS.intersection(keys):
            stop.set()

    with contextlib.ExitStack() as stack:
        if stack.enter_context(cbreak(stdin)):
            loop.add_reader(stdin, on_key)
            stack.callback(loop.remove_reader, stdin)
        view = None
        if not plain:
            view = stack.enter_context(
                Live(console=console, screen=True, auto_refresh=False, transient=True)
            )
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                reading = asyncio.ensure_future(reader.frame())
                await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError, TaskqError):
                        await reading
                    break
                error = None
                try:
                    frame = reading.result()
                except TaskqError as failure:
                    error = (failure.message.strip().splitlines() or ["failed"])[0]
                screen = render(place, frame, error, plain)
                if view is not None:
                    view.update(screen, refresh=True)
                else:
                    console.print(screen)
                    console.print()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopped), interval)
        finally:
            stopped.cancel()
            await reader.close()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


def make_console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=PLAIN_WIDTH, color_system=None, highlight=False)
    return console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument(
        "--interval",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="seconds between refreshes (default: 1)",
    )
    add_database_option(parser)


def run(args: argparse.Namespace) -> int:
    console = make_console()
    if args.once:
        frame = run_call(args, read_frame)
        console.print(render(place_of(database_url(args)), frame, None, not console.is_terminal))
    else:
        asyncio.run(live(database_url(args), args.interval, console))
    return 0
