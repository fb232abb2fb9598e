"""A test double of an LTI 1.3 Advantage platform (Moodle 4.4's URLs and answers), served over
real HTTP on 127.0.0.1 at a free port from a thread.

Use::

    with LtiPlatform(jwks_url=...) as platform:      # or jwks={"keys": [...]}
        platform.add_member("u-ada", email="ada@example.org", sourcedid="S-1")
        config = platform.config(match=["account", "email"])   # the [lms_targets.X] table
        ...
        platform.scores        # {lineitem id: [score documents]}
        platform.lineitems     # {lineitem id: line item document}

What it does as platforms do:

- **Token** (`POST /mod/lti/token.php`, form): `grant_type=client_credentials`,
  `client_assertion_type=…jwt-bearer`, an RS256 `client_assertion` verified with the
  `cryptography` package against the tool's JWKS (given as `jwks`, or fetched from `jwks_url` on
  each request), by `kid`; `iss` = `sub` = client id, `aud` = the token URL, `exp` in the future,
  `iat` not in the future, `jti` never seen before. Refusals are 400 `{"error": code,
  "error_description": …}`: `unsupported_grant_type`, `invalid_request`, `invalid_client`,
  `invalid_scope` (a scope outside `grantable`). Success: `{access_token, token_type: "Bearer",
  expires_in, scope}` with `expires_in = token_lifetime`.
- **Services** need `Authorization: Bearer <token>`: unknown or expired token -> 401 (see
  `expire_tokens()`), a scope the token lacks -> 403.
- **Line items** (`…/lineitems?type_id=1`): GET filters by `tag` and `resource_id` and answers
  `application/vnd.ims.lis.v2.lineitemcontainer+json`, paged by `lineitem_page_size` with a
  `Link: <…>; rel="next"` header; POST needs `Content-Type:
  application/vnd.ims.lis.v2.lineitem+json` (400 otherwise) and `scoreMaximum` > 0 and a
  `label`, answers 201 with the line item, whose `id` carries `?type_id=1` like Moodle's.
- **Scores** (`<line item path>/scores?type_id=1`): exactly `Content-Type:
  application/vnd.ims.lis.v1.score+json` (anything else 400); an unknown `userId` 400; a
  `timestamp` not newer than the last accepted one for that user and line item, compared to the
  second, 409; otherwise 200 with an empty body (as Moodle answers). A score to a line item
  that does not exist is 404.
- **Names and Role Provisioning** (`…/memberships`): `{"id", "context", "members": [...]}`
  as `application/vnd.ims.lti-nrps.v2.membershipcontainer+json`, `page_size` members a page,
  `Link: <…?page=N>; rel="next"` while more remain; members carry `status`, `user_id`,
  `email`, `lis_person_sourcedid`, `name`, `roles`.

Test hooks: `fail_next(endpoint, status, body, headers)` queues an answer given instead of the
real one by the next request to `endpoint` ("token", "lineitems", "scores", "memberships");
`requests` logs (endpoint, method, path with query, headers); `assertions` holds the verified
client assertion claims; `token_requests` counts token requests.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = frozenset({SCOPE_LINEITEM, SCOPE_LINEITEM_READ, SCOPE_SCORE, SCOPE_RESULT,
                        SCOPE_NRPS})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

TOKEN_PATH = "/mod/lti/token.php"
LINEITEMS_PATH = "/mod/lti/services.php/2/lineitems"
MEMBERSHIPS_PATH = "/mod/lti/services.php/CourseSection/2/bindings/1/memberships"


class Served:
    """A WSGI app on 127.0.0.1 at a free port, answering from a daemon thread."""

    def __init__(self, app: Callable) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _uint(part: str) -> int:
    return int.from_bytes(_b64decode(part), "big")


class AssertionRefused(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


class LtiPlatform:
    """The platform side of LTI Advantage services for one course context (see module doc)."""

    def __init__(self, *, client_id: str = "lrs-connector-tool",
                 jwks: dict[str, Any] | None = None, jwks_url: str | None = None,
                 token_lifetime: int = 3600, page_size: int = 2,
                 lineitem_page_size: int | None = None,
                 grantable: frozenset[str] = ALL_SCOPES) -> None:
        self.client_id = client_id
        self.jwks = jwks
        self.jwks_url = jwks_url
        self.token_lifetime = token_lifetime
        self.page_size = page_size
        self.lineitem_page_size = lineitem_page_size
        self.grantable = set(grantable)
        self.members: list[dict[str, Any]] = []
        self.lineitems: dict[str, dict[str, Any]] = {}
        self.scores: dict[str, list[dict[str, Any]]] = {}
        self.tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self.assertions: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str, dict[str, str]]] = []
        self.token_requests = 0
        self._queued: list[tuple[str, int, bytes, dict[str, str]]] = []
        self._last_second: dict[tuple[str, str], int] = {}
        self._seen_jti: set[str] = set()
        self._next_item = 1
        self._lock = threading.Lock()
        self._served: Served | None = None

    # -- life cycle and URLs --

    def start(self) -> LtiPlatform:
        self._served = Served(self.wsgi)
        return self

    def stop(self) -> None:
        if self._served:
            self._served.stop()

    def __enter__(self) -> LtiPlatform:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._served, "start() the platform first"
        return self._served.url

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def lineitems_url(self) -> str:
        return self.url + LINEITEMS_PATH + "?type_id=1"

    @property
    def memberships_url(self) -> str:
        return self.url + MEMBERSHIPS_PATH

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A `[lms_targets.NAME]` table (without `kind`) for this platform."""
        table = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "token_url": self.token_url,
            "deployment_id": "1",
            "lineitems": self.lineitems_url,
            "memberships": self.memberships_url,
        }
        table.update(overrides)
        return table

    # -- test hooks --

    def add_member(self, user_id: str, *, email: str | None = None,
                   sourcedid: str | None = None, name: str | None = None,
                   status: str = "Active",
                   roles: tuple[str, ...] = ("http://purl.imsglobal.org/vocab/lis/v2/"
                                             "membership#Learner",)) -> None:
        member: dict[str, Any] = {"status": status, "user_id": user_id, "roles": list(roles),
                                  "name": name or user_id}
        if email is not None:
            member["email"] = email
        if sourcedid is not None:
            member["lis_person_sourcedid"] = sourcedid
        self.members.append(member)

    def fail_next(self, endpoint: str, status: int, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._queued.append((endpoint, status, body, headers or {}))

    def expire_tokens(self) -> None:
        """Every issued token is refused from now on (as after the platform's expiry)."""
        with self._lock:
            self.tokens = {k: (0.0, scopes) for k, (_, scopes) in self.tokens.items()}

    def requests_to(self, endpoint: str) -> list[tuple[str, str, str, dict[str, str]]]:
        return [r for r in self.requests if r[0] == endpoint]

    # -- WSGI --

    def wsgi(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        return self._answer(request)(environ, start_response)

    def _endpoint(self, path: str) -> str | None:
        if path == TOKEN_PATH:
            return "token"
        if path == LINEITEMS_PATH:
            return "lineitems"
        if path.startswith(LINEITEMS_PATH + "/") and path.endswith("/lineitem/scores"):
            return "scores"
        if path.startswith(LINEITEMS_PATH + "/") and path.endswith("/lineitem"):
            return "lineitem"
        if path == MEMBERSHIPS_PATH:
            return "memberships"
        return None

    def _answer(self, request: Request) -> Response:
        endpoint = self._endpoint(request.path)
        with self._lock:
            self.requests.append((endpoint or "?", request.method, request.full_path.rstrip("?"),
                                  dict(request.headers)))
            for i, (where, status, body, headers) in enumerate(self._queued):
                if where == endpoint:
                    del self._queued[i]
                    return Response(body, status, headers)
        if endpoint is None:
            return Response(b"Not found", 404)
        if endpoint == "token":
            return self._token(request)
        scopes = self._authorised(request)
        if scopes is None:
            return Response(b"", 401)
        handler = getattr(self, f"_{endpoint}")
        return handler(request, scopes)

    # -- token endpoint --

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(b"", 405)
        with self._lock:
            self.token_requests += 1
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "only client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get(
                "client_assertion"):
            return _oauth_error("invalid_request", "a JWT bearer client assertion is required")
        try:
            claims = self._verify(form["client_assertion"])
        except AssertionRefused as exc:
            return _oauth_error(exc.code, exc.description)
        requested = set(form.get("scope", "").split())
        if not requested or not requested <= self.grantable:
            return _oauth_error("invalid_scope", "scope not granted to this tool")
        token = base64.urlsafe_b64encode(orjson.dumps(claims["jti"]) + time.time_ns()
                                         .to_bytes(8, "big")).decode().rstrip("=")
        with self._lock:
            self.assertions.append(claims)
            self.tokens[token] = (time.time() + self.token_lifetime, frozenset(requested))
        return Response(orjson.dumps({"access_token": token, "token_type": "Bearer",
                                      "expires_in": self.token_lifetime,
                                      "scope": " ".join(sorted(requested))}),
                        200, content_type="application/json")

    def _key_set(self) -> dict[str, Any]:
        if self.jwks is not None:
            return self.jwks
        if not self.jwks_url:
            raise AssertionRefused("invalid_client", "the tool has no public keys registered")
        try:
            return requests.get(self.jwks_url, timeout=5).json()
        except (requests.RequestException, ValueError) as exc:
            raise AssertionRefused("invalid_client", f"keyset URL unreadable: {exc}") from None

    def _verify(self, assertion: str) -> dict[str, Any]:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise AssertionRefused("invalid_request", "the assertion is not a JWT")
        try:
            header = orjson.loads(_b64decode(parts[0]))
            claims = orjson.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, orjson.JSONDecodeError):
            raise AssertionRefused("invalid_request", "the assertion is not a JWT") from None
        if header.get("alg") != "RS256":
            raise AssertionRefused("invalid_client", "the assertion must be signed with RS256")
        jwk = next((k for k in self._key_set().get("keys", [])
                    if k.get("kid") == header.get("kid")), None)
        if jwk is None or jwk.get("kty") != "RSA":
            raise AssertionRefused("invalid_client", "no key with that kid in the tool's JWKS")
        public = rsa.RSAPublicNumbers(_uint(jwk["e"]), _uint(jwk["n"])).public_key()
        try:
            public.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
        except InvalidSignature:
            raise AssertionRefused("invalid_client", "the signature does not verify") from None
        now = time.time()
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise AssertionRefused("invalid_client", "iss and sub must be the client id")
        audience = claims.get("aud")
        if self.token_url not in (audience if isinstance(audience, list) else [audience]):
            raise AssertionRefused("invalid_client", "aud must be the token URL")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
            raise AssertionRefused("invalid_client", "the assertion has expired")
        if not isinstance(claims.get("iat"), int | float) or claims["iat"] > now + 60:
            raise AssertionRefused("invalid_client", "iat is in the future")
        jti = claims.get("jti")
        with self._lock:
            if not isinstance(jti, str) or not jti or jti in self._seen_jti:
                raise AssertionRefused("invalid_client", "jti missing or replayed")
            self._seen_jti.add(jti)
        claims["kid"] = header["kid"]
        return claims

    def _authorised(self, request: Request) -> frozenset[str] | None:
        value = request.headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            return None
        with self._lock:
            entry = self.tokens.get(value[7:])
        if entry is None or entry[0] <= time.time():
            return None
        return entry[1]

    # -- line items --

    def _lineitems(self, request: Request, scopes: frozenset[str]) -> Response:
        if request.method == "GET":
            if not scopes & {SCOPE_LINEITEM, SCOPE_LINEITEM_READ}:
                return Response(b"", 403)
            items = [item for item in self.lineitems.values()
                     if request.args.get("tag") in (None, item.get("tag"))
                     and request.args.get("resource_id") in (None, item.get("resourceId"))]
            headers = {}
            if self.lineitem_page_size:
                page = int(request.args.get("page", "1"))
                start = (page - 1) * self.lineitem_page_size
                if start + self.lineitem_page_size < len(items):
                    headers["Link"] = f'<{self._page_url(request, page + 1)}>; rel="next"'
                items = items[start:start + self.lineitem_page_size]
            return Response(orjson.dumps(items), 200, headers, content_type=MEDIA_LINEITEMS)
        if request.method != "POST":
            return Response(b"", 405)
        if SCOPE_LINEITEM not in scopes:
            return Response(b"", 403)
        if request.headers.get("Content-Type") != MEDIA_LINEITEM:
            return Response(b"Incorrect content type", 400)
        try:
            document = orjson.loads(request.get_data())
        except orjson.JSONDecodeError:
            return Response(b"Invalid JSON", 400)
        maximum = document.get("scoreMaximum")
        if not isinstance(maximum, int | float) or maximum <= 0 or not document.get("label"):
            return Response(b"scoreMaximum and label are required", 400)
        with self._lock:
            number = self._next_item
            self._next_item += 1
        ident = f"{self.url}{LINEITEMS_PATH}/{number}/lineitem?type_id=1"
        item = {"id": ident, "scoreMaximum": maximum, "label": document["label"],
                "resourceId": document.get("resourceId", ""), "tag": document.get("tag", ""),
                "resourceLinkId": ""}
        self.lineitems[ident] = item
        self.scores[ident] = []
        return Response(orjson.dumps(item), 201, content_type=MEDIA_LINEITEM)

    def _lineitem(self, request: Request, scopes: frozenset[str]) -> Response:
        ident = f"{self.url}{request.path}?type_id=1"
        if ident not in self.lineitems:
            return Response(b"", 404)
        return Response(orjson.dumps(self.lineitems[ident]), 200, content_type=MEDIA_LINEITEM)

    def delete_lineitem(self, ident: str) -> None:
        """As a teacher deleting the grade column."""
        self.lineitems.pop(ident, None)
        self.scores.pop(ident, None)

    # -- scores --

    def _scores(self, request: Request, scopes: frozenset[str]) -> Response:
        if request.method != "POST":
            return Response(b"", 405)
        if SCOPE_SCORE not in scopes:
            return Response(b"", 403)
        ident = f"{self.url}{request.path.removesuffix('/scores')}?type_id=1"
        if ident not in self.lineitems:
            return Response(b"No line item", 404)
        if request.headers.get("Content-Type") != MEDIA_SCORE:
            return Response(b"Incorrect content type", 400)
        try:
            score = orjson.loads(request.get_data())
            moment = datetime.fromisoformat(score["timestamp"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return Response(b"Incorrect score received", 400)
        if moment.tzinfo is None or not score.get("activityProgress") or not score.get(
                "gradingProgress"):
            return Response(b"Incorrect score received", 400)
        user = score.get("userId")
        if not any(m["user_id"] == user and m["status"] != "Deleted" for m in self.members):
            return Response(b"Incorrect user", 400)
        second = int(moment.timestamp())
        with self._lock:
            last = self._last_second.get((ident, user))
            if last is not None and second <= last:
                return Response(b"Refusing score with an earlier timestamp for item", 409)
            self._last_second[(ident, user)] = second
            self.scores[ident].append(score)
        return Response(b"", 200)

    # -- Names and Role Provisioning --

    def _memberships(self, request: Request, scopes: frozenset[str]) -> Response:
        if request.method != "GET":
            return Response(b"", 405)
        if SCOPE_NRPS not in scopes:
            return Response(b"", 403)
        page = int(request.args.get("page", "1"))
        start = (page - 1) * self.page_size
        members = self.members[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(self.members):
            headers["Link"] = f'<{self._page_url(request, page + 1)}>; rel="next"'
        document = {"id": self.memberships_url,
                    "context": {"id": "2", "label": "CS101", "title": "Course 101"},
                    "members": members}
        return Response(orjson.dumps(document), 200, headers, content_type=MEDIA_MEMBERSHIPS)

    def _page_url(self, request: Request, page: int) -> str:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
        return f"{self.url}{request.path}?{urlencode([*args, ('page', str(page))])}"


def _oauth_error(code: str, description: str) -> Response:
    return Response(orjson.dumps({"error": code, "error_description": description}), 400,
                    content_type="application/json")
