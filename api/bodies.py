"""What a request body must be before it is decoded: declared JSON, and not too deeply nested.

:func:`check_body` runs before every route (Litestar's ``before_request``); it looks only at
routes that read a body (those with a ``data`` parameter), and in this order:

1. the size: a body over the limit is 413 (Litestar's own check, when the body is read);
2. the type: a body that is not declared ``application/json`` or ``application/*+json`` (any
   parameters, such as ``charset``, aside), or that has no ``Content-Type`` at all, is 415;
   an empty body needs none, and gets the route's 400 for a missing body;
3. the depth: a body nested deeper than :data:`MAX_BODY_DEPTH` arrays and objects is 400. The
   JSON decoder (and the encoders after it) recurse once per level and would raise
   RecursionError, a 500, near Python's recursion limit of 1,000; the limit stays well below
   it and is counted on the bytes, before anything is decoded.
"""

from __future__ import annotations

import re
from typing import Any, Final

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from api.errors import invalid

MAX_BODY_DEPTH: Final = 512
JSON_MEDIA_TYPE: Final = "application/json"
_JSON_TYPE = re.compile(r"^application/(?:json|[!#$&^_.+\w-]+\+json)$", re.IGNORECASE)
# A JSON string: what is inside one is no bracket of the structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET: Final = bytes(set(range(256)) - set(b"[]{}"))
_OPENING: Final = frozenset(b"[{")
# Where the response names the media types a method takes (RFC 9110, 15.5.16; RFC 5789).
_ACCEPT_HEADER: Final = {"POST": "Accept-Post", "PATCH": "Accept-Patch", "PUT": "Accept-Put"}


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` value names JSON: ``application/json`` or ``*+json``."""
    media_type = content_type.partition(";")[0].strip()
    return _JSON_TYPE.match(media_type) is not None


def json_depth(body: bytes) -> int:
    """How many arrays and objects deep ``body`` nests: ``1`` is 0, ``[]`` 1, ``[{}]`` 2.

    Counted on the bytes, without decoding; brackets inside strings do not count. The answer for
    a body that is not JSON is some number, and the decoder then refuses the body anyway.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_A_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _too_deep(body: bytes) -> bool:
    # Most bodies hold fewer brackets in all than the limit: no need to look closer.
    if body.count(b"[") + body.count(b"{") <= MAX_BODY_DEPTH:
        return False
    return json_depth(body) > MAX_BODY_DEPTH


async def check_body(request: Request[Any, Any, Any]) -> None:
    """413, 415 or 400 for a body the route cannot take (see the module's docstring)."""
    if request.route_handler.parsed_data_field is None:
        return
    body = await request.body()
    if not body:
        return
    content_type = request.headers.get("content-type")
    if content_type is None or not is_json(content_type):
        said = "no Content-Type" if content_type is None else f"Content-Type {content_type!r}"
        header = _ACCEPT_HEADER.get(request.method)
        raise HTTPException(
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"the body must be JSON, sent with Content-Type: {JSON_MEDIA_TYPE} "
            f"(or application/*+json); this request has {said}",
            headers={header: JSON_MEDIA_TYPE} if header else None,
        )
    if _too_deep(body):
        raise invalid(
            "body",
            f"is nested deeper than {MAX_BODY_DEPTH} levels of arrays and objects",
        )
