"""What every delivery target offers the dispatcher, and how a target says a delivery failed.

A target is built from its configuration (lrs_connector.lms.config) and knows one LMS: how to
find a learner's user there, how to write one readiness change, and how to check its own set-up.
It keeps no state in the database; the dispatcher caches resolved users and records outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

#: Seconds a target waits for an LMS answer before treating the call as failed (retried).
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class LearnerRef:
    """A learner as targets see it: the id plus the alias keys statements named them by.

    Alias keys are `account:<homePage>|<name>`, `mbox:<address>`, `mbox_sha1sum:<hex>`,
    `openid:<url>` (lrs_connector.learners).
    """

    learner_id: int
    name: str | None
    aliases: tuple[str, ...]

    @property
    def emails(self) -> list[str]:
        return [key[5:] for key in self.aliases if key.startswith("mbox:")]

    def accounts(self, home_page: str) -> list[str]:
        """Account names this learner has on the site at `home_page` (trailing / ignored)."""
        prefix = f"account:{home_page.rstrip('/')}|"
        return [key[len(prefix):] for key in self.aliases if key.startswith(prefix)]


@dataclass(frozen=True)
class Change:
    """The newest readiness of one learner for one role: what a target writes."""

    delivery_id: int
    learner_id: int
    role: str  # role IRI
    role_code: str  # e.g. "director"; targets configure fields per role code
    score: float  # 0-100, one decimal
    level: str
    previous_score: float | None
    previous_level: str | None
    computed_at: datetime
    badge_url: str | None = None  # the learner's current badge assertion for this role
    role_name: str = ""  # e.g. "Director of learning and development", for labels
    page_url: str | None = None  # a signed link to the learner's readiness page

    def as_dict(self) -> dict[str, Any]:
        return {
            "learner_id": self.learner_id,
            "role": self.role,
            "role_code": self.role_code,
            "role_name": self.role_name,
            "score": self.score,
            "level": self.level,
            "previous_score": self.previous_score,
            "previous_level": self.previous_level,
            "computed_at": self.computed_at.isoformat(),
            "badge_url": self.badge_url,
            "page_url": self.page_url,
        }


@dataclass(frozen=True)
class Finding:
    """One line of `lrs-connector lms check`: what was checked, whether it is fine, what to do."""

    check: str
    ok: bool
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "message": self.message, "fix": self.fix}


class DeliveryError(Exception):
    """A delivery that did not happen; `message` is shown to admins (never a secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Retry(DeliveryError):
    """Worth trying again later (timeouts, 5xx, throttling); `after` honours Retry-After."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class GiveUp(DeliveryError):
    """Trying again cannot help until an admin fixes something: dead-letter at once."""


class Unresolved(DeliveryError):
    """The learner has no user at this target (yet); listed for admins, retried after a link."""


class Target(Protocol):
    """One configured LMS target (see lrs_connector.lms.config for how one is built)."""

    name: str  # the admin's name for it, from the configuration
    kind: str  # "moodle", "lti", "canvas", "webhook"

    def resolve(self, learner: LearnerRef) -> str | None:
        """The learner's user id at this target, or None when there is none (unresolved).
        Raise Retry when the LMS could not be asked (down, throttled), GiveUp when it will not
        answer until an admin acts (bad credentials, missing permission)."""

    def deliver(self, user_id: str, change: Change) -> str:
        """Write one change for the user, idempotently; return a short outcome for admins
        ("updated", "unchanged", "already applied"). Raise Retry, GiveUp or Unresolved."""

    def check(self) -> list[Finding]:
        """Verify credentials, permissions and field set-up; never raises for LMS answers."""


def retry_after(headers: Any, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), None if absent."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class Secret:
    """A credential read from the configuration; its repr never shows the value."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "***"
