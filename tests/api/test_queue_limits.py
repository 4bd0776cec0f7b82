"""``PATCH /api/queues/{name}``: the key concurrency and the rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Client


async def patch(api: Client, body: Any) -> Any:
    return await api.patch("/api/queues/tenants", json=body)


async def test_key_concurrency_set_shown_and_removed(api: Client) -> None:
    response = await patch(api, {"key_concurrency": 1, "reason": "one per customer"})
    assert response.status_code == 200, response.text
    assert response.json()["key_concurrency"] == 1
    listed = (await api.get("/api/queues")).json()
    assert [row["key_concurrency"] for row in listed if row["queue"] == "tenants"] == [1]
    response = await patch(api, {"key_concurrency": None})
    assert response.json()["key_concurrency"] is None
    audit = (await api.get("/api/audit", params={"action": "set_key_concurrency"})).json()
    assert [item["after"] for item in audit["items"]] == [
        {"key_concurrency": None},
        {"key_concurrency": 1},
    ]


async def test_rate_limit_set_shown_and_removed(api: Client) -> None:
    response = await patch(api, {"rate_limit": {"rate": 100, "per": 60, "burst": 10}})
    assert response.status_code == 200, response.text
    assert response.json()["rate_limit"] == {"rate": 100.0, "per": 60.0, "burst": 10}
    response = await patch(api, {"rate_limit": {"rate": 2.5}})
    assert response.json()["rate_limit"] == {"rate": 2.5, "per": 1.0, "burst": 3}
    response = await patch(api, {"rate_limit": None})
    assert response.json()["rate_limit"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"key_concurrency": 0},
        {"key_concurrency": 10001},
        {"key_concurrency": "1"},
        {"rate_limit": {"rate": 0}},
        {"rate_limit": {"rate": -1}},
        {"rate_limit": {"rate": 1e300}},
        {"rate_limit": {"rate": 1, "per": 0}},
        {"rate_limit": {"rate": 1, "per": 1e12}},
        {"rate_limit": {"rate": 1, "burst": 0}},
        {"rate_limit": {"rate": 1, "unknown": 1}},
        {"rate_limit": {}},
        {"rate_limit": 20},
        {"rate_limit": {"rate": 0.00001, "per": 31557600}},
    ],
)
async def test_bad_limits_are_400(api: Client, body: Any) -> None:
    response = await patch(api, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("/api/queues")).json() == []  # nothing half-written
