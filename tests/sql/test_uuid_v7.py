from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from tests.sql.conftest import Conn, one


def test_version_variant_and_time(conn: Conn) -> None:
    before = datetime.now(UTC)
    value: UUID = one(conn, "SELECT taskq.uuid_v7()")
    after = datetime.now(UTC)
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"
    millis = int(value.hex[:12], 16)
    assert int(before.timestamp() * 1000) - 1 <= millis <= int(after.timestamp() * 1000) + 1


def test_ids_made_one_after_another_sort_in_creation_order(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT taskq.uuid_v7() FROM generate_series(1, 2000) ORDER BY generate_series"
    ).fetchall()
    ids = [row[0] for row in rows]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_sub_millisecond_fraction_encodes_the_instant(conn: Conn) -> None:
    value: UUID = one(conn, "SELECT taskq.uuid_v7('2030-01-01 00:00:00.0005+00')")
    assert int(value.hex[:12], 16) == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert value.hex[12] == "7"
    assert int(value.hex[13:16], 16) == 2048  # half a millisecond in 1/4096 steps
