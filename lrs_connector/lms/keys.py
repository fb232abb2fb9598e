"""The LTI tool's signing keys, without storage: make an RSA key, publish its public half as a
JWK, and sign the client assertion an LTI platform's token endpoint asks for.

LTI 1.3 service calls authenticate the tool with an RS256 JWT (OAuth 2 client credentials
with a `private_key_jwt` assertion); the platform verifies it against the tool's JWKS. The key
id is the key's RFC 7638 thumbprint, so it is stable, unique and needs no counter.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lrs_connector.lms.config import SigningKey

KEY_BITS = 2048
ALGORITHM = "RS256"
#: Lifetime of a client assertion: long enough for clock skew, short against replay.
ASSERTION_SECONDS = 300


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate(bits: int = KEY_BITS) -> SigningKey:
    """A new RSA key as PKCS#8 PEM, with its thumbprint as the key id."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(thumbprint(_public_numbers_jwk(pem)), pem)


def _public_numbers_jwk(private_pem: bytes) -> dict[str, str]:
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the signing key is not an RSA key")
    numbers = key.public_key().public_numbers()
    return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an RSA JWK (its required members, sorted, no spaces)."""
    canonical = orjson.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]},
                             option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def public_jwk(key: SigningKey) -> dict[str, str]:
    """The public half as published in the JWKS: what a platform needs to verify, no more."""
    return {**_public_numbers_jwk(key.private_pem), "kid": key.kid, "alg": ALGORITHM,
            "use": "sig"}


def key_set(jwks: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A JWKS document (RFC 7517) from public JWKs."""
    return {"keys": list(jwks)}


def client_assertion(
    key: SigningKey,
    client_id: str,
    audience: str,
    now: float | None = None,
    lifetime: int = ASSERTION_SECONDS,
) -> str:
    """The RS256 JWT a tool presents to a token endpoint: iss = sub = client id, aud = the
    token URL (or the audience the platform names), a fresh jti, `kid` in the header."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_pem, algorithm=ALGORITHM,
                      headers={"kid": key.kid, "typ": "JWT"})
