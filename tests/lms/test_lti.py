"""The LTI Advantage AGS target against a platform double that answers as platforms do."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import requests

from lrs_connector.lms import keys, lti
from lrs_connector.lms.config import TargetConfigError, TargetContext, build_all, validate
from lrs_connector.lms.targets import Change, GiveUp, LearnerRef, Retry, Unresolved
from lrs_connector.store import database
from lrs_connector.store import keys as key_store
from lrs_connector.web.jwks import bp as jwks_bp
from tests.lms.lti_double import MEDIA_SCORE, LtiPlatform, Served

KEY = keys.generate()
T0 = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)


def change(score: float = 82.5, level: str = "ready", role_code: str = "director",
           at: datetime = T0) -> Change:
    return Change(delivery_id=1, learner_id=7, role="https://example.org/roles/" + role_code,
                  role_code=role_code, score=score, level=level, previous_score=None,
                  previous_level=None, computed_at=at)


class Clock:
    """A clock the test moves (token reuse and the roster cache read it)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def platform():
    with LtiPlatform(jwks=keys.key_set([keys.public_jwk(KEY)])) as running:
        running.add_member("u-ada", email="Ada@Example.org", sourcedid="S-1")
        yield running


def target(platform: LtiPlatform, clock=None, key=KEY, **overrides) -> lti.LtiTarget:
    config = validate("ags", {"kind": "lti", **platform.config(**overrides)})
    session = requests.Session()
    return lti.LtiTarget("ags", config, session, lambda: key, "https://connector.example.org",
                         **({"clock": clock} if clock else {}))


def test_a_change_becomes_a_score_with_the_exact_media_type_on_a_line_item_made_by_tag(platform):
    ags = target(platform)
    assert ags.deliver("u-ada", change()) == "updated"
    [item] = platform.lineitems.values()
    assert item["tag"] == "lrs-connector:readiness:director"
    assert (item["label"], item["resourceId"], item["scoreMaximum"]) == (
        "Readiness: director", "director", 100)
    [score] = platform.scores[item["id"]]
    assert score == {"userId": "u-ada", "scoreGiven": 82.5, "scoreMaximum": 100,
                     "comment": "ready", "timestamp": "2026-03-01T09:30:15.250+00:00",
                     "activityProgress": "Completed", "gradingProgress": "FullyGraded"}
    [post] = [r for r in platform.requests_to("scores")]
    assert post[3]["Content-Type"] == MEDIA_SCORE
    assert post[2].endswith("/lineitem/scores?type_id=1")  # Moodle's query string kept
    [create] = [r for r in platform.requests_to("lineitems") if r[1] == "POST"]
    assert create[3]["Content-Type"] == "application/vnd.ims.lis.v2.lineitem+json"


def test_the_platform_refuses_any_other_media_type_for_scores(platform):
    ags = target(platform)
    ags.deliver("u-ada", change())
    [ident] = platform.lineitems
    url = lti.scores_url(ident)
    token = ags.access_token()
    body = orjson.dumps(ags.score("u-ada", change(at=T0 + timedelta(minutes=1))))
    for content_type in ("application/json", MEDIA_SCORE + "; charset=utf-8"):
        answer = requests.post(url, data=body, timeout=5, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type})
        assert answer.status_code == 400
    assert len(platform.scores[ident]) == 1


def test_scores_are_scaled_to_score_maximum_and_labelled_as_configured(platform):
    ags = target(platform, score_maximum=10, label="Ready for {role}?")
    ags.deliver("u-ada", change(score=87.0))
    [item] = platform.lineitems.values()
    assert (item["label"], item["scoreMaximum"]) == ("Ready for director?", 10)
    assert platform.scores[item["id"]][0]["scoreGiven"] == 8.7


def test_an_existing_line_item_is_found_by_its_tag_and_not_created_again(platform):
    target(platform).deliver("u-ada", change(role_code="director"))
    target(platform).deliver("u-ada", change(role_code="analyst"))
    later = target(platform)  # another process: nothing cached
    assert later.deliver("u-ada", change(role_code="director", at=T0 + timedelta(hours=1))) \
        == "updated"
    assert len(platform.lineitems) == 2
    assert [r[2] for r in platform.requests_to("lineitems")][-1].endswith(
        "type_id=1&tag=lrs-connector%3Areadiness%3Adirector")
    creates = [r for r in platform.requests_to("lineitems") if r[1] == "POST"]
    assert len(creates) == 2
    director = next(i for i in platform.lineitems.values() if i["resourceId"] == "director")
    assert len(platform.scores[director["id"]]) == 2


def test_line_items_are_found_across_pages(platform):
    platform.lineitem_page_size = 1
    for role in ("a", "b", "c"):
        target(platform).deliver("u-ada", change(role_code=role))
    platform.requests.clear()
    target(platform).deliver("u-ada", change(role_code="c", at=T0 + timedelta(hours=1)))
    assert [r[1] for r in platform.requests_to("lineitems")] == ["GET"]  # tag filter: one


def test_a_line_item_deleted_on_the_platform_is_made_anew(platform):
    ags = target(platform)
    ags.deliver("u-ada", change())
    [old] = platform.lineitems
    platform.delete_lineitem(old)
    assert ags.deliver("u-ada", change(at=T0 + timedelta(minutes=5))) == "updated"
    [new] = platform.lineitems
    assert new != old
    assert len(platform.scores[new]) == 1


def test_a_score_not_newer_than_the_last_to_the_second_is_already_applied(platform):
    ags = target(platform)
    assert ags.deliver("u-ada", change()) == "updated"
    assert ags.deliver("u-ada", change()) == "already applied"  # a retry after a lost answer
    assert ags.deliver("u-ada", change(at=T0 - timedelta(hours=1))) == "already applied"
    assert ags.deliver("u-ada", change(at=T0 + timedelta(seconds=1))) == "updated"
    [ident] = platform.lineitems
    assert len(platform.scores[ident]) == 2


def test_the_access_token_is_reused_until_shortly_before_it_expires(platform):
    clock = Clock()
    ags = target(platform, clock=clock)
    ags.deliver("u-ada", change())
    ags.deliver("u-ada", change(at=T0 + timedelta(seconds=1)))
    assert platform.token_requests == 1
    clock.now += 3600 - 61
    ags.deliver("u-ada", change(at=T0 + timedelta(seconds=2)))
    assert platform.token_requests == 1
    clock.now += 2  # within the last minute of its hour: a fresh one
    ags.deliver("u-ada", change(at=T0 + timedelta(seconds=3)))
    assert platform.token_requests == 2
    [first, second] = platform.assertions
    assert first["aud"] == platform.token_url and first["kid"] == KEY.kid
    assert first["jti"] != second["jti"]


def test_threads_share_one_token(platform):
    ags = target(platform)
    errors = []

    def work(n: int) -> None:
        try:
            ags.deliver("u-ada", change(at=T0 + timedelta(seconds=n)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert platform.token_requests == 1
    assert len(platform.lineitems) == 1


def test_a_401_drops_the_token_and_retries_once_with_a_fresh_one(platform):
    ags = target(platform)
    ags.deliver("u-ada", change())
    platform.expire_tokens()
    assert ags.deliver("u-ada", change(at=T0 + timedelta(minutes=1))) == "updated"
    assert platform.token_requests == 2
    statuses = [r[1] for r in platform.requests_to("scores")]
    assert statuses == ["POST", "POST", "POST"]  # ok, 401, ok with the new token
    platform.fail_next("scores", 401)
    platform.fail_next("scores", 401)
    with pytest.raises(GiveUp, match="refused a fresh access token"):
        ags.deliver("u-ada", change(at=T0 + timedelta(minutes=2)))


@pytest.mark.parametrize(("setup", "code"), [
    ({"client_id": "someone-else"}, "invalid_client"),
    ({"key": keys.generate()}, "invalid_client"),  # a kid the platform does not know
    ({"token_audience": "https://elsewhere.example.org/token"}, "invalid_client"),
])
def test_token_refusals_give_up_with_the_oauth_error_and_what_to_fix(platform, setup, code):
    key = setup.pop("key", KEY)
    ags = target(platform, key=key, **setup)
    with pytest.raises(GiveUp) as refused:
        ags.deliver("u-ada", change())
    assert f"token request: the platform answered {code}" in refused.value.message
    assert "jwks.json" in refused.value.message
    assert platform.scores == {}


def test_a_scope_the_platform_does_not_grant_is_invalid_scope(platform):
    platform.grantable.discard("https://purl.imsglobal.org/spec/lti-nrps/scope/"
                               "contextmembership.readonly")
    with pytest.raises(GiveUp, match=r"invalid_scope.*Names and Role Provisioning"):
        target(platform).resolve(LearnerRef(7, "Ada", ("mbox:ada@example.org",)))


def test_token_endpoint_trouble_is_retried_honouring_retry_after(platform):
    platform.fail_next("token", 503, b"maintenance", {"Retry-After": "120"})
    with pytest.raises(Retry) as later:
        target(platform).deliver("u-ada", change())
    assert later.value.after == 120.0
    platform.fail_next("token", 200, b"<html>login</html>")
    with pytest.raises(GiveUp, match="not JSON"):
        target(platform).deliver("u-ada", change())


def test_an_unknown_user_is_unresolved(platform):
    with pytest.raises(Unresolved, match="Incorrect user"):
        target(platform).deliver("u-nobody", change())


@pytest.mark.parametrize(("status", "headers", "after"), [
    (429, {"Retry-After": "7"}, 7.0),
    (502, {}, None),
    (503, {"Retry-After": "30"}, 30.0),
])
def test_throttling_and_server_errors_on_scores_are_retried(platform, status, headers, after):
    ags = target(platform)
    ags.lineitem(change())
    platform.fail_next("scores", status, b"busy", headers)
    with pytest.raises(Retry) as later:
        ags.deliver("u-ada", change())
    assert later.value.after == after


def test_a_platform_that_does_not_answer_is_retried():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        config = validate("slow", {"kind": "lti", "issuer": url, "client_id": "c",
                                   "token_url": url + "/token", "lineitems": url + "/li",
                                   "timeout": 0.5, "match": ["account"]})
        slow = lti.LtiTarget("slow", config, requests.Session(), lambda: KEY)
        with pytest.raises(Retry, match=r"no answer .* within 0\.5 s"):
            slow.deliver("u-ada", change())
    finally:
        silent.close()


def test_line_items_on_another_origin_are_ignored_so_the_token_never_goes_there(platform):
    foreign = [{"id": "https://attacker.example.net/lineitem", "tag":
                "lrs-connector:readiness:director", "label": "x", "scoreMaximum": 1}]
    platform.fail_next("lineitems", 200, orjson.dumps(foreign))
    assert target(platform).deliver("u-ada", change()) == "updated"
    [ident] = platform.lineitems
    assert ident.startswith(platform.url)


def test_an_oversized_answer_is_refused(platform, monkeypatch):
    monkeypatch.setattr(lti, "MAX_BODY_BYTES", 1000)
    platform.fail_next("lineitems", 200, b"[" + b" " * 5000 + b"]")
    with pytest.raises(GiveUp, match="larger than 1000 bytes"):
        target(platform).deliver("u-ada", change())


def test_learners_resolve_by_account_email_and_sourcedid_through_paged_rosters(platform):
    platform.page_size = 2
    for n in range(5):
        platform.add_member(f"u-{n}", email=f"learner{n}@example.org", sourcedid=f"S-10{n}")
    platform.add_member("u-gone", email="gone@example.org", status="Deleted")
    clock = Clock()
    ags = target(platform, clock=clock, match=["account", "email", "sourcedid"],
                 sis_home_page="https://sis.example.org")
    by_account = LearnerRef(1, None, (f"account:{platform.issuer}|u-direct",))
    assert ags.resolve(by_account) == "u-direct"
    assert platform.requests_to("memberships") == []  # the account names the LTI user
    assert ags.resolve(LearnerRef(2, None, ("mbox:LEARNER4@example.org",))) == "u-4"
    assert len(platform.requests_to("memberships")) == 4  # 7 members, 2 a page
    assert ags.resolve(LearnerRef(3, None, ("account:https://sis.example.org|S-102",))) == "u-2"
    assert ags.resolve(LearnerRef(4, None, ("mbox:ada@example.org",))) == "u-ada"
    assert ags.resolve(LearnerRef(5, None, ("mbox:gone@example.org",))) is None
    assert ags.resolve(LearnerRef(6, None, ("mbox:stranger@example.org",))) is None
    assert len(platform.requests_to("memberships")) == 4  # the roster is cached
    platform.add_member("u-new", email="new@example.org")
    clock.now += 301
    assert ags.resolve(LearnerRef(7, None, ("mbox:new@example.org",))) == "u-new"
    assert len(platform.requests_to("memberships")) == 8


def test_an_email_two_members_share_is_not_guessed(platform):
    platform.add_member("u-twin", email="ada@example.org")
    assert target(platform).resolve(LearnerRef(1, None, ("mbox:ada@example.org",))) is None


def test_check_reports_token_scopes_line_items_and_roster(platform):
    findings = {f.check: f for f in target(platform).check()}
    assert all(f.ok for f in findings.values()), findings
    assert "https://connector.example.org/.well-known/jwks.json" in findings["keyset"].message
    assert findings["memberships"].message == "1 members readable, 1 with an email"
    assert "0 line items readable" in findings["line items"].message
    no_email = LtiPlatform(jwks=keys.key_set([keys.public_jwk(KEY)])).start()
    try:
        no_email.add_member("u-1")
        emails = {f.check: f for f in target(no_email).check()}["memberships"]
        assert not emails.ok and "withholds members' emails" in emails.fix
    finally:
        no_email.stop()
    refused = {f.check: f for f in target(platform, client_id="wrong").check()}
    assert not refused["token"].ok
    assert "invalid_client" in refused["token"].message
    assert "line items" not in refused


def test_end_to_end_the_platform_verifies_assertions_with_the_connectors_jwks_url(app, engine):
    """The platform fetches <public_base_url>/.well-known/jwks.json; rotation keeps working."""
    if "jwks" not in app.blueprints:
        app.register_blueprint(jwks_bp)
    connector = Served(app)
    try:
        with LtiPlatform(jwks_url=connector.url + "/.well-known/jwks.json") as platform:
            platform.add_member("u-ada", email="ada@example.org")
            context = TargetContext(connector.url, requests.Session(),
                                    lambda: key_store.current_signing_key(engine))
            ags = build_all({"ags": {"kind": "lti", **platform.config()}}, context)["ags"]
            assert ags.deliver("u-ada", change()) == "updated"
            first_kid = platform.assertions[0]["kid"]
            with database.write(engine) as conn:
                key_store.rotate(conn, datetime.now(UTC))
            ags.forget_token()
            assert ags.deliver("u-ada", change(at=T0 + timedelta(minutes=1))) == "updated"
            assert platform.assertions[1]["kid"] != first_kid
            with database.write(engine) as conn:
                key_store.rotate(conn, datetime.now(UTC), compromised=True)
            ags.forget_token()
            assert ags.deliver("u-ada", change(at=T0 + timedelta(minutes=2))) == "updated"
            assert len({a["kid"] for a in platform.assertions}) == 3
    finally:
        connector.stop()


def test_build_needs_the_key_provider():
    context = TargetContext("https://c.example.org", requests.Session(), None)
    table = {"kind": "lti", "issuer": "https://lms.example.org", "client_id": "c",
             "token_url": "https://lms.example.org/token", "lineitems":
             "https://lms.example.org/li", "match": ["account"]}
    with pytest.raises(TargetConfigError, match=r"lms_targets\.x: an LTI target signs"):
        build_all({"x": table}, context)


@pytest.mark.parametrize(("change_", "field", "message"), [
    ({"token_url": "ftp://lms.example.org/token"}, "token_url", "Not a valid URL"),
    ({"token_url": None}, "token_url", "Field may not be null"),
    ({"match": ["email"], "memberships": None}, "memberships", "Names and Role Provisioning"),
    ({"match": ["account", "sourcedid"]}, "sis_home_page", "SIS id"),
    ({"match": ["phone"]}, "match.0", "Must be one of"),
    ({"score_maximum": 0}, "score_maximum", "greater than or equal to 1"),
    ({"lineitem": "https://lms.example.org/li"}, "lineitem", "Unknown field"),
    ({"lineitems": "https://user:pw@lms.example.org/li"}, "lineitems", "credentials"),
])
def test_config_errors_name_the_target_and_field(change_, field, message):
    table = {"kind": "lti", "issuer": "https://lms.example.org", "client_id": "c",
             "token_url": "https://lms.example.org/token",
             "lineitems": "https://lms.example.org/li",
             "memberships": "https://lms.example.org/nrps"}
    table.update(change_)
    table = {k: v for k, v in table.items() if v is not None or k == "token_url"}
    with pytest.raises(TargetConfigError) as error:
        validate("moodle-ags", table)
    assert str(error.value).startswith(f"lms_targets.moodle-ags.{field}: ")
    assert message in str(error.value)
