"""The taskq worker: handlers by task name, and the loop that claims and runs tasks.

::

    from worker import task, TaskContext

    @task("send_email")
    async def send_email(payload: dict, ctx: TaskContext) -> dict | None: ...

Run it with ``taskq worker --import myapp.tasks``, or in-process with ``await Worker(url).run()``.
"""

from worker.context import TaskContext
from worker.handle import TaskHandle
from worker.loop import Worker
from worker.registry import Handler, Registry, registry, task

__all__ = ["Handler", "Registry", "TaskContext", "TaskHandle", "Worker", "registry", "task"]
