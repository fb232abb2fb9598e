"""A test double of Ralph's `GET /xAPI/statements` (ralph-malph 5.1, fs backend) for `responses`.

It answers as the real one does (recorded from a running Ralph, see RECORDED below): `since`
compares each statement's `timestamp` (not `stored`), `limit` is capped at the server's
maximum, a full page carries a relative `more` link with `pit_id=None&search_after=<last id>`,
a page whose size is exactly the limit is followed by an empty `{"statements": []}`,
`ascending=true` reverses each page, no `X-Experience-API-Version` header is sent back, and
wrong credentials get 401 `{"detail": "Invalid authentication credentials"}`.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import responses

BASE = "http://ralph.test:8100/xAPI/"
STATEMENTS = BASE + "statements"

# Answers of a real Ralph (limit 2, max hits 2, three statements posted with curl).
RECORDED_FIRST_PAGE = (
    b'{"more":"/xAPI/statements?limit=2&since=2020-01-01T00%3A00%3A00.000Z&ascending=true'
    b'&pit_id=None&search_after=ff24561a-ddc7-4b49-88d1-ee21fb668fd2","statements":[{"actor":'
    b'{"mbox":"mailto:ada@example.org"},"object":{"id":"https://lms.example.org/course/2"},'
    b'"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"id":'
    b'"ff24561a-ddc7-4b49-88d1-ee21fb668fd2","stored":"2026-11-28T12:44:04.964431+00:00",'
    b'"timestamp":"2026-11-28T12:44:04.964431+00:00","authority":{"mbox":'
    b'"mailto:lrsuser@example.org","objectType":"Agent"}},{"actor":{"mbox":'
    b'"mailto:ada@example.org"},"object":{"id":"https://lms.example.org/course/1"},"verb":'
    b'{"id":"http://adlnet.gov/expapi/verbs/completed"},"id":'
    b'"4de5ec93-2efa-4bf0-8c5a-327d3a08012b","stored":"2026-11-28T12:44:04.952000+00:00",'
    b'"timestamp":"2026-11-28T12:44:04.952000+00:00","authority":{"mbox":'
    b'"mailto:lrsuser@example.org","objectType":"Agent"}}]}'
)
RECORDED_EMPTY_PAGE = b'{"statements":[]}'
RECORDED_401 = b'{"detail":"Invalid authentication credentials"}'


class FakeRalph:
    """Statements in file order (as Ralph's fs backend appends them)."""

    def __init__(self, username="lrsuser", password="lrspass", max_hits=100, base=BASE):
        self.statements: list[dict] = []
        self.username = username
        self.password = password
        self.max_hits = max_hits
        self.base = base
        self.requests: list[str] = []
        self.fail_next: list[tuple[int, bytes]] = []  # (status, body) answered first
        # Called with the request number (1, 2, …); may return a (status, body) to answer.
        self.on_request = None
        # Absolute `more` links on this origin (e.g. "https://lrs.test:443"), as LRSs other
        # than Ralph give them, instead of Ralph's relative ones.
        self.more_origin: str | None = None

    def install(self, mock: responses.RequestsMock) -> None:
        """Answer requests to the base URL, with or without an explicit default port."""
        parts = urlsplit(self.base)
        mock.add_callback(
            responses.GET,
            re.compile(
                re.escape(f"{parts.scheme}://{parts.netloc}")
                + r"(:(80|443))?"
                + re.escape(parts.path + "statements")
                + r"/?(\?.*)?$",
                re.IGNORECASE,
            ),
            callback=self._answer,
        )

    def _answer(self, request):
        self.requests.append(request.url)
        if self.on_request is not None:
            answer = self.on_request(len(self.requests))
            if answer is not None:
                status, body = answer
                return status, {"content-type": "text/plain"}, body
        if self.fail_next:
            status, body = self.fail_next.pop(0)
            return status, {"content-type": "application/json"}, body
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return (
                401,
                {"www-authenticate": "Basic", "content-type": "application/json"},
                (RECORDED_401),
            )
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.url).query).items()}
        limit = min(int(query.get("limit", self.max_hits)), self.max_hits)
        since = datetime.fromisoformat(query["since"]) if "since" in query else None
        after = query.get("search_after")
        skipping = after is not None
        page = []
        for s in self.statements:
            if skipping:
                skipping = s["id"] != after
                continue
            if since is not None and datetime.fromisoformat(s["timestamp"]) <= since:
                continue
            if query.get("verb") and s["verb"]["id"] != query["verb"]:
                continue
            page.append(s)
            if limit and len(page) == limit:
                break
        body: dict = {}
        if limit and len(page) == limit:
            query.update(pit_id="None", search_after=page[-1]["id"])
            body["more"] = (self.more_origin or "") + urlsplit(request.url).path + "?" + urlencode(
                query
            )
        if query.get("ascending") == "true":
            page.reverse()
        body["statements"] = page
        return 200, {"content-type": "application/json"}, orjson.dumps(body)


ANSWER = b'{"statements": [], "more": ""}' + b" " * 200


class DribblingLRS:
    """A real server on 127.0.0.1 that sends its (valid, empty) statement result one byte
    every `delay` seconds: every single read is quick, the whole answer takes minutes.
    `headers_too`: the status line and headers dribble as well, else only the body does;
    `length`: whether the body's length is announced (without, it ends when the server
    closes, so a cut-short answer can look complete)."""

    def __init__(self, delay: float = 0.05, headers_too: bool = True, length: bool = True):
        self.delay = delay
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if length else "HTTP/1.0"

            def do_GET(self) -> None:
                outer.requests += 1
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                if length:
                    head += b"Content-Length: %d\r\n" % len(ANSWER)
                head += b"Connection: close\r\n\r\n"
                slow = head + ANSWER if headers_too else ANSWER
                try:
                    if not headers_too:
                        self.wfile.write(head)
                    for i in range(len(slow)):
                        self.wfile.write(slow[i : i + 1])
                        time.sleep(outer.delay)
                except OSError:  # the client gave up
                    pass
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/xAPI/"

    def __enter__(self) -> DribblingLRS:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
