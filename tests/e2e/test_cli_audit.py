"""``taskq audit`` and the --reason and --actor of the admin commands."""

from __future__ import annotations

import json
from typing import Any

import pytest


def test_admin_commands_record_reason_and_actor(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, out, _ = cli("enqueue", "x", "--queue", "mail")
    task_id = out.strip()
    assert cli("pause", task_id, "--reason", "hold", "--actor", "alice")[0] == 0
    monkeypatch.setenv("TASKQ_ACTOR", "bob")
    assert cli("resume", task_id)[0] == 0
    assert cli("cancel", task_id, "--reason", "duplicate", "--actor", "carol")[0] == 0
    monkeypatch.delenv("TASKQ_ACTOR")
    assert cli("retry", task_id)[0] == 0
    assert cli("queue", "mail", "--concurrency", "3", "--pause", "--reason", "deploy")[0] == 0
    code, out, _ = cli("audit", "--json")
    assert code == 0
    page = json.loads(out)
    assert page["next_cursor"] is None
    assert [(i["action"], i["actor"], i["reason"]) for i in reversed(page["items"])] == [
        ("pause", "alice", "hold"),
        ("resume", "bob", None),
        ("cancel", "carol", "duplicate"),
        ("retry", None, None),
        ("set_concurrency", None, "deploy"),
        ("pause_queue", None, "deploy"),
    ]
    cancel = page["items"][3]
    assert cancel["task_id"] == task_id
    assert cancel["before"] == {"status": "QUEUED", "cancel_requested": False}
    assert cancel["after"] == {"status": "CANCELLED", "cancel_requested": False}


def test_audit_filters_pages_and_table(cli: Any) -> None:
    _, out, _ = cli("enqueue", "x", "--queue", "a")
    first = out.strip()
    _, out, _ = cli("enqueue", "x", "--queue", "b")
    second = out.strip()
    for task_id in (first, second, first):
        cli("pause", task_id)
    cli("cancel", first, "--reason", "no longer needed")

    code, out, _ = cli("audit")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["ID", "AT", "ACTION", "TASK_ID", "QUEUE"]
    assert [row.split()[3] for row in rows] == ["cancel", "pause", "pause", "pause"]
    assert "no longer needed" in rows[0]

    code, out, _ = cli("audit", "--limit", "3")
    *rows, more = out.splitlines()
    assert len(rows) == 4  # the header and 3 rows
    assert more.startswith("(more: taskq audit --after ")
    code, out, _ = cli("audit", "--after", more.split()[-1].rstrip(")"), "--json")
    assert [i["action"] for i in json.loads(out)["items"]] == ["pause"]

    def actions(*args: str) -> list[tuple[str, str]]:
        code, out, _ = cli("audit", "--json", *args)
        assert code == 0
        return [(i["action"], i["queue"]) for i in json.loads(out)["items"]]

    assert actions("--task-id", second) == [("pause", "b")]
    assert actions("--queue", "a", "--action", "cancel") == [("cancel", "a")]
    assert len(actions("--since", "1h")) == 4
    assert actions("--before", "1h") == []
    assert actions("--since", "2999-01-01T00:00:00") == []
    assert cli("audit", "--action", "retry")[1].strip() == "no audit rows"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "--limit", "0"], "--limit must be between 1 and 1000"),
        (["audit", "--task-id", "nope"], "'nope' is not a task id"),
        (["audit", "--since", "someday"], "--since 'someday' is not a time"),
        (["audit", "--before", "+1h"], "--before '+1h' is not a time"),
        (["audit", "--since", "800000d"], "--since 800000d: too long ago"),
        (["audit", "--after", str(2**63)], "--after must be a cursor"),
        (["audit", "--after", "0"], "--after must be a cursor"),
        (["queue", "q", "--pause", "--reason", "r" * 1001], "reason must be at most 1000"),
        (["queue", "q", "--pause", "--actor", "a" * 129], "taskq.actor must be at most 128"),
    ],
)
def test_bad_input_is_one_line_with_status_2(cli: Any, args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert (code, out) == (2, "")
    assert err.startswith("taskq: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
