"""Links a delivery carries besides the score: the learner's badge and readiness page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lrs_connector import learner_links
from lrs_connector.secret_key import secret_key
from lrs_connector.store import badges


def links_for(settings: Any) -> Callable[[Any, int, str], tuple[str | None, str | None]]:
    """(conn, learner_id, role) -> (badge assertion URL, signed learner page URL).

    The badge is the learner's current assertion for the role (the highest level held), as
    the badge handler left it in the same transaction that wrote the readiness change.

    The page link is issued from the start of the current day (UTC), so re-delivering the
    same change within a day carries the same link and read-compare-write targets see no
    change; a link is valid for learner_links.DEFAULT_DAYS from then.
    """
    secret = secret_key(settings)

    def links(conn: Any, learner_id: int, role: str) -> tuple[str | None, str | None]:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        token = learner_links.issue(secret, learner_id, today)
        badge = badges.current_badge(conn, learner_id, role)
        return (badge.assertion_url if badge else None,
                learner_links.url(settings.public_base_url, token))

    return links
