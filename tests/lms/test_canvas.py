"""The Canvas target against a Canvas double that answers (and throttles) as Canvas does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from lrs_connector.lms import canvas, keys
from lrs_connector.lms.config import TargetConfigError, TargetContext, build_all, validate
from lrs_connector.lms.targets import Change, GiveUp, LearnerRef, Retry, Unresolved
from tests.lms.canvas_double import CanvasDouble
from tests.lms.lti_double import LtiPlatform

KEY = keys.generate()
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
NS = "dev.lrs-connector"


def change(score: float = 64.0, level: str = "developing", role_code: str = "director",
           at: datetime = T0) -> Change:
    return Change(delivery_id=3, learner_id=7, role="https://example.org/roles/" + role_code,
                  role_code=role_code, score=score, level=level, previous_score=50.0,
                  previous_level="emerging", computed_at=at)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def lms():
    with CanvasDouble(namespace=NS) as running:
        running.add_user(7, "Ada Lovelace", login_id="ada", email="ada@example.org",
                         sis_user_id="S-7")
        yield running


def target(lms: CanvasDouble, sleep=None, signing_key=lambda: KEY, **overrides):
    context = TargetContext("https://connector.example.org", requests.Session(), signing_key)
    built = build_all({"canvas": {"kind": "canvas", **lms.config(**overrides)}}, context)
    built = built["canvas"]
    if sleep is not None:
        built._sleep = sleep
    return built


def test_a_change_is_stored_in_custom_data_under_namespace_scope_and_role(lms):
    lms_target = target(lms)
    assert lms_target.deliver("7", change()) == "updated"
    assert lms.custom_data[(7, NS)] == {"readiness": {"director": change().as_dict()}}
    method, path, headers = lms.requests[-1]
    assert (method, path) == ("PUT", f"/api/v1/users/7/custom_data/readiness/director?ns={NS}")
    assert headers["Authorization"] == f"Bearer {lms.token}"
    newer = change(score=81.0, level="ready", at=T0 + timedelta(hours=1))
    assert lms_target.deliver("7", newer) == "updated"  # 200: overwritten, idempotent
    assert lms.custom_data[(7, NS)]["readiness"]["director"]["level"] == "ready"
    lms_target.deliver("7", change(role_code="analyst"))
    assert set(lms.custom_data[(7, NS)]["readiness"]) == {"director", "analyst"}


def test_the_double_answers_201_then_200_and_400_without_namespace_as_canvas(lms):
    url = f"{lms.url}/api/v1/users/7/custom_data/readiness/x"
    auth = {"Authorization": f"Bearer {lms.token}"}
    created = requests.put(url, params={"ns": NS}, json={"data": {"a": 1}}, headers=auth,
                           timeout=5)
    again = requests.put(url, params={"ns": NS}, json={"data": {"a": 2}}, headers=auth,
                         timeout=5)
    missing_ns = requests.put(url, json={"data": 1}, headers=auth, timeout=5)
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.json() == {"data": {"a": 2}}
    assert (missing_ns.status_code, missing_ns.json()) == (400, {"message": "invalid namespace"})


def test_a_scope_conflict_gives_up_and_says_what_to_change(lms):
    lms.custom_data[(7, NS)] = {"readiness": "legacy value"}
    with pytest.raises(GiveUp) as refused:
        target(lms).deliver("7", change())
    message = refused.value.message
    assert "409 write conflict" in message and "readiness" in message and "String" in message
    assert "choose another `scope` or `namespace`" in message
    assert lms.custom_data[(7, NS)] == {"readiness": "legacy value"}


def test_a_deleted_user_is_unresolved(lms):
    with pytest.raises(Unresolved, match="no such user"):
        target(lms).deliver("99", change())


def test_the_403_rate_limit_text_answer_is_retried_after_a_sensible_wait(lms):
    lms.throttle_next = 1
    with pytest.raises(Retry) as later:
        target(lms).deliver("7", change())
    assert "throttling" in later.value.message
    assert later.value.after == canvas.THROTTLED_WAIT_SECONDS
    assert (7, NS) not in lms.custom_data
    assert target(lms).deliver("7", change()) == "updated"


def test_429_is_retried_honouring_retry_after(lms):
    lms.throttle_style = "429"
    lms.throttle_next = 1
    lms.retry_after = "12"
    with pytest.raises(Retry) as later:
        target(lms).deliver("7", change())
    assert later.value.after == 12.0


def test_an_empty_bucket_throttles_and_a_low_one_slows_the_target_down(lms):
    sleeps = Sleeps()
    lms_target = target(lms, sleep=sleeps)
    lms_target.deliver("7", change())
    assert sleeps == []  # plenty of quota left
    lms.leak_rate = 0.0
    lms.remaining = 50.5
    lms_target.deliver("7", change(role_code="a"))  # answer reports 49.5 remaining
    lms_target.deliver("7", change(role_code="b"))
    assert len(sleeps) == 1 and 2.4 < sleeps[0] < 2.6  # half of the low mark: half the pause
    lms.remaining = 0.5
    with pytest.raises(Retry):
        lms_target.deliver("7", change(role_code="c"))
    lms.remaining = 700.0
    lms_target.deliver("7", change(role_code="c"))
    assert sleeps[-1] > 4.9  # the throttled answer reported ~0 left: (nearly) the full pause


def test_a_403_that_is_not_throttling_gives_up_as_a_permission_problem(lms):
    lms.admin = False
    with pytest.raises(GiveUp, match=r"may not do this \(403\): user not authorized"):
        target(lms).deliver("7", change())
    lms.permission_status = 401  # older Canvas answers 401 for the same
    with pytest.raises(GiveUp, match=r"may not do this \(401\)"):
        target(lms).deliver("7", change())


def test_a_wrong_token_gives_up_asking_for_a_new_one(lms):
    with pytest.raises(GiveUp, match=r"refused the token.*Invalid access token"):
        target(lms, token="expired").deliver("7", change())


def test_learners_resolve_by_account_login_sis_id_and_email(lms):
    lms_target = target(lms, match=["account", "sis", "email"],
                        sis_home_page="https://sis.example.org")
    assert lms_target.resolve(LearnerRef(1, None, (f"account:{lms.url}|7",))) == "7"
    assert lms_target.resolve(LearnerRef(1, None, (f"account:{lms.url}|ada",))) == "7"
    assert lms_target.resolve(LearnerRef(1, None, ("account:https://sis.example.org|S-7",))) \
        == "7"
    assert lms_target.resolve(LearnerRef(1, None, ("mbox:ADA@example.org",))) == "7"
    assert lms_target.resolve(LearnerRef(1, None, ("account:https://sis.example.org|S-8",))) \
        is None
    assert lms_target.resolve(LearnerRef(1, None, ("mbox:nobody@example.org",))) is None


def test_email_search_follows_link_pagination_and_never_guesses(lms):
    lms.page_size = 2  # the server's cap on per_page
    for n in range(5):  # logins containing the address: Canvas's search returns them too
        lms.add_user(100 + n, f"Old account {n}", login_id=f"zed@example.org.old{n}")
    lms.add_user(200, "Zed", login_id="zed", email="zed@example.org")  # sorts last
    lms_target = target(lms)
    assert lms_target.resolve(LearnerRef(1, None, ("mbox:zed@example.org",))) == "200"
    pages = [p for p in lms.paths("GET") if "/accounts/self/users" in p]
    assert len(pages) == 3
    assert "search_term=zed%40example.org" in pages[0] and "include%5B%5D=email" in pages[0]
    assert "page=3" in pages[2]
    lms.add_user(201, "Zed Twin", login_id="zed2", email="ZED@example.org")
    assert lms_target.resolve(LearnerRef(1, None, ("mbox:zed@example.org",))) is None


def test_with_ags_the_learner_also_gets_a_grade_in_the_course(lms):
    with LtiPlatform(jwks=keys.key_set([keys.public_jwk(KEY)])) as platform:
        platform.add_member("lti-uuid-ada", email="ada@example.org")
        lms_target = target(lms, ags=platform.config())
        user = lms_target.resolve(LearnerRef(7, "Ada", ("mbox:ada@example.org",)))
        assert user == "7|lti-uuid-ada"
        assert lms_target.deliver(user, change()) == "updated; grade updated"
        assert lms.custom_data[(7, NS)]["readiness"]["director"]["score"] == 64.0
        [scores] = platform.scores.values()
        assert [s["userId"] for s in scores] == ["lti-uuid-ada"]
        assert lms_target.deliver(user, change()) == "updated; grade already applied"
        assert lms_target.deliver("7", change(at=T0 + timedelta(hours=1))).startswith(
            "updated; no grade")
        platform.members.clear()  # the learner left the course
        assert lms_target.deliver(user, change(at=T0 + timedelta(hours=2))) == (
            "updated; no grade (the course refused the LTI user)")
        assert lms.custom_data[(7, NS)]["readiness"]["director"]["computed_at"].startswith(
            "2026-03-01T11:30")


def test_check_verifies_the_token_custom_data_and_search_and_leaves_nothing_behind(lms):
    findings = {f.check: f for f in target(lms).check()}
    assert all(f.ok for f in findings.values()), findings
    assert "Connector Admin (user 1)" in findings["token"].message
    assert (1, NS) not in lms.custom_data  # the check's write was removed again
    lms.admin = False
    findings = {f.check: f for f in target(lms).check()}
    assert not findings["user search"].ok
    assert findings["custom data"].ok  # its own data: allowed even without admin rights
    bad = target(lms, token="wrong").check()
    assert [(f.check, f.ok) for f in bad] == [("token", False)]
    assert "access token" in bad[0].fix


@pytest.mark.parametrize(("change_", "field", "message"), [
    ({"token": None}, "token", "exactly one of token_file, token_env or token"),
    ({"token_env": "CANVAS_TOKEN"}, "token", "exactly one"),
    ({"namespace": "has space"}, "namespace", "letters, digits"),
    ({"scope": "../escape"}, "scope", "a path of 1-8 segments"),
    ({"url": "https://canvas.example.edu/api/v1"}, "url", "base URL only"),
    ({"match": ["sis"]}, "sis_home_page", "SIS user id"),
    ({"ags": {"issuer": "https://canvas.instructure.com"}}, "ags.client_id",
     "Missing data for required field"),
])
def test_config_errors_name_the_target_and_field(change_, field, message):
    table = {"kind": "canvas", "url": "https://canvas.example.edu", "token": "t",
             "namespace": NS}
    table.update(change_)
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(TargetConfigError) as error:
        validate("canvas", table)
    assert str(error.value).startswith(f"lms_targets.canvas.{field}: ")
    assert message in str(error.value)


def test_the_token_comes_from_a_file_or_the_environment_and_never_shows(tmp_path):
    secret = tmp_path / "canvas-token"
    secret.write_text("s3cret-canvas-token\n")
    context = TargetContext("https://c.example.org", requests.Session(), lambda: KEY,
                            environ={"CANVAS_TOKEN": "from-env"})
    base = {"kind": "canvas", "url": "https://canvas.example.edu", "namespace": NS}
    from_file = build_all({"c": {**base, "token_file": str(secret)}}, context)["c"]
    from_env = build_all({"c": {**base, "token_env": "CANVAS_TOKEN"}}, context)["c"]
    assert from_file._token.value == "s3cret-canvas-token"
    assert from_env._token.value == "from-env"
    assert "s3cret" not in repr(from_file._token) and "s3cret" not in str(vars(from_file))
    with pytest.raises(TargetConfigError, match=r"lms_targets\.c\.token_env: environment"):
        build_all({"c": {**base, "token_env": "UNSET_VAR"}}, context)
