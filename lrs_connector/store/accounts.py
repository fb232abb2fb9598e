"""Accounts, sign-in sessions and login throttle counters in the database.

Password hashing is slow on purpose, so callers hash and verify *outside* write transactions
(SQLite has one writer at a time) and hand this module finished hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from lrs_connector.accounts import roles, sessions, throttle
from lrs_connector.store.account_tables import accounts, login_throttle, ui_sessions


class AccountError(ValueError):
    """A username is taken or unknown, or a value is not allowed."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: str
    enabled: bool
    created_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "password_changed_at": self.password_changed_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


_PUBLIC = [c for c in accounts.c if c.name != "password_hash"]


def _account(row) -> Account:
    m = row._mapping
    return Account(m["id"], m["username"], m["role"], m["enabled"], m["created_at"],
                   m["password_changed_at"], m["last_login_at"])


# --- accounts ---------------------------------------------------------------------------------


def add(conn: Connection, username: str, role: str, password_hash: str, now: datetime) -> Account:
    """A new enabled account (`password_hash` from accounts.hash_password)."""
    try:
        username = roles.check_username(username)
        roles.check_role(role)
    except roles.RoleError as exc:
        raise AccountError(str(exc)) from None
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.username == username)).first():
        raise AccountError(f"an account named {username!r} already exists")
    conn.execute(accounts.insert().values(
        username=username, role=role, password_hash=password_hash, enabled=True,
        created_at=now, password_changed_at=now,
    ))
    return get(conn, username)


def find(conn: Connection, username: str) -> Account | None:
    row = conn.execute(
        sa.select(*_PUBLIC).where(accounts.c.username == roles.normalise_username(username))
    ).first()
    return None if row is None else _account(row)


def get(conn: Connection, username: str) -> Account:
    found = find(conn, username)
    if found is None:
        raise AccountError(f"no account named {username!r}")
    return found


def password_hash(conn: Connection, username: str) -> tuple[Account, str] | None:
    """The account and its stored hash (for verifying a sign-in), or None."""
    row = conn.execute(
        sa.select(accounts).where(accounts.c.username == roles.normalise_username(username))
    ).first()
    return None if row is None else (_account(row), row.password_hash)


def listing(conn: Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(sa.select(*_PUBLIC).order_by(accounts.c.username))]


def set_enabled(conn: Connection, username: str, enabled: bool) -> Account:
    """Enable or disable; disabling also ends the account's sessions."""
    account = get(conn, username)
    conn.execute(accounts.update().where(accounts.c.id == account.id).values(enabled=enabled))
    if not enabled:
        end_sessions(conn, account.id)
    return get(conn, account.username)


def set_password(conn: Connection, username: str, new_hash: str, now: datetime) -> Account:
    """Replace the password hash and end every session of the account."""
    account = get(conn, username)
    conn.execute(accounts.update().where(accounts.c.id == account.id)
                 .values(password_hash=new_hash, password_changed_at=now))
    end_sessions(conn, account.id)
    return get(conn, account.username)


def signed_in(conn: Connection, account_id: int, now: datetime, new_hash: str | None) -> None:
    """Record a successful sign-in (and a stronger hash of the same password, when given)."""
    values: dict = {"last_login_at": now}
    if new_hash:
        values["password_hash"] = new_hash
    conn.execute(accounts.update().where(accounts.c.id == account_id).values(**values))


# --- sessions ---------------------------------------------------------------------------------


def open_session(conn: Connection, account_id: int, now: datetime) -> str:
    """A new session for the account; returns the token (shown once, stored as a hash).
    The account's dead sessions are cleared on the way."""
    for row in conn.execute(
        sa.select(ui_sessions.c.token_hash, ui_sessions.c.created_at, ui_sessions.c.last_seen_at)
        .where(ui_sessions.c.account_id == account_id)
    ).all():
        if not sessions.is_live(row.created_at, row.last_seen_at, now):
            conn.execute(ui_sessions.delete().where(ui_sessions.c.token_hash == row.token_hash))
    token = sessions.new_token()
    conn.execute(ui_sessions.insert().values(
        token_hash=sessions.token_hash(token), account_id=account_id, created_at=now,
        last_seen_at=now,
    ))
    return token


@dataclass(frozen=True, slots=True)
class SessionInfo:
    account: Account
    token_hash: str
    last_seen_at: datetime


def session_account(conn: Connection, token: str, now: datetime) -> SessionInfo | None:
    """The enabled account behind a live session token, else None."""
    if not token or len(token) > 200:
        return None
    digest = sessions.token_hash(token)
    row = conn.execute(
        sa.select(*_PUBLIC, ui_sessions.c.created_at.label("session_created_at"),
                  ui_sessions.c.last_seen_at)
        .select_from(ui_sessions.join(accounts, accounts.c.id == ui_sessions.c.account_id))
        .where(ui_sessions.c.token_hash == digest)
    ).first()
    if row is None or not row.enabled:
        return None
    if not sessions.is_live(row.session_created_at, row.last_seen_at, now):
        return None
    return SessionInfo(_account(row), digest, row.last_seen_at)


def touch_session(conn: Connection, digest: str, now: datetime) -> None:
    conn.execute(ui_sessions.update().where(ui_sessions.c.token_hash == digest)
                 .values(last_seen_at=now))


def close_session(conn: Connection, token: str) -> None:
    conn.execute(ui_sessions.delete().where(
        ui_sessions.c.token_hash == sessions.token_hash(token)))


def end_sessions(conn: Connection, account_id: int) -> int:
    return conn.execute(
        ui_sessions.delete().where(ui_sessions.c.account_id == account_id)
    ).rowcount


# --- login throttling -------------------------------------------------------------------------


def throttle_counters(conn: Connection, keys: list[str]) -> dict[str, throttle.Counter]:
    rows = conn.execute(sa.select(login_throttle).where(login_throttle.c.key.in_(keys)))
    return {r.key: throttle.Counter(r.failures, r.last_failure_at, r.locked_until) for r in rows}


def _insert_ignore(conn: Connection):
    if conn.dialect.name == "postgresql":
        return postgresql.insert(login_throttle).on_conflict_do_nothing()
    return sqlite.insert(login_throttle).on_conflict_do_nothing()


def record_failure(
    conn: Connection, policies: Mapping[str, throttle.Policy], now: datetime
) -> dict[str, throttle.Counter]:
    """One more failed sign-in for each key (with its policy); the counters after it.

    The rows are locked (PostgreSQL: FOR UPDATE; SQLite: one writer at a time) while counted,
    so concurrent failures on several processes are all counted."""
    keys = sorted(policies)
    conn.execute(_insert_ignore(conn), [
        {"key": k, "failures": 0, "last_failure_at": now, "locked_until": None} for k in keys
    ])
    query = sa.select(login_throttle).where(login_throttle.c.key.in_(keys))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    out = {}
    for row in conn.execute(query).all():
        before = (
            None if row.failures == 0
            else throttle.Counter(row.failures, row.last_failure_at, row.locked_until)
        )
        after = throttle.after_failure(before, now, policies[row.key])
        conn.execute(login_throttle.update().where(login_throttle.c.key == row.key).values(
            failures=after.failures, last_failure_at=after.last_failure_at,
            locked_until=after.locked_until,
        ))
        out[row.key] = after
    return out


def clear_throttle(conn: Connection, key: str) -> None:
    conn.execute(login_throttle.delete().where(login_throttle.c.key == key))
