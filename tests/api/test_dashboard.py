"""The dashboard at /ui, in Debian's chromium driven by Playwright, over ``taskq api`` on
127.0.0.1: its numbers are the database's, its actions reach SQL and the audit trail, what it
renders is text, nothing it loads leaves 127.0.0.1, and with a token it shows nothing without it.

A screenshot of the queues page is left in ``TASKQ_TEST_ARTIFACTS`` (default tests/artifacts/).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import psycopg
import pytest

from api.dashboard import UI_DIR
from taskq.rules import CONCURRENCY_MAX
from tests.api.conftest import ROOT, Client, Server

sync_api = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, ConsoleMessage, Page, expect  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TASKQ_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
TIMEOUT_MS = 5000
# the page refreshes every 3 seconds
REFRESH_WAIT_MS = 10_000
# the columns of taskq.queue_stats the queues page shows as they are
COUNTS = ("queued", "scheduled", "running", "paused_tasks", "completed", "failed", "cancelled")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
expect.set_options(timeout=TIMEOUT_MS)

TRACEBACK = """Traceback (most recent call last):
  File "handlers.py", line 12, in print_invoice
    printer.send(invoice)
RuntimeError: the printer is on fire"""
# Markup that would run or load something if the page took it for HTML.
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'
HOSTILE_QUEUE = "</script><script>window.__pwned=2</script>"
HOSTILE_PAYLOAD = {
    "img": "<img src=http://203.0.113.7/x.png onerror=window.__pwned=3>",
    "close": "</script><b id=injected>bold</b><script>window.__pwned=4</script>",
}
HOSTILE_ERROR = "<svg onload=window.__pwned=5></svg><iframe src=http://203.0.113.7/></iframe>"


# -- the browser, the database -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            timeout=30_000,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                # The network is closed: no name resolves and every request but the API's goes
                # to a proxy that does not exist.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=127.0.0.1",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


class Dashboard:
    """A fresh browser context on the dashboard (its own session storage), recording every
    request the page makes and every script error."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1400, "height": 560})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        # an answer of 4xx is the API's, shown on the page; a CSP refusal or a script error is not
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def open(self, route: str) -> Page:
        self.page.goto(f"{self.base_url}/ui/#{route}")
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def dashboard(browser: Browser, server: Server) -> Iterator[Dashboard]:
    opened = Dashboard(browser, server.base_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sql(module_database_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(module_database_url, autocommit=True) as conn:
        yield conn


Sql = psycopg.Connection[tuple[Any, ...]]


def enqueue(sql: Sql, queue: str, name: str = "job", **options: Any) -> UUID:
    args = ", ".join(f"{key} => %({key})s" for key in options)
    row = sql.execute(
        f"SELECT taskq.enqueue(%(name)s, queue => %(queue)s{', ' + args if args else ''})",
        {"name": name, "queue": queue, **options},
    ).fetchone()
    assert row is not None
    task_id: UUID = row[0]
    return task_id


def claim(sql: Sql, queue: str, count: int) -> list[tuple[UUID, UUID]]:
    """Claim ``count`` tasks of ``queue`` as a worker: their (id, lease_token)."""
    worker = sql.execute("SELECT taskq.register_worker('dashboard-tests')").fetchone()
    assert worker is not None
    rows = sql.execute(
        "SELECT id, lease_token FROM taskq.claim_next(%s, queues => %s, batch_size => %s)",
        (worker[0], [queue], count),
    ).fetchall()
    assert len(rows) == count
    return [(row[0], row[1]) for row in rows]


def fail(sql: Sql, claimed: tuple[UUID, UUID], error: str) -> None:
    sql.execute("SELECT taskq.fail(%s, %s, %s)", (*claimed, error))


def queue_stats(sql: Sql, queue: str) -> dict[str, Any]:
    with sql.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM taskq.queue_stats WHERE queue = %s", (queue,)).fetchone()
    assert row is not None, queue
    return row


def shown(page: Page, queue: str) -> dict[str, str]:
    """The queues page's cells of one queue, by field."""
    row = page.locator(f'tr[data-queue="{queue}"]')
    expect(row).to_be_visible()
    cells = row.locator("[data-field]")
    return {
        cells.nth(i).get_attribute("data-field") or "": cells.nth(i).inner_text()
        for i in range(cells.count())
    }


# -- the files and their headers (in-process) ----------------------------------------------------


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(api: Client) -> None:
    for path, kind in [
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ]:
        response = await api.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind), path
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await api.get("/ui/nothing.js")).status_code == 404
    schema = (await api.get("/docs/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/ui")]


def test_the_page_has_no_inline_script_or_style_and_names_no_other_host() -> None:
    page = (UI_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert scripts == [""], scripts
    assert " style=" not in page
    assert not re.search(r"\bon[a-z]+=", page)
    for name in ("index.html", "app.js", "app.css"):
        text = (UI_DIR / name).read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name
    assert "innerHTML" not in (UI_DIR / "app.js").read_text()


def test_the_wheel_ships_every_file_of_the_page() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["api"]
    files = [path.relative_to(UI_DIR.parent).as_posix() for path in UI_DIR.iterdir()]
    assert {"ui/index.html", "ui/app.js", "ui/app.css"} <= set(files)
    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)] == []


async def test_with_a_token_the_page_is_public_and_the_api_is_not(
    database_url: str,
) -> None:
    from litestar.testing import AsyncTestClient

    from api import create_app

    app = create_app(database_url, api_token="ui-secret", pool_timeout=1.0)
    async with AsyncTestClient(app=app) as secured:
        assert (await secured.get("/ui/")).status_code == 200
        assert (await secured.get("/ui/app.js")).status_code == 200
        assert (await secured.get("/api/queues")).status_code == 401


# -- in the browser ------------------------------------------------------------------------------


def test_the_queues_page_shows_the_counts_of_queue_stats(dashboard: Dashboard, sql: Sql) -> None:
    for _ in range(3):
        enqueue(sql, "emails", "send_email", max_attempts=1)
    for _ in range(2):
        enqueue(sql, "emails", "send_email", scheduled_at="2099-01-01T00:00:00Z")
    for _ in range(3):
        enqueue(sql, "reports", "build_report")
    done, failed = claim(sql, "emails", 2)
    sql.execute("SELECT taskq.complete(%s, %s)", done)
    fail(sql, failed, "boom")
    claim(sql, "reports", 1)
    sql.execute("SELECT taskq.set_concurrency('reports', NULL)")
    sql.execute("SELECT taskq.set_key_concurrency('emails', 1)")
    sql.execute("SELECT taskq.set_rate_limit('emails', 100, '1 minute', 10)")

    page = dashboard.open("/queues")
    for queue in ("emails", "reports"):
        cells = shown(page, queue)
        stats = queue_stats(sql, queue)
        for field in COUNTS:
            assert cells[field] == str(stats[field]), (queue, field)
        slots = stats["concurrency"]
        assert cells["concurrency"] == ("unlimited" if slots is None else str(slots))
        assert cells["paused"] == ("paused" if stats["paused"] else "running")
    emails, reports = shown(page, "emails"), shown(page, "reports")
    assert (emails["queued"], emails["scheduled"], emails["completed"], emails["failed"]) == (
        "1",
        "2",
        "1",
        "1",
    )
    assert (emails["concurrency"], reports["concurrency"], reports["running"]) == (
        "2",
        "unlimited",
        "1",
    )
    assert emails["oldest_wait"].endswith(" s")
    assert (emails["key_concurrency"], reports["key_concurrency"]) == ("1", "—")
    assert (emails["rate_limit"], reports["rate_limit"]) == ("100 per 60 s, burst 10", "—")
    # the sparkline: this minute's bar, one task completed and one failed
    spark = page.locator('tr[data-queue="emails"] svg.spark')
    expect(spark).to_have_attribute("aria-label", "2 finished in the last 30 minutes")
    assert (spark.locator("rect.completed").count(), spark.locator("rect.failed").count()) == (1, 1)
    reports_spark = page.locator('tr[data-queue="reports"] svg.spark')
    expect(reports_spark).to_have_attribute("aria-label", "0 finished in the last 30 minutes")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1500, "height": 240})
    page.screenshot(path=str(ARTIFACTS / "dashboard-queues.png"), full_page=True)
    assert (ARTIFACTS / "dashboard-queues.png").stat().st_size > 1000
    # the page refreshes itself: a task enqueued now shows without a reload
    enqueue(sql, "reports", "build_report")
    expect(page.locator('tr[data-queue="reports"] [data-field="queued"]')).to_have_text(
        str(queue_stats(sql, "reports")["queued"]), timeout=REFRESH_WAIT_MS
    )
    assert dashboard.errors == []


def test_pausing_a_queue_and_its_slots_from_the_page_reach_sql_and_the_audit(
    dashboard: Dashboard, sql: Sql, server: Server
) -> None:
    enqueue(sql, "to-pause")
    page = dashboard.open("/queues")
    assert shown(page, "to-pause")["paused"] == "running"
    assert queue_stats(sql, "to-pause")["paused"] is False

    page.locator('tr[data-queue="to-pause"] button[data-action="pause"]').click()
    expect(page.locator("#act")).to_be_visible()
    page.fill("#act-reason", "database maintenance")
    page.click("#act-confirm")
    expect(page.locator('tr[data-queue="to-pause"] [data-field="paused"]')).to_have_text("paused")
    assert queue_stats(sql, "to-pause")["paused"] is True
    audit = httpx.get(
        f"{server.base_url}/api/audit", params={"queue": "to-pause"}, timeout=10
    ).json()["items"]
    assert [(row["action"], row["queue"], row["reason"]) for row in audit] == [
        ("pause_queue", "to-pause", "database maintenance")
    ]

    page.locator('tr[data-queue="to-pause"] button[data-action="concurrency"]').click()
    page.fill("#act-concurrency", "7")
    page.click("#act-confirm")
    expect(page.locator('tr[data-queue="to-pause"] [data-field="concurrency"]')).to_have_text("7")
    assert queue_stats(sql, "to-pause")["concurrency"] == 7

    # the API's 400 stays readable in the dialog
    page.locator('tr[data-queue="to-pause"] button[data-action="concurrency"]').click()
    page.fill("#act-concurrency", str(CONCURRENCY_MAX + 1))
    page.click("#act-confirm")
    expect(page.locator("#act-error")).to_contain_text("400")
    expect(page.locator("#act-error")).to_contain_text("concurrency")
    page.click("#act-cancel")
    assert queue_stats(sql, "to-pause")["concurrency"] == 7
    assert dashboard.errors == []


def test_a_failed_task_shows_its_traceback_and_can_be_retried(
    dashboard: Dashboard, sql: Sql
) -> None:
    task_id = enqueue(sql, "invoices", "print_invoice", max_attempts=1)
    (claimed,) = claim(sql, "invoices", 1)
    fail(sql, claimed, TRACEBACK)

    page = dashboard.open(f"/tasks/{task_id}")
    expect(page.locator('[data-field="status"]')).to_have_text("FAILED")
    attempts = page.locator('[data-field="errors"] pre')
    expect(attempts).to_have_count(1)
    assert attempts.inner_text() == TRACEBACK
    expect(page.locator('[data-field="errors"] h3')).to_contain_text("Attempt 1")

    page.click('button[data-action="retry"]')
    page.fill("#act-reason", "the printer is fixed")
    page.click("#act-confirm")
    expect(page.locator('[data-field="status"]')).to_have_text("QUEUED")
    status = sql.execute("SELECT status FROM taskq.get_task(%s)", (task_id,)).fetchone()
    assert status == ("QUEUED",)
    audit = page.locator('[data-field="audit"] tbody tr')
    expect(audit).to_have_count(1)
    expect(audit).to_contain_text("retry")
    expect(audit).to_contain_text("the printer is fixed")
    # the error of the first attempt stays
    assert page.locator('[data-field="errors"] pre').inner_text() == TRACEBACK
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-task.png"), full_page=True)
    assert dashboard.errors == []


def test_hostile_names_payloads_and_errors_render_as_text(dashboard: Dashboard, sql: Sql) -> None:
    task_id = enqueue(
        sql,
        HOSTILE_QUEUE,
        HOSTILE_NAME,
        payload=psycopg.types.json.Jsonb(HOSTILE_PAYLOAD),
        max_attempts=1,
    )
    (claimed,) = claim(sql, HOSTILE_QUEUE, 1)
    fail(sql, claimed, HOSTILE_ERROR)

    page = dashboard.open(f"/tasks/{task_id}")
    expect(page.locator("h1")).to_have_text(f"Task {HOSTILE_NAME}")
    payload = page.locator('[data-field="payload"] pre').inner_text()
    assert payload == json.dumps(HOSTILE_PAYLOAD, indent=2)
    assert page.locator('[data-field="errors"] pre').inner_text() == HOSTILE_ERROR

    page.goto(f"{dashboard.base_url}/ui/#/queues")
    expect(page.locator("tbody tr").filter(has_text=HOSTILE_QUEUE)).to_have_count(1)
    page.goto(f"{dashboard.base_url}/ui/#/tasks?queue={HOSTILE_QUEUE}")
    expect(page.locator("tbody tr").filter(has_text=HOSTILE_NAME)).to_have_count(1)

    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, main svg:not(.spark), main iframe, #injected").count() == 0
    assert dashboard.errors == []
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in dashboard.requests)


def test_no_request_leaves_127_0_0_1_on_any_view(dashboard: Dashboard, sql: Sql) -> None:
    task_id = enqueue(sql, "everywhere", payload=psycopg.types.json.Jsonb(HOSTILE_PAYLOAD))
    claim(sql, "everywhere", 1)
    sql.execute("SELECT taskq.schedule('nightly', '0 3 * * *')")
    for route, loaded in [
        ("/queues", 'tr[data-queue="everywhere"]'),
        ("/tasks", f'tr[data-task="{task_id}"]'),
        (f"/tasks/{task_id}", '[data-field="payload"]'),
        ("/workers", 'td[data-field="running"]'),
        ("/schedules", 'td[data-field="name"]'),
    ]:
        page = dashboard.open(route)
        expect(page.locator(loaded).first).to_be_visible()
    assert dashboard.page.locator('td[data-field="name"]').first.inner_text() == "nightly"
    page = dashboard.open("/workers")
    expect(page.locator('td[data-field="running"]').first).to_be_visible()
    workers = sql.execute("SELECT name, running FROM taskq.worker_info").fetchall()
    rows = page.locator("tbody tr")
    assert sorted(
        (
            row.locator('[data-field="name"]').inner_text(),
            row.locator('[data-field="running"]').inner_text(),
        )
        for row in rows.all()
    ) == sorted((name, str(running)) for name, running in workers)
    hosts = {urlsplit(url).hostname for url in dashboard.requests}
    assert hosts == {"127.0.0.1"}, dashboard.requests
    paths = {urlsplit(url).path for url in dashboard.requests}
    assert {"/ui/", "/ui/app.js", "/ui/app.css", "/api/queues", "/api/tasks"} <= paths
    assert "/api/audit" in paths
    assert dashboard.errors == []


def test_errors_of_the_api_are_shown_as_text(dashboard: Dashboard) -> None:
    page = dashboard.open("/tasks/not-a-task")
    expect(page.locator("#data .error")).to_contain_text("400")
    page = dashboard.open("/tasks/01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11")
    expect(page.locator("#data .error")).to_contain_text("404")
    expect(page.locator("#data .error")).to_contain_text("01936d1e-84f0-7c1a-9d37-2f5e0b8c4a11")


def test_with_a_token_nothing_loads_until_it_is_given(
    browser: Browser, module_database_url: str, sql: Sql
) -> None:
    enqueue(sql, "behind-token")
    secured = Server(module_database_url, env={"TASKQ_API_TOKEN": "ui-secret"})
    try:
        secured.wait_ready()
        dashboard = Dashboard(browser, secured.base_url)
        page = dashboard.open("/queues")
        expect(page.locator("#token-form")).to_be_visible()
        assert page.locator("tr[data-queue], #data").count() == 0

        page.fill("#token", "wrong")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#token-form .error")).to_contain_text("refused")
        assert page.locator("tr[data-queue], #data").count() == 0

        page.fill("#token", "ui-secret")
        page.click("#token-form button[type=submit]")
        expect(page.locator('tr[data-queue="behind-token"]')).to_be_visible()
        assert page.locator("#token-form").count() == 0
        # the token stays for the tab's session, and goes with every call to the API
        page.reload()
        expect(page.locator('tr[data-queue="behind-token"]')).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('taskq.token')") == "ui-secret"
        dashboard.close()
    finally:
        secured.stop()
