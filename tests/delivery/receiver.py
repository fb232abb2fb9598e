"""A webhook receiver on 127.0.0.1 for tests: records what arrives, answers what it is told.

`answers` is a list of (status, headers) consumed one per request (then 200); `delay` makes
it slow. It verifies signatures the way docs/lms.md tells
a real receiver to, and keeps the verdict with each request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import orjson
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lrs_connector.lms.webhook import SIGNATURE_HEADER, verify


@dataclass
class Received:
    body: dict
    headers: dict
    signed: bool
    raw: bytes = b""


@dataclass
class Receiver:
    secret: str
    answers: list = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    delay: float = 0.0  # seconds to wait before answering (a slow LMS)

    def __call__(self, environ, start_response):
        if self.delay:
            time.sleep(self.delay)
        request = Request(environ)
        body = request.get_data()
        signed = verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body)
        with self.lock:
            self.received.append(Received(orjson.loads(body), dict(request.headers), signed, body))
            status, headers = self.answers.pop(0) if self.answers else (200, {})
        return Response(b"{}", status=status, headers=headers,
                        content_type="application/json")(environ, start_response)

    def events(self) -> list[dict]:
        return [r.body for r in self.received if r.body.get("event") != "ping"]


def start(secret: str) -> tuple[Receiver, object]:
    receiver = Receiver(secret)
    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    # a short poll interval: `shutdown()` waits for the next poll (0.5 s by default, per test)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return receiver, server
