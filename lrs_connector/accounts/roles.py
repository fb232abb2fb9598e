"""Roles of people with an account, and what a username may look like.

`auditor` reads everything (statements, mappings, learners' readiness); `admin` also changes
things. The same ranking as API tokens (`web/access.py`), so admin ⊇ auditor everywhere.
"""

from __future__ import annotations

import re

ROLES = ("admin", "auditor")
_RANK = {"auditor": 1, "admin": 2}
# Lower-case letters, digits and . _ @ - : an e-mail address works; look-alikes and spaces don't.
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")


class RoleError(ValueError):
    """An unknown role or an unusable username."""


def check_role(role: str) -> str:
    if role not in _RANK:
        raise RoleError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def allows(has: str, needs: str) -> bool:
    """True when an account with role `has` may do what needs role `needs`."""
    return _RANK.get(has, 0) >= _RANK[check_role(needs)]


def normalise_username(name: str) -> str:
    """Usernames compare case-insensitively (one throttle counter per person)."""
    return name.strip().lower()


def check_username(name: str) -> str:
    """The normalised username, or RoleError saying what is wrong."""
    found = normalise_username(name)
    if not _USERNAME.fullmatch(found):
        raise RoleError(
            "username must be 1 to 100 characters: letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )
    return found
