"""Signed, expiring links to a learner's readiness page.

The LMS places the link in the learner's profile; whoever holds it sees that one learner's
page until it expires, so it is issued per learner and for a bounded time. The token carries
the learner id and the expiry, signed with the installation's secret key (itsdangerous,
HMAC-SHA1 over a key derived per purpose): changing a byte or the expiry breaks the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "lrs-connector.learner-page.v1"
DEFAULT_DAYS = 90
MAX_DAYS = 400
MAX_TOKEN_LENGTH = 200


class LinkError(ValueError):
    """A link that is malformed, tampered with or expired (`reason` says which)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "invalid" | "expired"


@dataclass(frozen=True, slots=True)
class LearnerLink:
    learner_id: int
    expires_at: datetime


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def issue(secret: str, learner_id: int, now: datetime, days: int = DEFAULT_DAYS) -> str:
    """A token for `learner_id` valid for `days` days from `now`."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a link is valid for 1 to {MAX_DAYS} days, not {days}")
    if learner_id < 1:
        raise ValueError("learner id must be a positive integer")
    expires = int((now + timedelta(days=days)).timestamp())
    return _serializer(secret).dumps([learner_id, expires])


def read(secret: str, token: str, now: datetime) -> LearnerLink:
    """The learner and expiry of a valid, unexpired token; LinkError otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("invalid", "this link is not valid")
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        raise LinkError(
            "invalid", "this link is not valid: it was changed or cut short"
        ) from None
    if (
        not isinstance(payload, list) or len(payload) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in payload)
        or payload[0] < 1
    ):
        raise LinkError("invalid", "this link is not valid")
    try:
        expires = datetime.fromtimestamp(payload[1], UTC)
    except (OverflowError, OSError, ValueError):
        raise LinkError("invalid", "this link is not valid") from None
    if expires <= now:
        raise LinkError("expired", f"this link expired on {expires:%Y-%m-%d}")
    return LearnerLink(payload[0], expires)


def url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/learner/{token}"
