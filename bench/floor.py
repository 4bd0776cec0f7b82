"""The floor: what PostgreSQL itself does for a minimal queue, driven by pgbench.

One table, a partial index on the queued rows, and the claim every PostgreSQL queue is built
around: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``. No
slots, leases, priorities or notifications: this is the ceiling a real queue is measured against.

- claim: rows claimed per second (status queued -> running), at 1, 2, 4 clients, batch 1 and 50;
- claim+complete: the same claim, then a second statement that marks the batch done (what a
  drain costs at the least: two commits per batch);
- insert: rows inserted per second, one row per statement, and 50 rows per statement.

Each claim run drains a table filled beforehand (with some rows to spare, so every claim gets a
full batch); pgbench's ``tps`` (without connection time) times the batch size is the rate.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bench.common import BenchError, Progress, Recorder
from bench.scale import Scale
from bench.server import BenchServer

SCHEMA = """
CREATE TABLE floor_queue (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload     jsonb       NOT NULL DEFAULT '{}',
    status      text        NOT NULL DEFAULT 'queued',
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX floor_queue_ready ON floor_queue (id) WHERE status = 'queued';
"""

CLAIM = """
UPDATE floor_queue SET status = 'running', started_at = now()
WHERE id IN (SELECT id FROM floor_queue WHERE status = 'queued'
             ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
RETURNING id;
"""

CLAIM_COMPLETE = """
WITH claimed AS (
    UPDATE floor_queue SET status = 'running', started_at = now()
    WHERE id IN (SELECT id FROM floor_queue WHERE status = 'queued'
                 ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    RETURNING id
)
SELECT string_agg(id::text, ',') AS ids FROM claimed
\\gset
UPDATE floor_queue SET status = 'done', finished_at = now()
WHERE id = ANY (string_to_array(:ids, ',')::bigint[]);
"""

INSERT_ONE = "INSERT INTO floor_queue (payload) VALUES ('{}');\n"
INSERT_MANY = "INSERT INTO floor_queue (payload) SELECT '{}' FROM generate_series(1, :batch);\n"

SCRIPTS = {
    "claim": CLAIM,
    "claim+complete": CLAIM_COMPLETE,
    "insert": INSERT_ONE,
    "insert batch": INSERT_MANY,
}

TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
DONE = re.compile(r"number of transactions actually processed: (\d+)")
FAILED = re.compile(r"number of failed transactions: (\d+)")


def steps(scale: Scale) -> int:
    claims = len(scale.floor_clients) * len(scale.floor_batches)
    drains = len(scale.floor_drain_clients)
    inserts = len(scale.floor_clients) * 2
    return claims + drains + inserts


def run(server: BenchServer, recorder: Recorder, scale: Scale, progress: Progress) -> None:
    url = server.create_database("floor")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
    version = _pgbench_version(server)
    with tempfile.TemporaryDirectory(prefix="taskq-bench-floor-") as folder:
        scripts = {}
        for name, text in SCRIPTS.items():
            path = Path(folder) / (name.replace(" ", "_").replace("+", "_") + ".sql")
            path.write_text(text)
            scripts[name] = path

        for batch in scale.floor_batches:
            for clients in scale.floor_clients:
                progress.start(f"floor: claim, {clients} client(s), batch {batch}")
                rows = scale.floor_claim_rows(batch)
                _claim_run(server, url, recorder, scripts["claim"], "claim", clients, batch, rows)
                progress.advance()
        for clients in scale.floor_drain_clients:
            batch = scale.drain_batch
            progress.start(f"floor: claim+complete, {clients} client(s), batch {batch}")
            rows = scale.floor_claim_rows(batch)
            _claim_run(
                server,
                url,
                recorder,
                scripts["claim+complete"],
                "claim+complete",
                clients,
                batch,
                rows,
            )
            progress.advance()
        for name, batch in (("insert", 1), ("insert batch", scale.insert_batch)):
            for clients in scale.floor_clients:
                progress.start(f"floor: {name}, {clients} client(s)")
                _insert_run(server, url, recorder, scripts[name], name, clients, batch, scale)
                progress.advance()
    for figure in recorder.figures:
        if figure.system == "floor":
            figure.settings["pgbench"] = version
    server.drop_database(url)


def _refill(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE floor_queue RESTART IDENTITY")
        if rows:
            conn.execute(
                "INSERT INTO floor_queue (payload) SELECT '{}' FROM generate_series(1, %s)",
                (rows,),
            )
        conn.execute("VACUUM ANALYZE floor_queue")


def _claim_run(
    server: BenchServer,
    url: str,
    recorder: Recorder,
    script: Path,
    measure: str,
    clients: int,
    batch: int,
    rows: int,
) -> None:
    per_client = max(rows // (clients * batch), 1)
    # spare rows: near the end, a claim skipping rows that others hold still finds a full batch
    _refill(url, per_client * clients * batch + 4 * clients * batch)
    output = _pgbench(server, url, script, clients, per_client, batch)
    tps, done = _parse(output, measure)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM floor_queue WHERE status <> 'queued'").fetchone()
    claimed = int(row[0]) if row else 0
    if claimed != done * batch:
        raise BenchError(f"floor {measure}: {claimed} rows claimed, expected {done * batch}")
    recorder.add(
        "floor",
        measure,
        round(tps * batch, 1),
        "rows/s",
        {"via": "pgbench", "clients": clients, "batch_size": batch, "count": claimed},
        {"transactions_per_second": round(tps, 1), "transactions": done},
    )


def _insert_run(
    server: BenchServer,
    url: str,
    recorder: Recorder,
    script: Path,
    measure: str,
    clients: int,
    batch: int,
    scale: Scale,
) -> None:
    rows = scale.floor_insert_rows(batch)
    per_client = max(rows // (clients * batch), 1)
    _refill(url, 0)
    output = _pgbench(server, url, script, clients, per_client, batch)
    tps, done = _parse(output, measure)
    recorder.add(
        "floor",
        measure,
        round(tps * batch, 1),
        "rows/s",
        {"via": "pgbench", "clients": clients, "batch_size": batch, "count": done * batch},
        {"transactions_per_second": round(tps, 1), "transactions": done},
    )


def _pgbench(
    server: BenchServer, url: str, script: Path, clients: int, transactions: int, batch: int
) -> str:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    args = [
        server.binary("pgbench"),
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        "postgres",
        "-n",  # no vacuum of pgbench's own tables
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(clients),
        "-t",
        str(transactions),
        "-D",
        f"batch={batch}",
        "-f",
        str(script),
        str(dbname),
    ]
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"pgbench {script.name} ran over 300 s") from error
    if result.returncode != 0:
        raise BenchError(f"pgbench {script.name} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _parse(output: str, measure: str) -> tuple[float, int]:
    tps = TPS.search(output)
    done = DONE.search(output)
    failed = FAILED.search(output)
    if tps is None or done is None:
        raise BenchError(f"pgbench {measure}: cannot read its output:\n{output}")
    if failed is not None and int(failed.group(1)) > 0:
        raise BenchError(f"pgbench {measure}: {failed.group(1)} failed transactions")
    return float(tps.group(1)), int(done.group(1))


def _pgbench_version(server: BenchServer) -> str:
    result = subprocess.run(
        [server.binary("pgbench"), "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout.strip()
