"""``taskq schedules``, ``taskq schedule`` and ``taskq unschedule``: the table and --json, the
audit rows' reason and actor, and errors as one line with the exit status of their class."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest


def test_schedule_list_and_unschedule(cli: Any) -> None:
    assert cli("schedules") == (0, "no schedules\n", "")
    code, out, err = cli(
        "schedule",
        "report",
        "0 7 * * 1-5",
        "--payload",
        '{"kind": "daily"}',
        "--queue",
        "reports",
        "--priority",
        "HIGH",
        "--time-zone",
        "Europe/Paris",
        "--max-attempts",
        "5",
        "--task-name",
        "make_report",
        "--missed",
        "skip",
        "--reason",
        "the morning report",
        "--actor",
        "alice",
    )
    assert (code, err) == (0, ""), err
    assert out.startswith("schedule report: 0 7 * * 1-5 in Europe/Paris, next run 20")
    assert out.rstrip().endswith(" UTC")
    assert cli("schedule", "tick", "* * * * * *")[0] == 0

    code, out, _ = cli("schedules")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "NAME",
        "CRON",
        "TIME_ZONE",
        "NEXT_RUN_AT",
        "TASK_NAME",
        "QUEUE",
        "PRIORITY",
        "MISSED",
        "LAST_RUN_AT",
    ]
    assert [row.split()[0] for row in rows] == ["report", "tick"]
    assert "Europe/Paris" in rows[0]
    assert "make_report" in rows[0]

    code, out, _ = cli("schedules", "--json")
    listed = json.loads(out)
    assert [
        (s["name"], s["task_name"], s["queue"], s["priority"], s["max_attempts"]) for s in listed
    ] == [
        ("report", "make_report", "reports", "HIGH", 5),
        ("tick", "tick", "default", "MEDIUM", 3),
    ]
    assert listed[0]["payload"] == {"kind": "daily"}
    assert listed[0]["missed"] == "skip"
    assert listed[0]["next_run_at"] is not None

    assert cli("unschedule", "report", "--reason", "replaced", "--actor", "bob") == (
        0,
        "schedule report removed\n",
        "",
    )
    code, out, _ = cli("schedules", "--json")
    assert [s["name"] for s in json.loads(out)] == ["tick"]
    code, out, _ = cli("audit", "--json")
    assert [(i["action"], i["actor"], i["reason"]) for i in reversed(json.loads(out)["items"])] == [
        ("schedule", "alice", "the morning report"),
        ("schedule", None, None),
        ("unschedule", "bob", "replaced"),
    ]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["schedule", "s", "0 24 * * *"], 2, "cron hour field"),
        (["schedule", "s", "* * * *"], 2, "has 4 fields"),
        (["schedule", "s", "@daily", "--time-zone", "Mars/Olympus"], 2, "is unknown"),
        (["schedule", "s", "@daily", "--payload", "[1]"], 2, "--payload must be a JSON object"),
        (["schedule", "s", "@daily", "--max-attempts", "0"], 2, "max_attempts must be at least 1"),
        (["schedule", " ", "@daily"], 2, "must not be empty or blank"),
        (["schedule", "s", "@daily", "--reason", "r" * 1001], 2, "reason must be at most 1000"),
        (["unschedule", "nope"], 3, "schedule 'nope' does not exist"),
    ],
)
def test_errors_are_one_line_with_their_status(
    cli: Any, args: list[str], status: int, message: str
) -> None:
    code, out, err = cli(*args)
    assert (code, out) == (status, "")
    assert err.startswith("taskq: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert cli("schedules", "--json")[1].strip() == "[]"


def test_the_readme_commands(cli: Any) -> None:
    """The shell block of the README's Periodic tasks section, each command in turn."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("From the shell (errors are one line")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block is not None
    lines = [
        shlex.split(line, comments=True)
        for line in block.group(1).replace("\\\n", " ").splitlines()
    ]
    assert [line[:2] for line in lines] == [
        ["taskq", "schedule"],
        ["taskq", "schedules"],
        ["taskq", "unschedule"],
    ]
    outputs = []
    for line in lines:
        code, out, err = cli(*line[1:])
        assert (code, err) == (0, ""), (line, err)
        outputs.append(out)
    assert outputs[0].startswith("schedule report: 0 7 * * 1-5 in Europe/Paris")
    assert "report" in outputs[1]
    assert outputs[2] == "schedule report removed\n"
