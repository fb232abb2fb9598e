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
from datetime import datetime
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

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(
            responses.GET,
            re.compile(re.escape(self.base + "statements") + r"/?(\?.*)?$"),
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
            body["more"] = urlsplit(request.url).path + "?" + urlencode(query)
        if query.get("ascending") == "true":
            page.reverse()
        body["statements"] = page
        return 200, {"content-type": "application/json"}, orjson.dumps(body)
