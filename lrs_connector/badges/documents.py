"""The Open Badges 2.0 documents: Issuer profile, BadgeClass, Assertion, RevocationList.

Plain dicts ready for JSON, in the compact form of the OB 2.0 context
(``https://w3id.org/openbadges/v2``), which is named, never fetched: the connector needs no
JSON-LD processing to write these documents. Verification is hosted: each document lives at
its ``id`` under the issuer's origin (``BadgeUrls``).

Nothing here names a learner: an assertion's recipient is a salted hash, its evidence a
narrative about the role and level only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lrs_connector.badges import BadgeConfig

CONTEXT = "https://w3id.org/openbadges/v2"
#: Media type of every document (JSON-LD; verifiers also accept application/json).
MEDIA_TYPE = "application/ld+json"


@dataclass(frozen=True, slots=True)
class BadgeClassRecord:
    """A stored badge class: one role and level, its texts fixed when it was first needed so
    that issued badges keep meaning what they meant."""

    id: str
    role: str
    level: str
    role_name: str
    name: str
    description: str
    criteria: str
    alignment: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class AssertionRecord:
    """A stored award (the recipient only as hash and salt)."""

    id: str
    class_id: str
    recipient: str
    salt: str
    issued_on: datetime
    narrative: str
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def iso(moment: datetime) -> str:
    """An OB 2.0 DateTime: UTC to the second, with ``Z``."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def issuer(config: BadgeConfig) -> dict[str, Any]:
    """The Issuer profile; it names its revocation list."""
    urls = config.urls
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "Issuer",
        "id": urls.issuer,
        "name": config.issuer_name,
        "url": config.issuer_url,
        "email": config.issuer_email,
    }
    if config.issuer_description:
        document["description"] = config.issuer_description
    document["revocationList"] = urls.revocations
    return document


def badge_class(config: BadgeConfig, record: BadgeClassRecord) -> dict[str, Any]:
    urls = config.urls
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge_class(record.id),
        "name": record.name,
        "description": record.description,
        "image": urls.class_image(record.id, "png"),
        "criteria": {"narrative": record.criteria},
        "issuer": urls.issuer,
        "tags": ["readiness", record.level],
    }
    if record.alignment:
        document["alignment"] = [dict(a) for a in record.alignment]
    return document


def assertion(config: BadgeConfig, record: AssertionRecord) -> dict[str, Any]:
    """A valid assertion, or the stripped-down revoked one (OB 2.0: when ``revoked`` is true,
    only ``id`` and ``revoked`` are required; the reason says why)."""
    urls = config.urls
    if record.revoked:
        document: dict[str, Any] = {
            "@context": CONTEXT,
            "type": "Assertion",
            "id": urls.assertion(record.id),
            "revoked": True,
        }
        if record.revocation_reason:
            document["revocationReason"] = record.revocation_reason
        return document
    document = {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(record.id),
        "recipient": {
            "type": "email",
            "hashed": True,
            "salt": record.salt,
            "identity": record.recipient,
        },
        "badge": urls.badge_class(record.class_id),
        "verification": {"type": "HostedBadge"},
        "issuedOn": iso(record.issued_on),
        "image": urls.assertion_image(record.id, "png"),
        "evidence": {"narrative": record.narrative},
    }
    return document


def revocation_list(config: BadgeConfig, revoked: list[tuple[str, str | None]]) -> dict[str, Any]:
    """The issuer's RevocationList: ``revoked`` is (assertion id, reason) pairs."""
    urls = config.urls
    entries = []
    for assertion_id, reason in revoked:
        entry = {"id": urls.assertion(assertion_id)}
        if reason:
            entry["revocationReason"] = reason
        entries.append(entry)
    return {
        "@context": CONTEXT,
        "type": "RevocationList",
        "id": urls.revocations,
        "issuer": urls.issuer,
        "revokedAssertions": entries,
    }


# --- the texts of a badge class --------------------------------------------------------------


def _score(bound: float) -> str:
    return f"{bound:g}"


def class_texts(
    config: BadgeConfig,
    *,
    role_name: str,
    role_description: str,
    level: str,
    requirements: list[tuple[str, float, float]],
    scale_top: float,
) -> tuple[str, str, str]:
    """(name, description, criteria narrative) of the badge for ``role_name`` at ``level``;
    ``requirements`` are (target name, proficiency required, weight) of the role."""
    bound = config.threshold(level) or 0.0
    name = f"{role_name} — {level}"
    description = (
        f"Readiness for the role {role_name} at the level \u201c{level}\u201d: a readiness score "
        f"of at least {_score(bound)} out of 100, computed by {config.issuer_name} from the "
        "evidence in the holder's xAPI learning records."
    )
    if role_description:
        description += f" The role: {role_description.strip()}"
    lines = [
        f"Awarded while the holder's readiness score for **{role_name}** is at least "
        f"{_score(bound)} out of 100 (level \u201c{level}\u201d). The score weighs how far the "
        f"holder's proficiency (0 to {_score(scale_top)}) meets each requirement of the role, "
        "from evidence in their learning records that counts less as it ages. The badge is "
        "revoked when the score falls below the level.",
        "",
        "Requirements of the role (proficiency required, weight):",
        "",
    ]
    lines += [f"- {target}: {_score(need)} (weight {_score(weight)})"
              for target, need, weight in requirements]
    return name, description, "\n".join(lines)


def evidence_narrative(config: BadgeConfig, role_name: str, level: str, when: datetime) -> str:
    """The evidence of one award: role, level, date and how it was scored; no personal data."""
    bound = config.threshold(level) or 0.0
    return (
        f"On {when.astimezone(UTC).date().isoformat()} the holder's readiness for the role "
        f"{role_name} reached the level \u201c{level}\u201d (a score of at least "
        f"{_score(bound)} out of 100), as scored by {config.issuer_name} from the evidence in "
        "their xAPI learning records."
    )
