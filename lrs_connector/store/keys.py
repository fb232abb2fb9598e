"""The LTI tool's signing keys in the database: one current key signs, retired keys stay
published for a grace period, then are dropped.

A platform checks a client assertion against the JWKS it fetched from the connector. After a
rotation, assertions signed with the old key may still be in flight and platforms may hold a
cached copy of the key set, so the retired key stays in the JWKS for `GRACE` before it goes.
A compromised key is dropped at once instead (`rotate(..., compromised=True)`).

Every process reads the current key from here whenever it asks a platform for a token, so a
rotation made by `lrs-connector keys rotate` reaches every worker at once. Creating the first
key and rotating are serialised (SQLite: one writer; PostgreSQL: an advisory lock), so two
processes starting at once do not both make a "first" key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector.lms import keys as jwk
from lrs_connector.lms.config import SigningKey
from lrs_connector.store import database
from lrs_connector.store.lms_tables import signing_keys

#: How long a retired key stays in the published JWKS.
GRACE = timedelta(hours=48)
# Namespace of the PostgreSQL advisory lock that serialises key creation and rotation.
_KEYS_LOCK = 7601


def _lock(conn: Connection) -> None:
    if database.is_postgresql(conn):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": _KEYS_LOCK})


def _signing_key(row: Any) -> SigningKey:
    return SigningKey(row.kid, row.private_pem.encode())


def current(conn: Connection) -> SigningKey | None:
    """The key that signs now: the newest one not retired."""
    row = conn.execute(
        sa.select(signing_keys.c.kid, signing_keys.c.private_pem)
        .where(signing_keys.c.retired_at.is_(None))
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        .limit(1)
    ).first()
    return None if row is None else _signing_key(row)


def _insert(conn: Connection, now: datetime) -> SigningKey:
    key = jwk.generate()
    conn.execute(signing_keys.insert().values(
        kid=key.kid,
        private_pem=key.private_pem.decode(),
        public_jwk=orjson.dumps(jwk.public_jwk(key)).decode(),
        created_at=now,
        retired_at=None,
    ))
    return key


def ensure_current(conn: Connection, now: datetime) -> SigningKey:
    """The current key, made first if there is none (inside a write transaction)."""
    _lock(conn)
    return current(conn) or _insert(conn, now)


def prune(conn: Connection, now: datetime, grace: timedelta = GRACE) -> list[str]:
    """Drop keys retired longer ago than `grace`; returns their key ids."""
    cutoff = now - grace
    gone = [row.kid for row in conn.execute(
        sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at <= cutoff)
    )]
    if gone:
        conn.execute(signing_keys.delete().where(signing_keys.c.kid.in_(gone)))
    return gone


def rotate(
    conn: Connection, now: datetime, *, compromised: bool = False, grace: timedelta = GRACE
) -> tuple[SigningKey, list[str], list[str]]:
    """A new current key. The keys in use until now are retired (still published for
    `grace`), or dropped at once when `compromised`. Returns (new key, retired kids, dropped
    kids); keys retired more than `grace` ago are dropped too."""
    _lock(conn)
    active = [row.kid for row in conn.execute(
        sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None))
    )]
    if active:
        if compromised:
            conn.execute(signing_keys.delete().where(signing_keys.c.kid.in_(active)))
        else:
            conn.execute(signing_keys.update().where(signing_keys.c.kid.in_(active))
                         .values(retired_at=now))
    dropped = prune(conn, now, grace)
    key = _insert(conn, now)
    if compromised:
        return key, [], sorted(active) + dropped
    return key, sorted(active), dropped


def _published_rows(conn: Connection, now: datetime, grace: timedelta):
    return conn.execute(
        sa.select(signing_keys.c.kid, signing_keys.c.public_jwk)
        .where(sa.or_(signing_keys.c.retired_at.is_(None),
                      signing_keys.c.retired_at > now - grace))
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
    ).all()


def jwks(conn: Connection, now: datetime, grace: timedelta = GRACE) -> dict[str, Any]:
    """The JWKS document: the current key first, then retired keys still in their grace."""
    return jwk.key_set(orjson.loads(row.public_jwk) for row in _published_rows(conn, now, grace))


def listing(conn: Connection, now: datetime, grace: timedelta = GRACE) -> list[dict[str, Any]]:
    """Every stored key with its state, newest first; never the private key."""
    newest_active = current(conn)
    out = []
    for row in conn.execute(
        sa.select(signing_keys.c.kid, signing_keys.c.created_at, signing_keys.c.retired_at)
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
    ):
        if row.retired_at is None:
            state = "current" if newest_active and row.kid == newest_active.kid else "published"
            until = None
        elif row.retired_at > now - grace:
            state, until = "retired", row.retired_at + grace
        else:
            state, until = "expired", row.retired_at + grace
        out.append({
            "kid": row.kid,
            "state": state,
            "created_at": row.created_at.isoformat(),
            "retired_at": row.retired_at.isoformat() if row.retired_at else None,
            "published_until": until.isoformat() if until else None,
        })
    return out


def jwks_document(engine: Engine, grace: timedelta = GRACE) -> dict[str, Any]:
    """The published key set; the first key is made when there is none yet, so the JWKS URL
    an admin registers on a platform answers with a key from the start."""
    now = datetime.now(UTC)
    with database.read(engine) as conn:
        document = jwks(conn, now, grace)
    if document["keys"]:
        return document
    with database.write(engine) as conn:
        ensure_current(conn, now)
        return jwks(conn, now, grace)


def current_signing_key(engine: Engine) -> SigningKey:
    """The key LTI targets sign with, made on first use. Read from the database each time:
    a token is requested about once per token lifetime, and a rotation (above all of a
    compromised key) must take effect on every process at once."""
    with database.read(engine) as conn:
        key = current(conn)
    if key is None:
        with database.write(engine) as conn:
            key = ensure_current(conn, datetime.now(UTC))
    return key
