"""The Canvas target: readiness in each user's `custom_data` (REST API, bearer token) and,
optionally, a learner-visible grade column through LTI Advantage AGS (an `ags` sub-table that
configures lrs_connector.lms.lti for the Canvas course).

`PUT /api/v1/users/:id/custom_data/<scope>/<role code>?ns=<namespace>` overwrites the role's
entry, so a delivery is idempotent by nature. Canvas throttles with a leaky bucket: a throttled
call answers 403 with the text body "403 Forbidden (Rate Limit Exceeded)" (newer: 429), and
every answer reports `X-Rate-Limit-Remaining`. Throttling is a Retry; when the remaining quota
runs low the target pauses before its next call instead of running into the limit.

With `ags`, a learner resolves to "<Canvas user id>|<LTI user id>": the REST id for custom
data, the LTI id (Canvas's LTI 1.3 `sub`) for the score.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import requests
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lrs_connector.lms import lti
from lrs_connector.lms.config import (
    TargetConfigError,
    TargetContext,
    check_one_credential,
    read_secret,
)
from lrs_connector.lms.lti import Answer, excerpt, raise_for, send
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

MATCHES = ("account", "email", "sis")
THROTTLED_TEXT = "Rate Limit Exceeded"
#: Wait after a throttled answer that names none (Canvas's 403 carries no Retry-After).
THROTTLED_WAIT_SECONDS = 30.0
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PAGES = 50
CHECK_KEY = "_lrs_connector_check"
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SCOPE = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,7}$")
_ROLE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class ConfigSchema(Schema):
    """`[lms_targets.NAME]` with `kind = "canvas"` (see docs/lms-lti-canvas.md)."""

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    token = fields.String()
    token_file = fields.String()
    token_env = fields.String()
    namespace = fields.String(required=True, validate=validate.Regexp(
        _NAMESPACE, error="use letters, digits, '.', '-' or '_' (e.g. org.example.lrs-connector)"))
    scope = fields.String(load_default="readiness", validate=validate.Regexp(
        _SCOPE, error="a path of 1-8 segments of letters, digits, '-' or '_' (e.g. readiness)"))
    match = fields.List(fields.String(validate=validate.OneOf(MATCHES)),
                        load_default=lambda: ["account", "email"],
                        validate=validate.Length(min=1, max=len(MATCHES)))
    account_id = fields.String(load_default="self", validate=validate.Regexp(
        r"^(self|[0-9]{1,20})$", error="`self` or a numeric Canvas account id"))
    sis_home_page = fields.Url(schemes={"http", "https"}, require_tld=False)
    rate_limit_low = fields.Float(load_default=100.0, validate=validate.Range(min=0, max=10_000))
    rate_limit_pause = fields.Float(load_default=5.0, validate=validate.Range(min=0, max=60))
    timeout = fields.Float(load_default=DEFAULT_TIMEOUT, validate=validate.Range(min=0.5, max=120))
    ags = fields.Nested(lti.ConfigSchema)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_one_credential(data, "token")
        match = data.get("match") or []
        if len(set(match)) != len(match):
            raise ValidationError("each way of matching may be named once", "match")
        if "sis" in match and not data.get("sis_home_page"):
            raise ValidationError("matching by sis needs the homePage of the xAPI accounts "
                                  "whose name is the SIS user id", "sis_home_page")
        url = data.get("url")
        if url and (urlsplit(url).username is not None or urlsplit(url).path.strip("/")):
            raise ValidationError("the Canvas base URL only (https://canvas.example.edu), no "
                                  "path or credentials", "url")


class CanvasTarget:
    """One Canvas instance: custom data per user, optionally grades through AGS."""

    kind = "canvas"

    def __init__(self, name: str, config: Mapping[str, Any], token: Secret,
                 http: requests.Session, ags: lti.LtiTarget | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.url = config["url"].rstrip("/")
        self.namespace = config["namespace"]
        self.scope = config["scope"]
        self.match = tuple(config["match"])
        self.account_id = config["account_id"]
        self.sis_home_page = config.get("sis_home_page")
        self.rate_limit_low = float(config["rate_limit_low"])
        self.rate_limit_pause = float(config["rate_limit_pause"])
        self.timeout = float(config["timeout"])
        self.http = http
        self.ags = ags
        self._token = token
        self._sleep = sleep
        self._remaining: float | None = None
        self._rate_lock = threading.Lock()

    # -- HTTP --

    def _call(self, method: str, path: str, what: str, *, params: Any = None,
              body: Any = None, url: str | None = None) -> Answer:
        self._pace()
        headers = {"Authorization": f"Bearer {self._token.value}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        answer = send(self.http, method, url or f"{self.url}{path}", what=what,
                      timeout=self.timeout, max_bytes=MAX_BODY_BYTES, params=params,
                      headers=headers, data=data)
        self._note_quota(answer)
        if self.throttled(answer):
            wait = retry_after(answer.headers)
            raise Retry(f"{what}: Canvas is throttling this token ({answer.status})",
                        THROTTLED_WAIT_SECONDS if wait is None else wait)
        if answer.status == 401:
            if b"not authorized" in answer.body:
                raise GiveUp(f"{what}: the token's user may not do this (401): "
                             f"{_canvas_message(answer)}")
            raise GiveUp(f"{what}: Canvas refused the token (401: {_canvas_message(answer)}); "
                         "create a new access token")
        if answer.status == 403:
            raise GiveUp(f"{what}: the token's user may not do this (403): "
                         f"{_canvas_message(answer)}")
        return answer

    @staticmethod
    def throttled(answer: Answer) -> bool:
        """Canvas's two ways of saying "slow down": 403 with a text body, or 429."""
        return answer.status == 429 or (
            answer.status == 403 and THROTTLED_TEXT.encode() in answer.body[:200])

    def _note_quota(self, answer: Answer) -> None:
        value = answer.headers.get("X-Rate-Limit-Remaining")
        try:
            remaining = float(value) if value is not None else None
        except ValueError:
            remaining = None
        with self._rate_lock:
            self._remaining = remaining

    def _pace(self) -> None:
        """Pause before a call when the remaining quota is low: the bucket refills with time,
        so a short wait avoids being throttled."""
        with self._rate_lock:
            remaining = self._remaining
        if remaining is None or remaining >= self.rate_limit_low or self.rate_limit_low <= 0:
            return
        share = 1.0 - max(remaining, 0.0) / self.rate_limit_low
        self._sleep(round(self.rate_limit_pause * share, 3))

    # -- users --

    def resolve(self, learner: LearnerRef) -> str | None:
        """The Canvas user id (with `ags`: "<id>|<LTI user id>" when the course roster has the
        learner); None when no way of matching finds exactly one user."""
        canvas_id = self._canvas_user(learner)
        if canvas_id is None:
            return None
        if self.ags is not None:
            lti_id = self.ags.resolve(learner)
            if lti_id:
                return f"{canvas_id}|{lti_id}"
        return canvas_id

    def _canvas_user(self, learner: LearnerRef) -> str | None:
        for method in self.match:
            if method == "account":
                for name in learner.accounts(self.url):
                    found = name if name.isdigit() else self._user_by(f"sis_login_id:{name}")
                    if found:
                        return found
            elif method == "email":
                for email in learner.emails:
                    found = self._user_by_email(email)
                    if found:
                        return found
            elif method == "sis" and self.sis_home_page:
                for name in learner.accounts(self.sis_home_page):
                    found = self._user_by(f"sis_user_id:{name}")
                    if found:
                        return found
        return None

    def _user_by(self, ident: str) -> str | None:
        what = f"looking up Canvas user {ident}"
        answer = self._call("GET", f"/api/v1/users/{quote(ident, safe=':')}", what)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise_for(answer, what)
        user = answer.json(what)
        found = user.get("id") if isinstance(user, dict) else None
        return str(found) if isinstance(found, int) and not isinstance(found, bool) else None

    def _user_by_email(self, email: str) -> str | None:
        what = "searching Canvas users by email"
        email = email.strip().lower()
        if len(email) < 3:
            return None
        path = f"/api/v1/accounts/{self.account_id}/users"
        params: Any = {"search_term": email, "include[]": "email", "per_page": "100"}
        url: str | None = None
        found: set[str] = set()
        for _ in range(MAX_PAGES):
            answer = self._call("GET", path, what, params=params, url=url)
            if answer.status != 200:
                raise_for(answer, what)
            users = answer.json(what)
            if not isinstance(users, list):
                raise GiveUp(f"{what}: expected a list of users")
            for user in users:
                if not isinstance(user, dict) or not isinstance(user.get("id"), int):
                    continue
                addresses = {str(user.get(k) or "").strip().lower() for k in ("email",
                                                                              "login_id")}
                if email in addresses:
                    found.add(str(user["id"]))
            following = answer.links.get("next", {}).get("url")
            if not following or urlsplit(following).netloc != urlsplit(self.url).netloc:
                break
            url, params = following, None
        return found.pop() if len(found) == 1 else None  # several: never guess

    # -- delivery --

    def data_path(self, role_code: str) -> str:
        if not _ROLE_CODE.match(role_code):
            raise GiveUp(f"role code {role_code!r} cannot name a custom data scope")
        return f"{self.scope}/{role_code}"

    def deliver(self, user_id: str, change: Change) -> str:
        canvas_id, _, lti_id = user_id.partition("|")
        if not canvas_id.isdigit():
            raise Unresolved(f"{user_id!r} is not a Canvas user id")
        what = f"custom data for Canvas user {canvas_id}, role {change.role_code}"
        path = (f"/api/v1/users/{canvas_id}/custom_data/{self.data_path(change.role_code)}")
        answer = self._call("PUT", path, what, params={"ns": self.namespace},
                            body={"ns": self.namespace, "data": change.as_dict()})
        if answer.status not in (200, 201):
            self._refused(answer, what)
        outcome = "updated"
        if self.ags is not None:
            if lti_id:
                try:
                    outcome += "; grade " + self.ags.deliver(lti_id, change)
                except Unresolved:  # custom data is written; the grade waits for a re-link
                    outcome += "; no grade (the course refused the LTI user)"
            else:
                outcome += "; no grade (not in the course roster when last resolved)"
        return outcome

    def _refused(self, answer: Answer, what: str) -> None:
        if answer.status == 409:
            conflict = answer.json(what) if answer.body.startswith(b"{") else {}
            scope = conflict.get("conflict_scope", "?") if isinstance(conflict, dict) else "?"
            kind = conflict.get("type_at_conflict", "?") if isinstance(conflict, dict) else "?"
            raise GiveUp(
                f"{what}: Canvas refused (409 write conflict): {excerpt(str(scope).encode(), 80)}"
                f" in namespace {self.namespace} holds a {excerpt(str(kind).encode(), 20)}, not "
                "an object; choose another `scope` or `namespace`, or delete that value")
        if answer.status == 404:
            raise Unresolved(f"{what}: Canvas has no such user (404)")
        if answer.status == 400:
            raise GiveUp(f"{what}: Canvas refused the request (400): {_canvas_message(answer)}")
        raise_for(answer, what)

    # -- checks --

    def check(self) -> list[Finding]:
        """Token valid, custom data writable (on the token's own user), users searchable,
        and the AGS part's own checks."""
        findings = []
        try:
            answer = self._call("GET", "/api/v1/users/self", "reading the token's user")
            if answer.status != 200:
                raise_for(answer, "reading the token's user")
            me = answer.json("reading the token's user")
            findings.append(Finding("token", True, f"the token acts as {_name(me)}"))
        except DeliveryError as exc:
            findings.append(Finding("token", False, exc.message,
                                    "create an access token (Account > Settings > New access "
                                    "token, or a developer key) and configure token_file"))
            return findings
        findings.append(self._check_custom_data())
        if "email" in self.match:
            findings.append(self._check_search())
        if self.ags is not None:
            findings.extend(Finding(f"ags {f.check}", f.ok, f.message, f.fix)
                            for f in self.ags.check())
        return findings

    def _check_custom_data(self) -> Finding:
        what = "writing custom data"
        path = f"/api/v1/users/self/custom_data/{self.scope}/{CHECK_KEY}"
        try:
            answer = self._call("PUT", path, what, params={"ns": self.namespace},
                                body={"ns": self.namespace,
                                      "data": {"checked_at": datetime.now(UTC).isoformat()}})
            if answer.status not in (200, 201):
                self._refused(answer, what)
            self._call("DELETE", path, "removing the check's custom data",
                       params={"ns": self.namespace})
        except DeliveryError as exc:
            return Finding("custom data", False, exc.message,
                           "the token's user must be an account admin whose role may manage "
                           "users' details; `scope` must not hold a plain value")
        return Finding("custom data", True,
                       f"custom data can be written in namespace {self.namespace} under "
                       f"{self.scope}/ (checked on the token's own user; writing other users' "
                       "data needs the account role's permission to manage users)")

    def _check_search(self) -> Finding:
        what = "listing account users"
        try:
            answer = self._call("GET", f"/api/v1/accounts/{self.account_id}/users", what,
                                params={"per_page": "1"})
            if answer.status != 200:
                raise_for(answer, what)
        except DeliveryError as exc:
            return Finding("user search", False, exc.message,
                           "matching by email needs an account admin token that may list "
                           "users (or set account_id to a sub-account it administers)")
        return Finding("user search", True,
                       f"users of account {self.account_id} can be searched by email")


def _canvas_message(answer: Answer) -> str:
    try:
        document = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return excerpt(answer.body)
    if isinstance(document, dict):
        if isinstance(document.get("message"), str):
            return excerpt(document["message"].encode())
        errors = document.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return excerpt(str(errors[0].get("message", "")).encode())
    return excerpt(answer.body)


def _name(me: Any) -> str:
    if isinstance(me, dict):
        return f"{excerpt(str(me.get('name', '?')).encode(), 80)} (user {me.get('id')})"
    return "an unknown user"


def build(name: str, config: dict[str, Any], context: TargetContext) -> CanvasTarget:
    token = read_secret(config, "token", f"lms_targets.{name}", context.environ)
    ags = None
    if config.get("ags"):
        if context.signing_key is None:
            raise TargetConfigError(f"lms_targets.{name}.ags: the AGS part signs with the "
                                    "connector's key, which is kept in the database")
        ags = lti.LtiTarget(f"{name}.ags", config["ags"], context.http, context.signing_key,
                            context.public_base_url)
    return CanvasTarget(name, config, token, context.http, ags)
