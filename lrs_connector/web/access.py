"""Who may call what. Sources (LRSs, emitters) send statements; API tokens carry a role
(`auditor` reads, `admin` reads and changes). Every view declares one of these decorators.

Verified credentials are cached for `credential_cache_seconds` so intake does not query the
credential table on every request; a disabled or rotated credential stops working within that
time on every process.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from functools import wraps

from flask import current_app, g, request

from lrs_connector import credentials
from lrs_connector.store import database
from lrs_connector.store.holders import SOURCES, TOKENS, Holder, Holders
from lrs_connector.web.errors import error_response

REALM = 'Basic realm="lrs-connector", charset="UTF-8"'
ROLE_RANK = {"auditor": 1, "admin": 2}


class CredentialCache:
    """Presented credential → holder, for a few seconds. Keys hold a hash, never the secret."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str, str], tuple[float, Holder]] = {}
        self._lock = threading.Lock()

    def lookup(self, holders: Holders, presented: credentials.Presented) -> Holder | None:
        digest = hashlib.sha256(presented.secret.encode()).hexdigest()
        cache_key = (holders.kind, presented.key, digest)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(cache_key)
        if hit and hit[0] > now:
            return hit[1]
        with database.read(current_app.extensions["lrs_engine"]) as conn:
            holder = holders.authenticate(conn, presented)
        if holder is not None and self.ttl > 0:
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[cache_key] = (now + self.ttl, holder)
        return holder


def _authenticate(holders: Holders) -> Holder | None:
    presented = credentials.parse_authorization(request.headers.get("Authorization"))
    if presented is None:
        return None
    return current_app.extensions["lrs_credentials"].lookup(holders, presented)


def _unauthorized(message: str):
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = REALM
    return response


def require_source(view: Callable) -> Callable:
    """Callers: a configured, enabled source (HTTP Basic key:secret or Bearer key.secret)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        source = _authenticate(SOURCES)
        if source is None:
            return _unauthorized("a valid source credential is required (HTTP Basic or Bearer)")
        g.source = source
        return view(*args, **kwargs)

    wrapper.access = "source"
    return wrapper


def require_role(role: str) -> Callable[[Callable], Callable]:
    """Callers: an enabled API token whose role is `role` or above (admin ⊇ auditor)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = _authenticate(TOKENS)
            if token is None:
                return _unauthorized("a valid API token is required (Authorization: Bearer …)")
            if ROLE_RANK[token.role] < ROLE_RANK[role]:
                return error_response(
                    403, "forbidden", f"this needs the {role} role; the token has {token.role}"
                )
            g.token = token
            return view(*args, **kwargs)

        wrapper.access = role
        return wrapper

    return decorate


def require_source_or_role(role: str) -> Callable[[Callable], Callable]:
    """Callers: a source, or an API token with `role` or above (auditors reading statements)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            source = _authenticate(SOURCES)
            if source is not None:
                g.source = source
                return view(*args, **kwargs)
            token = _authenticate(TOKENS)
            if token is not None and ROLE_RANK[token.role] >= ROLE_RANK[role]:
                g.token = token
                return view(*args, **kwargs)
            return _unauthorized(f"a source credential or an API token with the {role} role")

        wrapper.access = f"source or {role}"
        return wrapper

    return decorate


def public(view: Callable) -> Callable:
    """Callers: anyone (no credentials)."""
    view.access = "public"
    return view
