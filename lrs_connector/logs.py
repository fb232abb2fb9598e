"""Logging: JSON lines for machines, readable text on a terminal. Messages carry ids, never
secrets or statement contents.

Request ids travel with the work: the id of the HTTP request being served, and later the ids of
the requests that stored a processing batch's statements or caused a delivery's readiness
change. Whatever runs inside `carrying(ids)` logs with them (a context variable, so each thread
and each request sees its own); a batch has many, so they are bounded to MAX_CARRIED.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

#: What a request id may look like (the X-Request-Id header is untrusted input).
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Request ids kept for one batch or delivery; the rest are only counted.
MAX_CARRIED = 20


class Carried(NamedTuple):
    """The request ids the current work carries: distinct, in first-seen order, bounded."""

    ids: tuple[str, ...] = ()
    omitted: int = 0

    def __str__(self) -> str:
        if not self.ids:
            return "-"
        more = f" +{self.omitted} more" if self.omitted else ""
        return ",".join(self.ids) + more


_NOTHING = Carried()
_CARRIED: ContextVar[Carried] = ContextVar("lrs_connector_request_ids", default=_NOTHING)


def bounded(ids: Iterable[str | None], limit: int = MAX_CARRIED) -> Carried:
    """Distinct sane ids in first-seen order, at most `limit` of them (the rest counted).
    Anything else (ids read back from storage are checked again) is left out."""
    if isinstance(ids, str):
        ids = (ids,)
    elif not isinstance(ids, Iterable):
        ids = ()
    kept: dict[str, None] = {}
    omitted: set[str] = set()
    for value in ids:
        if not isinstance(value, str) or not SANE_ID.fullmatch(value) or value in kept:
            continue
        if len(kept) < limit:
            kept[value] = None
        else:
            omitted.add(value)
    return Carried(tuple(kept), len(omitted))


def carried() -> Carried:
    """The request ids the current thread's work carries (empty outside any)."""
    return _CARRIED.get()


def current_request_id() -> str | None:
    """The one request id being served, or None (outside a request, or work for several)."""
    ids = _CARRIED.get().ids
    return ids[0] if len(ids) == 1 else None


def begin(ids: Iterable[str | None]) -> Token:
    """Carry `ids` from now on in this context; hand the token to `end`."""
    return _CARRIED.set(bounded(ids))


def end(token: Token) -> None:
    try:
        _CARRIED.reset(token)
    except ValueError:  # ended in another context than it began: forget the ids anyway
        _CARRIED.set(_NOTHING)


@contextmanager
def carrying(ids: Iterable[str | None]) -> Iterator[Carried]:
    """Log lines written inside carry `ids` (bounded); the previous ids are restored after."""
    token = begin(ids)
    try:
        yield _CARRIED.get()
    finally:
        end(token)


class RequestIdFilter(logging.Filter):
    """Adds the request ids the current work carries to every record (`request_id` as text,
    `request_ids` as a tuple), unless the caller gave `request_id` explicitly."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            current = _CARRIED.get()
            record.request_id = str(current)
            record.request_ids = current.ids
            record.request_ids_omitted = current.omitted
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = getattr(record, "request_ids", None)
        if ids is None:  # given explicitly (extra=) rather than carried
            given = getattr(record, "request_id", None)
            ids = (given,) if given else ()
        if len(ids) == 1:
            entry["request_id"] = ids[0]
        elif ids:
            entry["request_ids"] = list(ids)
            omitted = getattr(record, "request_ids_omitted", 0)
            if omitted:
                entry["request_ids_omitted"] = omitted
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure(level: str, fmt: str) -> None:
    """Configure the root logger once per process."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s]: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
