"""Moodle as a delivery target: readiness written into custom user profile fields through
Moodle's web services (REST), and optionally a competency rating so Moodle's
competency-criterion badges fire.

What Moodle does that shapes this module (recorded from Moodle 4.4 in
../shared/fixtures/moodle-4.4/; docs/lms-moodle.md tells admins the same):
* every answer is HTTP 200, errors included: an envelope {exception, errorcode, message};
  per-user problems of core_user_update_users come back as `warnings`;
* core_user_update_users silently ignores an unknown custom field and silently resets a menu
  field to its default when the value is not an option, so every write is read back;
* core_user_get_users_by_field answers [] when the token's user may not see other users or
  their identity fields: a missing capability looks like "no such user", so check() probes it;
* core_competency_grade_competency adds an evidence row on every call, so the user competency
  is read first and rated only when it is not proficient or rated at that grade already.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from lrs_connector.lms.config import TargetContext, check_one_credential, read_secret
from lrs_connector.lms.targets import (
    DEFAULT_TIMEOUT,
    Change,
    DeliveryError,
    Finding,
    GiveUp,
    LearnerRef,
    Retry,
    Secret,
    Unresolved,
    retry_after,
)

log = logging.getLogger(__name__)

ENDPOINT = "/webservice/rest/server.php"
MATCH_METHODS = ("account", "email", "idnumber", "username")
FIELD_KINDS = ("score", "level", "badge", "page")
#: Answers larger than this are refused (a user competency summary with its evidence is the
#: largest answer read; a few KiB per evidence row).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
MAX_CANDIDATES = 20  # values sent in one lookup
MAX_MESSAGE = 400  # characters of a Moodle message repeated to admins
CONNECT_TIMEOUT = 5.0

#: Functions the external service must offer; the competency ones only with `competencies`.
FUNCTIONS = ("core_webservice_get_site_info", "core_user_get_users_by_field",
             "core_user_update_users")
COMPETENCY_FUNCTIONS = ("tool_lp_data_for_user_competency_summary",
                        "core_competency_grade_competency")
#: Only `lms check` uses these, to verify competency ids and grades; optional.
CHECK_FUNCTIONS = ("core_competency_read_competency", "core_competency_read_competency_framework")

# Moodle's PARAM_ALPHANUMEXT (profile field shortnames) and PARAM_USERNAME (default settings).
_SHORTNAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_USER_ID = re.compile(r"^[0-9]{1,18}$")
_USERNAME = re.compile(r"^[a-z0-9._@-]{1,100}$")
_XML_ERRORCODE = re.compile(rb"<ERRORCODE>([^<]{1,100})</ERRORCODE>")
_HTML_TITLE = re.compile(rb"<title[^>]*>([^<]{1,200})</title>", re.IGNORECASE)
# Error codes that say "Moodle cannot answer right now", not "something is set up wrong".
_TRANSIENT_CODES = {"sitemaintenance", "dbconnectionfailed", "dmlreadexception",
                    "dmlwriteexception", "dmltransactionexception"}
_LOGIN_CODES = {"usernotfullysetup", "forcepasswordchangenotice", "sitepolicynotagreed",
                "suspended", "usernotconfirmed"}


# -- configuration ------------------------------------------------------------------------------

def _shortname(value: str) -> None:
    if not _SHORTNAME.match(value):
        raise ValidationError("a Moodle profile field shortname is 1-255 letters, digits, _ or -")


class RoleFieldsSchema(Schema):
    """Custom profile fields written for one role; each is optional."""

    class Meta:
        unknown = RAISE

    score = fields.String(validate=_shortname)
    level = fields.String(validate=_shortname)
    badge = fields.String(validate=_shortname)
    page = fields.String(validate=_shortname)

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError(f"give at least one of {', '.join(FIELD_KINDS)}", "_schema")


class Levels(fields.Field):
    """A level name or a list of them, always a tuple."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items or len(items) > 50 or not all(
            isinstance(i, str) and 0 < len(i) <= 200 for i in items
        ):
            raise ValidationError("a readiness level name, or a list of level names")
        return tuple(items)


class CompetencySchema(Schema):
    """Rate a Moodle competency when a learner's level for the role is one of `when_level`."""

    class Meta:
        unknown = RAISE

    competency_id = fields.Integer(required=True, strict=True,
                                   validate=validate.Range(min=1, max=2**63 - 1))
    grade = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    when_level = Levels(required=True)


class PerRole(fields.Field):
    """A table keyed by role code whose values a nested schema loads; errors name the role."""

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError("expected a table with one entry per role code")
        if len(value) > 200:
            raise ValidationError("at most 200 roles")
        out = {}
        for code, table in value.items():
            if not isinstance(code, str) or not 0 < len(code) <= 200:
                raise ValidationError("a role code is 1-200 characters")
            if not isinstance(table, Mapping):
                raise ValidationError({code: ["expected a table"]})
            try:
                out[code] = self.schema().load(table)
            except ValidationError as exc:
                messages = exc.messages
                if isinstance(messages, dict) and list(messages) == ["_schema"]:
                    messages = messages["_schema"]
                raise ValidationError({code: messages}) from None
        return out


class ConfigSchema(Schema):
    """`[lms_targets.NAME]` with `kind = "moodle"` (docs/lms-moodle.md)."""

    class Meta:
        unknown = RAISE

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    token = fields.String(validate=validate.Length(1, 1000))
    token_file = fields.String(validate=validate.Length(1, 4096))
    token_env = fields.String(validate=validate.Length(1, 200))
    match = fields.List(
        fields.String(validate=validate.OneOf(MATCH_METHODS)),
        load_default=lambda: ["account", "email"],
        validate=validate.Length(1, len(MATCH_METHODS)),
    )
    fields_ = PerRole(RoleFieldsSchema, data_key="fields", load_default=dict)
    level_values = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 200)),
        values=fields.String(validate=validate.Length(1, 255)),
        load_default=dict,
        validate=validate.Length(max=100),
    )
    competencies = PerRole(CompetencySchema, load_default=dict)
    timeout = fields.Float(load_default=DEFAULT_TIMEOUT, allow_nan=False,
                           validate=validate.Range(min=0.5, max=300))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        check_one_credential(data, "token")
        url = data.get("url", "")
        if "?" in url or "#" in url:
            raise ValidationError("the site URL (Moodle's wwwroot) takes no query or fragment",
                                  "url")
        if len(set(data.get("match", []))) != len(data.get("match", [])):
            raise ValidationError("each method at most once", "match")
        if not data.get("fields_") and not data.get("competencies"):
            raise ValidationError("configure fields (or competencies) for at least one role",
                                  "fields")
        seen: dict[str, str] = {}
        for code, table in data.get("fields_", {}).items():
            for kind, shortname in table.items():
                if shortname in seen:
                    raise ValidationError(
                        f"profile field {shortname!r} is used twice ({seen[shortname]} and "
                        f"{code}.{kind}): each value needs its own field", "fields")
                seen[shortname] = f"{code}.{kind}"


@dataclass(frozen=True)
class CompetencyRule:
    competency_id: int
    grade: int
    when_levels: tuple[str, ...]


def build(name: str, config: Mapping[str, Any], context: TargetContext) -> MoodleTarget:
    """The target for `[lms_targets.NAME]`, config as ConfigSchema loaded it."""
    token = read_secret(config, "token", f"lms_targets.{name}", context.environ)
    return MoodleTarget(
        name,
        url=config["url"],
        token=token,
        http=context.http,
        match=tuple(config.get("match") or ("account", "email")),
        role_fields={code: dict(table) for code, table in config.get("fields_", {}).items()},
        level_values=dict(config.get("level_values", {})),
        competencies={
            code: CompetencyRule(c["competency_id"], c["grade"], tuple(c["when_level"]))
            for code, c in config.get("competencies", {}).items()
        },
        timeout=float(config.get("timeout", DEFAULT_TIMEOUT)),
    )


# -- the target ---------------------------------------------------------------------------------

class MoodleFault(Exception):
    """Moodle answered with an error envelope {exception, errorcode, message[, debuginfo]}."""

    def __init__(self, function: str, exception: str, errorcode: str, message: str,
                 debuginfo: str = "") -> None:
        super().__init__(f"{function}: {errorcode}: {message}")
        self.function = function
        self.exception = exception
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo


@dataclass(frozen=True)
class _Field:
    type: str
    value: str


class MoodleTarget:
    """One Moodle site. Stateless apart from its settings; safe to share between threads as
    far as the requests.Session given to it is."""

    kind = "moodle"

    def __init__(
        self,
        name: str,
        *,
        url: str,
        token: Secret,
        http: requests.Session,
        match: tuple[str, ...] = ("account", "email"),
        role_fields: Mapping[str, Mapping[str, str]] | None = None,
        level_values: Mapping[str, str] | None = None,
        competencies: Mapping[str, CompetencyRule] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.endpoint = self.url + ENDPOINT
        self._token = token
        self.http = http
        self.match = match
        self.role_fields = {k: dict(v) for k, v in (role_fields or {}).items()}
        self.level_values = dict(level_values or {})
        self.competencies = dict(competencies or {})
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"MoodleTarget({self.name!r}, url={self.url!r})"

    # -- the Target protocol ----------------------------------------------------------------

    def resolve(self, learner: LearnerRef) -> str | None:
        """The Moodle user id: straight from an account on this site, else by lookups in the
        configured order. A Moodle that cannot answer now is a Retry; one that will not answer
        until an admin acts (a bad token, a function missing from the service) is a GiveUp."""
        try:
            return self._resolve(learner)
        except MoodleFault as fault:
            raise self._classify(fault) from None

    def deliver(self, user_id: str, change: Change) -> str:
        if not _is_id(user_id):
            raise Unresolved(f"{user_id!r} is not a Moodle user id")
        outcomes = []
        try:
            wanted = self._wanted(change)
            if wanted:
                outcomes.append(self._write_fields(user_id, change.role_code, wanted))
            rule = self.competencies.get(change.role_code)
            if rule is not None and change.level in rule.when_levels:
                outcomes.append(self._rate(user_id, rule, change))
        except MoodleFault as fault:
            raise self._classify(fault) from None
        if not outcomes:
            return f"nothing configured for role {change.role_code}"[:200]
        return "; ".join(outcomes)[:200]

    def check(self) -> list[Finding]:
        try:
            return self._check()
        except MoodleFault as fault:  # an answer the steps below did not expect
            return [Finding("moodle", False, self._classify(fault).message,
                            "see docs/lms-moodle.md")]
        except DeliveryError as exc:
            return [Finding("moodle", False, exc.message, "see docs/lms-moodle.md")]

    # -- resolving learners -----------------------------------------------------------------

    def _resolve(self, learner: LearnerRef) -> str | None:
        for method in self.match:
            if method == "account":
                ids = [n for n in learner.accounts(self.url) if _is_id(n)]
                if ids:
                    return str(int(ids[0]))
                continue
            values = self._candidates(method, learner)
            if not values:
                continue
            found = self._lookup(method, values)
            if len(found) == 1:
                return next(iter(found))
            if len(found) > 1:
                log.warning("lms target %s: learner %s matches Moodle users %s by %s; not "
                            "choosing one", self.name, learner.learner_id,
                            ", ".join(sorted(found)), method)
        return None

    def _candidates(self, method: str, learner: LearnerRef) -> list[str]:
        """Values to look a learner up by. email: the learner's addresses. idnumber: account
        names on other systems (an HR or SSO id is what sites put in idnumber). username:
        non-numeric names of accounts on this site (Moodle's xAPI log store sends usernames
        when set to), then names on other systems, lowercased as Moodle stores usernames."""
        own = learner.accounts(self.url)
        others = [name for home, name in _accounts(learner) if home != self.url]
        if method == "email":
            values = [e.strip() for e in learner.emails if "@" in e and len(e.strip()) <= 100]
        elif method == "idnumber":
            values = [n for n in others if n.strip() == n and 0 < len(n) <= 255]
        else:
            names = [n for n in own if not _is_id(n)] + others
            values = [n.lower() for n in names if _USERNAME.match(n.lower())]
        return list(dict.fromkeys(values))[:MAX_CANDIDATES]

    def _lookup(self, field: str, values: list[str]) -> set[str]:
        users = self.call("core_user_get_users_by_field", {"field": field, "values": values})
        return {str(u["id"]) for u in _users(users, "core_user_get_users_by_field")}

    # -- writing profile fields -------------------------------------------------------------

    def _wanted(self, change: Change) -> dict[str, str]:
        table = self.role_fields.get(change.role_code, {})
        values = {
            "score": f"{change.score:.1f}",
            "level": self.level_values.get(change.level, change.level),
            "badge": change.badge_url or "",
            "page": change.page_url or "",
        }
        return {table[kind]: values[kind] for kind in FIELD_KINDS if kind in table}

    def _write_fields(self, user_id: str, role_code: str, wanted: dict[str, str]) -> str:
        """Read, compare, write only what differs, read back."""
        before = self._profile(user_id)
        changed = {k: v for k, v in wanted.items() if _value(before, k) != v}
        if not changed:
            return "unchanged"
        answer = self.call("core_user_update_users", {"users": [{
            "id": user_id,
            "customfields": [{"type": k, "value": v} for k, v in changed.items()],
        }]})
        self._warnings(answer, user_id)
        after = self._profile(user_id)
        names = {v: k for k, v in self.role_fields.get(role_code, {}).items()}
        problems = []
        for shortname, value in changed.items():
            got = after.get(shortname)
            where = f"fields.{role_code}.{names.get(shortname, '?')}"
            if got is None and value == "":
                continue  # cleared: Moodle leaves empty fields out of user details
            if got is None:
                problems.append(
                    f"Moodle ignored custom profile field {shortname!r} ({where}): no field has "
                    "that shortname, or the token's user cannot see it; create the field or "
                    "fix the shortname")
            elif got.value != value and got.type == "menu":
                problems.append(
                    f"Moodle did not take {value!r} for menu field {shortname!r} ({where}) and "
                    f"holds {got.value!r} (its default, used when a value is not an option): "
                    f"add {value!r} to the field's menu options, or map the level to an "
                    "existing option with level_values")
            elif got.value != value:
                problems.append(
                    f"Moodle stored {_short(got.value)!r} in {got.type} field {shortname!r} "
                    f"({where}) instead of {_short(value)!r}: check the field's type and "
                    "maximum length")
        if problems:
            raise GiveUp("; ".join(problems)[:1000])
        return "updated " + ", ".join(changed)

    def _profile(self, user_id: str) -> dict[str, _Field]:
        users = _users(self.call("core_user_get_users_by_field",
                                 {"field": "id", "values": [user_id]}),
                       "core_user_get_users_by_field")
        mine = [u for u in users if str(u["id"]) == user_id]
        if not mine:
            raise Unresolved(
                f"Moodle returns no user with id {user_id}: the user was deleted, or the "
                f"token's user may not view user details (run `lrs-connector lms check "
                f"{self.name}`)")
        return _custom_fields(mine[0])

    def _warnings(self, answer: Any, user_id: str) -> None:
        if answer is None:  # Moodle before 3.10 answered null
            return
        if not isinstance(answer, dict) or not isinstance(answer.get("warnings", []), list):
            raise GiveUp("core_user_update_users answered something other than "
                         "{\"warnings\": [...]}")
        for warning in answer.get("warnings", [])[:10]:
            if not isinstance(warning, dict):
                continue
            code = str(warning.get("warningcode", ""))[:100]
            text = _short(str(warning.get("message", "")))
            if code in ("invaliduserid", "usernotupdateddeleted"):
                raise Unresolved(f"Moodle user {user_id} does not exist any more ({code}): "
                                 "the learner has to be linked to a user again")
            if code == "usernotupdatedadmin":
                raise GiveUp(f"Moodle will not let this token update user {user_id}, a site "
                             "administrator (usernotupdatedadmin): link the learner to a "
                             "non-admin user, or use a site administrator's token")
            if code in ("usernotupdatedguest", "usernotupdatedremote"):
                raise GiveUp(f"Moodle user {user_id} cannot be updated ({code}): link the "
                             "learner to a regular local user")
            raise GiveUp(f"Moodle did not update user {user_id}: {code}: {text}")

    # -- competencies -----------------------------------------------------------------------

    def _rate(self, user_id: str, rule: CompetencyRule, change: Change) -> str:
        """Rate once: each call adds evidence, so read the user competency first."""
        cid = rule.competency_id
        summary = self.call("tool_lp_data_for_user_competency_summary",
                            {"userid": user_id, "competencyid": cid})
        current = summary.get("usercompetency") if isinstance(summary, dict) else None
        if not isinstance(summary, dict) or not isinstance(current, (dict, type(None))):
            raise GiveUp("tool_lp_data_for_user_competency_summary answered an unexpected shape")
        if current is not None:
            if current.get("proficiency") is True:
                return f"competency {cid} already proficient"
            if current.get("grade") == rule.grade:
                return f"competency {cid} already rated {rule.grade}"
        note = (f"lrs-connector: {change.role_code} readiness {change.score:.1f} "
                f"({change.level}), {change.computed_at:%Y-%m-%d}")
        note = re.sub(r"[&<>]", " ", note)[:250]
        answer = self.call("core_competency_grade_competency", {
            "userid": user_id, "competencyid": cid, "grade": rule.grade, "note": note,
        })
        if not isinstance(answer, dict) or "id" not in answer:
            raise GiveUp("core_competency_grade_competency answered without an evidence record")
        return f"competency {cid} rated {rule.grade}"

    # -- checking the set-up ----------------------------------------------------------------

    def _check(self) -> list[Finding]:
        out: list[Finding] = []
        try:
            info = self.call("core_webservice_get_site_info")
        except MoodleFault as fault:
            out.append(self._token_finding(fault))
            return out
        except DeliveryError as exc:
            out.append(Finding("connection", False, exc.message,
                               f"check url ({self.url}) and that Moodle answers there"))
            return out
        if not isinstance(info, dict) or not isinstance(info.get("userid"), int):
            out.append(Finding("connection", False, "core_webservice_get_site_info answered "
                               "without a user id", "check url points at a Moodle site"))
            return out
        own = info["userid"]
        out.append(Finding("token", True, f"Moodle {_short(str(info.get('release', '?')))} "
                           f"answers; the token belongs to {_short(str(info.get('username')))} "
                           f"(user {own})"))
        site = str(info.get("siteurl", "")).rstrip("/")
        if site and site != self.url:
            out.append(Finding(
                "url", False, f"Moodle calls itself {_short(site)}, the target's url is "
                f"{self.url}", f"set url = \"{_short(site)}\": Moodle's xAPI actors use the site "
                "URL as account homePage, so matching by account needs the exact URL"))
        offered = {f.get("name") for f in info.get("functions", []) if isinstance(f, dict)}
        needed = list(FUNCTIONS) + (list(COMPETENCY_FUNCTIONS) if self.competencies else [])
        missing = [f for f in needed if f not in offered]
        out.append(Finding(
            "functions", not missing,
            f"the service lacks {', '.join(missing)}" if missing
            else "the service offers every function needed",
            "add them to the external service (Site administration > Server > Web services > "
            "External services > Functions)" if missing else ""))
        if info.get("userissiteadmin"):
            out.append(Finding("user", True, "the token belongs to a site administrator; it "
                               "can do everything but cannot update other administrators",
                               "prefer a dedicated user with the capabilities listed in "
                               "docs/lms-moodle.md"))
        seen: dict[str, _Field] = {}
        if "core_user_get_users_by_field" in offered:
            out.extend(self._check_lookups(own, seen))
        if "core_user_update_users" in offered:
            out.append(self._check_update())
        out.extend(self._check_fields(seen))
        if self.competencies:
            out.extend(self._check_competencies(offered))
        return out

    def _token_finding(self, fault: MoodleFault) -> Finding:
        if fault.errorcode == "invalidtoken":
            return Finding("token", False, "Moodle does not know this token (invalidtoken)",
                           "create a token for the service user (Site administration > Server "
                           "> Web services > Manage tokens) and configure it as token_file")
        if fault.errorcode == "accessexception":
            return Finding("token", False, "the token may not call core_webservice_get_site_info "
                           "(accessexception)", "add core_webservice_get_site_info to the "
                           "external service and check its user, IP and time restrictions")
        return Finding("token", False, self._classify(fault).message,
                       "see docs/lms-moodle.md")

    def _check_lookups(self, own: int, seen: dict[str, _Field]) -> list[Finding]:
        """Detect the silent `[]`: read a few other users by id, then look each one up again
        by every configured method using the value Moodle showed."""
        out = []
        probe_ids = [i for i in range(2, 13) if i != own][:10]
        try:
            users = _users(self.call("core_user_get_users_by_field",
                                     {"field": "id", "values": [str(own), *map(str, probe_ids)]}),
                           "core_user_get_users_by_field")
        except MoodleFault as fault:
            return [Finding("lookup", False, self._classify(fault).message,
                            "see docs/lms-moodle.md")]
        for user in users:
            for shortname, field in _custom_fields(user).items():
                seen.setdefault(shortname, field)
        others = [u for u in users if u["id"] != own]
        fix = ("grant the token's user moodle/user:viewdetails, moodle/user:viewalldetails and "
               "moodle/site:viewuseridentity in the system context (a role assigned at site "
               "level)")
        if not others:
            out.append(Finding(
                "lookup", False, f"Moodle returns none of the users with ids "
                f"{probe_ids[0]}-{probe_ids[-1]}: the token's user may not view other users, "
                "and Moodle answers [] instead of an error, so every lookup would say "
                "'no such user' (or the site has no such users)", fix))
            return out
        probe = others[0]
        for method in self.match:
            if method == "account":
                continue
            value = probe.get(method)
            if not value:
                if method == "email":
                    out.append(Finding(
                        "lookup.email", False, "Moodle hides users' email addresses from the "
                        "token's user, so lookups by email answer [] (no such user)", fix))
                else:
                    out.append(Finding(
                        f"lookup.{method}", True, f"cannot test lookups by {method}: user "
                        f"{probe['id']} shows none",
                        "if lookups by idnumber find nobody, add ID number to Show user "
                        "identity (showuseridentity)" if method == "idnumber" else ""))
                continue
            try:
                found = self._lookup(method, [str(value)])
            except MoodleFault as fault:
                out.append(Finding(f"lookup.{method}", False, self._classify(fault).message,
                                   fix))
                continue
            ok = str(probe["id"]) in found
            out.append(Finding(
                f"lookup.{method}", ok,
                f"looking up user {probe['id']} by {method} " + ("finds them" if ok else
                "answers [] although the user exists: the token's user lacks a capability"),
                "" if ok else fix))
        return out

    def _check_update(self) -> Finding:
        """core_user_update_users checks moodle/user:update before it looks at users, so an
        update of user id 0 (which never exists) tests the capability and writes nothing."""
        try:
            self.call("core_user_update_users", {"users": [{"id": "0"}]})
        except MoodleFault as fault:
            if fault.errorcode == "nopermissions":
                return Finding("update", False, "the token's user may not update users "
                               "(nopermissions)", "grant moodle/user:update in the system "
                               "context")
            return Finding("update", False, self._classify(fault).message,
                           "see docs/lms-moodle.md")
        return Finding("update", True, "the token's user may update users")

    def _check_fields(self, seen: dict[str, _Field]) -> list[Finding]:
        out = []
        for code, table in self.role_fields.items():
            for kind, shortname in table.items():
                field = seen.get(shortname)
                check = f"fields.{code}.{kind}"
                if field is None:
                    out.append(Finding(
                        check, True, f"profile field {shortname!r} is not visible on the users "
                        "read: Moodle's web services list only fields that hold a value, so "
                        "this cannot be confirmed before the first delivery (which reads back "
                        "and dead-letters a missing field with a message)",
                        "make sure the field exists (Site administration > Users > User "
                        "profile fields)"))
                elif kind == "level" and field.type == "menu":
                    out.append(Finding(
                        check, True, f"menu field {shortname!r} exists (a user holds "
                        f"{_short(field.value)!r}); Moodle does not publish menu options",
                        "check its options include every readiness level name, or the texts "
                        "given in level_values"))
                else:
                    out.append(Finding(check, True, f"{field.type} field {shortname!r} exists"))
        return out

    def _check_competencies(self, offered: set[Any]) -> list[Finding]:
        out = []
        can_read = all(f in offered for f in CHECK_FUNCTIONS)
        for code, rule in self.competencies.items():
            check = f"competencies.{code}"
            if not can_read:
                out.append(Finding(
                    check, True, f"competency {rule.competency_id} not verified",
                    f"add {' and '.join(CHECK_FUNCTIONS)} to the service to let the check "
                    "verify competency ids and grades"))
                continue
            try:
                competency = self.call("core_competency_read_competency",
                                       {"id": rule.competency_id})
                scale = competency.get("scaleconfiguration") if isinstance(competency,
                                                                           dict) else None
                if not scale and isinstance(competency, dict):
                    framework = self.call("core_competency_read_competency_framework",
                                          {"id": competency.get("competencyframeworkid")})
                    scale = framework.get("scaleconfiguration") if isinstance(framework,
                                                                              dict) else None
            except MoodleFault as fault:
                if fault.errorcode == "invalidrecord":
                    out.append(Finding(check, False, f"Moodle has no competency "
                                       f"{rule.competency_id}", "set competency_id to the id "
                                       "shown in the competency's URL"))
                else:
                    out.append(Finding(check, False, self._classify(fault).message,
                                       "see docs/lms-moodle.md"))
                continue
            out.append(_grade_finding(check, rule, scale))
        return out

    # -- transport --------------------------------------------------------------------------

    def call(self, function: str, params: Mapping[str, Any] | None = None) -> Any:
        """One web-service call: the decoded answer. Raises MoodleFault for an error envelope,
        Retry or GiveUp when there is no usable answer."""
        answer = self._post(function, params or {})
        if isinstance(answer, dict) and "exception" in answer and "errorcode" in answer:
            raise MoodleFault(function, self._clean(answer.get("exception")),
                              self._clean(answer.get("errorcode")),
                              self._clean(answer.get("message")),
                              self._clean(answer.get("debuginfo")))
        return answer

    def _post(self, function: str, params: Mapping[str, Any]) -> Any:
        data = [("wstoken", self._token.value), ("wsfunction", function),
                ("moodlewsrestformat", "json"), *php_params(params)]
        deadline = time.monotonic() + self.timeout
        try:
            with self.http.post(
                self.endpoint, data=data, timeout=(min(CONNECT_TIMEOUT, self.timeout),
                                                   self.timeout),
                allow_redirects=False, stream=True, headers={"Accept": "application/json"},
            ) as response:
                status, headers = response.status_code, response.headers
                body = self._read(response, function, deadline) if status == 200 else b""
        except requests.Timeout:
            raise Retry(f"Moodle did not answer {function} within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            reason = self._clean(exc.args[0] if exc.args else type(exc).__name__)
            raise Retry(f"cannot reach Moodle at {self.endpoint}: {reason}") from None
        if status != 200:
            raise self._status_error(function, status, headers)
        return self._decode(function, body)

    def _read(self, response: requests.Response, function: str, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise GiveUp(f"Moodle's answer to {function} ({declared} bytes) exceeds "
                         f"{MAX_ANSWER_BYTES} bytes")
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise GiveUp(f"Moodle's answer to {function} exceeds {MAX_ANSWER_BYTES} bytes")
            if time.monotonic() > deadline:
                raise Retry(f"Moodle's answer to {function} took longer than "
                            f"{self.timeout:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_error(self, function: str, status: int, headers: Any) -> DeliveryError:
        where = f"{self.endpoint} ({function})"
        if status in (408, 425, 429) or status >= 500:
            return Retry(f"Moodle answered HTTP {status} at {where}", retry_after(headers))
        if 300 <= status < 400:
            location = self._clean(str(headers.get("Location", "")).split("?")[0])
            return GiveUp(f"Moodle redirects {where} to {location or '?'}: set url to the "
                          "site's address exactly as Moodle's wwwroot (scheme, host, path)")
        if status == 403:
            return GiveUp(f"HTTP 403 at {where}: web services or the REST protocol are not "
                          "enabled (Site administration > Server > Web services), or a proxy "
                          "refuses the call")
        if status == 404:
            return GiveUp(f"no Moodle web services at {where} (HTTP 404): check url")
        return GiveUp(f"Moodle answered HTTP {status} at {where}")

    def _decode(self, function: str, body: bytes) -> Any:
        text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text:
            raise Retry(f"Moodle answered {function} with an empty body (a PHP error? see the "
                        "Moodle server's error log)")
        if text[:1] == b"<":
            code = _XML_ERRORCODE.search(text)
            if text[:5] == b"<?xml" or code or text[:9] in (b"<RESPONSE", b"<EXCEPTIO"):
                raise GiveUp(
                    f"Moodle answered {function} in XML"
                    + (f" ({self._clean(code.group(1).decode('utf-8', 'replace'))})"
                       if code else "")
                    + ", not JSON: the moodlewsrestformat=json parameter did not reach it (a "
                    "proxy or rewrite rule dropping form parameters?)")
            title = _HTML_TITLE.search(text)
            named = f" ({self._clean(title.group(1).decode('utf-8', 'replace'))})" if title else ""
            raise GiveUp(
                f"Moodle answered {function} with HTML{named}, not JSON: check url points at "
                "the Moodle site, and turn off Display debug messages (Site administration > "
                "Development > Debugging), which prefixes answers with notices")
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise GiveUp(f"Moodle's answer to {function} is not JSON: "
                         f"{self._clean(text[:80].decode('utf-8', 'replace'))!r}") from None

    def _classify(self, fault: MoodleFault) -> DeliveryError:
        """An error envelope as Retry (Moodle cannot answer now), Unresolved (the user is
        gone) or GiveUp (an admin must fix the set-up), the message saying what to do."""
        code, function = fault.errorcode, fault.function
        detail = _short(fault.debuginfo or fault.message)
        said = f"{function}: {code}: {_short(fault.message)}"
        if code in _TRANSIENT_CODES:
            return Retry(f"Moodle cannot answer now ({said})")
        if code == "invalidtoken":
            return GiveUp(f"Moodle does not accept the token (invalidtoken): create a new one "
                          f"and update the target's token ({function})")
        if code == "accessexception":
            return GiveUp(f"the token may not call {function} (accessexception): add it to the "
                          "external service and check the service's authorised users, IP and "
                          "time restrictions")
        if code == "nopermissions":
            return GiveUp(f"the token's user lacks a capability ({said}): see "
                          "docs/lms-moodle.md for the capabilities needed")
        if code in _LOGIN_CODES:
            return GiveUp(f"the token's user cannot use the site ({said}): log in once as that "
                          "user, complete the profile and accept the site policy")
        if code == "invalidparameter":
            return GiveUp(f"Moodle refused the parameters of {function}: {detail}")
        if code == "invalidrecord":
            if "external_functions" in fault.message:
                return GiveUp(f"this Moodle has no web-service function {function}: it needs "
                              "Moodle 4.x with the competencies (tool_lp) plugin enabled")
            if re.search(r"\btable user\b|\{user\}", fault.message + fault.debuginfo):
                return Unresolved(f"Moodle has no such user ({said})")
            return GiveUp(f"Moodle is missing a record ({said})")
        if code == "invalidpersistenterror":
            return GiveUp(f"Moodle refused the value ({said}): check grade against the "
                          "competency's scale")
        return GiveUp(f"Moodle answered an error ({said})")

    def _clean(self, value: Any) -> str:
        """Text from Moodle or from requests, bounded and never showing the token."""
        text = "" if value is None else str(value)
        return text.replace(self._token.value, "***")[:MAX_MESSAGE]


# -- helpers ------------------------------------------------------------------------------------

def php_params(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts and lists as PHP form parameters: users[0][customfields][0][type]=…"""
    if isinstance(value, Mapping):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        if isinstance(value, bool):
            return [(prefix, "1" if value else "0")]
        return [(prefix, "" if value is None else str(value))]
    out = []
    for key, item in items:
        out.extend(php_params(item, f"{prefix}[{key}]" if prefix else str(key)))
    return out


def _is_id(text: str) -> bool:
    return bool(_USER_ID.match(text)) and int(text) > 0


def _accounts(learner: LearnerRef) -> list[tuple[str, str]]:
    pairs = []
    for key in learner.aliases:
        if key.startswith("account:") and not key.startswith("account:sha256:"):
            home, sep, name = key[8:].partition("|")
            if sep and name:
                pairs.append((home, name))
    return pairs


def _users(answer: Any, function: str) -> list[dict[str, Any]]:
    if not isinstance(answer, list):
        raise GiveUp(f"{function} answered something other than a list of users")
    return [u for u in answer[:1000] if isinstance(u, dict) and isinstance(u.get("id"), int)]


def _custom_fields(user: Mapping[str, Any]) -> dict[str, _Field]:
    out = {}
    for item in (user.get("customfields") or [])[:500]:
        if isinstance(item, dict) and isinstance(item.get("shortname"), str):
            value = item.get("value")
            out[item["shortname"]] = _Field(str(item.get("type", "")),
                                            "" if value is None else str(value))
    return out


def _value(fields_: Mapping[str, _Field], shortname: str) -> str:
    field = fields_.get(shortname)
    return "" if field is None else field.value


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _grade_finding(check: str, rule: CompetencyRule, scale: Any) -> Finding:
    """Whether `grade` makes a learner proficient on the competency's scale."""
    try:
        items = orjson.loads(scale) if isinstance(scale, str) else None
    except orjson.JSONDecodeError:
        items = None
    if not isinstance(items, list):
        return Finding(check, True, f"competency {rule.competency_id} exists; its scale "
                       "could not be read", "")
    grades = {i.get("id"): i for i in items if isinstance(i, dict) and "id" in i}
    item = grades.get(rule.grade)
    if item is not None and item.get("proficient"):
        return Finding(check, True, f"competency {rule.competency_id} exists and grade "
                       f"{rule.grade} is proficient")
    proficient = sorted(str(k) for k, v in grades.items() if v.get("proficient"))
    return Finding(check, False, f"grade {rule.grade} is not a proficient value of competency "
                   f"{rule.competency_id}'s scale, so rating it makes nobody proficient and "
                   "no competency badge is awarded",
                   f"set grade to one of {', '.join(proficient) or 'the proficient values'}")
