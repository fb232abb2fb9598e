"""Mapping set versions: import (draft), publish (exactly one in force), history, and the
compiled mapper of a version, cached per process.

Versions are numbered 1, 2, 3… in import order. Publishing retires the previous published
version in the same transaction; the partial unique index on `status` keeps it to one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.frameworks.model import Framework
from lrs_connector.mapping import Mapper, MappingError, compile_text
from lrs_connector.mapping import bundled as context
from lrs_connector.store import database, frameworks
from lrs_connector.store.mapping_tables import mapping_versions

DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
log = logging.getLogger(__name__)
# the framework in force the bundled rules did not suit (tried once per framework and process)
_unsuited: list[Framework] = []


class VersionError(ValueError):
    """An unknown version, or a change its status does not allow."""


@dataclass(frozen=True)
class Active:
    version: int
    mapper: Mapper


class TargetsMissing(VersionError):
    """The version names targets the framework in force lacks: it cannot be published."""


def compile_version_text(text: str, source: str, framework: Framework | None = None) -> Mapper:
    """Compile against the bundled profiles, and check targets against ``framework``'s
    (none checked without one); MappingError on problems."""
    targets = None if framework is None else known_targets(framework)
    return compile_text(text, source, context.profiles(), targets)


def known_targets(framework: Framework) -> frozenset[str]:
    """IRIs rules may point at: the competencies and dimensions of ``framework``."""
    return frozenset([*framework.competencies, *framework.dimensions])


def targets_lacking(conn: Connection, version: int, framework: Framework) -> str | None:
    """The targets of ``version`` that ``framework`` lacks, the first five listed (None when
    it has them all): what stops publishing the version, or putting the framework in force."""
    lacking = sorted(mapper(conn, version).targets() - known_targets(framework))
    if not lacking:
        return None
    more = f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
    return ", ".join(lacking[:5]) + more


_cache: dict[tuple[int, str], Mapper] = {}
_cache_lock = threading.Lock()


def mapper(conn: Connection, version: int) -> Mapper:
    """The compiled rules of a stored version (compiled once per process). Processing asks
    for them on every batch: the document is read only when its digest is not compiled yet.

    Targets were checked when the version was imported and published; they are not checked
    again here, so a change of framework never stops processing, pages or the API (evidence
    on a target the framework in force lacks is kept and not scored)."""
    digest = _scalar(conn, "SELECT digest FROM mapping_versions WHERE version = {}", version)
    if digest is None:
        raise VersionError(f"no mapping version {version}")
    key = (version, digest)
    with _cache_lock:
        found = _cache.get(key)
    if found is None:
        document = conn.execute(
            sa.select(mapping_versions.c.document).where(mapping_versions.c.version == version)
        ).scalar_one()
        found = compile_version_text(document, f"mapping version {version}")
        with _cache_lock:
            _cache[key] = found
    return found


def import_version(
    conn: Connection,
    text: str,
    source: str,
    now: datetime,
    *,
    publish: bool = False,
    framework: Framework | None = None,
) -> int:
    """Validate and store a rules document as a new draft (published at once with
    ``publish``); MappingError lists every problem and nothing is stored. Targets are checked
    against ``framework`` (default: the framework in force), so rules for a framework that is
    not in force yet can be prepared."""
    compiled = compile_version_text(text, source, framework or frameworks.in_force(conn))
    lock_versions(conn)
    number = (conn.execute(sa.select(sa.func.max(mapping_versions.c.version))).scalar() or 0) + 1
    conn.execute(
        mapping_versions.insert().values(
            version=number,
            name=compiled.name,
            description=compiled.description,
            status=DRAFT,
            document=text,
            digest=hashlib.sha256(text.encode()).hexdigest(),
            source=source[:500],
            created_at=now,
        )
    )
    if publish:
        publish_version(conn, number, now)
    return number


def publish_version(conn: Connection, version: int, now: datetime) -> int | None:
    """Put `version` in force; returns the version it replaced (retired), if any."""
    status = conn.execute(
        sa.select(mapping_versions.c.status).where(mapping_versions.c.version == version)
    ).scalar()
    if status is None:
        raise VersionError(f"no mapping version {version}")
    if status == PUBLISHED:
        return None
    lock_versions(conn)  # against a framework import changing what is in force meanwhile
    lacking = targets_lacking(conn, version, frameworks.in_force(conn))
    if lacking:
        raise TargetsMissing(
            f"mapping version {version} names targets the framework in force lacks: {lacking}"
        )
    previous = published_version(conn)
    if previous is not None:
        conn.execute(
            mapping_versions.update()
            .where(mapping_versions.c.version == previous)
            .values(status=RETIRED, retired_at=now)
        )
    conn.execute(
        mapping_versions.update()
        .where(mapping_versions.c.version == version)
        .values(status=PUBLISHED, published_at=now, retired_at=None)
    )
    return previous


def published_version(conn: Connection) -> int | None:
    """The version in force (through the driver: processing asks on every batch)."""
    return _scalar(conn, "SELECT version FROM mapping_versions WHERE status = {}", PUBLISHED)


def _scalar(conn: Connection, sql: str, value: Any) -> Any:
    """The first column of the first row of ``sql`` with its one ``{}`` bound to ``value``."""
    rows = database.driver_rows(conn, sql.format(database.placeholder(conn)), (value,))
    return rows[0][0] if rows else None


def lock_versions(conn: Connection) -> None:
    """Serialise version numbering and publishing between PostgreSQL workers until the
    transaction ends (two workers meeting an empty database would both import the bundled rules
    as version 1; a publish and a framework import must each see the other's outcome).
    SQLite's write transaction already gives one writer at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7502)"))


def active(conn: Connection, now: datetime) -> Active | None:
    """The published mapping; the bundled rules are imported and published first when the
    database has no mapping version at all (a fresh installation maps out of the box), unless
    they name targets the framework in force lacks (an installation with a framework of its
    own maps once its rules are published)."""
    version = published_version(conn)
    if version is None:
        lock_versions(conn)
        version = published_version(conn)  # another worker may have imported meanwhile
    if version is None:
        if conn.execute(sa.select(sa.func.count()).select_from(mapping_versions)).scalar_one():
            return None  # versions exist but none is published: an admin's choice
        framework = frameworks.in_force(conn)
        if _unsuited and _unsuited[0] is framework:
            return None
        try:
            version = import_version(
                conn, context.bundled_text(), context.BUNDLED_SOURCE, now, publish=True
            )
        except MappingError as exc:
            _unsuited[:] = [framework]
            log.warning("no mapping rules in force: the bundled rules do not suit the framework "
                        "in force (%s); import and publish rules for it", exc)
            return None
    return Active(version, mapper(conn, version))


def versions(conn: Connection, *, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """Versions in order; a keyset page when given the last version seen and a limit."""
    query = (
        sa.select(
            mapping_versions.c.version,
            mapping_versions.c.name,
            mapping_versions.c.status,
            mapping_versions.c.source,
            mapping_versions.c.digest,
            mapping_versions.c.created_at,
            mapping_versions.c.published_at,
            mapping_versions.c.retired_at,
        )
        .where(mapping_versions.c.version > after)
        .order_by(mapping_versions.c.version)
        .limit(limit)
    )
    rows = conn.execute(query)
    return [
        {
            "version": r.version,
            "name": r.name,
            "status": r.status,
            "source": r.source,
            "digest": r.digest[:12],
            "created_at": r.created_at.isoformat(),
            "published_at": r.published_at.isoformat() if r.published_at else None,
            "retired_at": r.retired_at.isoformat() if r.retired_at else None,
        }
        for r in rows
    ]


def document(conn: Connection, version: int) -> str:
    text = conn.execute(
        sa.select(mapping_versions.c.document).where(mapping_versions.c.version == version)
    ).scalar()
    if text is None:
        raise VersionError(f"no mapping version {version}")
    return text
