"""The dashboard at ``/ui``: one HTML page, one script, one style sheet, served from ``api/ui``.

The page reads and acts through the REST API (``/api/...``), so every token rule and the audit
trail apply to it as to any client. Its files hold no data and no secret: they are public, and
answer with a Content-Security-Policy that lets the page load and fetch from this origin only
(no inline script, no other host).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Response, Router
from litestar.static_files import create_static_files_router

UI_PATH: Final = "/ui"
UI_DIR: Final = Path(__file__).parent / "ui"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # a new version of the page is loaded at once after an upgrade
    "Cache-Control": "no-cache",
}


async def _add_headers(response: Response[object]) -> Response[object]:
    response.headers.update(HEADERS)
    return response


def dashboard_router() -> Router:
    """``/ui/`` (the page) and its assets, outside the OpenAPI schema, open without a token
    (the API routes the page calls want one)."""
    return create_static_files_router(
        path=UI_PATH,
        directories=[UI_DIR],
        html_mode=True,
        include_in_schema=False,
        name="dashboard",
        after_request=_add_headers,
        opt={"public": True},
    )
