"""Pull sources (LRSs the connector polls) and their cursors, leases and outcomes.

The LRS password is never stored: a pull source keeps a *reference* to it, `env:VAR` (an
environment variable of the connector's processes) or `file:/path` (a file readable by them,
e.g. a mounted secret). A database dump, a backup or `pull-sources list` thus never holds a
credential for another system, no key management is needed for it, and rotating the
password is done where secrets already live. The secret is read at each pull.

Only one process polls a source at a time. A process takes a *lease* on the source row with
one conditional UPDATE (no other live lease), renews it with every page it commits, and
releases it at the end; a crashed process's lease simply expires. Each page commit is fenced
by the lease (it only applies while the process still owns it), so even a process that lost
its lease while stalled cannot move the cursor. This works the same on SQLite and
PostgreSQL and never blocks: a process finding the lease taken goes on to other sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.pull_tables import pull_sources
from lrs_connector.store.tables import sources

XAPI_VERSIONS = ("1.0.3", "1.0.2", "1.0.1", "1.0.0", "2.0.0")
FILTERS = ("verb", "activity", "related_activities")
MAX_ERROR_CHARS = 1000


class PullSourceError(ValueError):
    """A pull source is unknown, its name is taken, or a value is not allowed."""


@dataclass(frozen=True, slots=True)
class PullSource:
    id: int
    name: str
    endpoint: str
    username: str
    password_ref: str
    xapi_version: str
    interval_seconds: float
    timeout_seconds: float
    lookback_seconds: float
    page_size: int
    filters: dict
    source_id: int | None
    source_name: str | None
    enabled: bool
    created_at: datetime
    cursor_stored: datetime | None
    chain_more: str | None
    chain_stored: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    pulled_total: int

    def as_dict(self) -> dict:
        """For `pull-sources list` (run by whoever holds the database): the password
        reference, never a password. The admin API and console show `status()`."""
        out = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    def status(self) -> dict:
        """For the admin API and console, where auditors read it: the set-up and the latest
        outcomes, without the username, the password reference or the `more` link (an LRS
        may put a token in it). `failing` while the latest attempt failed (`last_error`
        stays after a success, for the record)."""
        out = {name: getattr(self, name) for name in STATUS_FIELDS}
        out["failing"] = self.failures > 0
        out["resuming"] = self.chain_more is not None
        out["pulling"] = self.lease_owner is not None
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


#: What `PullSource.status()` shows of a row; everything else of it stays out.
STATUS_FIELDS = (
    "name", "endpoint", "xapi_version", "enabled", "interval_seconds", "timeout_seconds",
    "lookback_seconds", "page_size", "filters", "source_name", "created_at", "cursor_stored",
    "last_attempt_at", "last_success_at", "last_error", "last_error_at", "failures",
    "next_attempt_at", "pulled_total",
)


def _row(row) -> PullSource:
    m = dict(row._mapping)
    return PullSource(**m)


def _select():
    return sa.select(*pull_sources.c, sources.c.name.label("source_name")).select_from(
        pull_sources.outerjoin(sources, pull_sources.c.source_id == sources.c.id)
    )


def check_password_ref(ref: str) -> str:
    """`env:VAR`, `file:/absolute/path` or empty (no password)."""
    if not ref:
        return ""
    kind, _, target = ref.partition(":")
    if kind == "env" and target and target.replace("_", "").isalnum():
        return ref
    if kind == "file" and target.startswith("/"):
        return ref
    raise PullSourceError(f"password reference {ref!r} must be env:VARIABLE or file:/absolute/path")


def resolve_password(ref: str, environ=None) -> str:
    """The password a reference points to; the error names the reference, never a value."""
    if not ref:
        return ""
    kind, _, target = ref.partition(":")
    if kind == "env":
        value = (os.environ if environ is None else environ).get(target)
        if value is None:
            raise PullSourceError(f"environment variable {target} (password) is not set")
        return value
    try:
        return Path(target).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PullSourceError(f"password file {target}: {exc.strerror}") from None


def check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PullSourceError(f"endpoint {endpoint!r} must be an http(s) URL")
    if parts.username or parts.password:
        raise PullSourceError("put credentials in --username/--password-env, not in the URL")
    if parts.query or parts.fragment:
        raise PullSourceError("the endpoint is the LRS's xAPI base URL, without a query")
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def add(
    conn: Connection,
    name: str,
    endpoint: str,
    *,
    username: str = "",
    password_ref: str = "",
    xapi_version: str = "1.0.3",
    interval_seconds: float = 60.0,
    timeout_seconds: float = 30.0,
    lookback_seconds: float = 300.0,
    page_size: int = 500,
    filters: dict | None = None,
    source_name: str | None = None,
    now: datetime | None = None,
) -> PullSource:
    name = name.strip()
    if not name or len(name) > 100:
        raise PullSourceError("name must be 1 to 100 characters")
    if conn.execute(sa.select(pull_sources.c.id).where(pull_sources.c.name == name)).first():
        raise PullSourceError(f"a pull source named {name!r} already exists")
    if xapi_version not in XAPI_VERSIONS:
        raise PullSourceError(f"xAPI version must be one of {', '.join(XAPI_VERSIONS)}")
    if not 1 <= page_size <= 10_000:
        raise PullSourceError("page size must be 1 to 10000")
    if interval_seconds < 1 or timeout_seconds < 1 or lookback_seconds < 0:
        raise PullSourceError("interval and timeout must be at least 1 s, lookback at least 0")
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "", False)}
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise PullSourceError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    source_id = None
    if source_name:
        source_id = conn.execute(
            sa.select(sources.c.id).where(sources.c.name == source_name)
        ).scalar()
        if source_id is None:
            raise PullSourceError(f"no source named {source_name!r} (see `sources list`)")
    conn.execute(
        pull_sources.insert().values(
            name=name,
            endpoint=check_endpoint(endpoint),
            username=username,
            password_ref=check_password_ref(password_ref),
            xapi_version=xapi_version,
            interval_seconds=interval_seconds,
            timeout_seconds=timeout_seconds,
            lookback_seconds=lookback_seconds,
            page_size=page_size,
            filters=filters,
            source_id=source_id,
            created_at=now or datetime.now(UTC),
        )
    )
    return get(conn, name)


def get(conn: Connection, name: str) -> PullSource:
    row = conn.execute(_select().where(pull_sources.c.name == name)).first()
    if row is None:
        raise PullSourceError(f"no pull source named {name!r}")
    return _row(row)


def get_enabled(conn: Connection, name: str) -> PullSource:
    """The source `name`, which must exist and be enabled (PullSourceError otherwise)."""
    found = get(conn, name)
    if not found.enabled:
        raise PullSourceError(f"pull source {name!r} is disabled")
    return found


def by_id(conn: Connection, pull_id: int) -> PullSource:
    return _row(conn.execute(_select().where(pull_sources.c.id == pull_id)).one())


def list_all(conn: Connection) -> list[PullSource]:
    return [_row(r) for r in conn.execute(_select().order_by(pull_sources.c.name))]


def page(
    conn: Connection, *, after: str = "", limit: int = 100, failing: bool | None = None
) -> list[PullSource]:
    """Keyset page in name order (for the admin API and console): pass the last name seen;
    ``failing`` keeps only the sources whose latest attempt failed (True) or did not."""
    query = _select().where(pull_sources.c.name > after)
    if failing is not None:
        failures = pull_sources.c.failures
        query = query.where(failures > 0 if failing else failures == 0)
    return [_row(r) for r in conn.execute(query.order_by(pull_sources.c.name).limit(limit))]


def count_failing(conn: Connection) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(pull_sources).where(pull_sources.c.failures > 0)
    ).scalar_one()


def set_enabled(conn: Connection, name: str, enabled: bool) -> PullSource:
    get(conn, name)
    conn.execute(
        pull_sources.update()
        .where(pull_sources.c.name == name)
        .values(enabled=enabled, next_attempt_at=None, failures=0)
    )
    return get(conn, name)


def remove(conn: Connection, name: str) -> None:
    get(conn, name)
    conn.execute(pull_sources.delete().where(pull_sources.c.name == name))


def reset_cursor(conn: Connection, name: str) -> PullSource:
    """Pull everything again from the start (duplicates are recognised by id)."""
    get(conn, name)
    conn.execute(
        pull_sources.update()
        .where(pull_sources.c.name == name)
        .values(cursor_stored=None, chain_more=None, chain_stored=None, next_attempt_at=None)
    )
    return get(conn, name)


# -- leases and cursors ---------------------------------------------------------------------


def due(conn: Connection, now: datetime, name: str | None = None) -> list[int]:
    """Ids of enabled sources whose next attempt is due (all enabled ones when `name`)."""
    query = sa.select(pull_sources.c.id).where(pull_sources.c.enabled.is_(True))
    if name is not None:
        query = query.where(pull_sources.c.name == name)
    else:
        query = query.where(
            sa.or_(pull_sources.c.next_attempt_at.is_(None), pull_sources.c.next_attempt_at <= now)
        )
    return list(conn.execute(query.order_by(pull_sources.c.id)).scalars())


def claim(conn: Connection, pull_id: int, owner: str, now: datetime, seconds: float) -> bool:
    """Take the lease unless another live lease holds it; True when taken."""
    result = conn.execute(
        pull_sources.update()
        .where(
            pull_sources.c.id == pull_id,
            sa.or_(
                pull_sources.c.lease_until.is_(None),
                pull_sources.c.lease_until < now,
                pull_sources.c.lease_owner == owner,
            ),
        )
        .values(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=seconds),
            last_attempt_at=now,
        )
    )
    return result.rowcount == 1


class LeaseLost(RuntimeError):
    """Another process took the source over; this one must stop without committing."""


def commit_page(
    conn: Connection,
    pull_id: int,
    owner: str,
    *,
    now: datetime,
    lease_seconds: float,
    more: str | None,
    newest_stored: datetime | None,
    count: int,
) -> None:
    """Record a committed page, in the page's own transaction: the next `more` link and the
    newest `stored` seen in this pull. When `more` is None the pull is complete and the newest
    `stored` becomes the cursor. Raises LeaseLost (rolling the page back) when not the owner."""
    current = conn.execute(
        sa.select(pull_sources.c.cursor_stored, pull_sources.c.chain_stored).where(
            pull_sources.c.id == pull_id, pull_sources.c.lease_owner == owner
        )
    ).first()
    if current is None:
        raise LeaseLost(f"pull source {pull_id} is no longer leased by {owner}")
    chain = _newest(current.chain_stored, newest_stored)
    values: dict = {
        "lease_until": now + timedelta(seconds=lease_seconds),
        "pulled_total": pull_sources.c.pulled_total + count,
    }
    if more:
        values.update(chain_more=more, chain_stored=chain)
    else:
        values.update(
            chain_more=None,
            chain_stored=None,
            cursor_stored=_newest(current.cursor_stored, chain),
        )
    conn.execute(pull_sources.update().where(pull_sources.c.id == pull_id).values(**values))


def abandon_chain(conn: Connection, pull_id: int) -> None:
    """A stored `more` link no longer works (expired): the next pull restarts from the
    cursor, keeping the newest `stored` seen so far out of the cursor (nothing is skipped)."""
    conn.execute(
        pull_sources.update()
        .where(pull_sources.c.id == pull_id)
        .values(chain_more=None, chain_stored=None)
    )


def finish(
    conn: Connection,
    pull_id: int,
    owner: str,
    *,
    now: datetime,
    error: str | None,
    retry_after: float,
) -> None:
    """Release the lease and record the outcome; failures count up for the backoff."""
    values: dict = {
        "lease_owner": None,
        "lease_until": None,
        "next_attempt_at": now + timedelta(seconds=retry_after),
    }
    if error is None:
        values.update(last_success_at=now, failures=0)
    else:
        values.update(
            last_error=error[:MAX_ERROR_CHARS],
            last_error_at=now,
            failures=pull_sources.c.failures + 1,
        )
    conn.execute(
        pull_sources.update()
        .where(pull_sources.c.id == pull_id, pull_sources.c.lease_owner == owner)
        .values(**values)
    )


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
