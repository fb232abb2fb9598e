"""The LTI 1.3 Advantage target: readiness as a grade through Assignment and Grade Services
(AGS), learners found through Names and Role Provisioning Services (NRPS). Works with any LTI
Advantage platform (Moodle, Canvas, Brightspace, Open edX).

The connector is registered on the platform as an LTI tool; for service calls it obtains an
access token with OAuth 2 client credentials, authenticating with an RS256 JWT signed by its
current key (lrs_connector.lms.keys; public keys at /.well-known/jwks.json). Each role gets one
line item in the context, found by its tag or created; each change is one score. A platform
refuses a score whose timestamp is not newer than the last one (409): that change, or a newer
one, is already there, so 409 counts as applied and retries are harmless.

Everything the platform answers is untrusted: bodies are size-capped, URLs it hands back are
only followed on the origin of the configured service URLs (the bearer token goes nowhere
else), and error messages quote at most a short, single-line excerpt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson
import requests
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lrs_connector.lms import keys
from lrs_connector.lms.config import SigningKey, TargetConfigError, TargetContext
from lrs_connector.lms.targets import (
    DEFAULT_TIMEOUT,
    Change,
    DeliveryError,
    Finding,
    GiveUp,
    LearnerRef,
    Retry,
    Unresolved,
    retry_after,
)

MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWKS_PATH = "/.well-known/jwks.json"

#: How a learner is matched to a platform user, tried in the configured order.
MATCHES = ("account", "email", "sourcedid")
#: Largest answer read from a platform (one page of members can be large).
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAGES = 500
MAX_MEMBERS = 200_000
MAX_TOKEN_CHARS = 8192
#: A token is reused until this long before it expires (or a tenth of its life if shorter).
TOKEN_MARGIN_SECONDS = 60.0

#: What an admin should do about each OAuth error code a token endpoint answers.
TOKEN_FIXES = {
    "invalid_client": "the platform did not accept the tool's client assertion: check client_id "
                      "and token_url (or token_audience), and that the tool's public keyset URL "
                      "on the platform is <public_base_url>/.well-known/jwks.json",
    "invalid_scope": "the platform does not grant the requested services: enable Assignment "
                     "and Grade Services (and Names and Role Provisioning if `memberships` is "
                     "set) for the tool",
    "unauthorized_client": "the tool may not use client credentials: enable its LTI Advantage "
                           "services on the platform",
    "invalid_grant": "the platform refused the assertion (expired or replayed?): check the "
                     "connector's clock",
    "invalid_request": "the platform found the token request malformed: check token_url",
    "unsupported_grant_type": "token_url does not accept client credentials: is it the "
                              "platform's LTI token URL?",
}


class ConfigSchema(Schema):
    """`[lms_targets.NAME]` with `kind = "lti"` (see docs/lms-lti-canvas.md)."""

    issuer = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    token_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    token_audience = fields.String(validate=validate.Length(min=1, max=1000))
    deployment_id = fields.String(validate=validate.Length(min=1, max=255))
    lineitems = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    memberships = fields.Url(schemes={"http", "https"}, require_tld=False)
    match = fields.List(fields.String(validate=validate.OneOf(MATCHES)),
                        load_default=lambda: ["account", "email"],
                        validate=validate.Length(min=1, max=len(MATCHES)))
    sis_home_page = fields.Url(schemes={"http", "https"}, require_tld=False)
    score_maximum = fields.Float(load_default=100.0,
                                 validate=validate.Range(min=1, max=1_000_000))
    label = fields.String(load_default="Readiness: {role}",
                          validate=validate.Length(min=1, max=200))
    tag_prefix = fields.String(load_default="lrs-connector:readiness:",
                               validate=validate.Length(min=1, max=100))
    members_cache_seconds = fields.Float(load_default=300.0,
                                         validate=validate.Range(min=0, max=86_400))
    timeout = fields.Float(load_default=DEFAULT_TIMEOUT, validate=validate.Range(min=0.5, max=120))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        match = data.get("match") or []
        if len(set(match)) != len(match):
            raise ValidationError("each way of matching may be named once", "match")
        for needs in ("email", "sourcedid"):
            if needs in match and not data.get("memberships"):
                raise ValidationError(
                    f"matching by {needs} needs the Names and Role Provisioning URL "
                    "(`memberships`) of the context", "memberships")
        if "sourcedid" in match and not data.get("sis_home_page"):
            raise ValidationError("matching by sourcedid needs the homePage of the xAPI accounts "
                                  "whose name is the SIS id", "sis_home_page")
        for key in ("token_url", "lineitems", "memberships"):
            url = data.get(key)
            if url and urlsplit(url).username is not None:
                raise ValidationError("credentials do not belong in the URL", key)


# -- HTTP with bounded, untrusted answers ---------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    def json(self, what: str) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise GiveUp(f"{what}: the answer is not JSON ({excerpt(self.body)})") from None


def excerpt(body: bytes, limit: int = 200) -> str:
    """A short single-line quote of an answer, safe for admin messages and logs."""
    text = " ".join(body[: limit * 4].decode("utf-8", "replace").split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return (text[:limit] + "…" if len(text) > limit else text) or "(empty body)"


def send(http: requests.Session, method: str, url: str, *, what: str, timeout: float,
         max_bytes: int | None = None, **kwargs: Any) -> Answer:
    """One request; network trouble becomes Retry, an oversized answer GiveUp."""
    max_bytes = MAX_BODY_BYTES if max_bytes is None else max_bytes
    try:
        with http.request(method, url, timeout=timeout, stream=True, allow_redirects=False,
                          **kwargs) as response:
            chunks, size = [], 0
            for chunk in response.iter_content(65_536):
                size += len(chunk)
                if size > max_bytes:
                    raise GiveUp(f"{what}: the answer is larger than {max_bytes} bytes")
                chunks.append(chunk)
            return Answer(response.status_code, response.headers, b"".join(chunks),
                          response.links)
    except requests.Timeout:
        raise Retry(f"{what}: no answer from {_origin(url)} within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise Retry(f"{what}: cannot reach {_origin(url)}: {type(exc).__name__}") from None


def raise_for(answer: Answer, what: str) -> None:
    """The common mapping of an unsuccessful answer: throttled or server trouble -> Retry,
    anything else -> GiveUp with the status and an excerpt."""
    status = answer.status
    if status in (408, 425, 429) or status >= 500:
        raise Retry(f"{what}: the platform answered {status}", retry_after(answer.headers))
    if 300 <= status < 400:
        raise GiveUp(f"{what}: the platform answered a redirect ({status}); configure the "
                     "final URL")
    raise GiveUp(f"{what}: the platform answered {status}: {excerpt(answer.body)}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to the query it may already have (Moodle's service URLs
    carry `?type_id=…`)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    return urlunsplit(parts._replace(query=urlencode(query + list(params.items()))))


def scores_url(lineitem: str) -> str:
    """`<lineitem>/scores`, keeping the line item's query string."""
    parts = urlsplit(lineitem)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 with milliseconds and an explicit offset, as AGS wants it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# -- the target ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    reuse_until: float
    expires_in: float
    scopes: frozenset[str]


@dataclass(frozen=True)
class _Roster:
    fetched: float
    count: int
    by_email: dict[str, str | None]  # None: two members share it (never guessed)
    by_sourcedid: dict[str, str | None]
    with_email: int


class LtiTarget:
    """One LTI platform context: its token endpoint, line items container and roster."""

    kind = "lti"

    def __init__(self, name: str, config: Mapping[str, Any], http: requests.Session,
                 signing_key: Callable[[], SigningKey], public_base_url: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.issuer = config["issuer"]
        self.client_id = config["client_id"]
        self.token_url = config["token_url"]
        self.audience = config.get("token_audience") or self.token_url
        self.deployment_id = config.get("deployment_id")
        self.lineitems_url = config["lineitems"]
        self.memberships_url = config.get("memberships")
        self.match = tuple(config["match"])
        self.sis_home_page = config.get("sis_home_page")
        maximum = float(config["score_maximum"])
        self.score_maximum: float | int = int(maximum) if maximum.is_integer() else maximum
        self.label = config["label"]
        self.tag_prefix = config["tag_prefix"]
        self.members_cache_seconds = float(config["members_cache_seconds"])
        self.timeout = float(config["timeout"])
        self.http = http
        self.public_base_url = public_base_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock
        self.scopes = [SCOPE_LINEITEM, SCOPE_SCORE] + (
            [SCOPE_NRPS] if self.memberships_url else [])
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        self._lineitems: dict[str, str] = {}
        self._lineitem_lock = threading.Lock()
        self._roster_cache: _Roster | None = None
        self._roster_lock = threading.Lock()

    # -- access token --

    def access_token(self, stale: str | None = None) -> str:
        """A token for the services, reused until shortly before it expires. `stale` is a
        token the platform refused: it is replaced unless another thread already did."""
        with self._token_lock:
            token = self._token
            if token is not None and token.value != stale and self._clock() < token.reuse_until:
                return token.value
            self._token = None
            self._token = self._request_token()
            return self._token.value

    def _request_token(self) -> _Token:
        what = "token request"
        try:
            key = self._signing_key()
        except Exception as exc:  # storage trouble: the key is read from the database
            raise Retry(f"{what}: the tool's signing key could not be read "
                        f"({type(exc).__name__})") from None
        now = self._clock()
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": keys.client_assertion(key, self.client_id, self.audience),
            "scope": " ".join(self.scopes),
        }
        answer = send(self.http, "POST", self.token_url, what=what, timeout=self.timeout,
                      data=form, headers={"Accept": "application/json"})
        if answer.status == 200:
            return self._parse_token(answer, now)
        if answer.status in (400, 401):
            code, description = _oauth_error(answer.body)
            if code:
                detail = f" ({description})" if description else ""
                fix = TOKEN_FIXES.get(code, "")
                raise GiveUp(f"{what}: the platform answered {code}{detail}"
                             + (f"; {fix}" if fix else ""))
        raise_for(answer, what)
        raise AssertionError("unreachable")

    def _parse_token(self, answer: Answer, now: float) -> _Token:
        what = "token request"
        document = answer.json(what)
        value = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value or len(value) > MAX_TOKEN_CHARS:
            raise GiveUp(f"{what}: the answer holds no usable access_token; is token_url the "
                         "platform's LTI token URL?")
        expires_in = document.get("expires_in", 3600)
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) \
                or expires_in <= 0:
            expires_in = 60  # unknown lifetime: reuse briefly, a 401 refreshes anyway
        expires_in = min(float(expires_in), 86_400.0)
        scope = document.get("scope")
        granted = frozenset(scope.split()) if isinstance(scope, str) and scope.strip() \
            else frozenset(self.scopes)
        margin = min(TOKEN_MARGIN_SECONDS, expires_in / 10)
        return _Token(value, now + expires_in - margin, expires_in, granted)

    def forget_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _service(self, method: str, url: str, *, what: str, accept: str | None = None,
                 content_type: str | None = None, body: bytes | None = None) -> Answer:
        """A call with the bearer token; a 401 replaces the token and tries once more."""
        token = self.access_token()
        answer = self._send_with(token, method, url, what, accept, content_type, body)
        if answer.status == 401:
            token = self.access_token(stale=token)
            answer = self._send_with(token, method, url, what, accept, content_type, body)
            if answer.status == 401:
                raise GiveUp(f"{what}: the platform refused a fresh access token (401); check "
                             "that the tool's services are enabled for this context")
        return answer

    def _send_with(self, token: str, method: str, url: str, what: str, accept: str | None,
                   content_type: str | None, body: bytes | None) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        return send(self.http, method, url, what=what, timeout=self.timeout, headers=headers,
                    data=body)

    # -- line items --

    def tag(self, role_code: str) -> str:
        return f"{self.tag_prefix}{role_code}"

    def lineitem(self, change: Change) -> str:
        """The URL of the role's line item: cached, else found by tag, else created."""
        with self._lineitem_lock:
            url = self._lineitems.get(change.role_code)
            if url is None:
                tag = self.tag(change.role_code)
                url = self._find_lineitem(tag) or self._create_lineitem(change, tag)
                self._lineitems[change.role_code] = url
            return url

    def _find_lineitem(self, tag: str) -> str | None:
        what = f"line items tagged {tag}"
        found = [item["id"] for item in self._lineitem_pages(with_query(self.lineitems_url,
                                                                       tag=tag), what)
                 if item.get("tag") == tag]
        # Two workers may both have created one; all then settle on the oldest-looking id.
        return min(found, key=lambda i: (len(i), i)) if found else None

    def _lineitem_pages(self, url: str | None, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            answer = self._service("GET", url, what=what, accept=MEDIA_LINEITEMS)
            if answer.status == 404:
                raise GiveUp(f"{what}: the line items URL {self.lineitems_url} does not exist "
                             "(check `lineitems`)")
            if answer.status == 403:
                raise GiveUp(f"{what}: the platform does not let the tool read line items "
                             "(403); enable Assignment and Grade Services for it")
            if answer.status != 200:
                raise_for(answer, what)
            page = answer.json(what)
            if not isinstance(page, list):
                raise GiveUp(f"{what}: expected a list of line items")
            items.extend(item for item in page if isinstance(item, dict)
                         and isinstance(item.get("id"), str)
                         and self._same_origin(item["id"], self.lineitems_url))
            url = self._next(answer, url, self.lineitems_url)
        raise GiveUp(f"{what}: more than {MAX_PAGES} pages")

    def _create_lineitem(self, change: Change, tag: str) -> str:
        what = f"creating the line item for {change.role_code}"
        document = {
            "scoreMaximum": self.score_maximum,
            "label": self.label.replace("{role}", change.role_name or change.role_code),
            "resourceId": change.role_code,
            "tag": tag,
        }
        answer = self._service("POST", self.lineitems_url, what=what, accept=MEDIA_LINEITEM,
                               content_type=MEDIA_LINEITEM, body=orjson.dumps(document))
        if answer.status == 403:
            raise GiveUp(f"{what}: the platform does not let the tool create line items (403); "
                         "grant it the line item scope")
        if answer.status not in (200, 201):
            raise_for(answer, what)
        created = answer.json(what)
        ident = created.get("id") if isinstance(created, dict) else None
        if not isinstance(ident, str) or not self._same_origin(ident, self.lineitems_url):
            raise GiveUp(f"{what}: the platform answered no usable line item id")
        return self._find_lineitem(tag) or ident

    # -- scores --

    def score(self, user_id: str, change: Change) -> dict[str, Any]:
        """The AGS score document for one change."""
        given = round(change.score * float(self.score_maximum) / 100.0, 4)
        return {
            "userId": user_id,
            "scoreGiven": given,
            "scoreMaximum": self.score_maximum,
            "comment": change.level,
            "timestamp": iso_timestamp(change.computed_at),
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
        }

    def deliver(self, user_id: str, change: Change) -> str:
        what = f"score for user {user_id}, role {change.role_code}"
        body = orjson.dumps(self.score(user_id, change))
        for attempt in (1, 2):
            url = scores_url(self.lineitem(change))
            answer = self._service("POST", url, what=what, content_type=MEDIA_SCORE, body=body)
            if answer.status == 404 and attempt == 1:  # the line item was deleted: make anew
                with self._lineitem_lock:
                    self._lineitems.pop(change.role_code, None)
                continue
            break
        status = answer.status
        if 200 <= status < 300:
            return "updated"
        if status == 409:
            return "already applied"
        if status == 400:
            raise Unresolved(f"{what}: the platform refused the score (400), most likely "
                             f"because the user is not in the context: {excerpt(answer.body)}")
        if status == 403:
            raise GiveUp(f"{what}: the platform does not let the tool post scores (403); grant "
                         "it the score scope")
        if status == 404:
            raise GiveUp(f"{what}: the line item's scores URL does not exist (404)")
        raise_for(answer, what)
        raise AssertionError("unreachable")

    # -- users --

    def resolve(self, learner: LearnerRef) -> str | None:
        """The LTI user id: an xAPI account on the platform (homePage = issuer) names it; else
        the context's roster (NRPS) by email or SIS id. Ambiguous matches are not guessed."""
        for method in self.match:
            if method == "account":
                names = learner.accounts(self.issuer)
                if names:
                    return names[0]
            elif method == "email":
                roster = self.roster()
                for email in learner.emails:
                    found = roster.by_email.get(email.strip().lower())
                    if found:
                        return found
            elif method == "sourcedid" and self.sis_home_page:
                roster = self.roster()
                for name in learner.accounts(self.sis_home_page):
                    found = roster.by_sourcedid.get(name)
                    if found:
                        return found
        return None

    def roster(self) -> _Roster:
        """The context's members, fetched again after `members_cache_seconds`."""
        with self._roster_lock:
            cached = self._roster_cache
            if cached is None or self._clock() - cached.fetched >= self.members_cache_seconds:
                cached = self._roster_cache = self._fetch_roster()
            return cached

    def _fetch_roster(self) -> _Roster:
        what = "context memberships (NRPS)"
        if not self.memberships_url:
            raise GiveUp(f"{what}: `memberships` is not configured")
        by_email: dict[str, str | None] = {}
        by_sourcedid: dict[str, str | None] = {}
        count = with_email = 0
        url: str | None = self.memberships_url
        for _ in range(MAX_PAGES):
            if url is None:
                return _Roster(self._clock(), count, by_email, by_sourcedid, with_email)
            answer = self._service("GET", url, what=what, accept=MEDIA_MEMBERSHIPS)
            if answer.status == 403:
                raise GiveUp(f"{what}: the platform does not let the tool read the roster "
                             "(403); enable Names and Role Provisioning for it")
            if answer.status != 200:
                raise_for(answer, what)
            page = answer.json(what)
            members = page.get("members") if isinstance(page, dict) else None
            if not isinstance(members, list):
                raise GiveUp(f"{what}: the answer has no `members` list")
            for member in members:
                if not isinstance(member, dict) or member.get("status") == "Deleted":
                    continue
                user_id = member.get("user_id")
                if not isinstance(user_id, str) or not 0 < len(user_id) <= 255:
                    continue
                count += 1
                if count > MAX_MEMBERS:
                    raise GiveUp(f"{what}: more than {MAX_MEMBERS} members")
                email = member.get("email")
                if isinstance(email, str) and email.strip():
                    with_email += 1
                    _index(by_email, email.strip().lower(), user_id)
                sourcedid = member.get("lis_person_sourcedid")
                if isinstance(sourcedid, str) and sourcedid:
                    _index(by_sourcedid, sourcedid, user_id)
            url = self._next(answer, url, self.memberships_url)
        raise GiveUp(f"{what}: more than {MAX_PAGES} pages")

    def _next(self, answer: Answer, current: str, base: str) -> str | None:
        link = answer.links.get("next", {}).get("url")
        if not link:
            return None
        following = urljoin(current, link)
        return following if self._same_origin(following, base) and following != current \
            else None

    @staticmethod
    def _same_origin(url: str, base: str) -> bool:
        parts, home = urlsplit(url), urlsplit(base)
        return (parts.scheme, parts.netloc) == (home.scheme, home.netloc)

    # -- checks --

    def check(self) -> list[Finding]:
        """Token, granted scopes, line items, roster and the keyset URL, each with a fix."""
        findings = [Finding("keyset", True,
                            f"the platform must have the tool's public keyset URL "
                            f"{self.public_base_url or '<public_base_url>'}{JWKS_PATH} and "
                            f"client id {self.client_id}"
                            + (f" (deployment {self.deployment_id})" if self.deployment_id
                               else ""))]
        self.forget_token()
        try:
            self.access_token()
        except DeliveryError as exc:
            fix = ("check token_url and that the platform answers"
                   if isinstance(exc, Retry) else
                   "register the tool's keyset URL and client id on the platform")
            findings.append(Finding("token", False, exc.message, fix))
            return findings
        token = self._token
        assert token is not None
        findings.append(Finding("token", True, f"{self.token_url} issued an access token "
                                f"valid for {token.expires_in:g} s"))
        missing = [s for s in self.scopes if s not in token.scopes]
        findings.append(Finding(
            "scopes", not missing,
            "granted: " + ", ".join(s.rsplit("/", 1)[-1] for s in self.scopes
                                    if s in token.scopes)
            + (("; missing: " + ", ".join(missing)) if missing else ""),
            "" if not missing else "enable Assignment and Grade Services (line items and "
            "scores) and, for `memberships`, Names and Role Provisioning for the tool"))
        try:
            items = self._lineitem_pages(self.lineitems_url, "line items")
            findings.append(Finding(
                "line items", True,
                f"{len(items)} line items readable at {self.lineitems_url}; one per role is "
                f"created with the tag {self.tag_prefix}<role code>"))
        except DeliveryError as exc:
            findings.append(Finding("line items", False, exc.message,
                                    "`lineitems` must be the context's line items URL (from a "
                                    "launch's AGS claim)"))
        if self.memberships_url:
            try:
                with self._roster_lock:
                    roster = self._roster_cache = self._fetch_roster()
                emails_needed = "email" in self.match and roster.count and not roster.with_email
                findings.append(Finding(
                    "memberships", not emails_needed,
                    f"{roster.count} members readable, {roster.with_email} with an email",
                    "the platform withholds members' emails: allow the tool to receive them "
                    "(privacy settings) or match learners by account" if emails_needed else ""))
            except DeliveryError as exc:
                findings.append(Finding("memberships", False, exc.message,
                                        "`memberships` must be the context's Names and Role "
                                        "Provisioning URL"))
        return findings


def _index(index: dict[str, str | None], key: str, user_id: str) -> None:
    if key in index and index[key] != user_id:
        index[key] = None
    else:
        index[key] = user_id


def _oauth_error(body: bytes) -> tuple[str | None, str | None]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict) or not isinstance(document.get("error"), str):
        return None, None
    code = document["error"][:64]
    if not all(c.isalnum() or c in "_-." for c in code):
        code = "invalid"
    description = document.get("error_description")
    return code, excerpt(description.encode(), 200) if isinstance(description, str) else None


def build(name: str, config: dict[str, Any], context: TargetContext) -> LtiTarget:
    if context.signing_key is None:
        raise TargetConfigError(f"lms_targets.{name}: an LTI target signs with the connector's "
                                "key, which is kept in the database (no key provider given)")
    return LtiTarget(name, config, context.http, context.signing_key, context.public_base_url)
