"""How ``taskq run`` and ``taskq worker`` stop: on SIGTERM and SIGINT, gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable


def handle_stop_signals(stop: Callable[[bool], None], log: logging.Logger, what: str = "") -> None:
    """SIGTERM and SIGINT call ``stop(False)``: a graceful stop. A repeated SIGTERM changes
    nothing (``make`` passes its own SIGTERM on to its child, and a kill of the process group
    reaches both, so one request can arrive twice); a SIGINT while stopping, a second Ctrl-C,
    calls ``stop(True)``: skip what is left of the grace period. Call it on the running loop."""
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal(signum: int) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if not stopping:
            stopping = True
            log.info("%s received: stopping%s", name, what)
            stop(False)
        elif signum == signal.SIGINT:
            log.warning("%s received again: not waiting for running tasks any longer", name)
            stop(True)
        else:
            log.info("%s received again: already stopping (a second Ctrl-C does not wait)", name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
