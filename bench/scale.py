"""How much each section does: the full run and the quick one (``--quick``, under 3 minutes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    quick: bool
    # floor (pgbench)
    floor_clients: tuple[int, ...] = (1, 2, 4)
    floor_batches: tuple[int, ...] = (1, 50)
    floor_drain_clients: tuple[int, ...] = (1, 2)
    claim_rows_single: int = 20_000
    claim_rows_batch: int = 200_000
    insert_rows_single: int = 20_000
    insert_rows_batch: int = 200_000
    insert_batch: int = 50
    # enqueue
    enqueue_single: int = 5_000
    enqueue_many_batches: int = 50
    enqueue_many_size: int = 1_000
    api_posts: int = 2_000
    # drains: tasks per drain, the batch size the floor is compared at, the settings tried
    drain_tasks: int = 20_000
    drain_batch: int = 50
    taskq_concurrency: tuple[int, ...] = (50, 100, 200, 500, 1000)
    pgqueuer_batch: tuple[int, ...] = (10, 50, 100, 200, 500, 1000)
    procrastinate_concurrency: tuple[int, ...] = (1, 10, 50)
    procrastinate_tasks: int = 3_000
    # the drain on a slot-limited queue: its number of slots, which is also the worker's
    # concurrency there and in the unlimited drain it is compared with (one of taskq_concurrency)
    drain_slots: int = 200
    # pairs: rounds of drains of taskq and PgQueuer one after the other
    paired_rounds: int = 3
    # slots: a queue with 2 slots and 50 ms tasks
    slot_tasks: int = 400
    slot_count: int = 2
    slot_task_seconds: float = 0.05
    # latency and lateness
    latency_samples: int = 300
    latency_gap: float = 0.03
    lateness_samples: int = 300
    lateness_window: float = 6.0
    # growth
    growth_small: int = 10_000
    growth_large: int = 1_000_000
    growth_samples: int = 2_000
    growth_unhandled: int = 100_000
    memory_tasks: int = 100_000
    # held snapshot: claims while tasks flow at a steady rate, with a snapshot held or not
    held_rate: int = 150
    held_seconds: float = 90.0
    held_window: float = 10.0
    # churn soak: tasks, enqueued per second, retention of the COMPLETED ones (s), sampling (s)
    soak_tasks: int = 1_000_000
    soak_rate: int = 1_700
    soak_retention: float = 5.0
    soak_sample_every: float = 10.0

    def floor_claim_rows(self, batch: int) -> int:
        return self.claim_rows_single if batch == 1 else self.claim_rows_batch

    def floor_insert_rows(self, batch: int) -> int:
        return self.insert_rows_single if batch == 1 else self.insert_rows_batch


FULL = Scale(quick=False)

QUICK = Scale(
    quick=True,
    claim_rows_single=4_000,
    claim_rows_batch=50_000,
    insert_rows_single=4_000,
    insert_rows_batch=50_000,
    floor_drain_clients=(1,),
    enqueue_single=1_000,
    enqueue_many_batches=10,
    api_posts=500,
    drain_tasks=5_000,
    taskq_concurrency=(200,),
    pgqueuer_batch=(200,),
    procrastinate_concurrency=(10,),
    procrastinate_tasks=500,
    paired_rounds=1,
    slot_tasks=100,
    latency_samples=200,
    latency_gap=0.015,
    lateness_samples=200,
    lateness_window=3.0,
    growth_large=100_000,
    growth_samples=500,
    memory_tasks=20_000,
    held_seconds=20.0,
    soak_tasks=120_000,
    soak_rate=1_000,
    soak_sample_every=3.0,
)
