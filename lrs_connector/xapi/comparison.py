"""Statement equivalence for idempotent re-POST/PUT (xAPI "Statement Comparison Requirements").

xAPI 1.0.3 Data 2.3.1 (and the same rules in 2.0.0): when two statements with the same id are
compared, differences *which could have been caused by the exceptions to statement
immutability* MUST be ignored; any other difference, including a different serialization of a
property not listed as an exception, MUST NOT be ignored.  The exceptions, as implemented:

1. Properties the LRS may assign: ``id``, ``authority``, ``stored``, ``version`` are ignored at
   the statement level; ``timestamp`` is ignored when either side lacks it or has the LRS's
   fill-in (a timestamp identical to that side's ``stored``: the spec has an LRS set a missing
   timestamp to the stored time, so a statement sent again without one gets a new value) and
   otherwise compared as a point in time.
2. Activity Definitions referenced by a statement are not part of it: ``definition`` is dropped
   from every Activity (object, SubStatement object, contextActivities).
3. Verb ``display`` is not part of the statement: dropped.
4. Timestamp serialization: ``timestamp`` (also in a SubStatement) is compared as an instant,
   at millisecond precision (an LRS may truncate or round to 3 decimal digits), so
   "2024-01-01T12:00:00Z" equals "2024-01-01T13:00:00.000+01:00".
5. Unordered lists: the ``member`` list of a Group is compared as a multiset.
6. Attachments' raw data is not part of the statement (never compared here; the attachment
   metadata objects in ``attachments`` are compared).
7. Case-insensitive values: the domain part of an ``mbox`` address, ``mbox_sha1sum`` and
   attachment ``sha2`` hex digits, UUIDs (RFC 4122 hex digits; ``registration``, StatementRef
   ids) and RFC 5646 language tags (``context.language``, language-map keys).
8. ``contextActivities``: a single Activity object equals a one-element array (the LRS returns
   arrays, Data 2.4.6.2).
9. ``result.duration`` is a string for comparison purposes, except that precision beyond 0.01 s
   is not compared (1.0.3 Data 4.6 SHOULD*, 2.0.0 MUST): "PT1.2345S" equals "PT1.23S".

Not normalised (the text says serialization differences of other properties count): IRIs
(no RFC 3987 syntax-based normalisation), a missing vs explicit default ``objectType``,
the order of all other arrays, numbers (compared by value as JSON numbers).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

__all__ = ["equivalent"]

_IGNORED_TOP = ("id", "authority", "stored", "version")
_TS_RE = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})[Tt](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?"
    r"(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)?",
    re.ASCII,
)
_DURATION_FRACTION = re.compile(r"([.,]\d{2})\d+S$", re.ASCII)


def equivalent(a: dict, b: dict, *, fill_ins: bool = True) -> bool:
    """True when two statements with the same id count as the same statement.

    Used for idempotent re-POST/PUT: same content -> accept again, different -> 409 Conflict.
    Fast path: identical JSON objects compare equal without normalisation. ``fill_ins``: a
    timestamp identical to its side's ``stored`` is the LRS's fill-in (only where the
    receiver set ``stored``; not for a signature, compared with what the client sent).
    """
    if a == b:
        return True
    if type(a) is not dict or type(b) is not dict:
        return False
    na = _statement(a, top=True)
    nb = _statement(b, top=True)
    ta, tb = na.pop("timestamp", None), nb.pop("timestamp", None)
    filled = fill_ins and (_filled_in(a) or _filled_in(b))
    if ta is not None and tb is not None and ta != tb and not filled:
        return False
    return na == nb


def _filled_in(statement: dict) -> bool:
    """Whether the statement's timestamp is the LRS's fill-in for one sent without it."""
    stamp = statement.get("timestamp")
    return stamp is not None and stamp == statement.get("stored")


def _instant(value: object) -> object:
    """A comparable point in time (ms precision) or the raw value when it is not a timestamp."""
    if type(value) is not str:
        return value
    m = _TS_RE.fullmatch(value)
    if m is None:
        return value
    year, month, day, hour, minute, second, frac, sign, oh, om = m.groups()
    try:
        sec = int(second or 0)
        leap = sec == 60
        dt = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            59 if leap else sec,
            int((frac or "0")[:3].ljust(3, "0")) * 1000,
            tzinfo=UTC,
        )
        if leap:
            dt += timedelta(seconds=1)
        if sign is not None:
            offset = timedelta(hours=int(oh), minutes=int(om or 0))
            dt = dt - offset if sign == "+" else dt + offset
    except (ValueError, OverflowError):
        return value
    return ("instant", dt)


def _lower_uuid(v: object) -> object:
    return v.lower() if type(v) is str else v


def _lang_map(m: object) -> object:
    if type(m) is not dict:
        return m
    return {k.lower() if type(k) is str else k: v for k, v in m.items()}


def _agent(a: object) -> object:
    """Agent or Group with case-insensitive IFI parts folded and members as a multiset."""
    if type(a) is not dict:
        return a
    out = dict(a)
    mbox = out.get("mbox")
    if type(mbox) is str and "@" in mbox:
        local, _, domain = mbox.rpartition("@")
        out["mbox"] = f"{local}@{domain.lower()}"
    sha = out.get("mbox_sha1sum")
    if type(sha) is str:
        out["mbox_sha1sum"] = sha.lower()
    members = out.get("member")
    if type(members) is list:
        normalised = [_agent(m) for m in members]
        out["member"] = sorted(json.dumps(m, sort_keys=True) for m in normalised)
    return out


def _activity(a: object) -> object:
    if type(a) is not dict:
        return a
    out = dict(a)
    out.pop("definition", None)
    return out


def _object(o: object) -> object:
    if type(o) is not dict:
        return o
    ot = o.get("objectType", "Activity")
    if ot == "Activity":
        return _activity(o)
    if ot in ("Agent", "Group"):
        return _agent(o)
    if ot == "StatementRef":
        out = dict(o)
        out["id"] = _lower_uuid(out.get("id"))
        return out
    if ot == "SubStatement":
        return _statement(o, top=False)
    return o


def _context(c: object) -> object:
    if type(c) is not dict:
        return c
    out = dict(c)
    if "registration" in out:
        out["registration"] = _lower_uuid(out["registration"])
    for k in ("instructor", "team"):
        if k in out:
            out[k] = _agent(out[k])
    ca = out.get("contextActivities")
    if type(ca) is dict:
        out["contextActivities"] = {
            k: [_activity(x) for x in v] if type(v) is list else [_activity(v)]
            for k, v in ca.items()
        }
    ref = out.get("statement")
    if type(ref) is dict:
        ref = dict(ref)
        ref["id"] = _lower_uuid(ref.get("id"))
        out["statement"] = ref
    if type(out.get("language")) is str:
        out["language"] = out["language"].lower()
    for k, inner in (("contextAgents", "agent"), ("contextGroups", "group")):
        lst = out.get(k)
        if type(lst) is list:
            out[k] = [
                {**x, inner: _agent(x.get(inner))} if type(x) is dict and inner in x else x
                for x in lst
            ]
    return out


def _result(r: object) -> object:
    if type(r) is not dict:
        return r
    d = r.get("duration")
    if type(d) is not str:
        return r
    out = dict(r)
    out["duration"] = _DURATION_FRACTION.sub(r"\1S", d)
    return out


def _attachments(lst: object) -> object:
    if type(lst) is not list:
        return lst
    result = []
    for a in lst:
        if type(a) is dict:
            a = dict(a)
            for k in ("display", "description"):
                if k in a:
                    a[k] = _lang_map(a[k])
            if type(a.get("sha2")) is str:
                a["sha2"] = a["sha2"].lower()
        result.append(a)
    return result


def _statement(s: dict, top: bool) -> dict:
    out = dict(s)
    if top:
        for k in _IGNORED_TOP:
            out.pop(k, None)
    if "actor" in out:
        out["actor"] = _agent(out["actor"])
    verb = out.get("verb")
    if type(verb) is dict:
        verb = dict(verb)
        verb.pop("display", None)
        out["verb"] = verb
    if "object" in out:
        out["object"] = _object(out["object"])
    if "result" in out:
        out["result"] = _result(out["result"])
    if "context" in out:
        out["context"] = _context(out["context"])
    if "attachments" in out:
        out["attachments"] = _attachments(out["attachments"])
    if "timestamp" in out:
        out["timestamp"] = _instant(out["timestamp"])
    return out
