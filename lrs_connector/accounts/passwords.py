"""Password policy and hashing (Argon2id through argon2-cffi, with its RFC 9106 low-memory
profile: 64 MiB, 3 passes). Human passwords are low-entropy, so unlike the machine-made
secrets of sources and API tokens (`credentials.py`) they get a slow, memory-hard hash.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing cost grows with length; nobody types more
_COMMON = frozenset(
    {
        "password1234", "123456789012", "qwertyuiopas", "passwordpassword", "letmein12345",
        "administrator", "changeme1234", "welcome12345", "iloveyou1234", "lrs-connector",
    }
)


class PasswordError(ValueError):
    """A password that the policy refuses (the message says why, never echoes it)."""


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's second recommendation


def check_password(password: str, username: str = "") -> None:
    """Raise PasswordError unless `password` may be used (length, not trivially guessable)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise PasswordError(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"the password must be at most {MAX_LENGTH} characters long")
    if password.strip() != password:
        raise PasswordError("the password must not start or end with white space")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        raise PasswordError("the password is too easy to guess")
    if username and username.lower() in lowered:
        raise PasswordError("the password must not contain the username")


def hash_password(password: str) -> str:
    """An Argon2id hash in the PHC string format (salt and parameters included)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; False for a mismatch or an unreadable hash."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash on sign-in)."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def decoy_hash() -> str:
    """A hash to verify against when the username is unknown, so that an unknown username
    takes as long as a wrong password and sign-in does not tell which usernames exist."""
    return hash_password("decoy password that matches no account")
