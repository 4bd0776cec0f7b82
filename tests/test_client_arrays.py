"""The array literals taskq.client builds for the worker's reports read back as what was sent."""

from __future__ import annotations

import uuid

import psycopg

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


def test_a_text_array_literal_reads_back_element_for_element(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    row = conn.execute("SELECT %s::text[]", (_text_array(NASTY),)).fetchone()
    assert row is not None
    assert row[0] == NASTY
    empty = conn.execute("SELECT cardinality(%s::text[])", (_text_array([]),)).fetchone()
    assert empty == (0,)


def test_a_uuid_array_literal_reads_back_in_order(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    row = conn.execute("SELECT %s::uuid[]", (_uuid_array(ids),)).fetchone()
    assert row is not None
    assert row[0] == ids
