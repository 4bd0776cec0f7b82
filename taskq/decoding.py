"""How connections decode the values of rows: json and jsonb by msgspec, and a marker, never an
exception, for a value Python cannot represent.

PostgreSQL stores what Python cannot hold: jsonb nested deeper than any recursive decoder goes
(msgspec and the json module both stop near 1,000 levels), timestamps at ``infinity``,
``-infinity``, before year 1 or after year 9999. psycopg decodes a row's values inside the
fetch, so one such value would make the whole fetch raise, after the claim that returned it
committed, taking the good rows of the batch with it. Instead the loaders below return an
:class:`Undecodable` for that one value; :mod:`taskq.client` keeps the rest of the row, and the
worker fails that task with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
from psycopg.abc import AdaptContext
from psycopg.adapt import Buffer, Loader
from psycopg.pq import Format
from psycopg.types.json import set_json_loads

# what an undecodable time stands for: the nearest time Python has, by its sign
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


class Undecodable:
    """A value the connection received but Python cannot represent: why (``reason``), and
    what stands in for it in a decoded row (``placeholder``)."""

    __slots__ = ("placeholder", "reason")

    def __init__(self, reason: str, placeholder: Any = None) -> None:
        self.reason = reason
        self.placeholder = placeholder

    def __repr__(self) -> str:
        return f"Undecodable({self.reason!r})"


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def load_json(data: bytes | bytearray | memoryview | str) -> Any:
    """A json/jsonb value by msgspec (several times faster than the json module, the same
    Python values); an :class:`Undecodable` for one it cannot decode (nested too deep)."""
    try:
        return msgspec.json.decode(data)
    except (RecursionError, ValueError) as error:  # msgspec.DecodeError is a ValueError
        return Undecodable(_reason(error))


def _too_early(data: Buffer, binary: bool) -> bool:
    """Whether an out-of-range timestamp lies before year 1 (else after year 9999)."""
    raw = bytes(data)
    if binary:  # microseconds since 2000 as a signed 64-bit integer
        return bool(raw) and raw[0] >= 0x80
    return raw.startswith(b"-") or raw.endswith(b" BC")


class _Timestamptz(Loader):
    """timestamptz as psycopg's own loader decodes it; an :class:`Undecodable` standing for the
    earliest or latest datetime for one outside Python's range."""

    format = Format.TEXT

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        standard = psycopg.adapters.get_loader(oid, self.format)
        assert standard is not None, "psycopg decodes timestamptz"
        self._standard = standard(oid, context)

    def load(self, data: Buffer) -> Any:
        try:
            return self._standard.load(data)
        except psycopg.DataError as error:
            early = _too_early(data, self.format == Format.BINARY)
            return Undecodable(str(error), EARLIEST if early else LATEST)


class _TimestamptzBinary(_Timestamptz):
    format = Format.BINARY


def configure(
    conn: psycopg.AsyncConnection[Any] | psycopg.Connection[Any] | psycopg.Cursor[Any],
) -> None:
    """Decode the json, jsonb and timestamptz values of this connection (or only this cursor)
    as described above."""
    set_json_loads(load_json, conn)
    conn.adapters.register_loader("timestamptz", _Timestamptz)
    conn.adapters.register_loader("timestamptz", _TimestamptzBinary)
