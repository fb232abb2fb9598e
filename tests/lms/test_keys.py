"""The LTI tool's signing keys: generation, client assertions, storage and rotation, the JWKS
endpoint and `lrs-connector keys`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import jwt
import orjson
import pytest

from lrs_connector.lms import keys
from lrs_connector.lms.keys_cli import keys as keys_cli
from lrs_connector.store import database
from lrs_connector.store import keys as store
from lrs_connector.web.jwks import bp as jwks_bp

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = keys.generate()


@pytest.fixture
def jwks_client(app):
    """The test app with the JWKS blueprint (registered here until the lead wires it)."""
    if "jwks" not in app.blueprints:
        app.register_blueprint(jwks_bp)
    return app.test_client()


def test_a_generated_key_publishes_only_its_public_half_with_its_thumbprint_as_kid():
    jwk = keys.public_jwk(KEY)
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}  # no private member ("d", …)
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert jwk["kid"] == KEY.kid == keys.thumbprint(jwk)
    assert len(jwk["n"]) == 342  # 2048-bit modulus, base64url without padding
    assert KEY.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keys.generate().kid != KEY.kid


def test_the_client_assertion_is_an_rs256_jwt_a_platform_verifies_with_the_published_key():
    token = keys.client_assertion(KEY, "tool-1", "https://lms.example.org/token", now=1_800_000)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": KEY.kid, "typ": "JWT"}
    public = jwt.PyJWK(keys.public_jwk(KEY)).key
    claims = jwt.decode(token, public, algorithms=["RS256"],
                        audience="https://lms.example.org/token",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == claims["sub"] == "tool-1"
    assert claims["exp"] - claims["iat"] == keys.ASSERTION_SECONDS
    assert claims["iat"] == 1_800_000
    other = keys.client_assertion(KEY, "tool-1", "https://lms.example.org/token")
    assert jwt.decode(other, options={"verify_signature": False})["jti"] != claims["jti"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWK(keys.public_jwk(keys.generate())).key,
                   algorithms=["RS256"], audience="https://lms.example.org/token",
                   options={"verify_exp": False, "verify_iat": False})


def test_the_first_key_is_made_once_and_stays_current(engine):
    with database.read(engine) as conn:
        assert store.current(conn) is None
    with database.write(engine) as conn:
        first = store.ensure_current(conn, T0)
    with database.write(engine) as conn:
        again = store.ensure_current(conn, T0 + timedelta(hours=1))
    assert again == first
    assert store.current_signing_key(engine) == first
    with database.read(engine) as conn:
        document = store.jwks(conn, T0)
    assert [k["kid"] for k in document["keys"]] == [first.kid]
    assert "d" not in document["keys"][0]


def test_current_signing_key_makes_one_when_there_is_none(engine):
    key = store.current_signing_key(engine)
    with database.read(engine) as conn:
        assert store.current(conn) == key


def test_rotation_publishes_the_retired_key_for_the_grace_period_then_drops_it(engine):
    with database.write(engine) as conn:
        old = store.ensure_current(conn, T0)
    with database.write(engine) as conn:
        new, retired, dropped = store.rotate(conn, T0 + timedelta(days=1))
    assert (retired, dropped) == ([old.kid], [])
    assert new.kid != old.kid
    assert store.current_signing_key(engine) == new
    inside = T0 + timedelta(days=1) + store.GRACE - timedelta(minutes=1)
    after = T0 + timedelta(days=1) + store.GRACE + timedelta(minutes=1)
    with database.read(engine) as conn:
        assert [k["kid"] for k in store.jwks(conn, inside)["keys"]] == [new.kid, old.kid]
        assert [k["kid"] for k in store.jwks(conn, after)["keys"]] == [new.kid]
        states = {row["kid"]: row["state"] for row in store.listing(conn, inside)}
        assert states == {new.kid: "current", old.kid: "retired"}
        assert store.listing(conn, after)[1]["state"] == "expired"
    with database.write(engine) as conn:  # the next rotation drops what has expired
        newest, retired, dropped = store.rotate(conn, after)
    assert (retired, dropped) == ([new.kid], [old.kid])
    with database.read(engine) as conn:
        assert [k["kid"] for k in store.jwks(conn, after)["keys"]] == [newest.kid, new.kid]


def test_a_compromised_key_is_dropped_at_once(engine):
    with database.write(engine) as conn:
        old = store.ensure_current(conn, T0)
    with database.write(engine) as conn:
        new, retired, dropped = store.rotate(conn, T0, compromised=True)
    assert (retired, dropped) == ([], [old.kid])
    with database.read(engine) as conn:
        assert [k["kid"] for k in store.jwks(conn, T0)["keys"]] == [new.kid]
        assert [row["kid"] for row in store.listing(conn, T0)] == [new.kid]


def test_the_jwks_endpoint_is_public_cacheable_and_follows_rotation(jwks_client, engine):
    first = jwks_client.get("/.well-known/jwks.json")
    assert first.status_code == 200
    assert first.mimetype == "application/json"
    assert first.headers["Cache-Control"] == "public, max-age=300"
    document = first.get_json()
    assert len(document["keys"]) == 1  # made on first request
    assert document["keys"][0]["kid"] == store.current_signing_key(engine).kid
    assert all(set(k) == {"kty", "n", "e", "kid", "alg", "use"} for k in document["keys"])
    unchanged = jwks_client.get("/.well-known/jwks.json",
                                headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304
    with database.write(engine) as conn:
        new, _, _ = store.rotate(conn, datetime.now(UTC))
    after = jwks_client.get("/.well-known/jwks.json",
                            headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert [k["kid"] for k in after.get_json()["keys"]] == [
        new.kid, document["keys"][0]["kid"]]


def test_keys_cli_lists_and_rotates_without_showing_private_keys(runner, engine):
    empty = runner.invoke(keys_cli, ["list"], catch_exceptions=False)
    assert empty.exit_code == 0
    assert "no signing key yet" in empty.output
    first = runner.invoke(keys_cli, ["rotate"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    first_kid = store.current_signing_key(engine).kid
    assert f"new signing key {first_kid} is current" in first.output
    second = runner.invoke(keys_cli, ["rotate"], catch_exceptions=False)
    second_kid = store.current_signing_key(engine).kid
    assert f"retired {first_kid}: still published for 48 hours" in second.output
    listed = runner.invoke(keys_cli, ["list"], catch_exceptions=False)
    lines = listed.output.splitlines()
    assert lines[0].startswith(f"{second_kid}  current")
    assert lines[1].startswith(f"{first_kid}  retired") and "published until" in lines[1]
    as_json = runner.invoke(keys_cli, ["list", "--json"], catch_exceptions=False)
    rows = orjson.loads(as_json.output)
    assert [r["state"] for r in rows] == ["current", "retired"]
    assert "PRIVATE" not in listed.output + as_json.output
    compromised = runner.invoke(keys_cli, ["rotate", "--compromised"], catch_exceptions=False)
    assert f"dropped {second_kid}: no longer published" in compromised.output


def test_processes_starting_at_once_make_one_first_key(engine):
    found: list[str] = []

    def first_use() -> None:
        found.append(store.current_signing_key(engine).kid)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and len(set(found)) == 1
    with database.read(engine) as conn:
        assert len(store.listing(conn, datetime.now(UTC))) == 1
