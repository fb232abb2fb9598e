"""One JSON error shape for every endpoint: {"error": {"code", "message"[, "field"|"problems"]}}."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from lrs_connector import metrics
from lrs_connector.intake.service import IntakeError


def error_response(status: int, code: str, message: str, **extra) -> Response:
    body = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify({"error": body})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(IntakeError)
    def _intake_error(exc: IntakeError):
        caller = getattr(g, "source", None) or getattr(g, "token", None)
        app.logger.info(
            "refused %s %s with %d %s: %s (caller %s)",
            request.method,
            request.path,
            exc.status,
            exc.code,
            exc.message,
            caller.name if caller else "-",
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
