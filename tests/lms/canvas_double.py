"""A test double of the Canvas REST API parts the connector uses, served over real HTTP on
127.0.0.1 at a free port from a thread (see tests.lms.lti_double.Served).

Use::

    with CanvasDouble() as canvas:
        canvas.add_user(7, "Ada", login_id="ada", email="ada@example.org", sis_user_id="S-7")
        config = canvas.config()                 # the [lms_targets.NAME] table, token inline
        ...
        canvas.custom_data[(7, canvas.namespace)]  # what was stored for user 7

What it answers as Canvas does:

- **Authentication**: `Authorization: Bearer <token>`; missing -> 401 `{"status":
  "unauthenticated", "errors": [{"message": "user authorization required"}]}`, wrong -> 401
  `{"errors": [{"message": "Invalid access token."}]}`, both with `WWW-Authenticate: Bearer
  realm="canvas-lms"`. The token acts as user `self_id` (an account admin unless
  `admin=False`); what only an admin may do answers `permission_status` (403 as current
  Canvas, 401 as older ones) `{"status": "unauthorized", "errors": [{"message": "user not
  authorized to perform that action"}]}`.
- **Throttling** (leaky bucket): every answer carries `X-Request-Cost` (`cost`) and
  `X-Rate-Limit-Remaining` (`remaining`, refilled at `leak_rate` per second up to 700). When
  the bucket is empty, or while `throttle_next` > 0, a call is refused: `throttle_style="403"`
  answers 403 `text/plain` "403 Forbidden (Rate Limit Exceeded)\\n" (hosted Canvas),
  `"429"` answers 429 with the same text and `Retry-After: retry_after` if set.
- **Users**: `GET /api/v1/users/<self | id | sis_user_id:X | sis_login_id:X>` -> the user or
  404 `{"errors": [{"message": "The specified resource does not exist."}]}`.
  `GET /api/v1/accounts/self/users?search_term=…[&include[]=email]&per_page=N[&page=P]`
  (admins only) matches name, login id, SIS id and email, case-insensitively; a search term
  under 2 characters is 400; `per_page` is capped at `page_size` (as Canvas caps it); pages
  carry Canvas's `Link` header (`rel="current"`, `"next"`, `"first"`, `"last"`).
- **Custom data**: `PUT|GET|DELETE /api/v1/users/<id|self>/custom_data[/<scope…>]`, `ns` in the
  query or the JSON body (missing -> 400 `{"message": "invalid namespace"}`), `data` required on
  PUT (400 `{"message": "no data specified"}`). PUT answers 201 when the scope was empty, 200
  when it overwrote, 409 `{"message": "write conflict for custom_data hash", "conflict_scope",
  "type_at_conflict", "value_at_conflict"}` when an outer scope holds a plain value; each answers
  `{"data": …}`. Another user's data needs an admin; GET/DELETE of an empty scope is 400
  `{"message": "no data for scope"}`.

`requests` logs (method, path with query, headers) of every call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from werkzeug.wrappers import Request, Response

from tests.lms.lti_double import Served

BUCKET = 700.0
THROTTLED_BODY = b"403 Forbidden (Rate Limit Exceeded)\n"
_MISSING = object()


class CanvasDouble:
    def __init__(self, *, token: str = "canvas-test-token", admin: bool = True,
                 self_id: int = 1, page_size: int = 10, throttle_style: str = "403",
                 permission_status: int = 403, cost: float = 1.0, leak_rate: float = 10.0,
                 namespace: str = "dev.lrs-connector") -> None:
        self.token = token
        self.admin = admin
        self.self_id = self_id
        self.page_size = page_size
        self.throttle_style = throttle_style
        self.permission_status = permission_status
        self.cost = cost
        self.leak_rate = leak_rate
        self.namespace = namespace
        self.remaining = BUCKET
        self.throttle_next = 0
        self.retry_after: str | None = None
        self.users: dict[int, dict[str, Any]] = {}
        self.custom_data: dict[tuple[int, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._last_leak = time.monotonic()
        self._lock = threading.Lock()
        self._served: Served | None = None
        self.add_user(self_id, "Connector Admin", login_id="connector-admin")

    # -- life cycle --

    def start(self) -> CanvasDouble:
        self._served = Served(self.wsgi)
        return self

    def stop(self) -> None:
        if self._served:
            self._served.stop()

    def __enter__(self) -> CanvasDouble:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._served, "start() the double first"
        return self._served.url

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A `[lms_targets.NAME]` table (without `kind`) for this Canvas."""
        table = {"url": self.url, "token": self.token, "namespace": self.namespace}
        table.update(overrides)
        return table

    def add_user(self, user_id: int, name: str, *, login_id: str | None = None,
                 email: str | None = None, sis_user_id: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "name": name, "sortable_name": name,
                               "short_name": name, "login_id": login_id, "email": email,
                               "sis_user_id": sis_user_id}

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _ in self.requests if method in (None, m)]

    # -- WSGI --

    def wsgi(self, environ: dict, start_response: Callable) -> Any:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        with self._lock:
            self.requests.append((request.method, request.full_path.rstrip("?"),
                                  dict(request.headers)))
            now = time.monotonic()
            self.remaining = min(BUCKET, self.remaining + (now - self._last_leak)
                                 * self.leak_rate)
            self._last_leak = now
            if self.throttle_next > 0 or self.remaining - self.cost < 0:
                self.throttle_next = max(0, self.throttle_next - 1)
                return self._throttled()
            self.remaining -= self.cost
            quota = {"X-Request-Cost": f"{self.cost:.4f}",
                     "X-Rate-Limit-Remaining": f"{self.remaining:.4f}"}
        response = self._route(request)
        response.headers.update(quota)
        return response

    def _throttled(self) -> Response:
        headers = {"X-Rate-Limit-Remaining": f"{max(self.remaining, 0.0):.1f}"}
        if self.throttle_style == "429":
            if self.retry_after:
                headers["Retry-After"] = self.retry_after
            return Response(THROTTLED_BODY.replace(b"403 Forbidden", b"429 Too Many Requests"),
                            429, headers, content_type="text/plain; charset=utf-8")
        return Response(THROTTLED_BODY, 403, headers, content_type="text/plain; charset=utf-8")

    def _route(self, request: Request) -> Response:
        value = request.headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            return _unauthenticated({"status": "unauthenticated",
                                     "errors": [{"message": "user authorization required"}]})
        if value[7:] != self.token:
            return _unauthenticated({"errors": [{"message": "Invalid access token."}]})
        parts = request.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "users"] and len(parts) == 4 and request.method == "GET":
            return self._user(parts[3])
        if parts[:3] == ["api", "v1", "users"] and len(parts) >= 5 and parts[4] == "custom_data":
            return self._custom_data(request, parts[3], parts[5:])
        if parts[:3] == ["api", "v1", "accounts"] and parts[4:] == ["users"] \
                and request.method == "GET":
            return self._search(request)
        return _json({"errors": [{"message": "The specified resource does not exist."}]}, 404)

    def _find(self, ident: str) -> dict[str, Any] | None:
        if ident == "self":
            return self.users.get(self.self_id)
        if ident.isdigit():
            return self.users.get(int(ident))
        for prefix, key in (("sis_user_id:", "sis_user_id"), ("sis_login_id:", "login_id")):
            if ident.startswith(prefix):
                wanted = ident[len(prefix):]
                return next((u for u in self.users.values() if u[key] == wanted), None)
        return None

    def _user(self, ident: str) -> Response:
        user = self._find(ident)
        if user is None:
            return _json({"errors": [{"message": "The specified resource does not exist."}]},
                         404)
        if user["id"] != self.self_id and not self.admin:
            return self._forbidden()
        return _json({k: v for k, v in user.items() if k != "email"})

    def _forbidden(self) -> Response:
        return _json({"status": "unauthorized",
                      "errors": [{"message": "user not authorized to perform that action"}]},
                     self.permission_status)

    def _search(self, request: Request) -> Response:
        if not self.admin:
            return self._forbidden()
        term = request.args.get("search_term")
        if term is not None and len(term) < 2:
            return _json({"errors": [{"field": "search_term", "message":
                                      "2 or more characters is required",
                                      "error_code": "invalid"}]}, 400)
        with_email = "email" in request.args.getlist("include[]")
        found = [u for u in sorted(self.users.values(), key=lambda u: u["sortable_name"])
                 if term is None or any(term.lower() in str(u[k] or "").lower()
                                        for k in ("name", "login_id", "sis_user_id", "email"))]
        per_page = min(int(request.args.get("per_page", "10")), self.page_size)
        page = int(request.args.get("page", "1"))
        last = max(1, -(-len(found) // per_page))
        chunk = found[(page - 1) * per_page: page * per_page]
        body = [{k: v for k, v in u.items() if k != "email" or with_email} for u in chunk]

        def link(number: int) -> str:
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
            return f"{self.url}{request.path}?{urlencode([*args, ('page', str(number))])}"

        rels = [(page, "current")] + ([(page + 1, "next")] if page < last else []) + \
            ([(page - 1, "prev")] if page > 1 else []) + [(1, "first"), (last, "last")]
        header = ",".join(f'<{link(n)}>; rel="{rel}"' for n, rel in rels)
        return _json(body, 200, {"Link": header})

    def _custom_data(self, request: Request, ident: str, scope: list[str]) -> Response:
        body: dict[str, Any] = {}
        if request.mimetype == "application/json" and request.get_data():
            try:
                body = orjson.loads(request.get_data())
            except orjson.JSONDecodeError:
                return _json({"errors": [{"message": "invalid JSON"}]}, 400)
        namespace = request.args.get("ns") or body.get("ns") or request.form.get("ns")
        if not namespace:
            return _json({"message": "invalid namespace"}, 400)
        user = self._find(ident)
        if user is None:
            return _json({"errors": [{"message": "The specified resource does not exist."}]},
                         404)
        if user["id"] != self.self_id and not self.admin:
            return self._forbidden()
        store_key = (user["id"], namespace)
        if request.method == "PUT":
            data = body.get("data", _MISSING)
            if data is _MISSING:
                data = request.form.get("data", _MISSING)
            if data is _MISSING:
                return _json({"message": "no data specified"}, 400)
            with self._lock:
                stored = self.custom_data.setdefault(store_key, {})
                try:
                    overwrite = _set(stored, scope, data)
                except _Conflict as conflict:
                    return _json({"message": "write conflict for custom_data hash",
                                  **conflict.args[0]}, 409)
            return _json({"data": data}, 200 if overwrite else 201)
        stored = self.custom_data.get(store_key)
        found = _get(stored, scope) if stored is not None else _MISSING
        if found is _MISSING:
            return _json({"message": "no data for scope"}, 400)
        if request.method == "DELETE":
            with self._lock:
                _delete(self.custom_data, store_key, scope)
        return _json({"data": found})


class _Conflict(Exception):
    pass


def _set(stored: dict[str, Any], scope: list[str], data: Any) -> bool:
    """Canvas's CustomData#set_data: True when data was overwritten."""
    if not scope:
        overwrite = bool(stored)
        stored.clear()
        if isinstance(data, dict):
            stored.update(data)
        else:
            stored["data"] = data
        return overwrite
    node = stored
    for depth, key in enumerate(scope[:-1]):
        value = node.get(key)
        if value is None:
            node[key] = value = {}
        if not isinstance(value, dict):
            raise _Conflict({"conflict_scope": "/".join(scope[:depth + 1]),
                             "type_at_conflict": _ruby_type(value),
                             "value_at_conflict": value})
        node = value
    overwrite = scope[-1] in node
    node[scope[-1]] = data
    return overwrite


def _get(stored: dict[str, Any], scope: list[str]) -> Any:
    node: Any = stored
    for key in scope:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _delete(store: dict, store_key: tuple[int, str], scope: list[str]) -> None:
    if not scope:
        store.pop(store_key, None)
        return
    path = [store[store_key]]
    for key in scope[:-1]:
        path.append(path[-1][key])
    path[-1].pop(scope[-1], None)
    for depth in range(len(scope) - 1, 0, -1):  # empty hashes are removed
        if not path[depth]:
            path[depth - 1].pop(scope[depth - 1], None)
    if not store[store_key]:  # and an empty record with them
        store.pop(store_key)


def _ruby_type(value: Any) -> str:
    return {str: "String", int: "Integer", float: "Float", bool: "TrueClass", list: "Array"}.get(
        type(value), type(value).__name__)


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers,
                    content_type="application/json; charset=utf-8")


def _unauthenticated(document: dict[str, Any]) -> Response:
    return _json(document, 401, {"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
