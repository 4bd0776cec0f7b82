"""The array literals taskq.client builds for the worker's reports read back as what was sent."""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg
from psycopg.types.json import set_json_dumps

from taskq import client
from taskq.client import _text_array, _uuid_array

NASTY = [
    "",
    "NULL",
    " spaced ",
    'a "quoted" word',
    "back\\slash \\\\ twice",
    "{braces}, commas, and\nline breaks\t",
    '{"json": ["with", "quotes\\"inside"]}',
    "ünïcödé ✓ 𝄞",
    None,
]


class Alike(str):
    """A str equal to every string, with one hash for all."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def test_a_text_array_literal_reads_back_element_for_element(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    row = conn.execute("SELECT %s::text[]", (_text_array(NASTY),)).fetchone()
    assert row is not None
    assert row[0] == NASTY
    # a value met again is quoted once and written as often as it comes
    again = [*NASTY, *reversed(NASTY), NASTY[3], NASTY[3]]
    row = conn.execute("SELECT %s::text[]", (_text_array(again),)).fetchone()
    assert row is not None
    assert row[0] == again
    # a str subclass that claims to equal every string is written as it is, not as another
    row = conn.execute(
        "SELECT %s::text[]", (_text_array(["a", Alike("b"), Alike("c")]),)
    ).fetchone()
    assert row is not None
    assert row[0] == ["a", "b", "c"]
    empty = conn.execute("SELECT cardinality(%s::text[])", (_text_array([]),)).fetchone()
    assert empty == (0,)


def test_a_uuid_array_literal_reads_back_in_order(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    row = conn.execute("SELECT %s::uuid[]", (_uuid_array(ids),)).fetchone()
    assert row is not None
    assert row[0] == ids


def test_enqueue_many_writes_json_with_the_connections_dumps(database_url: str) -> None:
    # the array form sends each payload as the text psycopg's Jsonb would: with the dumps an
    # application set on the connection (here one that knows UUIDs), as enqueue does
    def dumps(value: object) -> str:
        return json.dumps(value, default=str)

    async def main() -> list[object]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            set_json_dumps(dumps, conn)
            ids = await client.enqueue_many(
                conn,
                [
                    {"name": "uuids", "payload": {"id": MARK, "text": NASTY[4]}},
                    {"name": "plain", "payload": {"n": 1}, "trace_context": None},
                ],
            )
            return [(await client.get_task(conn, task_id)).payload for task_id in ids]

    assert asyncio.run(main()) == [{"id": str(MARK), "text": NASTY[4]}, {"n": 1}]


MARK = uuid.UUID("01234567-89ab-7def-8123-456789abcdef")
