"""Reading request bodies: JSON (orjson) or xAPI multipart/mixed with attachments.

The size bound is Flask's MAX_CONTENT_LENGTH (413 beyond it, chunked bodies included);
malformed JSON is a 400 that says where parsing stopped. Attachment payloads are checked
against their declared hashes and then dropped: the connector keeps statements, not files.
"""

from __future__ import annotations

import io

import orjson
from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from lrs_connector.intake.service import IntakeError
from lrs_connector.xapi import multipart


def request_body(*, cache: bool = False) -> bytes:
    """The request body, at most MAX_CONTENT_LENGTH (413 beyond), chunked or not. Views call
    it after checking the caller, so nobody unauthenticated makes the server read a body.

    Werkzeug stops reading a chunked body (no Content-Length) at the limit without saying
    so, and the view would then answer 400 "malformed JSON" for a body too large: such a
    body is read here up to one byte past the limit instead."""
    environ = request.environ
    if request.content_length is None and "wsgi.input_terminated" in environ:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        stream, data = environ["wsgi.input"], bytearray()
        while len(data) <= limit:
            chunk = stream.read(min(65536, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
    return request.get_data(cache=cache)


def parse_json(data: bytes) -> object:
    if not data.strip():
        raise IntakeError(400, "empty-body", "the request body is empty; send JSON")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IntakeError(400, "malformed-json", f"the body is not valid JSON: {exc}") from None


def read_json_body() -> object:
    content_type = request.headers.get("Content-Type", "")
    data = request_body()
    if content_type.lower().startswith("multipart/mixed"):
        try:
            parsed = multipart.parse(data, content_type)
        except multipart.MultipartError as exc:
            raise IntakeError(400, "malformed-multipart", str(exc)) from None
        body = parse_json(parsed.statements_json)
        statements = body if isinstance(body, list) else [body]
        if all(isinstance(s, dict) for s in statements):
            problems = multipart.check_attachments(statements, parsed.attachments)
            if problems:
                details = [p.as_dict() for p in problems]
                raise IntakeError(
                    400,
                    "attachment-mismatch",
                    f"{details[0]['path']}: {details[0]['rule']}",
                    details,
                )
        return body
    return parse_json(data)
