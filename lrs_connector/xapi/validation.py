"""Hand-written xAPI statement validator for xAPI 1.0.3 and xAPI 2.0.0 (IEEE 9274.1.1).

Why hand-written: the intake path must sustain >= 15,000 statements/s including parsing and
database writes, so a typical statement may cost only ~10-20 us to validate.  Schema libraries
(jsonschema, marshmallow) cost around a millisecond.  Everything here is therefore built from
module-level precompiled regexes, frozensets of allowed keys per object kind, a dispatch on
``objectType`` and small bounded caches of already-accepted IRIs and language tags.

``validate_statement`` returns *all* problems found (never raises for any JSON-decoded input);
an empty list means the statement is acceptable.  Each :class:`Problem` carries the property path
("actor.mbox", "context.contextActivities.parent[0].id", "" for the root) and a human rule.

What is enforced (both versions unless noted):

* property names are case-sensitive and unknown properties are rejected in every object;
  ``null`` is rejected everywhere except as an extension value;
* statement ``id``/``registration``/StatementRef ids are UUIDs in the standard 8-4-4-4-12 hex
  form (any variant/version: the spec only *recommends* RFC 4122 variant 2, the conformance
  suite only rejects wrong length and non-hex characters);
* Agents need exactly one inverse functional identifier (IFI); Groups at most one, anonymous
  Groups need a non-empty ``member`` list; members are Agents only; ``mbox`` is a
  ``mailto:`` IRI with an ``@``; ``mbox_sha1sum`` is 40 hex digits; ``openid`` is an absolute URI;
  ``account`` has ``homePage`` (IRL) and ``name`` (string);
* IRIs/IRLs: absolute (RFC 3986 scheme), no whitespace, control characters, surrogates or the
  characters ``<>"{}|\\^``` and only well-formed ``%XX`` escapes; non-ASCII is allowed;
* language-map keys and ``context.language`` are well-formed RFC 5646 tags (including the
  grandfathered irregular tags, no duplicate variants, no duplicate extension singletons);
* Activity definitions: interaction components only with ``interactionType`` and only the
  component lists that belong to that type; component ids unique within a list;
* Result score: numbers (not booleans), finite, ``-1 <= scaled <= 1``, ``min < max``,
  ``min <= raw <= max``; ``duration`` is ISO 8601:2004 4.4.3.2 (fraction only on the last
  component, ``PnW`` alone);
* Context ``revision``/``platform`` only when the object is an Activity; ``team`` is a Group;
  ``contextActivities`` values are an Activity or an array of Activities;
* ``authority`` is an Agent or an anonymous Group of exactly two Agents (the OAuth pair);
* a statement whose verb is ``http://adlnet.gov/expapi/verbs/voided`` must have a StatementRef
  object; SubStatements must not carry ``id``, ``stored``, ``version`` or ``authority`` and must
  not contain another SubStatement;
* attachments: ``usageType`` IRI, ``display`` language map, ``description`` language map,
  ``contentType`` media type, ``length`` non-negative integer, ``sha2`` hex SHA-2 digest
  (224/256/384/512 bits), ``fileUrl`` IRL.

Differences between the 1.0.3 and 2.0.0 rule sets implemented here:

1. ``context.contextAgents`` / ``context.contextGroups`` exist only in 2.0.0 (rejected as
   unknown properties under 1.0.3).  Each entry needs ``objectType`` "contextAgent" /
   "contextGroup", an ``agent`` (Agent) / ``group`` (Group) and optional non-empty
   ``relevantTypes`` array of IRIs.
2. Timestamps (``timestamp``, ``stored``): 1.0.3 requires ISO 8601 combined date and time
   (extended or basic format, timezone optional, reduced precision allowed); 2.0.0 requires the
   RFC 3339 profile: seconds present, ``.`` fraction, and a mandatory ``Z`` or ``+hh:mm`` offset.
   Both reject the "unknown offset" forms ``-00``, ``-0000`` and ``-00:00`` (conformance suite).
3. ``version`` property: 1.0.3 accepts "1.0" and "1.0.x"; 2.0.0 additionally accepts "2.0" and
   "2.0.x" (an LRS must keep the version a statement was accepted with).
4. Unknown properties are a SHOULD* reject in 1.0.3 and a SHALL reject in 2.0.0; rejected in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "SUPPORTED_VERSIONS",
    "Problem",
    "is_iri",
    "is_language_tag",
    "is_timestamp",
    "is_uuid",
    "spec_version",
    "validate_statement",
]

SUPPORTED_VERSIONS: tuple[str, ...] = ("1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0")

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a statement is invalid: where (``path``) and what is wrong (``rule``)."""

    path: str
    rule: str

    def as_dict(self) -> dict:
        """JSON-ready form for error responses."""
        return {"path": self.path, "rule": self.rule}


# --------------------------------------------------------------------------------------------
# Version header
# --------------------------------------------------------------------------------------------

_HDR_V1 = re.compile(r"1\.0(?:\.\d+)?", re.ASCII)
_HDR_V2 = re.compile(r"2\.0(?:\.\d+)?", re.ASCII)


def spec_version(header_value: str | None) -> str | None:
    """Map an X-Experience-API-Version header to the rule set to apply, None if unsupported.

    1.0.3 Communication 3.3: "1.0" counts as "1.0.0" and any "1.0.x" must be accepted, all with
    the 1.0.0 data model (we apply the 1.0.3 text).  "2.0" / "2.0.x" select the 2.0.0 rules.
    """
    if type(header_value) is not str:
        return None
    value = header_value.strip()
    if _HDR_V1.fullmatch(value):
        return "1.0.3"
    if _HDR_V2.fullmatch(value):
        return "2.0.0"
    return None


# --------------------------------------------------------------------------------------------
# Scalar formats
# --------------------------------------------------------------------------------------------

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# Absolute IRI, best effort (1.0.3 Data 2.2.s4.b6 allows best-effort validation): an RFC 3986
# scheme, then at least one character; no whitespace/controls/surrogates/excluded ASCII, only
# well-formed percent escapes.  Non-ASCII (ucschar/iprivate) is allowed.
_IRI_RE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[^\x00-\x20\x7f-\x9f<>\"{}|\\^`%\ud800-\udfff\ufffe\uffff]"
    r"|%[0-9A-Fa-f]{2})+"
)
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[!#$&-;=?-\[\]_a-z~]|%[0-9A-Fa-f]{2})+")
_MBOX_RE = re.compile(
    r"mailto:[^\x00-\x20\x7f-\x9f<>\"{}|\\^`@\ud800-\udfff]+@"
    r"[^\x00-\x20\x7f-\x9f<>\"{}|\\^`@\ud800-\udfff]+"
)
_SHA1_RE = re.compile(r"[0-9a-fA-F]{40}")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_SHA2_LENGTHS = frozenset({56, 64, 96, 128})
_TOKEN = r"[A-Za-z0-9!#$&^_.+\-]+"
_MEDIA_TYPE_RE = re.compile(
    rf"{_TOKEN}/{_TOKEN}"
    rf"(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"(?:[^\"\\\r\n]|\\.)*\"))*[ \t]*;?[ \t]*"
)
_STMT_VERSION_V1 = re.compile(r"1\.0(?:\.\d+)?", re.ASCII)
_STMT_VERSION_V2 = re.compile(r"[12]\.0(?:\.\d+)?", re.ASCII)

# ISO 8601:2004(E) 4.4.3.2 duration; a decimal fraction is only allowed on the last component
# (checked separately), the week form stands alone.
_DURATION_RE = re.compile(
    r"P(?:\d+(?:[.,]\d+)?W|(?=\d|T\d)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?D)?"
    r"(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?)",
    re.ASCII,
)

# Timestamps.  Field ranges live in the regexes (month, day 01-31, hour 00-23, minute, second
# 00-60 for leap seconds, offset); day-of-month beyond 28 and "-00:00" are checked afterwards.
# Groups: 1 year, 2 month, 3 day, 4 offset sign, 5 offset hour, 6 offset minute.
_MO = r"(0[1-9]|1[0-2])"
_DD = r"(0[1-9]|[12]\d|3[01])"
_HH = r"(?:[01]\d|2[0-3])"
_MI = r"[0-5]\d"
_SS = r"(?:[0-5]\d|60)"
_OH = r"([01]\d|2[0-3])"
_TS_RFC3339 = re.compile(
    rf"(\d{{4}})-{_MO}-{_DD}[Tt]{_HH}:{_MI}:{_SS}(?:\.\d+)?(?:[Zz]|([+-]){_OH}:({_MI}))",
    re.ASCII,
)
_TS_ISO_EXT = re.compile(
    rf"(\d{{4}})-{_MO}-{_DD}[Tt]{_HH}:{_MI}(?::{_SS}(?:[.,]\d+)?)?"
    rf"(?:[Zz]|([+-]){_OH}(?::?({_MI}))?)?",
    re.ASCII,
)
_TS_ISO_BASIC = re.compile(
    rf"(\d{{4}}){_MO}{_DD}T{_HH}{_MI}(?:{_SS}(?:[.,]\d+)?)?(?:Z|([+-]){_OH}({_MI})?)?",
    re.ASCII,
)
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# RFC 5646 language tag (well-formedness), case-insensitive.
_LANGTAG_RE = re.compile(
    r"(?:"
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language [-extlang]
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"  # private use
    r"|x(?:-[a-z0-9]{1,8})+"  # private use tag
    r"|en-gb-oed|i-(?:ami|bnn|default|enochian|hak|klingon|lux|mingo|navajo|pwn|tao|tay|tsu)"
    r"|sgn-(?:be-fr|be-nl|ch-de)"  # irregular grandfathered tags
    r")",
    re.IGNORECASE | re.ASCII,
)

# Bounded caches of strings already proven valid; IRIs (verb ids, activity types, extension
# keys, homePages) and language tags repeat across statements, a set lookup beats a regex.
_CACHE_MAX = 8192
_IRI_OK: set[str] = set()
_LANG_OK: set[str] = set()


def is_uuid(value: object) -> bool:
    """True for a UUID in standard string form (8-4-4-4-12 hex digits, any case)."""
    return type(value) is str and _UUID_RE.fullmatch(value) is not None


def is_iri(value: object) -> bool:
    """True for an absolute IRI (best-effort check, non-ASCII allowed)."""
    if type(value) is not str:
        return False
    if value in _IRI_OK:
        return True
    if _IRI_RE.fullmatch(value) is None:
        return False
    if len(_IRI_OK) >= _CACHE_MAX:
        _IRI_OK.clear()
    _IRI_OK.add(value)
    return True


def _lang_subtags_ok(tag: str) -> bool:
    """Reject duplicate variants and duplicate extension singletons (RFC 5646 2.2.5/2.2.6)."""
    parts = tag.lower().split("-")
    if len(parts) < 3 or parts[0] in ("x", "i"):
        return True
    variants: set[str] = set()
    singletons: set[str] = set()
    in_ext = False
    for sub in parts[1:]:
        n = len(sub)
        if n == 1:
            if sub == "x":
                break
            if sub in singletons:
                return False
            singletons.add(sub)
            in_ext = True
        elif not in_ext and (n >= 5 or (n == 4 and sub[0].isdigit())):
            if sub in variants:
                return False
            variants.add(sub)
    return True


def is_language_tag(value: object) -> bool:
    """True for a well-formed RFC 5646 language tag."""
    if type(value) is not str:
        return False
    if value in _LANG_OK:
        return True
    if _LANGTAG_RE.fullmatch(value) is None or not _lang_subtags_ok(value):
        return False
    if len(_LANG_OK) >= _CACHE_MAX:
        _LANG_OK.clear()
    _LANG_OK.add(value)
    return True


def _timestamp_rule(value: object, v2: bool) -> str | None:
    """None when ``value`` is a valid timestamp for the version, else the rule broken."""
    if type(value) is not str:
        return _type_rule("a timestamp string", value)
    if v2:
        m = _TS_RFC3339.fullmatch(value)
        if m is None:
            return "must be an RFC 3339 date-time with seconds and a timezone offset (Z or +hh:mm)"
    else:
        m = _TS_ISO_EXT.fullmatch(value) or _TS_ISO_BASIC.fullmatch(value)
        if m is None:
            return "must be an ISO 8601 combined date and time"
    day = m.group(3)
    if day > "28":
        year, month = m.group(1, 2)
        mo = int(month)
        if int(day) > _DAYS_IN_MONTH[mo] or (mo == 2 and not _is_leap(int(year))):
            return "day out of range for the month"
    if m.group(4) == "-" and m.group(5) == "00" and m.group(6) in (None, "00"):
        return "a negative zero timezone offset (-00:00) is not allowed"
    return None


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_timestamp(value: object, version: str = "1.0.3") -> bool:
    """True when ``value`` is a valid xAPI timestamp under the given spec version."""
    return _timestamp_rule(value, version.startswith("2")) is None


def _duration_ok(value: str) -> bool:
    if _DURATION_RE.fullmatch(value) is None:
        return False
    if "." in value or "," in value:
        i = value.find(".")
        if i < 0:
            i = value.find(",")
        # the fraction must run up to the final designator: only the last component has one
        return value[i + 1 : -1].isdigit()
    return True


# --------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------

_STATEMENT_KEYS = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
_SUB_KEYS = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
_SUB_FORBIDDEN = frozenset({"id", "stored", "version", "authority"})
_AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
_GROUP_KEYS = _AGENT_KEYS | {"member"}
_IFI_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")
_ACCOUNT_KEYS = frozenset({"homePage", "name"})
_VERB_KEYS = frozenset({"id", "display"})
_ACTIVITY_KEYS = frozenset({"objectType", "id", "definition"})
_STMTREF_KEYS = frozenset({"objectType", "id"})
_DEFINITION_KEYS = frozenset(
    {
        "name",
        "description",
        "type",
        "moreInfo",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
        "extensions",
    }
)
_COMPONENT_KEYS = frozenset({"id", "description"})
_COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
_COMPONENT_SET = frozenset(_COMPONENT_LISTS)
_INTERACTION_COMPONENTS: dict[str, frozenset[str]] = {
    "true-false": frozenset(),
    "choice": frozenset({"choices"}),
    "fill-in": frozenset(),
    "long-fill-in": frozenset(),
    "matching": frozenset({"source", "target"}),
    "performance": frozenset({"steps"}),
    "sequencing": frozenset({"choices"}),
    "likert": frozenset({"scale"}),
    "numeric": frozenset(),
    "other": frozenset(),
}
_RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
_SCORE_KEYS = frozenset({"scaled", "raw", "min", "max"})
_CONTEXT_KEYS_V1 = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    }
)
_CONTEXT_KEYS_V2 = _CONTEXT_KEYS_V1 | {"contextAgents", "contextGroups"}
_V2_ONLY_CONTEXT = frozenset({"contextAgents", "contextGroups"})
_CONTEXT_ACTIVITY_KEYS = frozenset({"parent", "grouping", "category", "other"})
_CONTEXT_AGENT_KEYS = frozenset({"objectType", "agent", "relevantTypes"})
_CONTEXT_GROUP_KEYS = frozenset({"objectType", "group", "relevantTypes"})
_ATTACHMENT_KEYS = frozenset(
    {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
)

_MISSING = object()

_JSON_TYPE_NAMES = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _type_rule(expected: str, value: object) -> str:
    got = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
    return f"must be {expected}, got {got}"


def _j(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _unknown(obj: dict, allowed: frozenset, p: str, out: list[Problem]) -> None:
    """Report every key of ``obj`` outside ``allowed`` (slow path, only on failure)."""
    for k in obj:
        if k not in allowed:
            out.append(Problem(_j(p, k), "unknown property"))


# ---- helpers for leaf properties ---------------------------------------------------------


def _iri(v: object, p: str, out: list[Problem], what: str = "an absolute IRI") -> None:
    if type(v) is not str:
        out.append(Problem(p, _type_rule(what, v)))
    elif v not in _IRI_OK and not is_iri(v):
        out.append(Problem(p, f"must be {what} (scheme, no spaces or invalid characters)"))


def _uuid(v: object, p: str, out: list[Problem]) -> None:
    if type(v) is not str:
        out.append(Problem(p, _type_rule("a UUID string", v)))
    elif _UUID_RE.fullmatch(v) is None:
        out.append(Problem(p, "must be a UUID in standard string form (8-4-4-4-12 hex digits)"))


def _string(v: object, p: str, out: list[Problem]) -> None:
    if type(v) is not str:
        out.append(Problem(p, _type_rule("a string", v)))


def _lang_map(m: object, p: str, out: list[Problem]) -> None:
    if type(m) is not dict:
        out.append(Problem(p, _type_rule("a language map object", m)))
        return
    for k, v in m.items():
        if k not in _LANG_OK and not is_language_tag(k):
            out.append(Problem(_j(p, k), "key must be an RFC 5646 language tag"))
        if type(v) is not str:
            out.append(Problem(_j(p, k), _type_rule("a string", v)))


def _extensions(m: object, p: str, out: list[Problem]) -> None:
    if type(m) is not dict:
        out.append(Problem(p, _type_rule("an object", m)))
        return
    for k in m:
        if k not in _IRI_OK and not is_iri(k):
            out.append(Problem(_j(p, k), "extension key must be an absolute IRI"))


# ---- actors ------------------------------------------------------------------------------


def _ifis(a: dict, p: str, out: list[Problem]) -> int:
    """Validate present IFIs and return how many there are."""
    n = 0
    v = a.get("mbox", _MISSING)
    if v is not _MISSING:
        n += 1
        if type(v) is not str:
            out.append(Problem(_j(p, "mbox"), _type_rule("a 'mailto:' IRI string", v)))
        elif _MBOX_RE.fullmatch(v) is None:
            out.append(Problem(_j(p, "mbox"), "must be a 'mailto:' IRI with an e-mail address"))
    v = a.get("mbox_sha1sum", _MISSING)
    if v is not _MISSING:
        n += 1
        if type(v) is not str or _SHA1_RE.fullmatch(v) is None:
            out.append(Problem(_j(p, "mbox_sha1sum"), "must be a SHA-1 hex digest (40 hex digits)"))
    v = a.get("openid", _MISSING)
    if v is not _MISSING:
        n += 1
        if type(v) is not str or _URI_RE.fullmatch(v) is None:
            out.append(Problem(_j(p, "openid"), "must be an absolute URI"))
    v = a.get("account", _MISSING)
    if v is not _MISSING:
        n += 1
        ap = _j(p, "account")
        if type(v) is not dict:
            out.append(Problem(ap, _type_rule("an account object", v)))
        else:
            if not v.keys() <= _ACCOUNT_KEYS:
                _unknown(v, _ACCOUNT_KEYS, ap, out)
            hp = v.get("homePage", _MISSING)
            if hp is _MISSING:
                out.append(Problem(_j(ap, "homePage"), "is required"))
            else:
                _iri(hp, _j(ap, "homePage"), out, "an IRL")
            name = v.get("name", _MISSING)
            if name is _MISSING:
                out.append(Problem(_j(ap, "name"), "is required"))
            else:
                _string(name, _j(ap, "name"), out)
    return n


def _ifi_list(a: dict) -> str:
    return ", ".join(k for k in _IFI_KEYS if k in a)


def _agent(a: dict, p: str, out: list[Problem]) -> None:
    """An Agent object whose objectType (if any) is already known to be "Agent"."""
    if not a.keys() <= _AGENT_KEYS:
        _unknown(a, _AGENT_KEYS, p, out)
    name = a.get("name", _MISSING)
    if name is not _MISSING and type(name) is not str:
        out.append(Problem(_j(p, "name"), _type_rule("a string", name)))
    n = _ifis(a, p, out)
    if n != 1:
        found = f", found {n} ({_ifi_list(a)})" if n else ", found none"
        out.append(
            Problem(p, f"exactly one of mbox, mbox_sha1sum, openid, account is required{found}")
        )


def _member_agent(m: object, p: str, out: list[Problem]) -> None:
    if type(m) is not dict:
        out.append(Problem(p, _type_rule("an Agent object", m)))
        return
    ot = m.get("objectType", "Agent")
    if ot != "Agent":
        out.append(Problem(_j(p, "objectType"), "a Group member must be an Agent ('Agent')"))
        return
    _agent(m, p, out)


def _group(g: dict, p: str, out: list[Problem]) -> int:
    """A Group object (objectType "Group").  Returns the number of members (-1 if invalid)."""
    if not g.keys() <= _GROUP_KEYS:
        _unknown(g, _GROUP_KEYS, p, out)
    name = g.get("name", _MISSING)
    if name is not _MISSING and type(name) is not str:
        out.append(Problem(_j(p, "name"), _type_rule("a string", name)))
    n = _ifis(g, p, out)
    if n > 1:
        out.append(
            Problem(
                p,
                "at most one of mbox, mbox_sha1sum, openid, account is allowed, "
                f"found {n} ({_ifi_list(g)})",
            )
        )
    members = g.get("member", _MISSING)
    mp = _j(p, "member")
    if members is _MISSING:
        if n == 0:
            out.append(Problem(mp, "is required for an anonymous Group (one without an IFI)"))
        return 0
    if type(members) is not list:
        out.append(Problem(mp, _type_rule("an array of Agents", members)))
        return -1
    if not members and n == 0:
        out.append(Problem(mp, "an anonymous Group needs at least one member"))
    for i, m in enumerate(members):
        _member_agent(m, f"{mp}[{i}]", out)
    return len(members)


def _actor(a: object, p: str, out: list[Problem], type_required: bool = False) -> None:
    """Agent or Group; objectType defaults to Agent unless ``type_required``."""
    if type(a) is not dict:
        out.append(Problem(p, _type_rule("an Agent or Group object", a)))
        return
    ot = a.get("objectType", _MISSING)
    if ot is _MISSING:
        if type_required:
            out.append(Problem(_j(p, "objectType"), "is required ('Agent' or 'Group')"))
        _agent(a, p, out)
    elif ot == "Agent":
        _agent(a, p, out)
    elif ot == "Group":
        _group(a, p, out)
    else:
        out.append(Problem(_j(p, "objectType"), "must be 'Agent' or 'Group'"))


def _team(g: object, p: str, out: list[Problem]) -> None:
    if type(g) is not dict:
        out.append(Problem(p, _type_rule("a Group object", g)))
    elif g.get("objectType") != "Group":
        out.append(Problem(_j(p, "objectType"), "must be 'Group'"))
    else:
        _group(g, p, out)


def _authority(a: object, p: str, out: list[Problem]) -> None:
    if type(a) is dict and a.get("objectType") == "Group":
        before = len(out)
        count = _group(a, p, out)
        if len(out) == before:
            if any(k in a for k in _IFI_KEYS):
                out.append(Problem(p, "an authority Group must be anonymous (no IFI)"))
            if count != 2:
                out.append(
                    Problem(
                        _j(p, "member"),
                        "an authority Group must have exactly two Agents (OAuth consumer and "
                        f"user), found {count}",
                    )
                )
        return
    _actor(a, p, out)


# ---- objects -----------------------------------------------------------------------------


def _components(lst: object, p: str, out: list[Problem]) -> None:
    if type(lst) is not list:
        out.append(Problem(p, _type_rule("an array of interaction components", lst)))
        return
    seen: set[str] = set()
    for i, c in enumerate(lst):
        cp = f"{p}[{i}]"
        if type(c) is not dict:
            out.append(Problem(cp, _type_rule("an interaction component object", c)))
            continue
        if not c.keys() <= _COMPONENT_KEYS:
            _unknown(c, _COMPONENT_KEYS, cp, out)
        cid = c.get("id", _MISSING)
        if cid is _MISSING:
            out.append(Problem(_j(cp, "id"), "is required"))
        elif type(cid) is not str:
            out.append(Problem(_j(cp, "id"), _type_rule("a string", cid)))
        elif cid in seen:
            out.append(Problem(_j(cp, "id"), "must be unique within the component list"))
        else:
            seen.add(cid)
        desc = c.get("description", _MISSING)
        if desc is not _MISSING:
            _lang_map(desc, _j(cp, "description"), out)


def _definition(d: object, p: str, out: list[Problem]) -> None:
    if type(d) is not dict:
        out.append(Problem(p, _type_rule("an Activity definition object", d)))
        return
    if not d.keys() <= _DEFINITION_KEYS:
        _unknown(d, _DEFINITION_KEYS, p, out)
    v = d.get("name", _MISSING)
    if v is not _MISSING:
        _lang_map(v, _j(p, "name"), out)
    v = d.get("description", _MISSING)
    if v is not _MISSING:
        _lang_map(v, _j(p, "description"), out)
    v = d.get("type", _MISSING)
    if v is not _MISSING:
        _iri(v, _j(p, "type"), out)
    v = d.get("moreInfo", _MISSING)
    if v is not _MISSING:
        _iri(v, _j(p, "moreInfo"), out, "an IRL")
    v = d.get("extensions", _MISSING)
    if v is not _MISSING:
        _extensions(v, _j(p, "extensions"), out)
    it = d.get("interactionType", _MISSING)
    allowed: frozenset[str] | None = None
    if it is not _MISSING:
        if type(it) is str:
            allowed = _INTERACTION_COMPONENTS.get(it)
        if allowed is None:
            out.append(
                Problem(
                    _j(p, "interactionType"),
                    "must be one of " + ", ".join(_INTERACTION_COMPONENTS),
                )
            )
    v = d.get("correctResponsesPattern", _MISSING)
    if v is not _MISSING:
        cp = _j(p, "correctResponsesPattern")
        if it is _MISSING:
            out.append(Problem(cp, "requires interactionType"))
        if type(v) is not list:
            out.append(Problem(cp, _type_rule("an array of strings", v)))
        else:
            for i, s in enumerate(v):
                if type(s) is not str:
                    out.append(Problem(f"{cp}[{i}]", _type_rule("a string", s)))
    if not _COMPONENT_SET.isdisjoint(d):  # components are rare: skip the loop when absent
        for comp in _COMPONENT_LISTS:
            v = d.get(comp, _MISSING)
            if v is _MISSING:
                continue
            cp = _j(p, comp)
            if it is _MISSING:
                out.append(Problem(cp, "requires interactionType"))
            elif allowed is not None and comp not in allowed:
                out.append(Problem(cp, f"not allowed with interactionType '{it}'"))
            _components(v, cp, out)


def _activity(a: dict, p: str, out: list[Problem]) -> None:
    if not a.keys() <= _ACTIVITY_KEYS:
        _unknown(a, _ACTIVITY_KEYS, p, out)
    aid = a.get("id", _MISSING)
    if aid is _MISSING:
        out.append(Problem(_j(p, "id"), "is required"))
    else:
        _iri(aid, _j(p, "id"), out)
    d = a.get("definition", _MISSING)
    if d is not _MISSING:
        _definition(d, _j(p, "definition"), out)


def _context_activity(a: object, p: str, out: list[Problem]) -> None:
    if type(a) is not dict:
        out.append(Problem(p, _type_rule("an Activity object", a)))
        return
    ot = a.get("objectType", "Activity")
    if ot != "Activity":
        out.append(Problem(_j(p, "objectType"), "must be 'Activity'"))
        return
    _activity(a, p, out)


def _statement_ref(r: object, p: str, out: list[Problem]) -> None:
    if type(r) is not dict:
        out.append(Problem(p, _type_rule("a StatementRef object", r)))
        return
    if not r.keys() <= _STMTREF_KEYS:
        _unknown(r, _STMTREF_KEYS, p, out)
    if r.get("objectType") != "StatementRef":
        out.append(Problem(_j(p, "objectType"), "must be 'StatementRef'"))
    rid = r.get("id", _MISSING)
    if rid is _MISSING:
        out.append(Problem(_j(p, "id"), "is required"))
    else:
        _uuid(rid, _j(p, "id"), out)


def _object(o: object, p: str, out: list[Problem], v2: bool, in_sub: bool) -> str | None:
    """Validate a statement object; return its objectType (None when unusable)."""
    if type(o) is not dict:
        out.append(Problem(p, _type_rule("an object", o)))
        return None
    ot = o.get("objectType", "Activity")
    if ot == "Activity":
        _activity(o, p, out)
    elif ot == "Agent":
        _agent(o, p, out)
    elif ot == "Group":
        _group(o, p, out)
    elif ot == "StatementRef":
        _statement_ref(o, p, out)
    elif ot == "SubStatement":
        if in_sub:
            out.append(
                Problem(_j(p, "objectType"), "a SubStatement must not contain a SubStatement")
            )
        else:
            _statement(o, p, out, v2, True)
    else:
        out.append(
            Problem(
                _j(p, "objectType"),
                "must be one of Activity, Agent, Group, StatementRef, SubStatement",
            )
        )
        return None
    return ot  # type: ignore[return-value]


# ---- result, context, attachments --------------------------------------------------------


def _score(s: object, p: str, out: list[Problem]) -> None:
    if type(s) is not dict:
        out.append(Problem(p, _type_rule("a score object", s)))
        return
    if not s.keys() <= _SCORE_KEYS:
        _unknown(s, _SCORE_KEYS, p, out)
    ok = True
    for k, v in s.items():
        if k not in _SCORE_KEYS:
            continue
        t = type(v)
        # ``v - v == 0`` is False for inf and nan: scores must be finite numbers
        if t is not int and (t is not float or v - v != 0):
            out.append(Problem(_j(p, k), _type_rule("a finite number", v)))
            ok = False
    if not ok:
        return
    scaled = s.get("scaled")
    if scaled is not None and not -1 <= scaled <= 1:
        out.append(Problem(_j(p, "scaled"), "must be between -1 and 1 inclusive"))
    raw, lo, hi = s.get("raw"), s.get("min"), s.get("max")
    if lo is not None and hi is not None and not lo < hi:
        out.append(Problem(_j(p, "min"), "must be less than max"))
    if raw is not None:
        if lo is not None and raw < lo:
            out.append(Problem(_j(p, "raw"), "must not be less than min"))
        if hi is not None and raw > hi:
            out.append(Problem(_j(p, "raw"), "must not be greater than max"))


def _result(r: object, p: str, out: list[Problem]) -> None:
    if type(r) is not dict:
        out.append(Problem(p, _type_rule("a result object", r)))
        return
    if not r.keys() <= _RESULT_KEYS:
        _unknown(r, _RESULT_KEYS, p, out)
    v = r.get("score", _MISSING)
    if v is not _MISSING:
        _score(v, _j(p, "score"), out)
    v = r.get("success", _MISSING)
    if v is not _MISSING and type(v) is not bool:
        out.append(Problem(_j(p, "success"), _type_rule("a boolean", v)))
    v = r.get("completion", _MISSING)
    if v is not _MISSING and type(v) is not bool:
        out.append(Problem(_j(p, "completion"), _type_rule("a boolean", v)))
    v = r.get("response", _MISSING)
    if v is not _MISSING and type(v) is not str:
        out.append(Problem(_j(p, "response"), _type_rule("a string", v)))
    v = r.get("duration", _MISSING)
    if v is not _MISSING:
        if type(v) is not str:
            out.append(Problem(_j(p, "duration"), _type_rule("an ISO 8601 duration string", v)))
        elif not _duration_ok(v):
            out.append(
                Problem(_j(p, "duration"), "must be an ISO 8601 duration (e.g. PT1H2M3.45S)")
            )
    v = r.get("extensions", _MISSING)
    if v is not _MISSING:
        _extensions(v, _j(p, "extensions"), out)


def _relevant_types(v: object, p: str, out: list[Problem]) -> None:
    if type(v) is not list:
        out.append(Problem(p, _type_rule("an array of IRIs", v)))
    elif not v:
        out.append(Problem(p, "must not be empty when present"))
    else:
        for i, t in enumerate(v):
            _iri(t, f"{p}[{i}]", out)


def _context_agents(lst: object, p: str, out: list[Problem]) -> None:
    if type(lst) is not list:
        out.append(Problem(p, _type_rule("an array of contextAgent objects", lst)))
        return
    for i, ca in enumerate(lst):
        cp = f"{p}[{i}]"
        if type(ca) is not dict:
            out.append(Problem(cp, _type_rule("a contextAgent object", ca)))
            continue
        if not ca.keys() <= _CONTEXT_AGENT_KEYS:
            _unknown(ca, _CONTEXT_AGENT_KEYS, cp, out)
        if ca.get("objectType") != "contextAgent":
            out.append(Problem(_j(cp, "objectType"), "must be 'contextAgent'"))
        agent = ca.get("agent", _MISSING)
        if agent is _MISSING:
            out.append(Problem(_j(cp, "agent"), "is required"))
        else:
            _member_agent(agent, _j(cp, "agent"), out)
        rt = ca.get("relevantTypes", _MISSING)
        if rt is not _MISSING:
            _relevant_types(rt, _j(cp, "relevantTypes"), out)


def _context_groups(lst: object, p: str, out: list[Problem]) -> None:
    if type(lst) is not list:
        out.append(Problem(p, _type_rule("an array of contextGroup objects", lst)))
        return
    for i, cg in enumerate(lst):
        cp = f"{p}[{i}]"
        if type(cg) is not dict:
            out.append(Problem(cp, _type_rule("a contextGroup object", cg)))
            continue
        if not cg.keys() <= _CONTEXT_GROUP_KEYS:
            _unknown(cg, _CONTEXT_GROUP_KEYS, cp, out)
        if cg.get("objectType") != "contextGroup":
            out.append(Problem(_j(cp, "objectType"), "must be 'contextGroup'"))
        group = cg.get("group", _MISSING)
        if group is _MISSING:
            out.append(Problem(_j(cp, "group"), "is required"))
        else:
            _team(group, _j(cp, "group"), out)
        rt = cg.get("relevantTypes", _MISSING)
        if rt is not _MISSING:
            _relevant_types(rt, _j(cp, "relevantTypes"), out)


def _context(c: object, p: str, out: list[Problem], v2: bool, object_type: str | None) -> None:
    if type(c) is not dict:
        out.append(Problem(p, _type_rule("a context object", c)))
        return
    allowed = _CONTEXT_KEYS_V2 if v2 else _CONTEXT_KEYS_V1
    if not c.keys() <= allowed:
        for k in c:
            if k not in allowed:
                rule = (
                    "not allowed in xAPI 1.0.3 (added in 2.0.0)"
                    if k in _V2_ONLY_CONTEXT
                    else "unknown property"
                )
                out.append(Problem(_j(p, k), rule))
    v = c.get("registration", _MISSING)
    if v is not _MISSING:
        _uuid(v, _j(p, "registration"), out)
    v = c.get("instructor", _MISSING)
    if v is not _MISSING:
        _actor(v, _j(p, "instructor"), out)
    v = c.get("team", _MISSING)
    if v is not _MISSING:
        _team(v, _j(p, "team"), out)
    ca = c.get("contextActivities", _MISSING)
    if ca is not _MISSING:
        cap = _j(p, "contextActivities")
        if type(ca) is not dict:
            out.append(Problem(cap, _type_rule("an object", ca)))
        else:
            for k, v in ca.items():
                kp = _j(cap, k)
                if k not in _CONTEXT_ACTIVITY_KEYS:
                    out.append(Problem(kp, "unknown property (parent, grouping, category, other)"))
                elif type(v) is list:
                    for i, a in enumerate(v):
                        _context_activity(a, f"{kp}[{i}]", out)
                elif type(v) is dict:
                    _context_activity(v, kp, out)
                else:
                    out.append(Problem(kp, _type_rule("an Activity or an array of Activities", v)))
    for k in ("revision", "platform"):
        v = c.get(k, _MISSING)
        if v is not _MISSING:
            if type(v) is not str:
                out.append(Problem(_j(p, k), _type_rule("a string", v)))
            if object_type is not None and object_type != "Activity":
                out.append(Problem(_j(p, k), "only allowed when the object is an Activity"))
    v = c.get("language", _MISSING)
    if v is not _MISSING and not is_language_tag(v):
        out.append(Problem(_j(p, "language"), "must be an RFC 5646 language tag"))
    v = c.get("statement", _MISSING)
    if v is not _MISSING:
        _statement_ref(v, _j(p, "statement"), out)
    v = c.get("extensions", _MISSING)
    if v is not _MISSING:
        _extensions(v, _j(p, "extensions"), out)
    if v2:
        v = c.get("contextAgents", _MISSING)
        if v is not _MISSING:
            _context_agents(v, _j(p, "contextAgents"), out)
        v = c.get("contextGroups", _MISSING)
        if v is not _MISSING:
            _context_groups(v, _j(p, "contextGroups"), out)


def _attachments(lst: object, p: str, out: list[Problem]) -> None:
    if type(lst) is not list:
        out.append(Problem(p, _type_rule("an array of attachment objects", lst)))
        return
    for i, a in enumerate(lst):
        ap = f"{p}[{i}]"
        if type(a) is not dict:
            out.append(Problem(ap, _type_rule("an attachment object", a)))
            continue
        if not a.keys() <= _ATTACHMENT_KEYS:
            _unknown(a, _ATTACHMENT_KEYS, ap, out)
        for k in ("usageType", "display", "contentType", "length", "sha2"):
            if k not in a:
                out.append(Problem(_j(ap, k), "is required"))
        v = a.get("usageType", _MISSING)
        if v is not _MISSING:
            _iri(v, _j(ap, "usageType"), out)
        v = a.get("display", _MISSING)
        if v is not _MISSING:
            _lang_map(v, _j(ap, "display"), out)
        v = a.get("description", _MISSING)
        if v is not _MISSING:
            _lang_map(v, _j(ap, "description"), out)
        v = a.get("contentType", _MISSING)
        if v is not _MISSING and (type(v) is not str or _MEDIA_TYPE_RE.fullmatch(v) is None):
            out.append(Problem(_j(ap, "contentType"), "must be an Internet media type"))
        v = a.get("length", _MISSING)
        if v is not _MISSING and (type(v) is not int or v < 0):
            out.append(Problem(_j(ap, "length"), "must be a non-negative integer"))
        v = a.get("sha2", _MISSING)
        if v is not _MISSING and (
            type(v) is not str or len(v) not in _SHA2_LENGTHS or _HEX_RE.fullmatch(v) is None
        ):
            out.append(Problem(_j(ap, "sha2"), "must be a hex SHA-2 digest (SHA-224/256/384/512)"))
        v = a.get("fileUrl", _MISSING)
        if v is not _MISSING:
            _iri(v, _j(ap, "fileUrl"), out, "an IRL")


# ---- statement -----------------------------------------------------------------------------


def _statement(s: dict, p: str, out: list[Problem], v2: bool, sub: bool) -> None:
    allowed = _SUB_KEYS if sub else _STATEMENT_KEYS
    if not s.keys() <= allowed:
        for k in s:
            if k not in allowed:
                if sub and k in _SUB_FORBIDDEN:
                    out.append(Problem(_j(p, k), "not allowed in a SubStatement"))
                else:
                    out.append(Problem(_j(p, k), "unknown property"))
    if not sub:
        v = s.get("id", _MISSING)
        if v is not _MISSING:
            _uuid(v, _j(p, "id"), out)
    actor = s.get("actor", _MISSING)
    if actor is _MISSING:
        out.append(Problem(_j(p, "actor"), "is required"))
    else:
        _actor(actor, _j(p, "actor"), out)
    verb = s.get("verb", _MISSING)
    verb_id = None
    if verb is _MISSING:
        out.append(Problem(_j(p, "verb"), "is required"))
    elif type(verb) is not dict:
        out.append(Problem(_j(p, "verb"), _type_rule("a verb object", verb)))
    else:
        vp = _j(p, "verb")
        if not verb.keys() <= _VERB_KEYS:
            _unknown(verb, _VERB_KEYS, vp, out)
        verb_id = verb.get("id", _MISSING)
        if verb_id is _MISSING:
            out.append(Problem(_j(vp, "id"), "is required"))
        else:
            _iri(verb_id, _j(vp, "id"), out)
        d = verb.get("display", _MISSING)
        if d is not _MISSING:
            _lang_map(d, _j(vp, "display"), out)
    obj = s.get("object", _MISSING)
    object_type = None
    if obj is _MISSING:
        out.append(Problem(_j(p, "object"), "is required"))
    else:
        object_type = _object(obj, _j(p, "object"), out, v2, sub)
    if verb_id == VOIDED_VERB and not sub and object_type != "StatementRef" and obj is not _MISSING:
        out.append(
            Problem(
                _j(p, "object.objectType"), f"must be 'StatementRef' when the verb is {VOIDED_VERB}"
            )
        )
    v = s.get("result", _MISSING)
    if v is not _MISSING:
        _result(v, _j(p, "result"), out)
    v = s.get("context", _MISSING)
    if v is not _MISSING:
        _context(v, _j(p, "context"), out, v2, object_type)
    v = s.get("timestamp", _MISSING)
    if v is not _MISSING:
        rule = _timestamp_rule(v, v2)
        if rule is not None:
            out.append(Problem(_j(p, "timestamp"), rule))
    v = s.get("attachments", _MISSING)
    if v is not _MISSING:
        _attachments(v, _j(p, "attachments"), out)
    if sub:
        return
    v = s.get("stored", _MISSING)
    if v is not _MISSING:
        rule = _timestamp_rule(v, v2)
        if rule is not None:
            out.append(Problem(_j(p, "stored"), rule))
    v = s.get("authority", _MISSING)
    if v is not _MISSING:
        _authority(v, _j(p, "authority"), out)
    v = s.get("version", _MISSING)
    if v is not _MISSING:
        pattern = _STMT_VERSION_V2 if v2 else _STMT_VERSION_V1
        if type(v) is not str or pattern.fullmatch(v) is None:
            allowed_v = "'1.0', '1.0.x', '2.0' or '2.0.x'" if v2 else "'1.0' or '1.0.x'"
            out.append(Problem(_j(p, "version"), f"must be {allowed_v}"))


def validate_statement(statement: object, version: str = "1.0.3") -> list[Problem]:
    """All problems found in one statement (empty list = valid) under the given spec version.

    ``version`` is "1.0.3" or "2.0.0" (any entry of SUPPORTED_VERSIONS is accepted: 1.0.x
    selects the 1.0.3 rules).  Never raises for JSON-decoded input.
    """
    if version == "1.0.3":
        v2 = False
    elif version == "2.0.0":
        v2 = True
    elif version in SUPPORTED_VERSIONS:
        v2 = False
    else:
        raise ValueError(f"unsupported xAPI version {version!r}")
    out: list[Problem] = []
    if type(statement) is not dict:
        out.append(Problem("", _type_rule("a statement object", statement)))
        return out
    _statement(statement, "", out, v2, False)
    return out
