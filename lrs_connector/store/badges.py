"""Badge storage: awards and revocations follow the stored readiness levels.

* ``sync(conn, learner_ids, now)`` brings some learners' badges in line with their current
  level per role (``readiness_roles``): a few set-based queries per chunk of learners, the
  decision in lrs_connector.badges.plan, bulk writes.
* ``badges_handler(conn, entries)`` is the processing handler (after readiness, same
  transaction): it syncs the learners whose evidence the batch's statements touched.
* ``sync_all(engine)`` streams every learner with a level or a badge (``badges sync``).
* ``revoke`` (an admin's revocation), ``assertions`` / ``pending`` (listings),
  ``current_badge`` (what the LMS push links into a profile) and the readers behind the
  public documents.

The configuration comes from ``configure`` (the app and CLI pass the settings') or, failing
that, from the environment's settings, like the readiness scorer's.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector import badges as core
from lrs_connector.badges.documents import (
    AssertionRecord,
    BadgeClassRecord,
    class_texts,
    evidence_narrative,
)
from lrs_connector.store import database, outbox
from lrs_connector.store import readiness as readiness_store
from lrs_connector.store.badge_tables import badge_assertions, badge_classes
from lrs_connector.store.learner_tables import learner_aliases
from lrs_connector.store.mapping_tables import evidence
from lrs_connector.store.readiness_tables import readiness_roles

log = logging.getLogger(__name__)

_CHUNK = 400  # learners per IN list

# --- configuration ---------------------------------------------------------------------------

_configured: core.BadgeConfig | None = None


def configure(config: core.BadgeConfig | None) -> None:
    """Set the configuration the handler and readers use (the app and CLI call this)."""
    global _configured
    _configured = config


def config() -> core.BadgeConfig:
    """The configuration given to ``configure``, else the environment's settings'."""
    return _configured or _environment_config()


@functools.cache
def _environment_config() -> core.BadgeConfig:
    from lrs_connector.settings import SettingsError, load_settings

    try:
        return core.config_from_settings(load_settings())
    except SettingsError as exc:  # load_settings checks the badge options too
        field, _, message = str(exc).partition(": ")
        raise core.BadgeConfigError(message or field, field if message else "settings") from None


# --- helpers ---------------------------------------------------------------------------------


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert_ignore(conn: Connection, table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(), rows)


def _class_record(row) -> BadgeClassRecord:
    return BadgeClassRecord(
        id=row.id, role=row.role, level=row.level, role_name=row.role_name, name=row.name,
        description=row.description, criteria=row.criteria,
        alignment=tuple(orjson.loads(row.alignment)),
    )


def _assertion_record(row) -> AssertionRecord:
    return AssertionRecord(
        id=row.id, class_id=row.class_id, recipient=row.recipient, salt=row.salt,
        issued_on=row.issued_on, narrative=row.narrative, revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
    )


# --- sync ------------------------------------------------------------------------------------


@dataclass
class SyncOutcome:
    """What a sync did (for progress lines and tests)."""

    learners: int = 0
    awarded: int = 0
    revoked: int = 0
    pending: int = 0  # badges earned by learners with no known email address

    def add(self, other: SyncOutcome) -> None:
        self.learners += other.learners
        self.awarded += other.awarded
        self.revoked += other.revoked
        self.pending += other.pending


def sync(
    conn: Connection,
    learner_ids: Sequence[int],
    now: datetime,
    *,
    badge_config: core.BadgeConfig | None = None,
) -> SyncOutcome:
    """Award and revoke so that each learner holds exactly the badges their current levels
    earn (docs/badges.md). Idempotent; does nothing while badges are not configured."""
    cfg = badge_config or config()
    learners = sorted(set(learner_ids))
    outcome = SyncOutcome(learners=len(learners))
    if not learners or not cfg.enabled:
        return outcome
    readiness_store.lock_learners(conn, learners)
    framework = readiness_store.scorer(conn).framework
    for chunk in _chunks(learners):
        _sync_chunk(conn, list(chunk), now, cfg, framework, outcome)
    return outcome


def _sync_chunk(conn, chunk, now, cfg, framework, outcome: SyncOutcome) -> None:
    levels: dict[int, dict[str, str]] = {}
    for row in conn.execute(
        sa.select(readiness_roles.c.learner_id, readiness_roles.c.role, readiness_roles.c.level)
        .where(readiness_roles.c.learner_id.in_(chunk))
    ):
        levels.setdefault(row.learner_id, {})[row.role] = row.level
    held: dict[int, list[core.Held]] = {}
    blocked: dict[int, list[tuple[str, str]]] = {}
    for row in conn.execute(
        sa.select(badge_assertions.c.id, badge_assertions.c.learner_id,
                  badge_assertions.c.revoked_at, badge_classes.c.role, badge_classes.c.level)
        .join(badge_classes, badge_classes.c.id == badge_assertions.c.class_id)
        .where(badge_assertions.c.learner_id.in_(chunk))
        .where(sa.or_(badge_assertions.c.revoked_at.is_(None),
                      badge_assertions.c.revoked_by == "admin"))
        .order_by(badge_assertions.c.issued_on, badge_assertions.c.id)
    ):
        if row.revoked_at is None:
            held.setdefault(row.learner_id, []).append(core.Held(row.id, row.role, row.level))
        else:
            blocked.setdefault(row.learner_id, []).append((row.role, row.level))
    emails: dict[int, str] = {}
    for row in conn.execute(
        sa.select(learner_aliases.c.learner_id, learner_aliases.c.alias)
        .where(learner_aliases.c.learner_id.in_(chunk), learner_aliases.c.kind == "mbox")
        .order_by(learner_aliases.c.created_at, learner_aliases.c.alias)
    ):
        address = core.email_from_alias(row.alias)
        if address is not None:
            emails.setdefault(row.learner_id, address)

    awards: list[tuple[int, str, str]] = []
    revocations: list[dict] = []
    changed: set[tuple[int, str]] = set()  # learner x role whose badge the LMS must hear of
    for learner in chunk:
        if learner not in levels and learner not in held:
            continue
        decided = core.plan(cfg, levels.get(learner, {}), held.get(learner, ()),
                            blocked.get(learner, ()), learner in emails, framework.roles)
        awards += [(learner, role, level) for role, level in decided.award]
        changed.update((learner, role) for role, _ in decided.award)
        outcome.pending += len(decided.pending)
        role_of = {h.assertion_id: h.role for h in held.get(learner, ())}
        for assertion_id, reason in decided.revoke:
            if assertion_id in role_of:
                changed.add((learner, role_of[assertion_id]))
            revocations.append({
                "aid": assertion_id, "at": now, "by":
                "readiness" if reason == core.REASON_READINESS else "config", "reason": reason,
            })
    if revocations:
        conn.execute(
            badge_assertions.update()
            .where(badge_assertions.c.id == sa.bindparam("aid"))
            .where(badge_assertions.c.revoked_at.is_(None))
            .values(revoked_at=sa.bindparam("at"), revoked_by=sa.bindparam("by"),
                    revocation_reason=sa.bindparam("reason")),
            revocations,
        )
        outcome.revoked += len(revocations)
    if awards:
        classes = ensure_classes(conn, {(role, level) for _, role, level in awards}, cfg, now,
                                 framework)
        rows = []
        for learner, role, level in awards:
            salt = core.new_salt()
            rows.append({
                "id": str(uuid.uuid4()),
                "class_id": classes[(role, level)],
                "learner_id": learner,
                "recipient": core.hash_email(emails[learner], salt),
                "salt": salt,
                "issued_on": now,
                "narrative": evidence_narrative(cfg, framework.roles[role].name, level, now),
                "revoked_at": None,
                "revoked_by": None,
                "revocation_reason": None,
            })
        conn.execute(badge_assertions.insert(), rows)
        outcome.awarded += len(rows)
    if changed:
        outbox.enqueue_current(conn, sorted(changed), now)


def ensure_classes(conn, pairs, cfg, now, framework) -> dict[tuple[str, str], str]:
    """(role, level) → badge class id, creating the classes not stored yet with their texts
    from the framework in force."""
    pairs = set(pairs)
    roles = sorted({role for role, _ in pairs})

    def stored() -> dict[tuple[str, str], str]:
        found = {}
        for row in conn.execute(
            sa.select(badge_classes.c.id, badge_classes.c.role, badge_classes.c.level)
            .where(badge_classes.c.role.in_(roles))
        ):
            found[(row.role, row.level)] = row.id
        return found

    found = stored()
    missing = sorted(pairs - set(found))
    if not missing:
        return found
    rows = []
    for role_iri, level in missing:
        role = framework.roles[role_iri]
        readable = core.class_id_for(role.code, level, role_iri, taken=False)
        taken = conn.execute(
            sa.select(badge_classes.c.id).where(badge_classes.c.id == readable)
        ).first() is not None or any(r["id"] == readable for r in rows)
        requirements = []
        for q in role.requirements:
            target = framework.target(q.target)
            requirements.append((target.name if target else q.target, q.proficiency, q.weight))
        name, description, criteria = class_texts(
            cfg, role_name=role.name, role_description=role.description, level=level,
            requirements=requirements, scale_top=max((p.value for p in framework.scale),
                                                     default=4),
        )
        alignment = [{"targetName": role.name, "targetUrl": role.iri,
                      "targetFramework": framework.name, "targetCode": role.code}]
        if not role.iri.startswith(("http://", "https://")):
            alignment = []
        rows.append({
            "id": core.class_id_for(role.code, level, role_iri, taken=taken),
            "role": role_iri, "level": level, "role_name": role.name[:300], "name": name[:400],
            "description": description,
            "criteria": criteria, "alignment": orjson.dumps(alignment).decode(),
            "created_at": now,
        })
    _insert_ignore(conn, badge_classes, rows)
    found = stored()
    lost = pairs - set(found)
    if lost:  # another worker took the readable id for a different role and level meanwhile
        raise RuntimeError(f"could not create badge classes for {sorted(lost)}; retry")
    return found


def badges_handler(conn: Connection, entries: Sequence) -> None:
    """Processing handler (after readiness, same transaction): sync the learners whose
    evidence the batch's statements changed. A badge misconfiguration is logged, never
    allowed to hold statement processing up."""
    try:
        cfg = config()
    except core.BadgeConfigError as exc:
        log.error("badges are not synced: %s", exc)
        return
    if not cfg.enabled:
        return
    ids = sorted({entry.statement_id for entry in entries})
    learners: set[int] = set()
    for chunk in _chunks(ids):
        learners.update(conn.execute(
            sa.select(evidence.c.learner_id).distinct()
            .where(evidence.c.statement_id.in_(list(chunk)))
        ).scalars())
    if learners:
        sync(conn, sorted(learners), datetime.now(UTC), badge_config=cfg)


def sync_all(
    engine: Engine,
    *,
    chunk_size: int = 2_000,
    now: datetime | None = None,
    progress: Callable[[SyncOutcome, int], None] | None = None,
) -> SyncOutcome:
    """Every learner with a stored level or a valid badge, ``chunk_size`` learners per
    transaction in id order (run after `readiness recompute`)."""
    now = now or datetime.now(UTC)
    cfg = config()
    total = SyncOutcome()
    after = -1
    while True:
        with database.write(engine) as conn:
            ids = _next_learners(conn, after, chunk_size)
            if not ids:
                break
            total.add(sync(conn, ids, now, badge_config=cfg))
        after = ids[-1]
        if progress:
            progress(total, after)
    return total


def _next_learners(conn: Connection, after: int, limit: int) -> list[int]:
    found = sa.union(
        sa.select(readiness_roles.c.learner_id.label("learner_id"))
        .where(readiness_roles.c.learner_id > after).distinct(),
        sa.select(badge_assertions.c.learner_id.label("learner_id"))
        .where(badge_assertions.c.learner_id > after, badge_assertions.c.revoked_at.is_(None))
        .distinct(),
    ).subquery()
    query = sa.select(found.c.learner_id).order_by(found.c.learner_id).limit(limit)
    return list(conn.execute(query).scalars())


# --- admin -----------------------------------------------------------------------------------


def revoke(conn: Connection, assertion_id: str, reason: str, now: datetime) -> bool:
    """An admin revokes one valid assertion (published with ``reason``); False when there
    is no such valid assertion. The same badge is not awarded to that learner again."""
    text = core.clean_reason(reason)
    done = conn.execute(
        badge_assertions.update()
        .where(badge_assertions.c.id == assertion_id, badge_assertions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by="admin", revocation_reason=text)
    )
    return done.rowcount == 1


def assertions(
    conn: Connection,
    *,
    learner_id: int | None = None,
    include_revoked: bool = False,
    limit: int = 1_000,
) -> list[dict]:
    """Awards, oldest first (for `badges list`): id, learner, role, level, dates, status."""
    query = (
        sa.select(badge_assertions.c.id, badge_assertions.c.learner_id,
                  badge_assertions.c.class_id, badge_assertions.c.issued_on,
                  badge_assertions.c.revoked_at, badge_assertions.c.revoked_by,
                  badge_assertions.c.revocation_reason, badge_classes.c.role,
                  badge_classes.c.level)
        .join(badge_classes, badge_classes.c.id == badge_assertions.c.class_id)
        .order_by(badge_assertions.c.issued_on, badge_assertions.c.id)
        .limit(limit)
    )
    if learner_id is not None:
        query = query.where(badge_assertions.c.learner_id == learner_id)
    if not include_revoked:
        query = query.where(badge_assertions.c.revoked_at.is_(None))
    urls = config().urls
    return [
        {
            "id": r.id, "learner_id": r.learner_id, "role": r.role, "level": r.level,
            "badge_class": r.class_id, "issued_on": r.issued_on.isoformat(),
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            "revoked_by": r.revoked_by, "revocation_reason": r.revocation_reason,
            "url": urls.assertion(r.id),
        }
        for r in conn.execute(query)
    ]


def pending(conn: Connection, *, learner_id: int | None = None, limit: int = 1_000) -> list[dict]:
    """Badges earned (a level that earns one) by learners with no email address known: they
    are awarded once a statement names the learner by ``mbox`` (then `badges sync`)."""
    cfg = config()
    earning = sorted({
        name for name, bound in cfg.levels
        if any(bound >= (cfg.threshold(b) or 0.0) for b in cfg.badge_levels)
    })
    if not earning or not cfg.enabled:
        return []
    has_email = (
        sa.select(learner_aliases.c.learner_id)
        .where(learner_aliases.c.learner_id == readiness_roles.c.learner_id,
               learner_aliases.c.kind == "mbox",
               ~learner_aliases.c.alias.startswith("mbox:sha256:"))
        .exists()
    )
    query = (
        sa.select(readiness_roles.c.learner_id, readiness_roles.c.role, readiness_roles.c.level)
        .where(readiness_roles.c.level.in_(earning), ~has_email)
        .order_by(readiness_roles.c.learner_id, readiness_roles.c.role)
        .limit(limit)
    )
    if learner_id is not None:
        query = query.where(readiness_roles.c.learner_id == learner_id)
    return [{"learner_id": r.learner_id, "role": r.role, "level": r.level}
            for r in conn.execute(query)]


# --- public readers --------------------------------------------------------------------------


def badge_class(conn: Connection, class_id: str) -> BadgeClassRecord | None:
    row = conn.execute(sa.select(badge_classes).where(badge_classes.c.id == class_id)).first()
    return None if row is None else _class_record(row)


def assertion(
    conn: Connection, assertion_id: str
) -> tuple[AssertionRecord, BadgeClassRecord] | None:
    row = conn.execute(
        sa.select(badge_assertions).where(badge_assertions.c.id == assertion_id)
    ).first()
    if row is None:
        return None
    found = badge_class(conn, row.class_id)
    return None if found is None else (_assertion_record(row), found)


def revoked(conn: Connection) -> list[tuple[str, str | None]]:
    """(assertion id, reason) of every revoked assertion, in the order they were revoked."""
    rows = conn.execute(
        sa.select(badge_assertions.c.id, badge_assertions.c.revocation_reason)
        .where(badge_assertions.c.revoked_at.is_not(None))
        .order_by(badge_assertions.c.revoked_at, badge_assertions.c.id)
    )
    return [(r.id, r.revocation_reason) for r in rows]


@dataclass(frozen=True, slots=True)
class CurrentBadge:
    """The badge to show for one learner and role: the highest level held."""

    assertion_id: str
    level: str
    issued_on: datetime
    assertion_url: str
    image_url: str  # the baked PNG
    svg_url: str  # the baked SVG
    badge_class_url: str


def current_badge(conn: Connection, learner_id: int, role: str) -> CurrentBadge | None:
    """For the LMS push: the learner's valid badge for ``role`` (an IRI) at the highest level
    they hold, or None."""
    cfg = config()
    rows = conn.execute(
        sa.select(badge_assertions.c.id, badge_assertions.c.issued_on, badge_classes.c.level,
                  badge_classes.c.id.label("class_id"))
        .join(badge_classes, badge_classes.c.id == badge_assertions.c.class_id)
        .where(badge_assertions.c.learner_id == learner_id, badge_classes.c.role == role,
               badge_assertions.c.revoked_at.is_(None))
    ).all()
    if not rows:
        return None
    best = max(rows, key=lambda r: (cfg.threshold(r.level) or -1.0, r.issued_on, r.id))
    urls = cfg.urls
    return CurrentBadge(
        assertion_id=best.id, level=best.level, issued_on=best.issued_on,
        assertion_url=urls.assertion(best.id), image_url=urls.assertion_image(best.id, "png"),
        svg_url=urls.assertion_image(best.id, "svg"),
        badge_class_url=urls.badge_class(best.class_id),
    )
