"""Readiness badges as Open Badges 2.0 hosted badges (pure: no Flask, no SQL).

A learner whose readiness level for a role reaches a level named in ``badges_levels`` holds a
badge for that role and level; when the level falls below it, the badge is revoked. The
decision is made here, as plain data (``entitlement``, ``plan``); storage
(lrs_connector.store.badges) applies it, documents.py writes the JSON-LD, images.py draws
the images and baking.py puts the assertion into them. docs/badges.md tells the whole story.

Privacy: public URLs and documents carry no learner id, name or email. Assertions are named
by a random UUID and their recipient is a salted SHA-256 hash of the email address.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: Longest revocation reason kept (it is public, in the revocation list).
MAX_REASON = 500
#: Assertion ids are random UUIDs (version 4), lowercase, as served in URLs.
ASSERTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: Badge class ids are short slugs.
CLASS_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")

REASON_READINESS = "Readiness for this role fell below the level of this badge."
REASON_NOT_AWARDED = "This level no longer earns a badge."


class BadgeConfigError(ValueError):
    """Badge settings that cannot be used; ``field`` names the setting."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field


@dataclass(frozen=True)
class BadgeUrls:
    """The public URLs, all under ``<public_base_url>/badges/`` (one origin, as hosted
    verification requires: a verifier accepts assertions only from the issuer's origin)."""

    base: str

    @property
    def root(self) -> str:
        return self.base.rstrip("/") + "/badges"

    @property
    def issuer(self) -> str:
        return f"{self.root}/issuer"

    @property
    def revocations(self) -> str:
        return f"{self.root}/issuer/revocations"

    def badge_class(self, class_id: str) -> str:
        return f"{self.root}/classes/{class_id}"

    def class_image(self, class_id: str, kind: str = "png") -> str:
        return f"{self.root}/classes/{class_id}/image.{kind}"

    def assertion(self, assertion_id: str) -> str:
        return f"{self.root}/assertions/{assertion_id}"

    def assertion_image(self, assertion_id: str, kind: str = "png") -> str:
        return f"{self.root}/assertions/{assertion_id}/image.{kind}"


@dataclass(frozen=True)
class BadgeConfig:
    """What the ``badges_*`` settings (and the readiness levels) say.

    ``levels`` are the readiness levels, lowest first, as (name, lowest score);
    ``badge_levels`` the names of those that earn a badge.
    """

    issuer_name: str
    issuer_url: str
    issuer_email: str
    issuer_description: str
    public_base_url: str
    levels: tuple[tuple[str, float], ...]
    badge_levels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.issuer_email:
            return  # badges are off: renamed readiness levels need no badge settings
        known = {name for name, _ in self.levels}
        for name in self.badge_levels:
            if name not in known:
                raise BadgeConfigError(
                    f"{name!r} is not a readiness level (levels: "
                    f"{', '.join(n for n, _ in self.levels)})",
                    "badges_levels",
                )
        if self.issuer_email and not _EMAIL.match(self.issuer_email):
            raise BadgeConfigError(
                f"expected an email address, got {self.issuer_email!r}", "badges_issuer_email"
            )
        for field, url in (("badges_issuer_url", self.issuer_url),
                           ("public_base_url", self.public_base_url)):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise BadgeConfigError(f"expected an http(s) URL, got {url!r}", field)
        if not self.issuer_name.strip() or len(self.issuer_name) > 200:
            raise BadgeConfigError("must be 1 to 200 characters", "badges_issuer_name")

    @property
    def enabled(self) -> bool:
        """Badges are issued and served once an issuer contact address and a level are set."""
        return bool(self.issuer_email and self.badge_levels)

    @property
    def urls(self) -> BadgeUrls:
        return BadgeUrls(self.public_base_url)

    def threshold(self, level: str) -> float | None:
        for name, bound in self.levels:
            if name == level:
                return bound
        return None


def config_from_settings(settings: Any) -> BadgeConfig:
    """The badge configuration of a Settings object (BadgeConfigError names the setting)."""
    from lrs_connector.readiness.model import ModelError, from_settings

    try:
        levels = from_settings(settings).levels
    except ModelError as exc:
        raise BadgeConfigError(exc.message, exc.field or "readiness_levels") from None
    return BadgeConfig(
        issuer_name=settings.badges_issuer_name.strip(),
        issuer_url=settings.badges_issuer_url.strip() or settings.public_base_url,
        issuer_email=settings.badges_issuer_email.strip(),
        issuer_description=settings.badges_issuer_description.strip(),
        public_base_url=settings.public_base_url,
        levels=levels,
        badge_levels=tuple(dict.fromkeys(settings.badges_levels)),
    )


# --- recipients ------------------------------------------------------------------------------


def new_salt() -> str:
    """A fresh random salt for one assertion (so one person's assertions cannot be linked)."""
    return secrets.token_hex(16)


def hash_email(email: str, salt: str) -> str:
    """The OB 2.0 hashed identity: ``sha256$`` + hex(sha256(email + salt))."""
    return "sha256$" + hashlib.sha256((email + salt).encode()).hexdigest()


def email_from_alias(alias: str) -> str | None:
    """The address of an ``mbox:<address>`` alias key (aliases keep it lowercased); None for
    other kinds and for over-long addresses stored as a hash of themselves."""
    if not alias.startswith("mbox:") or alias.startswith("mbox:sha256:"):
        return None
    address = alias[5:]
    return address if _EMAIL.match(address) else None


# --- who holds what --------------------------------------------------------------------------


def entitlement(config: BadgeConfig, level: str) -> frozenset[str] | None:
    """The badge levels a learner at ``level`` holds: every badge level at or below it (a
    learner who reaches "ready" keeps "developing"). None when ``level`` is not a configured
    level (levels renamed without `readiness recompute`): nothing should change then."""
    reached = config.threshold(level)
    if reached is None:
        return None
    return frozenset(
        name for name in config.badge_levels if (config.threshold(name) or 0.0) <= reached
    )


@dataclass(frozen=True, slots=True)
class Held:
    """A valid assertion of one learner."""

    assertion_id: str
    role: str
    level: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What one sync should do for one learner: award (role, level) pairs, revoke
    assertions (id, reason), and pairs that wait for an email address."""

    award: tuple[tuple[str, str], ...]
    revoke: tuple[tuple[str, str], ...]
    pending: tuple[tuple[str, str], ...]


def plan(
    config: BadgeConfig,
    levels: Mapping[str, str],
    held: Iterable[Held],
    blocked: Iterable[tuple[str, str]],
    has_email: bool,
    known_roles: Iterable[str],
) -> Plan:
    """One learner's changes.

    ``levels``: role → current readiness level; ``held``: valid assertions; ``blocked``:
    (role, level) pairs an admin revoked (not awarded again); ``known_roles``: roles of the
    framework in force (no badge for a role it no longer has). A role whose level is not a
    configured level is left alone.
    """
    roles = set(known_roles)
    blocked_pairs = set(blocked)
    by_pair: dict[tuple[str, str], str] = {}
    revoke: list[tuple[str, str]] = []
    for item in held:
        pair = (item.role, item.level)
        if pair in by_pair:  # two valid assertions for one badge (should not happen): keep one
            revoke.append((item.assertion_id, REASON_NOT_AWARDED))
            continue
        by_pair[pair] = item.assertion_id
    award: list[tuple[str, str]] = []
    pending: list[tuple[str, str]] = []
    for role in sorted(set(levels) | {r for r, _ in by_pair}):
        level = levels.get(role)
        entitled = entitlement(config, level) if level is not None else frozenset()
        if entitled is None:
            continue
        if role not in roles:
            entitled = frozenset()
        for (held_role, held_level), assertion_id in sorted(by_pair.items()):
            if held_role != role or held_level in entitled:
                continue
            reason = REASON_READINESS if held_level in config.badge_levels else REASON_NOT_AWARDED
            revoke.append((assertion_id, reason))
        for name in sorted(entitled, key=lambda n: config.threshold(n) or 0.0):
            if (role, name) in by_pair or (role, name) in blocked_pairs:
                continue
            (award if has_email else pending).append((role, name))
    return Plan(tuple(award), tuple(revoke), tuple(pending))


def clean_reason(text: str) -> str:
    """A revocation reason as published: one line, bounded."""
    line = " ".join(text.split())
    if not line:
        raise ValueError("a revocation reason is required")
    return line[:MAX_REASON]


def slug(text: str) -> str:
    """Lowercase letters, digits and single dashes (for readable badge class ids)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50] or "x"


def class_id_for(role_code: str, level: str, role_iri: str, taken: bool) -> str:
    """A badge class id: ``<role code>-<level>``, or with a short hash of the role IRI and
    level when that readable id is already taken by another role and level."""
    readable = f"{slug(role_code)}-{slug(level)}"
    if not taken:
        return readable
    digest = hashlib.sha256(f"{role_iri}\n{level}".encode()).hexdigest()[:10]
    return f"{readable}-{digest}"
