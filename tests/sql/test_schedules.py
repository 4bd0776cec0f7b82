"""Periodic tasks: cron parsed and evaluated in SQL (fields, names, shorthands, DST, leap days),
schedule / unschedule with their audit rows, and run_schedules: each tick enqueued once however
many connections call it, missed ticks once or skipped."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.sql.conftest import Conn, one, raises_sqlstate

UTC = UTC


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def cron_next(conn: Conn, cron: str, after: str, time_zone: str = "UTC") -> datetime:
    value = one(conn, "SELECT taskq.cron_next(%s, %s, %s)", (cron, time_zone, at(after)))
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("* * * * * *", "2026-01-01T10:00:00.5+00:00", "2026-01-01T10:00:01+00:00"),
        ("*/15 * * * *", "2026-01-01T10:00:00+00:00", "2026-01-01T10:15:00+00:00"),
        ("1-30/5 * * * *", "2026-01-01T10:27:00+00:00", "2026-01-01T11:01:00+00:00"),
        ("5,10 4 * * *", "2026-01-01T04:05:00+00:00", "2026-01-01T04:10:00+00:00"),
        ("0 12 * jan-mar SUN", "2026-04-01T00:00:00+00:00", "2027-01-03T12:00:00+00:00"),
        ("0 0 * * 7", "2026-01-01T00:00:00+00:00", "2026-01-04T00:00:00+00:00"),  # a Sunday
        ("0 0 * * 0", "2026-01-01T00:00:00+00:00", "2026-01-04T00:00:00+00:00"),
        # both day fields restricted: either matches (Friday 2 January before the 13th)
        ("0 0 13 * 5", "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"),
        # one starts with *: both must match (Friday the 13th)
        ("0 0 13 * */1", "2026-01-01T00:00:00+00:00", "2026-01-13T00:00:00+00:00"),
        ("0 0 13 * *", "2026-01-14T00:00:00+00:00", "2026-02-13T00:00:00+00:00"),
        ("30 */10 * * * *", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:30+00:00"),
        ("@hourly", "2026-01-01T10:00:00+00:00", "2026-01-01T11:00:00+00:00"),
        ("@daily", "2026-01-01T10:00:00+00:00", "2026-01-02T00:00:00+00:00"),
        ("@midnight", "2026-01-01T10:00:00+00:00", "2026-01-02T00:00:00+00:00"),
        ("@weekly", "2026-01-01T10:00:00+00:00", "2026-01-04T00:00:00+00:00"),
        ("@monthly", "2026-01-01T10:00:00+00:00", "2026-02-01T00:00:00+00:00"),
        ("@yearly", "2026-01-01T10:00:00+00:00", "2027-01-01T00:00:00+00:00"),
        ("@ANNUALLY", "2026-01-01T10:00:00+00:00", "2027-01-01T00:00:00+00:00"),
        # the next leap day, across 2100 (not a leap year)
        ("0 0 29 2 *", "2026-01-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
        ("0 0 29 2 *", "2097-01-01T00:00:00+00:00", "2104-02-29T00:00:00+00:00"),
        ("0 0 31 * *", "2026-04-01T00:00:00+00:00", "2026-05-31T00:00:00+00:00"),
    ],
)
def test_next_tick(conn: Conn, cron: str, after: str, expected: str) -> None:
    assert cron_next(conn, cron, after) == at(expected)


def test_a_weekday_morning_in_paris(conn: Conn) -> None:
    cron = "0 7 * * 1-5"
    # Friday 27 March 2026 at 07:00 CET is 06:00 UTC; the next is Monday 30 March, in CEST
    assert cron_next(conn, cron, "2026-03-27T05:00:00+00:00", "Europe/Paris") == at(
        "2026-03-27T06:00:00+00:00"
    )
    assert cron_next(conn, cron, "2026-03-27T06:00:00+00:00", "Europe/Paris") == at(
        "2026-03-30T05:00:00+00:00"
    )


def test_a_local_time_skipped_by_dst_runs_once_at_the_jump(conn: Conn) -> None:
    # 29 March 2026, Europe/Paris: 02:00 CET jumps to 03:00 CEST (01:00 UTC)
    first = cron_next(conn, "30 2 * * *", "2026-03-28T12:00:00+00:00", "Europe/Paris")
    assert first == at("2026-03-29T01:00:00+00:00")
    # then the next day's 02:30 CEST, not a second run on the 29th
    assert cron_next(conn, "30 2 * * *", first.isoformat(), "Europe/Paris") == at(
        "2026-03-30T00:30:00+00:00"
    )
    # every tick inside the gap makes one run at the jump; 03:00 itself is that run
    ticks = [cron_next(conn, "*/15 * * * *", "2026-03-29T00:50:00+00:00", "Europe/Paris")]
    for _ in range(2):
        ticks.append(cron_next(conn, "*/15 * * * *", ticks[-1].isoformat(), "Europe/Paris"))
    assert ticks == [
        at("2026-03-29T01:00:00+00:00"),
        at("2026-03-29T01:15:00+00:00"),
        at("2026-03-29T01:30:00+00:00"),
    ]


def test_a_local_time_that_happens_twice_runs_once_the_first(conn: Conn) -> None:
    # 25 October 2026, Europe/Paris: 03:00 CEST goes back to 02:00 CET (01:00 UTC)
    first = cron_next(conn, "30 2 * * *", "2026-10-24T12:00:00+00:00", "Europe/Paris")
    assert first == at("2026-10-25T00:30:00+00:00")  # 02:30 CEST
    assert cron_next(conn, "30 2 * * *", first.isoformat(), "Europe/Paris") == at(
        "2026-10-26T01:30:00+00:00"
    )
    # asked during the repeated hour's second pass: its times already ran
    assert cron_next(conn, "*/15 * * * *", "2026-10-25T01:10:00+00:00", "Europe/Paris") == at(
        "2026-10-25T02:00:00+00:00"
    )
    assert cron_next(conn, "* * * * * *", "2026-10-25T01:10:00+00:00", "Europe/Paris") == at(
        "2026-10-25T02:00:00+00:00"
    )


def test_utc_ticks_are_even_across_dst(conn: Conn) -> None:
    assert cron_next(conn, "30 * * * *", "2026-10-25T01:10:00+00:00") == at(
        "2026-10-25T01:30:00+00:00"
    )


@pytest.mark.parametrize(
    ("cron", "sqlstate", "says"),
    [
        (None, "22004", "cron must not be NULL"),
        ("", "22023", "has 0 fields"),
        ("* * * *", "22023", "has 4 fields"),
        ("* * * * * * *", "22023", "has 7 fields"),
        ("60 * * * *", "22023", "minute field"),
        ("* 24 * * *", "22023", "hour field"),
        ("* * 0 * *", "22023", "day-of-month field"),
        ("* * * 13 *", "22023", "month field"),
        ("* * * * 8", "22023", "day-of-week field"),
        ("* * * * foo", "22023", "day-of-week field"),
        ("* * * smarch *", "22023", "month field"),
        ("60 * * * * *", "22023", "seconds field"),
        ("*/0 * * * *", "22023", "must be at least 1"),
        ("5-1 * * * *", "22023", "ends before it starts"),
        ("1,,2 * * * *", "22023", "minute field"),
        ("99999999999 * * * *", "22023", "minute field"),
        ("@reboot", "22023", "shorthand"),
        ("0 0 30 2 *", "22023", "never matches"),
        ("0 0 31 4,6 *", "22023", "never matches"),
        ("* " * 600, "22023", "at most 1000 characters"),
    ],
)
def test_a_bad_expression_says_which_field(
    conn: Conn, cron: str | None, sqlstate: str, says: str
) -> None:
    with raises_sqlstate(sqlstate, says):
        conn.execute("SELECT taskq.cron_next(%s)", (cron,))
    with raises_sqlstate(sqlstate, says):
        conn.execute("SELECT taskq.schedule('s', %s)", (cron,))
    assert one(conn, "SELECT count(*) FROM taskq.schedules") == 0


def test_bad_time_zones_and_null_arguments(conn: Conn) -> None:
    with raises_sqlstate("22023", 'time zone "Mars/Olympus" is unknown'):
        conn.execute("SELECT taskq.cron_next('* * * * *', 'Mars/Olympus')")
    with raises_sqlstate("22023", "is unknown"):
        conn.execute("SELECT taskq.schedule('s', '* * * * *', time_zone => '')")
    with raises_sqlstate("22004", "time_zone"):
        conn.execute("SELECT taskq.cron_next('* * * * *', NULL)")
    with raises_sqlstate("22004", "after"):
        conn.execute("SELECT taskq.cron_next('* * * * *', 'UTC', NULL)")


@pytest.mark.parametrize(
    ("arguments", "sqlstate", "column"),
    [
        ("name => NULL, cron => '* * * * *'", "22004", "name"),
        ("name => '  ', cron => '* * * * *'", "22023", "name"),
        ("name => 's', cron => '* * * * *', task_name => ''", "22023", "task_name"),
        ("name => 's', cron => '* * * * *', queue => ''", "22023", "queue"),
        ("name => 's', cron => '* * * * *', payload => '[1]'", "22023", "payload"),
        ("name => 's', cron => '* * * * *', max_attempts => 0", "22023", "max_attempts"),
        ("name => 's', cron => '* * * * *', missed => 'burst'", "22023", "missed"),
        ("name => 's', cron => '* * * * *', reason => repeat('x', 1001)", "22001", "reason"),
    ],
)
def test_schedule_refuses_bad_arguments(
    conn: Conn, arguments: str, sqlstate: str, column: str
) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(f"SELECT taskq.schedule({arguments})")
    assert (info.value.sqlstate, info.value.diag.column_name) == (sqlstate, column)
    assert one(conn, "SELECT count(*) FROM taskq.audit") == 0


def schedule_row(conn: Conn, sql: str, params: Any = None) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql, params).fetchone()
    assert row is not None
    return row


def test_schedule_replaces_by_name_and_unschedule_removes_with_audit_rows(conn: Conn) -> None:
    made = schedule_row(
        conn,
        "SELECT * FROM taskq.schedule('report', '0 7 * * 1-5', '{\"kind\": \"daily\"}',"
        " queue => 'reports', time_zone => 'Europe/Paris', reason => 'new report')",
    )
    assert (made["task_name"], made["missed"]) == ("report", "once")
    assert made["next_run_at"] == cron_next(
        conn, "0 7 * * 1-5", made["created_at"].isoformat(), "Europe/Paris"
    )
    # the same ticks: next_run_at kept, even when it is already due
    conn.execute(
        "UPDATE taskq.schedules SET next_run_at = now() - interval '5 seconds'"
        " WHERE name = 'report'"
    )
    due = one(conn, "SELECT next_run_at FROM taskq.schedules")
    again = schedule_row(
        conn,
        "SELECT * FROM taskq.schedule('report', '0 7 * * 1-5', priority => 'HIGH',"
        " time_zone => 'Europe/Paris')",
    )
    assert (again["next_run_at"], again["priority"], again["payload"]) == (due, "HIGH", {})
    changed = schedule_row(conn, "SELECT * FROM taskq.schedule('report', '@hourly')")
    assert changed["next_run_at"] > due
    assert changed["time_zone"] == "UTC"
    info = schedule_row(conn, "SELECT * FROM taskq.schedule_info")
    assert info["next_run_local"] == changed["next_run_at"].astimezone(UTC).replace(tzinfo=None)
    removed = schedule_row(conn, "SELECT * FROM taskq.unschedule('report', reason => 'gone')")
    assert removed["cron"] == "@hourly"
    with raises_sqlstate("P0002", "schedule 'report' does not exist"):
        conn.execute("SELECT taskq.unschedule('report')")
    rows = conn.execute(
        "SELECT action, queue, before ->> 'cron', after ->> 'cron', reason FROM taskq.audit"
        " ORDER BY id"
    ).fetchall()
    assert rows == [
        ("schedule", "reports", None, "0 7 * * 1-5", "new report"),
        ("schedule", "default", "0 7 * * 1-5", "0 7 * * 1-5", None),
        ("schedule", "default", "0 7 * * 1-5", "@hourly", None),
        ("unschedule", "default", "@hourly", None, "gone"),
    ]


def test_declare_schedule_audits_only_a_change(conn: Conn) -> None:
    declare = "SELECT taskq.declare_schedule('nightly', '0 3 * * *', task_name => 'cleanup')"
    conn.execute(declare)
    conn.execute(declare)
    conn.execute("SELECT taskq.declare_schedule('nightly', '0 4 * * *', task_name => 'cleanup')")
    assert conn.execute(
        "SELECT action, before IS NULL FROM taskq.audit ORDER BY id"
    ).fetchall() == [
        ("declare_schedule", True),
        ("declare_schedule", False),
    ]


def tasks(conn: Conn) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT name, queue, priority, payload, scheduled_at, max_attempts FROM taskq.tasks"
            " ORDER BY scheduled_at, id"
        ).fetchall()


def every_second(conn: Conn, **settings: Any) -> datetime:
    """A schedule 'tick' every second; its first tick."""
    names = "".join(f", {key} => %({key})s" for key in settings)
    row = schedule_row(
        conn, f"SELECT * FROM taskq.schedule('tick', '* * * * * *'{names})", settings
    )
    first = row["next_run_at"]
    assert isinstance(first, datetime)
    return first


def run(conn: Conn, now: datetime) -> tuple[int, datetime]:
    row = conn.execute("SELECT * FROM taskq._run_schedules(%s)", (now,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_run_schedules_enqueues_each_due_tick_with_its_time(conn: Conn) -> None:
    first = every_second(
        conn,
        payload='{"n": 1}',
        queue="ticks",
        priority="HIGH",
        max_attempts=1,
        task_name="ticked",
    )
    assert run(conn, first - timedelta(seconds=1)) == (0, first)
    assert run(conn, first + timedelta(seconds=2)) == (3, first + timedelta(seconds=3))
    assert run(conn, first + timedelta(seconds=2)) == (0, first + timedelta(seconds=3))
    made = tasks(conn)
    assert [t["scheduled_at"] for t in made] == [first + timedelta(seconds=i) for i in range(3)]
    assert made[0]["payload"] == {
        "n": 1,
        "_schedule": {
            "name": "tick",
            "tick": first.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "missed": False,
        },
    }
    assert {(t["name"], t["queue"], t["priority"], t["max_attempts"]) for t in made} == {
        ("ticked", "ticks", "HIGH", 1)
    }
    last = schedule_row(conn, "SELECT last_run_at, last_task_id FROM taskq.schedule_info")
    assert last["last_run_at"] == first + timedelta(seconds=2)


@pytest.mark.parametrize("missed", ["once", "skip"])
def test_missed_ticks_give_one_task_or_none_never_a_burst(conn: Conn, missed: str) -> None:
    first = every_second(conn, missed=missed)
    later = first + timedelta(hours=1)
    enqueued, next_run = run(conn, later)
    assert next_run == later + timedelta(seconds=1)
    made = tasks(conn)
    if missed == "once":
        assert enqueued == 1
        assert [t["scheduled_at"] for t in made] == [first]
        assert made[0]["payload"]["_schedule"]["missed"] is True
    else:
        assert (enqueued, made) == (0, [])
    # back on time: one task per tick again
    assert run(conn, later + timedelta(seconds=2))[0] == 2


def test_concurrent_callers_enqueue_each_tick_exactly_once(database_url: str, conn: Conn) -> None:
    first = every_second(conn)
    seconds = 40
    callers = 6
    barrier = threading.Barrier(callers)
    counted: list[int] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                barrier.wait()
                for k in range(seconds):
                    # every caller asks for every second: each tick is due for all of them
                    counted.append(run(own, first + timedelta(seconds=k))[0])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    made = [t["scheduled_at"] for t in tasks(conn)]
    assert made == [first + timedelta(seconds=k) for k in range(seconds)]
    assert sum(counted) == seconds


def test_cron_next_is_fast_for_a_far_tick(conn: Conn) -> None:
    """The walk skips months and days whole: eight years to a leap day take few steps; a
    statement timeout makes a minute-by-minute walk fail."""
    conn.execute("SET statement_timeout = '2s'")
    for _ in range(20):
        cron_next(conn, "0 0 29 2 *", "2097-03-01T00:00:00+00:00")
        cron_next(conn, "0 0 29 2 mon", "2097-03-01T00:00:00+00:00")


def test_a_failing_schedule_is_skipped_alone_with_a_warning(conn: Conn) -> None:
    """One schedule whose stored arguments became invalid is rolled back alone: the others are
    enqueued, a WARNING names it and the error, and its due ticks are skipped (next_run_at past
    now, not retried at once); once fixed, its next tick runs."""
    for name in ("a", "b", "c"):
        conn.execute("SELECT taskq.schedule(%s, '* * * * * *', task_name => 'job')", (name,))
    first = one(conn, "SELECT max(next_run_at) FROM taskq.schedules")
    conn.execute("UPDATE taskq.schedules SET next_run_at = %s", (first,))
    conn.execute("UPDATE taskq.schedules SET task_name = ' ' WHERE name = 'b'")
    conn.execute("UPDATE taskq.schedules SET time_zone = 'Mars/Olympus' WHERE name = 'c'")
    conn.execute("SELECT taskq.schedule('d', '* * * * * *', task_name => 'other')")
    conn.execute("UPDATE taskq.schedules SET next_run_at = %s WHERE name = 'd'", (first,))
    warnings: list[tuple[str | None, str | None, str | None]] = []
    conn.add_notice_handler(
        lambda d: warnings.append((d.severity_nonlocalized, d.message_primary, d.message_detail))
    )
    now = first + timedelta(seconds=2)
    assert run(conn, now) == (6, now + timedelta(seconds=1))  # a and d, three ticks each
    assert [(t["name"], t["payload"]["_schedule"]["name"]) for t in tasks(conn)] == [
        ("job", "a"),
        ("other", "d"),
    ] * 3
    assert [(w[0], w[1]) for w in sorted(warnings)] == [
        (
            "WARNING",
            "schedule 'b' was not run: name must not be empty or blank, not ' ' (SQLSTATE 22023)",
        ),
        (
            "WARNING",
            "schedule 'c' was not run: time zone \"Mars/Olympus\" not recognized (SQLSTATE 22023)",
        ),
    ]
    assert all("are skipped" in (w[2] or "") for w in warnings)
    rows = dict(conn.execute("SELECT name, next_run_at FROM taskq.schedules").fetchall())
    # b's ticks up to now are skipped; c's zone no longer parses: no next run
    later = now + timedelta(seconds=1)
    assert rows == {"a": later, "b": later, "c": None, "d": later}
    assert one(conn, "SELECT last_run_at FROM taskq.schedules WHERE name = 'b'") is None
    # b fixed (the same ticks: its next run is kept) runs at its next tick with the others
    conn.execute("SELECT taskq.schedule('b', '* * * * * *', task_name => 'job')")
    assert run(conn, later)[0] == 3
    assert len(warnings) == 2  # c, with no next run, is not tried again
    # c's zone known again: replacing it with the same cron and zone gives it a next run
    conn.execute("UPDATE taskq.schedules SET time_zone = 'UTC' WHERE name = 'c'")
    conn.execute("SELECT taskq.schedule('c', '* * * * * *', task_name => 'job')")
    assert one(conn, "SELECT next_run_at FROM taskq.schedules WHERE name = 'c'") is not None


def test_get_schedule_reads_one_and_refuses_an_unknown_name(conn: Conn) -> None:
    conn.execute("SELECT taskq.schedule('report', '@daily', time_zone => 'Europe/Paris')")
    row = schedule_row(conn, "SELECT * FROM taskq.get_schedule('report')")
    assert (row["name"], row["cron"], row["time_zone"]) == ("report", "@daily", "Europe/Paris")
    assert row["next_run_local"].time().isoformat() == "00:00:00"
    with raises_sqlstate("P0002", "schedule 'nope' does not exist"):
        conn.execute("SELECT * FROM taskq.get_schedule('nope')")
