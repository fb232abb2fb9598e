"""Credentials for sources and API tokens: generation, hashing and reading an Authorization header.

A credential is a public *key* and a random 256-bit *secret*. Callers send them as HTTP Basic
(`key:secret`) or as a bearer token `key.secret`. Only a SHA-256 hash of the secret is stored.
A slow password hash (bcrypt, argon2) protects low-entropy human passwords; these secrets are
machine-generated with 256 bits of entropy, so a fast hash is as safe and keeps intake fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIXES = {"source": "src_", "token": "tok_"}


@dataclass(frozen=True, slots=True)
class Presented:
    """What a request presented: the key and the secret, however they were sent."""

    key: str
    secret: str
    scheme: str  # "basic" or "bearer"


@dataclass(frozen=True, slots=True)
class NewCredential:
    key: str
    secret: str
    secret_hash: str

    @property
    def bearer_token(self) -> str:
        return f"{self.key}.{self.secret}"


def generate(kind: str) -> NewCredential:
    """A fresh key and secret; the secret is shown once to the admin and never stored."""
    key = KEY_PREFIXES[kind] + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewCredential(key=key, secret=secret, secret_hash=hash_secret(secret))


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def parse_authorization(header: str | None) -> Presented | None:
    """Read `Basic base64(key:secret)` or `Bearer key.secret`; None when absent or malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        key, sep, secret = decoded.partition(":")
        if not sep or not key or not secret:
            return None
        return Presented(key, secret, "basic")
    if scheme == "bearer":
        key, sep, secret = value.partition(".")
        if not sep or not key or not secret:
            return None
        return Presented(key, secret, "bearer")
    return None
