"""The Moodle target against the Moodle double (tests/lms/moodle_double.py), which answers as
the recorded Moodle 4.4 does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from lrs_connector.lms.config import TargetConfigError, TargetContext, build_all, validate
from lrs_connector.lms.moodle import MoodleTarget
from lrs_connector.lms.targets import Change, GiveUp, LearnerRef, Retry, Unresolved
from tests.lms.moodle_double import ENDPOINT, MoodleDouble, moodle  # noqa: F401

ROLE = "https://example.org/roles/director"


def table(double: MoodleDouble, **extra) -> dict:
    return {
        "kind": "moodle", "url": double.url, "token": double.token,
        "match": ["account", "email", "idnumber", "username"],
        "fields": {"director": {"score": "readiness_director", "level": "readiness_level"}},
        "timeout": 2, **extra,
    }


def target(double: MoodleDouble, **extra) -> MoodleTarget:
    context = TargetContext(public_base_url="http://127.0.0.1:9", http=requests.Session(),
                            environ={})
    return build_all({"m": table(double, **extra)}, context)["m"]


def change(level: str = "emerging", score: float = 42.5, role_code: str = "director",
           **extra) -> Change:
    return Change(delivery_id=1, learner_id=7, role=ROLE, role_code=role_code, score=score,
                  level=level, previous_score=None, previous_level=None,
                  computed_at=datetime(2026, 11, 28, tzinfo=UTC), **extra)


def learner(*aliases: str) -> LearnerRef:
    return LearnerRef(learner_id=7, name="Ada", aliases=aliases)


def updates(double: MoodleDouble) -> int:
    return len(double.calls_to("core_user_update_users"))


# -- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("change_, field", [
    ({"url": None}, "url"),
    ({"url": "ftp://moodle.example.org"}, "url"),
    ({"url": "https://moodle.example.org/?x=1"}, "url"),
    ({"match": ["email", "phone"]}, "match"),
    ({"match": ["email", "email"]}, "match"),
    ({"token_env": "MOODLE_TOKEN"}, "token"),
    ({"colour": "blue"}, "colour"),
    ({"fields": {"director": {"score": "bad name!"}}}, "fields.director.score"),
    ({"fields": {"director": {"rank": "x"}}}, "fields.director.rank"),
    ({"fields": {"director": {}}}, "fields.director"),
    ({"fields": {"director": {"score": "same"}, "clo": {"level": "same"}}}, "fields"),
    ({"fields": {}}, "fields"),
    ({"competencies": {"director": {"competency_id": 3, "when_level": "ready"}}},
     "competencies.director.grade"),
    ({"competencies": {"director": {"competency_id": "3", "grade": 2, "when_level": "ready"}}},
     "competencies.director.competency_id"),
    ({"timeout": 0}, "timeout"),
])
def test_configuration_errors_name_the_field(change_, field):
    base = {"kind": "moodle", "url": "https://moodle.example.org", "token": "t",
            "fields": {"director": {"level": "readiness_level"}}}
    body = {**base, **change_}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(TargetConfigError) as caught:
        validate("m", body)
    assert str(caught.value).split(":")[0] in (f"lms_targets.m.{field}",
                                               f"lms_targets.m.{field}.1")


def test_a_full_configuration_loads_with_defaults():
    loaded = validate("m", {"kind": "moodle", "url": "https://moodle.example.org/",
                            "token_file": "/run/secrets/moodle",
                            "fields": {"director": {"level": "readiness_level"}},
                            "level_values": {"not ready": "Not yet"},
                            "competencies": {"director": {"competency_id": 3, "grade": 2,
                                                          "when_level": ["developing",
                                                                         "ready"]}}})
    assert loaded["match"] == ["account", "email"]
    assert loaded["timeout"] == 10.0
    assert loaded["competencies"]["director"]["when_level"] == ("developing", "ready")


def test_an_unset_token_variable_is_named():
    context = TargetContext(public_base_url="http://x", http=requests.Session(), environ={})
    with pytest.raises(TargetConfigError, match=r"lms_targets.m.token_env: .*MOODLE_TOKEN"):
        build_all({"m": {"kind": "moodle", "url": "https://moodle.example.org",
                         "token_env": "MOODLE_TOKEN",
                         "fields": {"director": {"level": "readiness_level"}}}}, context)


# -- resolving learners -------------------------------------------------------------------------

def test_an_account_on_the_site_is_the_user_id_without_asking(moodle):  # noqa: F811
    assert target(moodle).resolve(learner(f"account:{moodle.url}|42")) == "42"
    assert moodle.calls == []


def test_lookups_by_email_idnumber_and_username(moodle):  # noqa: F811
    ada = moodle.add_user("ada", email="ada@example.org", idnumber="HR-17")
    t = target(moodle)
    assert t.resolve(learner("mbox:ada@example.org")) == str(ada.id)
    assert t.resolve(learner("account:https://hr.example.org|HR-17")) == str(ada.id)
    # Moodle's log store sends usernames as account names on the site when told to
    assert t.resolve(learner(f"account:{moodle.url}|Ada")) == str(ada.id)
    assert [c.params["field"] for c in moodle.calls] == ["email", "idnumber", "username"]


def test_methods_are_tried_in_the_configured_order(moodle):  # noqa: F811
    ada = moodle.add_user("ada", email="ada@example.org", idnumber="HR-17")
    t = target(moodle, match=["idnumber", "email"])
    assert t.resolve(learner("mbox:ada@example.org",
                             "account:https://hr.example.org|HR-17")) == str(ada.id)
    assert [c.params["field"] for c in moodle.calls] == ["idnumber"]


def test_nobody_found_or_several_found_is_unresolved(moodle):  # noqa: F811
    moodle.add_user("ada1", email="shared@example.org")
    moodle.add_user("ada2", email="shared@example.org")
    t = target(moodle)
    assert t.resolve(learner("mbox:nobody@example.org")) is None
    assert t.resolve(learner("mbox:shared@example.org")) is None
    assert t.resolve(learner("openid:https://id.example.org/ada")) is None


def test_a_token_without_capabilities_finds_nobody(moodle):  # noqa: F811
    moodle.add_user("ada", email="ada@example.org")
    t = target(moodle, token=moodle.nocap_token)
    assert t.resolve(learner("mbox:ada@example.org")) is None  # the trap check() reports


def test_resolving_retries_or_gives_up_when_moodle_cannot_answer(moodle):  # noqa: F811
    moodle.answer_next(502, b"bad gateway")
    with pytest.raises(Retry, match="HTTP 502"):
        target(moodle).resolve(learner("mbox:ada@example.org"))
    with pytest.raises(GiveUp, match="invalidtoken"):
        target(moodle, token="wrong").resolve(learner("mbox:ada@example.org"))


# -- delivering ---------------------------------------------------------------------------------

def test_deliver_writes_then_an_equal_change_is_unchanged(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    t = target(moodle)
    assert t.deliver(str(ada.id), change("emerging", 42.5)) == \
        "updated readiness_director, readiness_level"
    assert ada.data == {"readiness_director": "42.5", "readiness_level": "emerging"}
    assert updates(moodle) == 1
    assert t.deliver(str(ada.id), change("emerging", 42.5)) == "unchanged"
    assert updates(moodle) == 1
    assert t.deliver(str(ada.id), change("emerging", 44.0)) == "updated readiness_director"
    assert moodle.calls_to("core_user_update_users")[-1].params["users"][0]["customfields"] == \
        [{"type": "readiness_director", "value": "44.0"}]


def test_level_values_map_to_menu_options(moodle):  # noqa: F811
    moodle.fields["readiness_level"].options = ["Not yet", "Emerging", "Developing", "Ready"]
    ada = moodle.add_user("ada")
    t = target(moodle, level_values={"emerging": "Emerging"})
    t.deliver(str(ada.id), change("emerging"))
    assert ada.data["readiness_level"] == "Emerging"


def test_badge_and_page_links_are_written_and_cleared(moodle):  # noqa: F811
    moodle.add_field("readiness_badge", "Badge")
    ada = moodle.add_user("ada")
    t = target(moodle, fields={"director": {"badge": "readiness_badge"}})
    t.deliver(str(ada.id), change(badge_url="https://x.example.org/badges/1"))
    assert ada.data["readiness_badge"] == "https://x.example.org/badges/1"
    assert t.deliver(str(ada.id), change()) == "updated readiness_badge"
    assert ada.data["readiness_badge"] == ""
    assert t.deliver(str(ada.id), change()) == "unchanged"


def test_an_unknown_field_is_detected_by_reading_back(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    t = target(moodle, fields={"director": {"score": "readiness_directr"}})
    with pytest.raises(GiveUp, match=r"ignored custom profile field 'readiness_directr' "
                                     r"\(fields.director.score\)"):
        t.deliver(str(ada.id), change())


def test_a_menu_value_that_is_not_an_option_is_detected(moodle):  # noqa: F811
    ada = moodle.add_user("ada", readiness_level="ready")
    t = target(moodle, fields={"director": {"level": "readiness_level"}})
    with pytest.raises(GiveUp) as caught:
        t.deliver(str(ada.id), change("superstar"))
    assert "'superstar' for menu field 'readiness_level'" in caught.value.message
    assert "'not ready'" in caught.value.message and "level_values" in caught.value.message


def test_a_missing_user_is_unresolved(moodle):  # noqa: F811
    with pytest.raises(Unresolved, match="no user with id 999999"):
        target(moodle).deliver("999999", change())
    with pytest.raises(Unresolved):
        target(moodle).deliver("ada", change())


def test_update_warnings_are_mapped(moodle, monkeypatch):  # noqa: F811
    t = target(moodle)
    with pytest.raises(GiveUp, match="usernotupdatedadmin"):
        t.deliver("2", change())
    ada = moodle.add_user("ada")
    # the user disappears between reading and writing: Moodle warns invaliduserid
    original = moodle._core_user_update_users

    def vanish(caller, params):
        del moodle.users[ada.id]
        return original(caller, params)

    monkeypatch.setattr(moodle, "_core_user_update_users", vanish)
    with pytest.raises(Unresolved, match="invaliduserid"):
        t.deliver(str(ada.id), change())


def test_error_envelopes_are_mapped(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    with pytest.raises(GiveUp, match="invalidtoken") as caught:
        target(moodle, token="not-the-token").deliver(str(ada.id), change())
    assert "not-the-token" not in caught.value.message
    moodle.tokens[moodle.nocap_token].capabilities |= {"moodle/user:viewalldetails"}
    with pytest.raises(GiveUp, match="nopermissions"):
        target(moodle, token=moodle.nocap_token).deliver(str(ada.id), change())
    moodle.tokens[moodle.token].functions -= {"core_user_update_users"}
    with pytest.raises(GiveUp, match=r"accessexception.*add it to the external service"):
        target(moodle).deliver(str(ada.id), change())
    moodle.maintenance = True
    with pytest.raises(Retry, match="sitemaintenance"):
        target(moodle).deliver(str(ada.id), change())


@pytest.mark.parametrize("status, body, headers, error, message", [
    (503, b"", {"Retry-After": "7"}, Retry, "HTTP 503"),
    (429, b"", {"Retry-After": "120"}, Retry, "HTTP 429"),
    (500, b"<html>Fatal error</html>", {}, Retry, "HTTP 500"),
    (200, b"", {}, Retry, "empty body"),
    (200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="moodle_exception">\n'
          b"<ERRORCODE>invalidtoken</ERRORCODE>\n<MESSAGE>x</MESSAGE>\n</EXCEPTION>\n", {},
     GiveUp, r"in XML \(invalidtoken\)"),
    (200, b"<!DOCTYPE html><html><head><title>Error | Moodle</title></head></html>", {},
     GiveUp, r"HTML \(Error \| Moodle\)"),
    (200, b"<br />\n<b>Notice</b>: Undefined index", {}, GiveUp, "Display debug messages"),
    (200, b"Fatal error: out of memory", {}, GiveUp, "not JSON"),
    (303, b"", {"Location": "https://moodle.example.org/login/index.php"}, GiveUp,
     "redirects .* to https://moodle.example.org/login/index.php"),
    (403, b"", {}, GiveUp, "REST protocol"),
    (404, b"", {}, GiveUp, "HTTP 404"),
])
def test_http_failures_and_answers_that_are_not_json(moodle, status, body, headers, error,  # noqa: F811
                                                     message):
    ada = moodle.add_user("ada")
    moodle.answer_next(status, body, headers)
    with pytest.raises(error, match=message) as caught:
        target(moodle).deliver(str(ada.id), change())
    if "Retry-After" in headers:
        assert caught.value.after == float(headers["Retry-After"])


def test_a_timeout_is_retried(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    moodle.delay = 1.5
    with pytest.raises(Retry, match=r"within 0\.5 s"):
        target(moodle, timeout=0.5).deliver(str(ada.id), change())


def test_an_unreachable_moodle_is_retried():
    double = MoodleDouble()
    double.url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(Retry, match="cannot reach Moodle"):
        target(double).deliver("4", change())


def test_answers_are_read_with_a_size_bound(moodle, monkeypatch):  # noqa: F811
    monkeypatch.setattr("lrs_connector.lms.moodle.MAX_ANSWER_BYTES", 200)
    ada = moodle.add_user("ada")
    with pytest.raises(GiveUp, match="exceeds 200 bytes"):
        target(moodle).deliver(str(ada.id), change())


# -- competencies -------------------------------------------------------------------------------

def competency_target(double: MoodleDouble, cid: int, **extra) -> MoodleTarget:
    return target(double, competencies={"director": {"competency_id": cid, "grade": 2,
                                                     "when_level": ["developing", "ready"]}},
                  **extra)


def test_a_competency_is_rated_once_and_its_badge_awarded(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    cid = moodle.add_competency()
    badge = moodle.add_badge("Director-ready", cid)
    t = competency_target(moodle, cid)
    assert t.deliver(str(ada.id), change("emerging")) == "updated readiness_director, " \
        "readiness_level"
    assert moodle.calls_to("core_competency_grade_competency") == []
    assert t.deliver(str(ada.id), change("ready", 85.0)).endswith(f"competency {cid} rated 2")
    assert ada.id in moodle.badges[badge]["awarded"]
    again = t.deliver(str(ada.id), change("ready", 85.0))
    assert again == f"unchanged; competency {cid} already proficient"
    assert t.deliver(str(ada.id), change("ready", 90.0)).endswith("already proficient")
    assert len(moodle.calls_to("core_competency_grade_competency")) == 1
    assert len(moodle.evidence) == 1


def test_a_rating_that_timed_out_is_not_repeated(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    cid = moodle.add_competency()
    t = competency_target(moodle, cid, fields={})
    # the rating was applied but its answer was lost: the retry reads it first
    moodle.answer_next(200, b'{"showrelatedcompetencies":true,"usercompetency":null}')
    moodle.answer_next(504, b"")
    with pytest.raises(Retry):
        t.deliver(str(ada.id), change("ready"))
    requests.post(moodle.url + ENDPOINT, timeout=10, data={
        "wstoken": moodle.token, "wsfunction": "core_competency_grade_competency",
        "moodlewsrestformat": "json", "userid": ada.id, "competencyid": cid, "grade": 2})
    moodle.calls.clear()
    assert t.deliver(str(ada.id), change("ready")) == f"competency {cid} already proficient"
    assert moodle.calls_to("core_competency_grade_competency") == []


def test_a_grade_off_the_scale_gives_up(moodle):  # noqa: F811
    ada = moodle.add_user("ada")
    cid = moodle.add_competency()
    t = target(moodle, fields={}, competencies={"director": {
        "competency_id": cid, "grade": 7, "when_level": "ready"}})
    with pytest.raises(GiveUp, match="invalidpersistenterror"):
        t.deliver(str(ada.id), change("ready"))


# -- check --------------------------------------------------------------------------------------

def findings(t: MoodleTarget) -> dict[str, tuple[bool, str, str]]:
    return {f.check: (f.ok, f.message, f.fix) for f in t.check()}


def test_check_passes_a_good_set_up(moodle):  # noqa: F811
    moodle.add_user("ada", email="ada@example.org", idnumber="HR-1")
    cid = moodle.add_competency()
    got = findings(competency_target(moodle, cid))
    assert all(ok for ok, _, _ in got.values()), got
    assert "menu field 'readiness_level' exists" in got["fields.director.level"][1]
    assert got["lookup.email"][0] and got["lookup.idnumber"][0] and got["lookup.username"][0]
    assert "grade 2 is proficient" in got["competencies.director"][1]


def test_check_reports_the_silent_empty_lookup(moodle):  # noqa: F811
    moodle.add_user("ada", email="ada@example.org")
    got = findings(target(moodle, token=moodle.nocap_token))
    ok, message, fix = got["lookup"]
    assert not ok and "answers [] instead of an error" in message
    assert "moodle/site:viewuseridentity" in fix
    assert got["update"][0] is False and "moodle/user:update" in got["update"][2]


def test_check_reports_hidden_identity_fields(moodle):  # noqa: F811
    moodle.add_user("ada", email="ada@example.org")
    moodle.tokens[moodle.token].capabilities -= {"moodle/site:viewuseridentity"}
    got = findings(target(moodle))
    assert got["lookup.email"][0] is False
    assert "lookups by email answer []" in got["lookup.email"][1]


def test_check_reports_a_bad_token_without_showing_it(moodle):  # noqa: F811
    got = target(moodle, token="s3cret-wrong-token").check()
    assert [(f.check, f.ok) for f in got] == [("token", False)]
    assert "invalidtoken" in got[0].message and "Manage tokens" in got[0].fix
    assert "s3cret-wrong-token" not in str([f.as_dict() for f in got])


def test_check_reports_missing_functions_url_and_competencies(moodle):  # noqa: F811
    moodle.tokens[moodle.token].functions -= {"core_competency_grade_competency"}
    moodle.add_competency()
    t = target(moodle, url=moodle.url.replace("127.0.0.1", "localhost"),
               competencies={"director": {"competency_id": 99, "grade": 2,
                                          "when_level": "ready"}})
    got = findings(t)
    assert got["url"][0] is False and f'set url = "{moodle.url}"' in got["url"][2]
    assert got["functions"] == (False, "the service lacks core_competency_grade_competency",
                                got["functions"][2])
    assert got["competencies.director"][:2] == (False, "Moodle has no competency 99")


def test_check_reports_a_grade_that_is_not_proficient(moodle):  # noqa: F811
    cid = moodle.add_competency()
    t = target(moodle, competencies={"director": {"competency_id": cid, "grade": 1,
                                                  "when_level": "ready"}})
    ok, message, fix = findings(t)["competencies.director"]
    assert not ok and "not a proficient value" in message and fix == "set grade to one of 2"


def test_check_reports_an_unreachable_site():
    double = MoodleDouble()
    double.url = "http://127.0.0.1:9"
    got = target(double).check()
    assert [(f.check, f.ok) for f in got] == [("connection", False)]
