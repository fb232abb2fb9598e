"""Per-request bookkeeping: a request id (taken from X-Request-Id when sane, else new) that
every log line of the request carries and the answer echoes, and the latency histogram."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from lrs_connector import metrics

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def register(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        started = g.get("started")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule else "unmatched"
            metrics.LATENCY.labels(
                rule, request.method, f"{response.status_code // 100}xx"
            ).observe(time.perf_counter() - started)
        return response
