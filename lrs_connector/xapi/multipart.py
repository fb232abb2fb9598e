"""``multipart/mixed`` statement requests with attachments (xAPI Communication 1.5.2).

Rules followed (1.0.3 and 2.0.0 agree):

* the request is RFC 2046 ``multipart/mixed`` with a ``boundary`` parameter; delimiters are
  CRLF + ``--`` + boundary (the first one may open the body), the last one is followed by
  ``--``; preamble and epilogue are ignored;
* the first part holds the statements and its Content-Type MUST be ``application/json``;
* every other part is an attachment: it MUST carry ``X-Experience-API-Hash`` (the SHA-2 of the
  raw bytes, checked here) and, when ``Content-Transfer-Encoding`` is present, it MUST be
  ``binary`` (an LRS SHOULD assume binary when it is absent, so absence is accepted);
* the LRS MUST reject statements with attachments that neither have a ``fileUrl`` nor match a
  part by hash, and parts that match no attachment ("excess multipart sections", conformance
  XAPI-00128);
* signed statements (Data 2.6): the signature attachment has usageType
  ``http://adlnet.gov/expapi/attachments/signature`` and contentType
  ``application/octet-stream``; its part must be a JWS (compact, or the JSON serialization 1.0.3
  still tolerates) with ``alg`` RS256/RS384/RS512 whose payload is a JSON statement equivalent to
  the received one without the signature attachment.  The cryptographic signature itself is
  not verified (no crypto library in the dependency set; the spec only asks for it when an x5c
  certificate is present, as a mistake check).

A hand-written byte splitter is used instead of the stdlib ``email`` parser: it is byte-exact
(no newline or charset translation of binary payloads) and has no per-part object overhead.
The caller bounds the body size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field

from lrs_connector.xapi.comparison import equivalent
from lrs_connector.xapi.validation import Problem

__all__ = [
    "SIGNATURE_USAGE_TYPE",
    "MultipartError",
    "MultipartStatements",
    "check_attachments",
    "parse",
]

SIGNATURE_USAGE_TYPE = "http://adlnet.gov/expapi/attachments/signature"
_SIGNATURE_ALGS = frozenset({"RS256", "RS384", "RS512"})
_HASHES = {56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}
_HEX = re.compile(rb"[0-9a-fA-F]+")
_BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))', re.IGNORECASE)
# RFC 2046 bchars; a boundary is 1-70 of them and does not end with a space
_BOUNDARY_OK = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


class MultipartError(ValueError):
    """The request body is not a valid xAPI multipart/mixed statements request."""


@dataclass
class MultipartStatements:
    """The statements part and the attachment payloads of a multipart/mixed request."""

    statements_json: bytes  # the first part (application/json)
    attachments: dict[str, bytes] = field(default_factory=dict)  # lower-case sha2 hex -> payload


def _boundary(content_type: str) -> bytes:
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "multipart/mixed":
        raise MultipartError(f"Content-Type must be multipart/mixed, got {media!r}")
    m = _BOUNDARY_PARAM.search(content_type)
    if m is None:
        raise MultipartError("multipart/mixed Content-Type has no boundary parameter")
    boundary = m.group(1) if m.group(1) is not None else m.group(2)
    if _BOUNDARY_OK.fullmatch(boundary) is None:
        raise MultipartError("boundary must be 1-70 RFC 2046 characters, not ending in a space")
    return boundary.encode("ascii")


def _headers(block: bytes, index: int) -> dict[str, str]:
    """Parse a part's header block (RFC 822 style, folded lines allowed); names lower-cased."""
    headers: dict[str, str] = {}
    last = None
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and last is not None:
            headers[last] = f"{headers[last]} {line.strip().decode('latin-1')}".strip()
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise MultipartError(f"part {index}: malformed header line {line[:60]!r}")
        last = name.strip().decode("latin-1").lower()
        headers[last] = value.strip().decode("latin-1")
    return headers


def _split_parts(body: bytes, boundary: bytes) -> list[bytes]:
    dash = b"--" + boundary
    delimiter = b"\r\n" + dash
    if body.startswith(dash):
        body = b"\r\n" + body
    chunks = body.split(delimiter)
    if len(chunks) < 2:
        raise MultipartError("the body contains no boundary delimiter line")
    parts: list[bytes] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts  # close delimiter: the rest is the epilogue
        # the delimiter line may carry transport padding (spaces/tabs) before its CRLF
        line_end = chunk.find(b"\r\n")
        if line_end < 0 or chunk[:line_end].strip(b" \t"):
            raise MultipartError("a boundary delimiter line is not followed by CRLF")
        parts.append(chunk[line_end + 2 :])
    raise MultipartError("the closing boundary delimiter (--boundary--) is missing")


def parse(body: bytes, content_type: str) -> MultipartStatements:
    """Split a multipart/mixed statements request into the statements JSON and attachments.

    Raises MultipartError (a ValueError) with a message fit for a 400 response.
    """
    boundary = _boundary(content_type)
    parts = _split_parts(body, boundary)
    if not parts:
        raise MultipartError("the multipart body has no parts")
    result = MultipartStatements(statements_json=b"")
    for index, part in enumerate(parts):
        if part.startswith(b"\r\n"):
            head, payload = b"", part[2:]
        else:
            head, sep, payload = part.partition(b"\r\n\r\n")
            if not sep:
                raise MultipartError(f"part {index}: no blank line after the part headers")
        headers = _headers(head, index)
        if index == 0:
            ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                raise MultipartError("the first part must have Content-Type: application/json")
            result.statements_json = payload
            continue
        cte = headers.get("content-transfer-encoding")
        if cte is not None and cte.lower() != "binary":
            raise MultipartError(f"part {index}: Content-Transfer-Encoding must be binary")
        declared = headers.get("x-experience-api-hash", "").encode("latin-1")
        if not declared:
            raise MultipartError(f"part {index}: X-Experience-API-Hash header is required")
        hasher = _HASHES.get(len(declared))
        if hasher is None or _HEX.fullmatch(declared) is None:
            raise MultipartError(f"part {index}: X-Experience-API-Hash must be a hex SHA-2 digest")
        digest = declared.decode("ascii").lower()
        if hasher(payload).hexdigest() != digest:
            raise MultipartError(
                f"part {index}: content does not match its X-Experience-API-Hash {digest}"
            )
        result.attachments[digest] = payload
    return result


# --------------------------------------------------------------------------------------------
# Attachments vs parts
# --------------------------------------------------------------------------------------------


def _attachment_lists(statement: dict) -> list[tuple[str, list]]:
    """(path, attachments list) for the statement and its SubStatement object, if any."""
    found = []
    if type(statement.get("attachments")) is list:
        found.append(("attachments", statement["attachments"]))
    obj = statement.get("object")
    if (
        type(obj) is dict
        and obj.get("objectType") == "SubStatement"
        and type(obj.get("attachments")) is list
    ):
        found.append(("object.attachments", obj["attachments"]))
    return found


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _jws_parts(raw: bytes) -> tuple[dict, object]:
    """(protected header, decoded payload JSON) of a JWS; raises ValueError when malformed."""
    text = raw.decode("ascii").strip()
    if text.startswith("{"):  # JWS JSON serialization (general or flattened)
        doc = json.loads(text)
        sig = doc["signatures"][0] if "signatures" in doc else doc
        protected, payload = sig["protected"], doc["payload"]
    else:
        segments = text.split(".")
        if len(segments) != 3:
            raise ValueError("not a JWS compact serialization (3 dot-separated parts)")
        protected, payload = segments[0], segments[1]
    header = json.loads(_b64url(protected))
    if type(header) is not dict:
        raise ValueError("JWS header is not a JSON object")
    return header, json.loads(_b64url(payload))


def _check_signature(
    statement: dict, attachment: dict, raw: bytes | None, path: str, out: list[Problem]
) -> None:
    ctype = attachment.get("contentType")
    if type(ctype) is not str or ctype.split(";", 1)[0].strip() != "application/octet-stream":
        out.append(
            Problem(
                f"{path}.contentType", "a signature attachment must be application/octet-stream"
            )
        )
    if raw is None:
        return  # only referenced by fileUrl: nothing to inspect
    try:
        header, payload = _jws_parts(raw)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError, binascii.Error):
        out.append(Problem(path, "signature is not a well-formed JWS with a JSON payload"))
        return
    if header.get("alg") not in _SIGNATURE_ALGS:
        out.append(Problem(path, "JWS algorithm must be RS256, RS384 or RS512"))
    if type(payload) is not dict:
        out.append(Problem(path, "JWS payload must be a JSON statement object"))
        return
    original = dict(statement)
    remaining = [a for a in statement.get("attachments", ()) if a is not attachment]
    if remaining:
        original["attachments"] = remaining
    else:
        original.pop("attachments", None)
    if not equivalent(payload, original, fill_ins=False):
        out.append(Problem(path, "JWS payload is not equivalent to the statement"))


def check_attachments(statements: list[dict], attachments: dict[str, bytes]) -> list[Problem]:
    """Match statement attachments with the multipart parts; check signature attachments.

    Every attachment without ``fileUrl`` needs a part whose X-Experience-API-Hash equals its
    ``sha2``; parts no attachment refers to are errors.  Paths are prefixed with the
    statement's index in ``statements``: ``[0].attachments[1].sha2``.  Expects statements that
    already passed validate_statement.
    """
    out: list[Problem] = []
    referenced: set[str] = set()
    for si, statement in enumerate(statements):
        if type(statement) is not dict:
            continue
        for base, lst in _attachment_lists(statement):
            for ai, att in enumerate(lst):
                if type(att) is not dict:
                    continue
                path = f"[{si}].{base}[{ai}]"
                sha2 = att.get("sha2")
                sha2 = sha2.lower() if type(sha2) is str else None
                if sha2 is not None:
                    referenced.add(sha2)
                raw = attachments.get(sha2) if sha2 is not None else None
                if raw is None and att.get("fileUrl") is None:
                    out.append(
                        Problem(
                            f"{path}.sha2",
                            "no multipart part has this X-Experience-API-Hash and there is no "
                            "fileUrl",
                        )
                    )
                if att.get("usageType") == SIGNATURE_USAGE_TYPE and base == "attachments":
                    _check_signature(statement, att, raw, path, out)
    for digest in attachments:
        if digest.lower() not in referenced:
            out.append(
                Problem(
                    "",
                    f"multipart part with X-Experience-API-Hash {digest} matches no attachment",
                )
            )
    return out
