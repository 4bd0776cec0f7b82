"""Bearer tokens, each with a name: the actor the audit trail records for what its holder does.

``TASKQ_API_TOKENS`` holds named tokens, ``alice=secret1,bob=secret2``; ``TASKQ_API_TOKEN``, a
single token, keeps working and is named ``api``. With either set, every route but ``/health``
wants ``Authorization: Bearer <token>``, and the route reads the token's name with
:func:`actor_of`. A token is compared with every configured token in constant time (digests of
equal length, each one compared), so the time of an answer tells neither a token's bytes nor
which of them matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from taskq.rules import ACTOR_MAX
from taskq.settings import ConfigError

TOKEN_ENV: Final = "TASKQ_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
TOKENS_ENV: Final = "TASKQ_API_TOKENS"
# the name of TASKQ_API_TOKEN's holder
SINGLE_TOKEN_NAME: Final = "api"  # noqa: S105 - a name, not a secret
# where the guard leaves the name of the request's token for the route
_ACTOR_KEY: Final = "taskq_actor"


def parse_tokens(text: str) -> dict[str, str]:
    """``name=token`` entries separated by commas (spaces around them ignored) as ``{name:
    token}``. :class:`ConfigError` for an entry without a name or token, a name over
    ``ACTOR_MAX`` characters, a name given twice or a token given twice."""
    tokens: dict[str, str] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        name, equals, token = (part.strip() for part in entry.partition("="))
        if not equals or not name or not token:
            raise ConfigError(
                f"{TOKENS_ENV} takes name=token entries separated by commas "
                "(alice=secret1,bob=secret2); an entry lacks its name or its token"
            )
        if len(name) > ACTOR_MAX:
            raise ConfigError(
                f"{TOKENS_ENV}: a token's name must be at most {ACTOR_MAX} characters, not "
                f"{len(name)}"
            )
        if name in tokens:
            raise ConfigError(f"{TOKENS_ENV} names {name!r} twice")
        if token in tokens.values():
            raise ConfigError(f"{TOKENS_ENV} gives one token two names")
        tokens[name] = token
    return tokens


def tokens_from_env() -> dict[str, str]:
    """The named tokens of ``TASKQ_API_TOKENS`` and ``TASKQ_API_TOKEN`` (named ``api``); empty
    when neither is set (or both are empty), and the API is then open to all. A variable that
    is set but holds no token (blanks, commas) is :class:`ConfigError`, never an open API."""
    named = os.environ.get(TOKENS_ENV, "")
    tokens = parse_tokens(named)
    if named and not tokens:
        raise ConfigError(
            f"{TOKENS_ENV} is set but holds no name=token entry; unset it (or leave it empty) "
            "for an API open to all"
        )
    given = os.environ.get(TOKEN_ENV, "")
    single = given.strip()
    if given and not single:
        raise ConfigError(
            f"{TOKEN_ENV} is set but blank; unset it (or leave it empty) for an API open to all"
        )
    if single:
        if SINGLE_TOKEN_NAME in tokens:
            raise ConfigError(
                f"{TOKENS_ENV} names {SINGLE_TOKEN_NAME!r}, the name of {TOKEN_ENV}'s token: "
                "rename one"
            )
        if single in tokens.values():
            raise ConfigError(f"{TOKEN_ENV} is a token of {TOKENS_ENV} too")
        tokens[SINGLE_TOKEN_NAME] = single
    return tokens


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_guard(tokens: Mapping[str, str]) -> Guard:
    """A guard that wants one of ``tokens`` (``{name: token}``) on every route not marked
    ``public``, and leaves its name for :func:`actor_of`."""
    digests = [(_digest(token), name) for name, token in tokens.items()]

    def require_token(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if handler.opt.get("public"):
            return
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        given = _digest(credentials.strip())
        holder = None
        for digest, name in digests:  # every one compared, the match or not
            if hmac.compare_digest(given, digest):
                holder = name
        if scheme.lower() == "bearer" and holder is not None:
            connection.scope.setdefault("state", {})[_ACTOR_KEY] = holder
            return
        raise NotAuthorizedException(
            "this API wants an Authorization: Bearer <token> header with a token of "
            f"{TOKENS_ENV} or {TOKEN_ENV}",
            headers={"WWW-Authenticate": 'Bearer realm="taskq"'},
        )

    return require_token


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The name of the token the request came with; None when the API wants no token."""
    actor = connection.scope.get("state", {}).get(_ACTOR_KEY)
    return actor if isinstance(actor, str) else None
