"""One JSON error shape for every endpoint: {"error": {"code", "message"[, "field", ...]}}.

`field` locates the fault as a path that starts with where it is: ``query.limit``,
``body.rules[2].match``, ``path.learner_id``. The admin API raises :class:`ApiError`; intake keeps
its own :class:`IntakeError` (same shape, with the statement problems xAPI callers need).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from lrs_connector import metrics
from lrs_connector.intake.service import IntakeError


class ApiError(Exception):
    """A refused admin-API request: the status, a stable code, a message and the field at fault.

    400 the request does not follow the documented schema (the field says where), 404 what it
    names does not exist, 409 it conflicts with the stored state, 413 too large, 415 not JSON,
    422 well-formed and of the documented shape, but its content is refused.
    """

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.extra = extra

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, field=self.field, **self.extra)


def error_response(status: int, code: str, message: str, **extra) -> Response:
    body = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _caller() -> str:
    caller = getattr(g, "source", None) or getattr(g, "token", None)
    return caller.name if caller else "-"


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        app.logger.info(
            "refused %s %s with %d %s (field %s, caller %s)",
            request.method,
            request.path,
            exc.status,
            exc.code,
            exc.field or "-",
            _caller(),
        )
        metrics.REFUSED.labels(exc.code).inc()
        return exc.response()

    @app.errorhandler(IntakeError)
    def _intake_error(exc: IntakeError):
        app.logger.info(
            "refused %s %s with %d %s: %s (caller %s)",
            request.method,
            request.path,
            exc.status,
            exc.code,
            exc.message,
            _caller(),
        )
        metrics.REFUSED.labels(exc.code).inc()
        source = getattr(g, "source", None)
        if source is not None and request.path.endswith("/statements") and exc.status != 409:
            metrics.STATEMENTS.labels(source.name, "rejected").inc()
        response = jsonify(exc.as_dict())
        response.status_code = exc.status
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "-")
        message = exc.description or exc.name
        if exc.code == 413:
            message = (
                f"request body larger than the {app.config['MAX_CONTENT_LENGTH']} bytes accepted"
            )
        response = error_response(exc.code or 500, code, message)
        for header in ("WWW-Authenticate", "Allow", "Retry-After"):
            if exc.get_response().headers.get(header):
                response.headers[header] = exc.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal-error", "an unexpected error occurred; see the logs")
