"""One controller per resource: tasks, queues, schedules, the audit trail, workers, throughput,
the older ``/task/...`` routes, health, metrics."""

from api.controllers.audit import AuditController
from api.controllers.health import HealthController
from api.controllers.legacy import LegacyTaskController
from api.controllers.metrics import MetricsController
from api.controllers.queues import QueueController
from api.controllers.schedules import ScheduleController
from api.controllers.table_health import TableHealthController
from api.controllers.tasks import TaskController
from api.controllers.throughput import ThroughputController
from api.controllers.workers import WorkerController

__all__ = [
    "AuditController",
    "HealthController",
    "LegacyTaskController",
    "MetricsController",
    "QueueController",
    "ScheduleController",
    "TableHealthController",
    "TaskController",
    "ThroughputController",
    "WorkerController",
]
