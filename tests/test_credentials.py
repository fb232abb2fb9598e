"""Credential parsing and hashing."""

from __future__ import annotations

import base64

import pytest

from lrs_connector import credentials


def test_generated_secrets_verify_and_only_the_hash_is_kept():
    new = credentials.generate("source")
    assert new.key.startswith("src_")
    assert new.secret not in new.secret_hash
    assert credentials.verify_secret(new.secret, new.secret_hash)
    assert not credentials.verify_secret(new.secret + "x", new.secret_hash)


def test_basic_and_bearer_are_read():
    header = "Basic " + base64.b64encode(b"src_1:s3cret").decode()
    assert credentials.parse_authorization(header) == credentials.Presented(
        "src_1", "s3cret", "basic"
    )
    assert credentials.parse_authorization("Bearer tok_1.abc") == credentials.Presented(
        "tok_1", "abc", "bearer"
    )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic !!!",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Bearer nodot",
        "Token x.y",
        "Basic " + base64.b64encode(b":secret").decode(),
    ],
)
def test_malformed_headers_are_none(header):
    assert credentials.parse_authorization(header) is None
