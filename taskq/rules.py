"""The SQL's rules that Python states too, written once: the values of the enum types and the
limits the SQL functions enforce. The API's schemas, the CLI's choices and the client take them
from here; tests/sql/test_rules.py checks each against the database.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# the values of taskq.priority and taskq.status, in the enum's order
Priority = Literal["LOW", "MEDIUM", "HIGH"]
Status = Literal["QUEUED", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"]
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)
STATUSES: Final[tuple[Status, ...]] = get_args(Status)

# taskq._check_name: a task or queue name is 1 to NAME_MAX characters, not only spaces, tabs and
# line breaks (NAME_PATTERN finds the character that makes it not blank)
NAME_MAX: Final = 128
NAME_PATTERN: Final = r"[^ \t\r\n]"
# taskq._check_options: a unique_key or concurrency_key is 1 to KEY_MAX characters, not blank
# (NAME_PATTERN)
KEY_MAX: Final = 256
# taskq.set_concurrency: 1 to CONCURRENCY_MAX (or NULL, unlimited); it keeps one slot row per
# unit and blocks claims while it writes them, so a higher limit would take minutes
CONCURRENCY_MAX: Final = 10_000
# taskq.list_tasks and list_tasks_page: a page holds 1 to PAGE_MAX tasks
PAGE_MAX: Final = 1000
# taskq._audit: the reason of an admin act is at most REASON_MAX characters, the taskq.actor
# setting (who acted) at most ACTOR_MAX
REASON_MAX: Final = 1000
ACTOR_MAX: Final = 128
