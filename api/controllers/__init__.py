"""One controller per resource: tasks, queues, the older ``/task/...`` routes, health."""

from api.controllers.health import HealthController
from api.controllers.legacy import LegacyTaskController
from api.controllers.queues import QueueController
from api.controllers.table_health import TableHealthController
from api.controllers.tasks import TaskController

__all__ = [
    "HealthController",
    "LegacyTaskController",
    "QueueController",
    "TableHealthController",
    "TaskController",
]
