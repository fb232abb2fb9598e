"""Imported competency frameworks: save, list, get by IRI and version, latest, and the
framework in force.

The bundled framework (``xapi_profiles/lnd-leadership-framework.json``) is served from package
data, never seeded: it is always available, follows the installed package, and costs no write.
An imported framework with the same IRI and version takes its place.

The framework in force (what mapping rules target and readiness scores against) is the latest
stored version of the configured IRI (setting ``framework_iri``, default the bundled one's),
else the bundled framework. Every process asks the database at each use (one indexed row), so
an import reaches every worker at its next batch; a framework that would leave the published
mapping rules pointing at targets it lacks, or that has no roles, is refused instead.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.frameworks.documents import dumps, framework_from_document, load_bundled
from lrs_connector.frameworks.model import Framework
from lrs_connector.store import database
from lrs_connector.store.framework_tables import frameworks

SOURCES = ("bundled", "case", "file")
log = logging.getLogger(__name__)


class FrameworkExists(ValueError):
    """Another framework with the same IRI and version is stored (pass ``replace``)."""


class NotUsable(ValueError):
    """The framework would be in force, but the published mapping rules or readiness could not
    use it (targets it lacks, no roles)."""


@dataclass(frozen=True, slots=True)
class StoredFramework:
    iri: str
    version: str
    name: str
    source: str
    imported_at: datetime | None  # None for the bundled framework served from package data

    def as_dict(self) -> dict:
        return {
            "iri": self.iri,
            "version": self.version,
            "name": self.name,
            "source": self.source,
            "imported_at": self.imported_at.isoformat() if self.imported_at else None,
        }


def _bundled_entry() -> StoredFramework:
    bundled = load_bundled()
    return StoredFramework(bundled.iri, bundled.version, bundled.name, "bundled", None)


def save(
    conn: Connection, framework: Framework, source: str, *, replace: bool = False
) -> tuple[StoredFramework, bool]:
    """Store a framework; returns (entry, changed). Saving the same document again changes
    nothing; a different document under a stored IRI and version needs ``replace``. One that
    becomes the framework in force must suit the published mapping rules (``NotUsable``)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    if framework.iri == in_force_iri():
        from lrs_connector.store import mapping

        mapping.lock_versions(conn)  # no mapping version published meanwhile (PostgreSQL)
        check_usable(conn, framework)
    document = dumps(framework)
    now = _import_time(conn, framework.iri)
    row = conn.execute(
        sa.select(
            frameworks.c.id, frameworks.c.document, frameworks.c.source, frameworks.c.imported_at
        ).where(frameworks.c.iri == framework.iri, frameworks.c.version == framework.version)
    ).first()
    if row is not None:
        if row.document == document:
            entry = StoredFramework(
                framework.iri, framework.version, framework.name, row.source, row.imported_at
            )
            return entry, False
        if not replace:
            raise FrameworkExists(
                f"framework {framework.iri} version {framework.version} is already stored "
                "with different content; give it a new version, or replace it"
            )
        conn.execute(
            frameworks.update()
            .where(frameworks.c.id == row.id)
            .values(name=framework.name, source=source, document=document, imported_at=now)
        )
    else:
        conn.execute(
            frameworks.insert().values(
                iri=framework.iri,
                version=framework.version,
                name=framework.name,
                source=source,
                document=document,
                imported_at=now,
            )
        )
    return StoredFramework(framework.iri, framework.version, framework.name, source, now), True


def _import_time(conn: Connection, iri: str) -> datetime:
    """Now, or just after the latest import of ``iri`` if that looks later: the latest import
    is the one in force, and the machine that made it may have a clock ahead of ours."""
    now = datetime.now(UTC)
    latest_import = conn.execute(
        sa.select(sa.func.max(frameworks.c.imported_at)).where(frameworks.c.iri == iri)
    ).scalar()
    if latest_import is not None and latest_import >= now:
        return latest_import + timedelta(milliseconds=1)
    return now


def list_frameworks(conn: Connection) -> list[StoredFramework]:
    """Every stored framework version, plus the bundled one unless a stored one replaces it."""
    rows = conn.execute(
        sa.select(
            frameworks.c.iri,
            frameworks.c.version,
            frameworks.c.name,
            frameworks.c.source,
            frameworks.c.imported_at,
        ).order_by(frameworks.c.iri, frameworks.c.imported_at, frameworks.c.id)
    ).all()
    out = [StoredFramework(r.iri, r.version, r.name, r.source, r.imported_at) for r in rows]
    bundled = _bundled_entry()
    if not any(e.iri == bundled.iri and e.version == bundled.version for e in out):
        out.insert(0, bundled)
    return out


def page(
    conn: Connection, *, after: int = -1, limit: int = 100
) -> list[tuple[int, StoredFramework]]:
    """Keyset page in import order as (key, entry): the bundled framework first with key 0
    (unless a stored one replaces it), then stored ones by id. Pass the last key as `after`."""
    rows = conn.execute(
        sa.select(
            frameworks.c.id,
            frameworks.c.iri,
            frameworks.c.version,
            frameworks.c.name,
            frameworks.c.source,
            frameworks.c.imported_at,
        )
        .where(frameworks.c.id > max(after, 0))
        .order_by(frameworks.c.id)
        .limit(limit)
    ).all()
    out = [(r.id, StoredFramework(r.iri, r.version, r.name, r.source, r.imported_at)) for r in rows]
    if after < 0:
        bundled = _bundled_entry()
        replaced = conn.execute(
            sa.select(frameworks.c.id).where(
                frameworks.c.iri == bundled.iri, frameworks.c.version == bundled.version
            )
        ).first()
        if replaced is None:
            out.insert(0, (0, bundled))
    return out[:limit]


def get(conn: Connection, iri: str, version: str | None = None) -> Framework | None:
    """A framework by IRI and version; without a version, the latest (see :func:`latest`)."""
    if version is None:
        return latest(conn, iri)
    row = conn.execute(
        sa.select(frameworks.c.document).where(
            frameworks.c.iri == iri, frameworks.c.version == version
        )
    ).first()
    if row is not None:
        return _load(row.document)
    bundled = load_bundled()
    if bundled.iri == iri and bundled.version == version:
        return bundled
    return None


def latest(conn: Connection, iri: str) -> Framework | None:
    """The most recently imported version of ``iri``; the bundled framework when it has that
    IRI and nothing with it was imported."""
    row = conn.execute(
        sa.select(frameworks.c.document)
        .where(frameworks.c.iri == iri)
        .order_by(frameworks.c.imported_at.desc(), frameworks.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return _load(row.document)
    bundled = load_bundled()
    return bundled if bundled.iri == iri else None


def _load(document: str) -> Framework:
    return framework_from_document(orjson.loads(document))


# --- the framework in force ------------------------------------------------------------------

_configured_iri: str | None = None
_warned: set[str] = set()
_in_force: dict[tuple, Framework] = {}
_in_force_lock = threading.Lock()


def configure(iri: str) -> None:
    """Set the IRI in force (the app and CLI call this with the setting ``framework_iri``)."""
    global _configured_iri
    _configured_iri = iri or None


def in_force_iri() -> str:
    """The configured IRI, else the environment's, else the bundled framework's."""
    return (
        _configured_iri
        or os.environ.get("LRS_CONNECTOR_FRAMEWORK_IRI")
        or load_bundled().iri
    )


def in_force(conn: Connection) -> Framework:
    """The framework mapping and readiness use now (see the module's docstring); parsed once
    per stored version and process."""
    iri = in_force_iri()
    # through the driver: every processing batch asks (SQLAlchemy's statement building would
    # cost several times the query)
    mark = database.placeholder(conn)
    rows = database.driver_rows(
        conn,
        f"SELECT id, imported_at FROM frameworks WHERE iri = {mark} "
        "ORDER BY imported_at DESC, id DESC LIMIT 1",
        (iri,),
    )
    if not rows:
        bundled = load_bundled()
        if bundled.iri != iri and iri not in _warned:
            _warned.add(iri)
            log.warning("framework_iri %s is not imported; the bundled framework is in force",
                        iri)
        return bundled
    key = (rows[0][0], str(rows[0][1]))
    with _in_force_lock:
        found = _in_force.get(key)
    if found is None:
        document = conn.execute(
            sa.select(frameworks.c.document).where(frameworks.c.id == key[0])
        ).scalar_one()
        found = _load(document)
        with _in_force_lock:
            _in_force.clear()
            _in_force[key] = found
    return found


def check_usable(conn: Connection, framework: Framework) -> None:
    """``NotUsable`` naming what is missing when ``framework`` cannot be the one in force: it
    has no roles, or the published mapping rules name targets it lacks (rules are published
    against a framework; changing it under them would stop processing)."""
    if not framework.roles:
        raise NotUsable(
            f"framework {framework.iri} version {framework.version} would be the framework in "
            "force but has no roles, so readiness could score nothing; add roles (a native "
            "document's `roles`) first"
        )
    from lrs_connector.store import mapping

    version = mapping.published_version(conn)
    if version is None:
        return
    missing = mapping.targets_lacking(conn, version, framework)
    if missing:
        raise NotUsable(
            f"framework {framework.iri} version {framework.version} would be the framework in "
            f"force, but published mapping version {version} names targets it lacks: {missing}; "
            "publish rules without them first, or keep these targets"
        )
