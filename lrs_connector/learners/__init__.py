"""Learners and their identities: the actor of a statement, reduced to alias keys (pure).

Evidence belongs to a learner, not to an actor: the same person reaches the connector as an
LMS account, an email address (`mbox`), its hash (`mbox_sha1sum`) or an OpenID. Each inverse
functional identifier becomes one *alias key*; an `mbox` also yields the `mbox_sha1sum` key
computed from it, so a statement sent with the address and one sent with its hash meet on the
same learner.

Groups are handled deliberately (docs/mapping.md, "Who gets the evidence"):

* an **anonymous group** (no identifier, a list of members) is people acting together, e.g. a
  team presenting a business case: each identified member gets the evidence;
* an **identified group** (a team, a cohort, with its own identifier) is not a person: its
  statements give no learner evidence, even when some members are listed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

#: Alias keys longer than this are stored as a hash of themselves (indexes have limits).
MAX_ALIAS_LENGTH = 400
ALIAS_KINDS = ("account", "mbox", "mbox_sha1sum", "openid")
#: A group lists at most this many members worth resolving (a bound on untrusted input).
MAX_GROUP_MEMBERS = 50


@dataclass(frozen=True, slots=True)
class Identity:
    """One person as a statement names them: alias keys (most specific first) and a name."""

    keys: tuple[str, ...]
    name: str | None

    @property
    def primary(self) -> str:
        return self.keys[0]


def _bounded(key: str) -> str:
    if len(key) <= MAX_ALIAS_LENGTH:
        return key
    kind = key.split(":", 1)[0]
    return f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def mbox_sha1(address: str) -> str:
    """The xAPI `mbox_sha1sum` of an address (given with or without `mailto:`)."""
    address = address.strip()
    if address.lower().startswith("mailto:"):
        address = address[7:]
    return hashlib.sha1(f"mailto:{address.lower()}".encode()).hexdigest()


def agent_keys(agent: Any) -> tuple[str, ...]:
    """Alias keys of an Agent (or of a Group's own identifier); empty if it has none.

    Email addresses are compared case-insensitively (lowercased, and hashed lowercased, so
    an LRS that hashed the lowercased address meets one that sent the address itself).
    """
    if type(agent) is not dict:
        return ()
    keys: list[str] = []
    account = agent.get("account")
    if type(account) is dict:
        home, name = account.get("homePage"), account.get("name")
        if isinstance(home, str) and isinstance(name, str) and home and name:
            keys.append(_bounded(f"account:{home.rstrip('/')}|{name}"))
    mbox = agent.get("mbox")
    if isinstance(mbox, str) and mbox.lower().startswith("mailto:") and len(mbox) > 7:
        address = mbox[7:].strip().lower()
        keys.append(_bounded(f"mbox:{address}"))
        keys.append(f"mbox_sha1sum:{mbox_sha1(address)}")
    sha1 = agent.get("mbox_sha1sum")
    if isinstance(sha1, str) and len(sha1) == 40:
        key = f"mbox_sha1sum:{sha1.lower()}"
        if key not in keys:
            keys.append(key)
    openid = agent.get("openid")
    if isinstance(openid, str) and openid:
        keys.append(_bounded(f"openid:{openid}"))
    return tuple(keys)


def identities(actor: Any) -> list[Identity]:
    """The learners a statement's actor stands for: one for an Agent, one per identified
    member of an anonymous Group, none for an identified Group (see the module docstring)."""
    if type(actor) is not dict:
        return []
    if actor.get("objectType") == "Group":
        if agent_keys(actor):
            return []
        members = actor.get("member")
        if type(members) is not list:
            return []
        out: list[Identity] = []
        seen: set[str] = set()
        for member in members[:MAX_GROUP_MEMBERS]:
            keys = agent_keys(member)
            if keys and keys[0] not in seen:
                seen.add(keys[0])
                out.append(Identity(keys, _name(member)))
        return out
    keys = agent_keys(actor)
    return [Identity(keys, _name(actor))] if keys else []


def _name(agent: dict) -> str | None:
    name = agent.get("name")
    return name[:200] if isinstance(name, str) and name else None


def alias_kind(key: str) -> str:
    return key.split(":", 1)[0]


def parse_alias(text: str) -> str:
    """An alias key typed by an admin: `mbox:ada@example.org`, `mailto:ada@…`,
    `account:https://lms.example.org|ada`, `mbox_sha1sum:…`, `openid:…` (ValueError if not)."""
    text = text.strip()
    if text.lower().startswith("mailto:"):
        return f"mbox:{text[7:].lower()}"
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ALIAS_KINDS or not rest:
        raise ValueError(
            f"{text!r} is not an alias; expected one of " + ", ".join(f"{k}:…" for k in ALIAS_KINDS)
        )
    if kind == "mbox":
        return f"mbox:{rest.lower()}"
    if kind == "mbox_sha1sum":
        return f"mbox_sha1sum:{rest.lower()}"
    if kind == "account":
        home, bar, name = rest.partition("|")
        if not bar or not home or not name:
            raise ValueError(f"{text!r}: an account alias is account:HOMEPAGE|NAME")
        return _bounded(f"account:{home.rstrip('/')}|{name}")
    return _bounded(text)


def companions(key: str) -> list[str]:
    """Keys that travel with `key` when aliases are moved: an mbox and its sha1 hash."""
    if key.startswith("mbox:"):
        return [key, f"mbox_sha1sum:{mbox_sha1(key[5:])}"]
    return [key]
