"""Links a delivery carries besides the score: the learner's badge and readiness page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def links_for(settings: Any) -> Callable[[Any, int, str], tuple[str | None, str | None]]:
    """(conn, learner_id, role) -> (badge assertion URL, signed learner page URL)."""

    def links(conn: Any, learner_id: int, role: str) -> tuple[str | None, str | None]:
        return None, None

    return links
