"""An xAPI client for reading statements from an LRS: `GET statements?since=…` and `more`.

Built on `requests`, not `tincan`. tincan's `RemoteLRS.query_statements`/`more_statements`
set no timeout (a stalled LRS would hang the puller forever), parse the answer into tincan
objects that only accept the `{"statements": [...]}` shape (some LRSs answer with a bare
list) and re-serialise statements, which drops or rewrites properties: the connector must
keep each statement as the LRS stored it. tincan remains the right tool for *sending*
statements to an LRS, which is what the integration tests use it for.

What real LRSs do, and what this client makes of it:
* `{"statements": [...], "more": "..."}` is the norm; a bare list is taken as one last page,
  a single statement object as a page of one;
* `more` may be relative to the request ("/xAPI/statements/?search_after=…", Ralph) or
  absolute, empty, missing or null at the end; a last page may be empty even though the
  previous one offered `more` (Ralph, when the total is a multiple of the page size);
* the answer may lack `X-Experience-API-Version` (it is not checked);
* `ascending` is honoured the wrong way round by some (Ralph); the puller never relies on
  the order, see lrs_connector/intake/pull.py.
Answers are read with a size bound, and a `more` link to another host is refused so the
credentials are never sent elsewhere (`https://h/` and `https://H:443/` are the same host).

The timeout bounds each page request as a whole (connecting, the headers, the body), not each
socket read as `requests` does: a server dribbling its answer a byte at a time would otherwise
hold a pull for as long as it likes, beyond the source's lease (see _Deadline).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urljoin, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3 import ProxyManager, connection, connectionpool

MAX_PAGE_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
DEFAULT_PORTS = {"http": 80, "https": 443}


class LRSError(Exception):
    """Reading from the LRS failed; `message` says why in words an admin can act on.
    `status` is the HTTP status when there was an answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    statements: list
    more: str | None  # absolute URL of the next page, None at the end


def format_since(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, the form every LRS accepts (floor: never later)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class LRSClient:
    """Reads one LRS. One instance per pull; it keeps a connection pool (requests.Session)."""

    def __init__(
        self,
        endpoint: str,
        *,
        username: str = "",
        password: str = "",
        version: str = "1.0.3",
        timeout: float = 30.0,
        session: requests.Session | None = None,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.session = session or requests.Session()
        for prefix in ("http://", "https://"):  # the deadline needs the connections' sockets
            self.session.mount(prefix, _DeadlineAdapter())
        self.session.headers.update(
            {"X-Experience-API-Version": version, "Accept": "application/json"}
        )
        if username or password:
            self.session.auth = (username, password)
        self.timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self.max_page_bytes = max_page_bytes
        self._origin = origin(self.endpoint)

    def first_url(self, since: datetime | None, limit: int, filters: dict) -> str:
        params: dict = {"limit": str(limit), "ascending": "true"}
        if since is not None:
            params["since"] = format_since(since)
        for key in ("verb", "activity"):
            if filters.get(key):
                params[key] = filters[key]
        if filters.get("related_activities"):
            params["related_activities"] = "true"
        return urljoin(self.endpoint, "statements") + "?" + urlencode(params)

    def fetch(self, url: str) -> Page:
        """One page. Raises LRSError for anything but a readable statement result."""
        if origin(url) != self._origin:
            raise LRSError(f"refusing to follow a link to another server: {_safe(url)}")
        timed_out = f"no answer within {self.timeout[1]:g} s from {_safe(url)}"
        deadline = _Deadline(self.timeout[1])
        try:
            with deadline, self.session.get(url, timeout=self.timeout, stream=True) as response:
                status = response.status_code
                body = self._read(response) if status == 200 else b""
        except requests.Timeout:
            raise LRSError(timed_out) from None
        except requests.RequestException as exc:
            if deadline.expired:  # the deadline shut the connection down
                raise LRSError(timed_out) from None
            if isinstance(exc, requests.ConnectionError):
                raise LRSError(f"cannot connect to {_safe(url)}: {_reason(exc)}") from None
            raise LRSError(f"request to {_safe(url)} failed: {_reason(exc)}") from None
        if deadline.expired:  # an answer without a length may look complete when cut short
            raise LRSError(timed_out)
        if status != 200:
            raise LRSError(_status_message(status, url), status)
        return self._page(url, body)

    def _read(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_page_bytes:
            raise LRSError(f"a page of {declared} bytes exceeds {self.max_page_bytes}")
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            if size > self.max_page_bytes:
                raise LRSError(f"a page exceeds {self.max_page_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _page(self, url: str, body: bytes) -> Page:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise LRSError(f"the answer from {_safe(url)} is not JSON: {exc}") from None
        if isinstance(data, list):
            return Page(url, data, None)
        if not isinstance(data, dict):
            raise LRSError(f"the answer from {_safe(url)} is not a statement result")
        if "statements" not in data:
            if "actor" in data and "verb" in data:
                return Page(url, [data], None)
            raise LRSError(f"the answer from {_safe(url)} has no `statements`")
        statements = data["statements"]
        if not isinstance(statements, list):
            raise LRSError(f"`statements` in the answer from {_safe(url)} is not a list")
        more = data.get("more")
        if not isinstance(more, str) or not more.strip() or not statements:
            return Page(url, statements, None)
        following = urljoin(url, more.strip())
        return Page(url, statements, None if following == url else following)


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port, as compared to keep credentials on the LRS's server: case and
    an explicit default port make no difference (`https://H:443/` is `https://h/`)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a port: never equal to the endpoint's
        return scheme, parts.netloc.lower(), -1
    return scheme, (parts.hostname or ""), port or DEFAULT_PORTS.get(scheme)


class _Deadline:
    """Ends one request when its time is up, however slowly the server answers.

    `requests` applies its read timeout to each socket read, so a server sending a byte now
    and then never trips it. Here a timer shuts down the request's sockets at the deadline;
    the blocked read then returns at once and the request fails. The sockets are those the
    request connects or reuses (_DeadlineAdapter's connections register them). Name lookup
    is not interruptible; the resolver's own timeouts bound it.
    """

    _current = threading.local()

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._over = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _Deadline._current.active = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            self._over = True
            self._sockets.clear()
        _Deadline._current.active = None

    @classmethod
    def watch(cls, sock: socket.socket | None) -> None:
        active = getattr(cls._current, "active", None)
        if active is None or sock is None:
            return
        with active._lock:
            if active._over:
                return
            active._sockets.append(sock)
            if active.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # already closed; or a TLS-in-TLS transport without shutdown(), whose plain socket
    # (registered by _new_conn) is shut instead
    with contextlib.suppress(OSError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """Registers the connection's socket with the current deadline, new or reused."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        # the plain socket, before a proxy's CONNECT answer or TLS are read over it
        sock = super()._new_conn()  # type: ignore[misc]
        _Deadline.watch(sock)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _Deadline.watch(self.sock)

    def request(self, *args, **kwargs) -> None:
        _Deadline.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


# Named as urllib3's own: the names appear in the error messages admins read.
class HTTPConnection(_Watched, connection.HTTPConnection):
    pass


class HTTPSConnection(_Watched, connection.HTTPSConnection):
    pass


class HTTPConnectionPool(connectionpool.HTTPConnectionPool):
    ConnectionCls = HTTPConnection


class HTTPSConnectionPool(connectionpool.HTTPSConnectionPool):
    ConnectionCls = HTTPSConnection


_POOLS = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}


class _DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through an HTTP proxy) obey _Deadline."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # SOCKS proxies keep their own pools
            manager.pool_classes_by_scheme = _POOLS
        return manager


def _safe(url: str) -> str:
    """The URL for messages: no credentials, no query (it may carry tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _reason(exc: Exception) -> str:
    """Why a request failed, without the URL: urllib3's messages carry the request's path and
    query ("Max retries exceeded with url: …"), and a `more` link may hold a token."""
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", None) or cause  # urllib3's MaxRetryError wraps the reason
    text = str(cause) if cause is not None else type(exc).__name__
    return _URL_IN_TEXT.sub("url: …", text)[:300]


_URL_IN_TEXT = re.compile(r"url: \S+")


def _status_message(status: int, url: str) -> str:
    where = _safe(url)
    if status in (401, 403):
        return f"the LRS refused the credentials ({status}) at {where}"
    if status == 404:
        return f"no statements resource at {where} (404): check the endpoint"
    if status == 429:
        return f"the LRS is throttling requests (429) at {where}"
    if status >= 500:
        return f"the LRS failed ({status}) at {where}"
    return f"the LRS answered {status} at {where}"
