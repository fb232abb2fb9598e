"""multipart/mixed statement requests: parsing, hash matching, signature attachments."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from lrs_connector.xapi.multipart import (
    SIGNATURE_USAGE_TYPE,
    MultipartError,
    MultipartStatements,
    check_attachments,
    parse,
)
from tests.xapi import STATEMENT_ID, attachment, statement

BOUNDARY = "abcABC0123'()+_,-./:=?"
CONTENT_TYPE = f'multipart/mixed; boundary="{BOUNDARY}"'
PAYLOAD = b"here is a simple attachment"
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
BINARY = bytes(range(256)) + b"\r\n--not-the-boundary\r\n\r\n\x00"
BINARY_SHA = hashlib.sha256(BINARY).hexdigest()


def att_part(data: bytes, digest: str | None = None, **headers: str) -> tuple[dict, bytes]:
    h = {
        "Content-Type": "text/plain",
        "Content-Transfer-Encoding": "binary",
        "X-Experience-API-Hash": hashlib.sha256(data).hexdigest() if digest is None else digest,
    }
    h.update(headers)
    return {k: v for k, v in h.items() if v is not None}, data


def build(
    statements: object,
    *parts: tuple[dict, bytes],
    boundary: str = BOUNDARY,
    first_type: str = "application/json",
    close: bool = True,
) -> bytes:
    """A multipart/mixed body the way the spec example and the conformance suite write it."""
    crlf, dash = b"\r\n", b"--" + boundary.encode()
    out = dash + crlf + f"Content-Type: {first_type}".encode() + crlf + crlf
    out += json.dumps(statements).encode() + crlf
    for headers, data in parts:
        out += dash + crlf
        out += b"".join(f"{k}: {v}".encode() + crlf for k, v in headers.items()) + crlf
        out += data + crlf
    if close:
        out += dash + b"--" + crlf
    return out


def text_statement() -> dict:
    return statement(id=STATEMENT_ID, attachments=[attachment(sha2=PAYLOAD_SHA)])


# ---- parse ----------------------------------------------------------------------------------


def test_spec_example_parses() -> None:
    s = text_statement()
    result = parse(build(s, att_part(PAYLOAD)), CONTENT_TYPE)
    assert isinstance(result, MultipartStatements)
    assert json.loads(result.statements_json) == s
    assert result.attachments == {PAYLOAD_SHA: PAYLOAD}
    assert check_attachments([s], result.attachments) == []


def test_binary_payload_byte_exact() -> None:
    s = statement(attachments=[attachment(sha2=BINARY_SHA, contentType="image/png")])
    result = parse(build(s, att_part(BINARY, **{"Content-Type": "image/png"})), CONTENT_TYPE)
    assert result.attachments[BINARY_SHA] == BINARY


def test_unquoted_boundary_preamble_epilogue_no_headers_folding() -> None:
    s = text_statement()
    boundary = "-------314159265358979323846"
    body = b"preamble to ignore\r\n" + build(s, att_part(PAYLOAD), boundary=boundary)
    body += b"epilogue to ignore"
    body = body.replace(
        b"Content-Transfer-Encoding: binary", b"Content-Transfer-Encoding:\r\n binary"
    )
    result = parse(body, f"Multipart/Mixed; charset=utf-8; boundary={boundary}")
    assert result.attachments == {PAYLOAD_SHA: PAYLOAD}


def test_no_attachments_is_fine() -> None:
    s = [statement(), statement()]
    result = parse(build(s), CONTENT_TYPE)
    assert result.attachments == {}
    assert check_attachments(s, result.attachments) == []


def test_json_part_with_charset_and_missing_transfer_encoding() -> None:
    s = text_statement()
    body = build(s, att_part(PAYLOAD, **{"Content-Transfer-Encoding": None}))
    body = body.replace(b"application/json", b"application/json; charset=utf-8", 1)
    assert parse(body, CONTENT_TYPE).attachments == {PAYLOAD_SHA: PAYLOAD}


def test_sha512_and_uppercase_hash() -> None:
    digest = hashlib.sha512(PAYLOAD).hexdigest()
    result = parse(build(statement(), att_part(PAYLOAD, digest.upper())), CONTENT_TYPE)
    assert result.attachments == {digest: PAYLOAD}


def test_duplicate_part_kept_once() -> None:
    body = build(text_statement(), att_part(PAYLOAD), att_part(PAYLOAD))
    assert parse(body, CONTENT_TYPE).attachments == {PAYLOAD_SHA: PAYLOAD}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (build(statement()), "application/json", "multipart/mixed"),
        (build(statement()), "multipart/mixed", "no boundary"),
        (build(statement()), 'multipart/mixed; boundary=""', "boundary must be"),
        (build(statement()), "multipart/mixed; boundary=" + "a" * 71, "boundary must be"),
        (build(statement()), "multipart/mixed; boundary=other", "no boundary delimiter"),
        (build(statement(), close=False), CONTENT_TYPE, "closing boundary"),
        (
            build(statement(), first_type="text/plain"),
            CONTENT_TYPE,
            "first part must have Content-Type: application/json",
        ),
        (
            build(statement()).replace(b"Content-Type: application/json\r\n", b""),
            CONTENT_TYPE,
            "first part must have Content-Type",
        ),
        (
            build(text_statement(), att_part(PAYLOAD, **{"X-Experience-API-Hash": None})),
            CONTENT_TYPE,
            "X-Experience-API-Hash header is required",
        ),
        (
            build(text_statement(), att_part(PAYLOAD, "b018994f8bbe0f08992a65c48c8c8c56f09e9bace")),
            CONTENT_TYPE,
            "hex SHA-2",
        ),
        (
            build(text_statement(), att_part(PAYLOAD, hashlib.sha256(b"other").hexdigest())),
            CONTENT_TYPE,
            "does not match its X-Experience-API-Hash",
        ),
        (
            build(text_statement(), att_part(PAYLOAD, **{"Content-Transfer-Encoding": "base64"})),
            CONTENT_TYPE,
            "Content-Transfer-Encoding must be binary",
        ),
        (
            build(text_statement(), ({"Content-Type": "application/json"}, b"{}")),
            CONTENT_TYPE,
            "X-Experience-API-Hash header is required",
        ),
        (
            build(statement()).replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}x\r\n".encode()),
            CONTENT_TYPE,
            "not followed by CRLF",
        ),
        (
            build(text_statement(), att_part(PAYLOAD)).replace(b"Content-Type: text/plain", b"bad"),
            CONTENT_TYPE,
            "malformed header",
        ),
        (
            f"--{BOUNDARY}\r\nContent-Type: application/json".encode(),
            CONTENT_TYPE,
            "closing boundary",
        ),
        (f"--{BOUNDARY}--\r\n".encode(), CONTENT_TYPE, "no parts"),
    ],
)
def test_parse_errors(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(MultipartError, match=message) as err:
        parse(body, content_type)
    assert isinstance(err.value, ValueError)


def test_boundary_not_at_body_start_rejected_by_first_part_rule() -> None:
    # conformance XAPI-00131: statements sent before the first boundary line
    body = build(text_statement(), att_part(PAYLOAD))
    body = body[len(f"--{BOUNDARY}\r\n") :]
    with pytest.raises(MultipartError, match="first part"):
        parse(body, CONTENT_TYPE)


# ---- check_attachments -----------------------------------------------------------------------


def test_missing_part_for_attachment_without_file_url() -> None:
    s = text_statement()
    problems = check_attachments([s], {})
    assert [p.path for p in problems] == ["[0].attachments[0].sha2"]


def test_file_url_attachment_needs_no_part() -> None:
    s = statement(attachments=[attachment(fileUrl="http://over.there.com/file.txt")])
    assert check_attachments([s], {}) == []


def test_extra_part_is_an_error() -> None:
    s = text_statement()
    extra = hashlib.sha256(b"extra").hexdigest()
    problems = check_attachments([s], {PAYLOAD_SHA: PAYLOAD, extra: b"extra"})
    assert len(problems) == 1
    assert problems[0].path == ""
    assert extra in problems[0].rule


def test_batch_paths_and_shared_part() -> None:
    a, b = text_statement(), text_statement()
    b["attachments"].append(attachment(sha2=BINARY_SHA))
    problems = check_attachments([a, b], {PAYLOAD_SHA: PAYLOAD})
    assert [p.path for p in problems] == ["[1].attachments[1].sha2"]


def test_sha2_case_insensitive_match() -> None:
    s = statement(attachments=[attachment(sha2=PAYLOAD_SHA.upper())])
    assert check_attachments([s], {PAYLOAD_SHA: PAYLOAD}) == []


def test_substatement_attachments_matched() -> None:
    sub = {
        "objectType": "SubStatement",
        "actor": statement()["actor"],
        "verb": statement()["verb"],
        "object": statement()["object"],
        "attachments": [attachment(sha2=PAYLOAD_SHA)],
    }
    assert check_attachments([statement(object=sub)], {PAYLOAD_SHA: PAYLOAD}) == []
    assert [p.path for p in check_attachments([statement(object=sub)], {})] == [
        "[0].object.attachments[0].sha2"
    ]


# ---- signed statements -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(payload: object, alg: str = "RS256", raw_payload: bytes | None = None) -> bytes:
    header = _b64(json.dumps({"alg": alg}).encode())
    body = _b64(raw_payload if raw_payload is not None else json.dumps(payload).encode())
    return f"{header}.{body}.{_b64(b'not-verified-signature')}".encode()


def signed(
    token_for: object = None, content_type: str = "application/octet-stream", **jws_kw: object
) -> tuple[dict, dict[str, bytes]]:
    original = statement(id=STATEMENT_ID)
    token = jws(original if token_for is None else token_for, **jws_kw)  # type: ignore[arg-type]
    digest = hashlib.sha256(token).hexdigest()
    sig = attachment(
        usageType=SIGNATURE_USAGE_TYPE, contentType=content_type, length=len(token), sha2=digest
    )
    return dict(original, attachments=[sig]), {digest: token}


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_signed_statement_valid(alg: str) -> None:
    s, parts = signed(alg=alg)
    assert check_attachments([s], parts) == []


def test_signed_statement_payload_equivalent_not_identical() -> None:
    original = statement(id=STATEMENT_ID)
    original["verb"]["display"] = {"de": "abgeschlossen"}  # not part of the statement
    s, parts = signed(token_for=original)
    assert check_attachments([s], parts) == []


def test_signed_statement_via_parse() -> None:
    s, parts = signed()
    (token,) = parts.values()
    body = build(s, att_part(token, **{"Content-Type": "application/octet-stream"}))
    result = parse(body, CONTENT_TYPE)
    assert check_attachments([json.loads(result.statements_json)], result.attachments) == []


@pytest.mark.parametrize(
    ("kwargs", "path", "rule"),
    [
        ({"content_type": "text/plain; charset=ascii"}, "[0].attachments[0].contentType", "octet"),
        ({"alg": "HS256"}, "[0].attachments[0]", "RS256, RS384 or RS512"),
        ({"alg": "none"}, "[0].attachments[0]", "RS256"),
        ({"raw_payload": b"{'actor': 1}"}, "[0].attachments[0]", "well-formed JWS"),
        ({"raw_payload": b"[1, 2]"}, "[0].attachments[0]", "JSON statement object"),
        ({"token_for": statement(result={"success": True})}, "[0].attachments[0]", "equivalent"),
    ],
)
def test_signed_statement_invalid(kwargs: dict, path: str, rule: str) -> None:
    s, parts = signed(**kwargs)
    problems = {p.path: p.rule for p in check_attachments([s], parts)}
    assert path in problems, problems
    assert rule in problems[path]


def test_signature_not_a_jws() -> None:
    s, parts = signed()
    digest = next(iter(parts))
    for junk in (b"only.two", b"\xff\xfe", b"a.b.c", b"{}"):
        problems = check_attachments([s], {digest: junk})
        assert [p.rule for p in problems] == [
            "signature is not a well-formed JWS with a JSON payload"
        ]


def test_signature_jws_json_serialization() -> None:
    original = statement(id=STATEMENT_ID)
    flattened = json.dumps(
        {
            "payload": _b64(json.dumps(original).encode()),
            "protected": _b64(b'{"alg":"RS512"}'),
            "signature": _b64(b"x"),
        }
    ).encode()
    digest = hashlib.sha256(flattened).hexdigest()
    sig = attachment(usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream")
    sig["sha2"] = digest
    s = dict(original, attachments=[sig])
    assert check_attachments([s], {digest: flattened}) == []


def test_signature_by_file_url_only_checks_content_type() -> None:
    sig = attachment(
        usageType=SIGNATURE_USAGE_TYPE,
        contentType="application/octet-stream",
        fileUrl="http://example.com/sig",
    )
    assert check_attachments([statement(attachments=[sig])], {}) == []


def test_a_signature_is_compared_without_the_fill_in_rule() -> None:
    """A client's own `stored` equal to its timestamp must not make the signed payload's other
    timestamp count as the LRS's fill-in."""
    signed_for = statement(id=STATEMENT_ID, timestamp="2020-01-01T00:00:00.000Z")
    s, parts = signed(token_for=signed_for)
    s = dict(s, timestamp="2030-06-06T06:06:06.000Z", stored="2030-06-06T06:06:06.000Z")
    problems = {p.path: p.rule for p in check_attachments([s], parts)}
    assert "equivalent" in problems.get("[0].attachments[0]", ""), problems
