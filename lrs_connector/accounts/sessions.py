"""Sign-in sessions: random tokens (only their hash is stored), an absolute lifetime and an
idle timeout. A session lives in the database so that signing out, disabling an account or
changing its password ends it on every process at once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

LIFETIME = timedelta(hours=12)  # sign in again after this, however busy
IDLE_TIMEOUT = timedelta(hours=1)  # or after this long without a request
TOUCH_EVERY = timedelta(minutes=1)  # last-seen is written at most this often


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_live(created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    return now < created_at + LIFETIME and now < last_seen_at + IDLE_TIMEOUT


def needs_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= TOUCH_EVERY
