"""Per-request bookkeeping: a request id (taken from X-Request-Id when sane, else new) that
every log line of the request carries, the answer echoes and intake stores with the statements
it queues (so processing and delivery log it too), and the latency histogram."""

from __future__ import annotations

import time
import uuid

from flask import Flask, Response, g, request

from lrs_connector import logs, metrics


def register(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if logs.SANE_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_id_token = logs.begin([g.request_id])
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

    @app.teardown_request
    def _forget(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.end(token)
