"""validate_statement: one valid and at least one invalid statement per rule, exact paths."""

from __future__ import annotations

import pytest

from lrs_connector.xapi.validation import (
    SUPPORTED_VERSIONS,
    Problem,
    is_iri,
    is_language_tag,
    is_timestamp,
    spec_version,
    validate_statement,
)
from tests.xapi import (
    REGISTRATION,
    SHA256_HEX,
    STATEMENT_ID,
    account_agent,
    activity,
    agent,
    attachment,
    full_statement,
    group,
    statement,
    statement_ref,
    substatement,
    verb,
)

BOTH = ("1.0.3", "2.0.0")
OTHER_MBOX = "mailto:a@example.com"


def problems(stmt: object, version: str = "1.0.3") -> dict[str, str]:
    return {p.path: p.rule for p in validate_statement(stmt, version)}


def assert_valid(stmt: object, version: str = "1.0.3") -> None:
    assert validate_statement(stmt, version) == []


def assert_invalid(stmt: object, path: str, version: str = "1.0.3", rule: str = "") -> None:
    found = problems(stmt, version)
    assert path in found, f"expected a problem at {path!r}, got {found}"
    assert rule in found[path]


# --------------------------------------------------------------------------------------------
# API surface
# --------------------------------------------------------------------------------------------


def test_problem_as_dict() -> None:
    assert Problem("actor.mbox", "bad").as_dict() == {"path": "actor.mbox", "rule": "bad"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1.0", "1.0.3"),
        ("1.0.0", "1.0.3"),
        ("1.0.1", "1.0.3"),
        ("1.0.3", "1.0.3"),
        ("1.0.9", "1.0.3"),
        (" 1.0.3 ", "1.0.3"),
        ("2.0.0", "2.0.0"),
        ("2.0", "2.0.0"),
        ("0.95", None),
        ("1.1.0", None),
        ("3.0.0", None),
        ("", None),
        (None, None),
        ("1.0.x", None),
    ],
)
def test_spec_version(header: str | None, expected: str | None) -> None:
    assert spec_version(header) == expected


def test_supported_versions_map_to_a_rule_set() -> None:
    for v in SUPPORTED_VERSIONS:
        assert spec_version(v) in BOTH
        assert validate_statement(statement(), v) == []


def test_unknown_rule_version_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_statement(statement(), "0.9")


@pytest.mark.parametrize("version", BOTH)
def test_full_statement_valid(version: str) -> None:
    assert_valid(full_statement(), version)


@pytest.mark.parametrize("value", [None, [], "x", 1, 1.5, True])
def test_non_object_statement(value: object) -> None:
    assert_invalid(value, "", rule="must be a statement object")


def test_all_problems_reported() -> None:
    found = problems({"actor": {}, "verb": {"id": "bad iri"}, "object": {"id": 1}, "x": 1})
    assert set(found) == {"actor", "verb.id", "object.id", "x"}


# --------------------------------------------------------------------------------------------
# Statement level
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["actor", "verb", "object"])
@pytest.mark.parametrize("version", BOTH)
def test_required_properties(key: str, version: str) -> None:
    s = statement()
    del s[key]
    assert_invalid(s, key, version, "is required")


@pytest.mark.parametrize("key", ["Actor", "VERB", "Object", "ID", "objectType", "extra"])
def test_unknown_or_wrong_case_property(key: str) -> None:
    assert_invalid(statement(**{key: "x"}), key, rule="unknown property")


@pytest.mark.parametrize(
    "key", ["actor", "verb", "object", "result", "context", "timestamp", "authority", "id"]
)
def test_null_rejected(key: str) -> None:
    assert_invalid(statement(**{key: None}), key, rule="null")


@pytest.mark.parametrize(
    "value",
    [
        STATEMENT_ID,
        STATEMENT_ID.upper(),
        "00000000-0000-0000-0000-000000000000",
        "6fa459ea-ee8a-3ca4-894e-db77e160355e",  # version 3
    ],
)
def test_statement_id_valid(value: str) -> None:
    assert_valid(statement(id=value))


@pytest.mark.parametrize(
    "value",
    [
        "AA97B177-9383-4934-8543-0F91A7A028368",  # too many digits
        "MA97B177-9383-4934-8543-0F91A7A02836",  # non-hex
        "2e5cd37e5b554e478c6d2f49d6b5b2c1",  # no hyphens
        "{2e5cd37e-5b55-4e47-8c6d-2f49d6b5b2c1}",
        STATEMENT_ID + "\n",
        "",
        12345,
        {"key": "x"},
    ],
)
def test_statement_id_invalid(value: object) -> None:
    assert_invalid(statement(id=value), "id")


# --------------------------------------------------------------------------------------------
# Agents and groups
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [
        agent(),
        {"mbox": OTHER_MBOX},  # objectType defaults to Agent
        {"objectType": "Agent", "mbox_sha1sum": "a" * 40},
        {"objectType": "Agent", "mbox_sha1sum": "ABCDEF0123" * 4},
        {"objectType": "Agent", "openid": "http://openid.example.org/12345"},
        account_agent(),
        group(agent(), account_agent()),  # anonymous
        group(mbox="mailto:team@example.com"),  # identified, no members
        group(agent(), openid="http://example.com/team"),
        group({"mbox": OTHER_MBOX}),  # member objectType defaults to Agent
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_actor_valid(actor: dict, version: str) -> None:
    assert_valid(statement(actor=actor), version)


@pytest.mark.parametrize(
    ("actor", "path", "rule"),
    [
        ({"objectType": "Agent"}, "actor", "exactly one of mbox, mbox_sha1sum, openid, account"),
        (
            agent(openid="http://openid.example.org/1"),
            "actor",
            "found 2 (mbox, openid)",
        ),
        (
            agent(account={"homePage": "http://x.com", "name": "n"}),
            "actor",
            "found 2 (mbox, account)",
        ),
        (agent(mbox="learner@example.com"), "actor.mbox", "mailto:"),
        (agent(mbox="mailto:should.fail.com"), "actor.mbox", "mailto:"),
        (agent(mbox="http://should.fail.com"), "actor.mbox", "mailto:"),
        (agent(mbox="MAILTO:a@example.com"), "actor.mbox", "mailto:"),
        (agent(mbox="mailto:a b@example.com"), "actor.mbox", "mailto:"),
        (agent(mbox=1), "actor.mbox", "got a number"),
        ({"mbox_sha1sum": "abc"}, "actor.mbox_sha1sum", "40 hex"),
        ({"mbox_sha1sum": "g" * 40}, "actor.mbox_sha1sum", "40 hex"),
        ({"openid": "ab=c://should.fail.com"}, "actor.openid", "URI"),
        ({"openid": "http://exämple.org/id"}, "actor.openid", "URI"),
        ({"account": {"homePage": "ab=c://x", "name": "n"}}, "actor.account.homePage", "IRL"),
        ({"account": {"name": "n"}}, "actor.account.homePage", "required"),
        ({"account": {"homePage": "http://x.com"}}, "actor.account.name", "required"),
        ({"account": {"homePage": "http://x.com", "name": 5}}, "actor.account.name", "string"),
        (
            {"account": {"homePage": "http://x.com", "name": "n", "Name": "n"}},
            "actor.account.Name",
            "unknown property",
        ),
        ({"account": "user"}, "actor.account", "account object"),
        (agent(name=12345), "actor.name", "string"),
        (agent(name={"a": 1}), "actor.name", "string"),
        (agent(objectType="agent"), "actor.objectType", "'Agent' or 'Group'"),
        (agent(objectType="Activity"), "actor.objectType", "'Agent' or 'Group'"),
        (agent(objectType=123), "actor.objectType", "'Agent' or 'Group'"),
        (agent(member=[agent()]), "actor.member", "unknown property"),
        (agent(foo=1), "actor.foo", "unknown property"),
        (group(), "actor.member", "required for an anonymous Group"),
        ({"objectType": "Group", "member": []}, "actor.member", "at least one"),
        (group(member="x"), "actor.member", "array"),
        (group({"objectType": "Agent"}), "actor.member[0]", "exactly one of"),
        (group(group(agent())), "actor.member[0].objectType", "must be an Agent"),
        (group(agent(), "x"), "actor.member[1]", "Agent object"),
        (
            group(mbox="mailto:t@example.com", openid="http://x.com/t"),
            "actor",
            "at most one of mbox, mbox_sha1sum, openid, account is allowed, found 2",
        ),
        (group(agent(), mbox="team@example.com"), "actor.mbox", "mailto:"),
        ("agent", "actor", "an Agent or Group object"),
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_actor_invalid(actor: object, path: str, rule: str, version: str) -> None:
    assert_invalid(statement(actor=actor), path, version, rule)


def test_ifi_problem_lists_found_ifis() -> None:
    found = problems(statement(actor=agent(openid="http://openid.example.org/1")))
    assert found["actor"] == (
        "exactly one of mbox, mbox_sha1sum, openid, account is required, found 2 (mbox, openid)"
    )


@pytest.mark.parametrize(
    "authority",
    [
        agent(),
        group(
            account_agent("oauth_consumer_x75db", "http://example.com/xAPI/OAuth/Token"), agent()
        ),
    ],
)
def test_authority_valid(authority: dict) -> None:
    assert_valid(statement(authority=authority))


@pytest.mark.parametrize(
    ("authority", "path", "rule"),
    [
        (group(agent()), "authority.member", "exactly two Agents"),
        (group(agent(), agent(), agent()), "authority.member", "user), found 3"),
        (
            group(agent(), account_agent(), mbox="mailto:xapigroup@example.com"),
            "authority",
            "anonymous",
        ),
        ({"objectType": "Agent"}, "authority", "exactly one of"),
        (group(), "authority.member", "required"),
        ({"objectType": "Activity", "id": "http://x.com"}, "authority.objectType", "Agent"),
    ],
)
def test_authority_invalid(authority: dict, path: str, rule: str) -> None:
    assert_invalid(statement(authority=authority), path, rule=rule)


# --------------------------------------------------------------------------------------------
# Verb
# --------------------------------------------------------------------------------------------


def test_verb_without_display_valid() -> None:
    assert_valid(statement(verb={"id": "urn:example:verb"}))


@pytest.mark.parametrize(
    ("v", "path", "rule"),
    [
        ({"display": {"en-US": "x"}}, "verb.id", "required"),
        (verb("completed"), "verb.id", "IRI"),
        (verb(""), "verb.id", "IRI"),
        (verb(5), "verb.id", "IRI"),
        (verb(display={"a12345": "attended"}), "verb.display.a12345", "RFC 5646"),
        (verb(display="completed"), "verb.display", "language map"),
        (verb(display={"en-US": 5}), "verb.display.en-US", "string"),
        (verb(Display={"en-US": "x"}), "verb.Display", "unknown property"),
        ("http://x.com/v", "verb", "verb object"),
    ],
)
def test_verb_invalid(v: object, path: str, rule: str) -> None:
    assert_invalid(statement(verb=v), path, rule=rule)


@pytest.mark.parametrize("version", BOTH)
def test_voiding_requires_statement_ref(version: str) -> None:
    voided = verb("http://adlnet.gov/expapi/verbs/voided")
    assert_valid(statement(verb=voided, object=statement_ref()), version)
    assert_invalid(
        statement(verb=voided, object=activity()), "object.objectType", version, "StatementRef"
    )
    assert_invalid(
        statement(verb=voided, object=agent()), "object.objectType", version, "StatementRef"
    )


# --------------------------------------------------------------------------------------------
# IRIs, language tags, timestamps, durations (format helpers)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "http://example.com/a?b=c#d",
        "urn:uuid:2e5cd37e-5b55-4e47-8c6d-2f49d6b5b2c1",
        "https://例え.jp/パス/ü",
        "http://example.com/%20encoded",
        "tag:example.com,2024:x",
        "mailto:a@example.com",
    ],
)
def test_iri_valid(value: str) -> None:
    assert is_iri(value)
    assert_valid(statement(object=activity(value)))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "example.com/a",
        "/relative/path",
        "ab=c://should.fail.com",
        "1http://x.com",
        "http://exa mple.com",
        "http://example.com/\n",
        "http://example.com/<x>",
        'http://example.com/"',
        "http://example.com/%zz",
        "http:",
        "\ud800:x",
    ],
)
def test_iri_invalid(value: str) -> None:
    assert not is_iri(value)
    assert_invalid(statement(object=activity(value)), "object.id", rule="IRI")


@pytest.mark.parametrize(
    "tag",
    [
        "en",
        "en-US",
        "de-DE",
        "es",
        "es-419",
        "zh-Hant",
        "zh-Hans-CN",
        "sr-Latn-RS",
        "sr-Cyrl",
        "ase",
        "cmn",
        "fr-CA",
        "ja",
        "EN-us",
        "zh-yue-HK",
        "sl-rozaj-biske",
        "de-CH-1901",
        "en-a-bbb-x-a-ccc",
        "x-whatever",
        "qaa-Qaaa-QM-x-southern",
        "i-klingon",
        "en-GB-oed",
        "art-lojban",
        "zh-min-nan",
        "hy-Latn-IT-arevela",
        "en-US-u-islamcal",
    ],
)
def test_language_tag_valid(tag: str) -> None:
    assert is_language_tag(tag)
    assert_valid(statement(verb=verb(display={tag: "x"})))


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "a",
        "a12345",
        "a12345678",
        "something",
        "en_US",
        "en-",
        "-en",
        "en--US",
        "zh-z-aaa-z-bbb-c-ccc",  # duplicate singleton
        "de-DE-1901-1901",  # duplicate variant
        "en-a",  # singleton without subtag
        "en-x",  # private use without subtag
        "en-US-toolongvariant",
        "ab-cdefghijk",
        "en US",
        "\uff45\uff4e",  # fullwidth "en"
    ],
)
def test_language_tag_invalid(tag: str) -> None:
    assert not is_language_tag(tag)
    assert_invalid(statement(verb=verb(display={tag: "x"})), f"verb.display.{tag}", rule="5646")


@pytest.mark.parametrize(
    "ts",
    [
        "2024-05-04T12:00:00Z",
        "2024-05-04T12:00:00.123Z",
        "2024-05-04T12:00:00.123456789+05:30",
        "2008-09-15T15:53:00.601+00:00",
        "2024-05-04T12:00:00-05:00",
        "2024-02-29T00:00:00Z",
        "2016-12-31T23:59:60Z",
        "2024-05-04t12:00:00z",
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_timestamp_valid_both(ts: str, version: str) -> None:
    assert is_timestamp(ts, version)
    assert_valid(statement(timestamp=ts, stored=ts), version)


@pytest.mark.parametrize(
    "ts",
    [
        "2024-05-04T12:00:00",  # no timezone
        "2024-05-04T12:00",  # reduced precision
        "2024-05-04T12:00:00,5Z",  # comma fraction
        "20240504T120000Z",  # basic format
        "20240504T120000.5+0530",
        "2024-05-04T12:00:00+0530",
        "2024-05-04T12:00:00+05",
    ],
)
def test_timestamp_iso8601_only_valid_in_103(ts: str) -> None:
    assert_valid(statement(timestamp=ts), "1.0.3")
    assert_invalid(statement(timestamp=ts), "timestamp", "2.0.0", "RFC 3339")


@pytest.mark.parametrize(
    "ts",
    [
        "01/011/2015",
        "should fail",
        "",
        "2008-09-15T15:53:00.601-00",
        "2008-09-15T15:53:00.601-0000",
        "2008-09-15T15:53:00.601-00:00",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-05-04T24:00:00Z",
        "2024-05-04T12:60:00Z",
        "2024-05-04T12:00:61Z",
        "2024-05-04T12:00:00+24:00",
        "2024-05-04",
        "2024-05-04 12:00:00Z",
        "2024-05-04T12:00:00.Z",
        "\uff12\uff10\uff12\uff14-05-04T12:00:00Z",  # fullwidth digits
        1714824000,
    ],
)
@pytest.mark.parametrize("version", BOTH)
@pytest.mark.parametrize("key", ["timestamp", "stored"])
def test_timestamp_invalid(ts: object, version: str, key: str) -> None:
    assert_invalid(statement(**{key: ts}), key, version)


def test_substatement_timestamp_checked() -> None:
    assert_invalid(
        statement(object=substatement(timestamp="yesterday")), "object.timestamp", rule="8601"
    )


@pytest.mark.parametrize(
    "duration",
    ["PT1H0M0.1S", "P1DT12H36M0.12567S", "P3Y6M4DT12H30M5S", "PT0S", "P4W", "P1Y", "PT0.5H", "P0D"],
)
def test_duration_valid(duration: str) -> None:
    assert_valid(statement(result={"duration": duration}))


@pytest.mark.parametrize(
    "duration",
    [
        "PA1H0M0S",
        "P",
        "PT",
        "1H",
        "P1H",
        "PT1D",
        "P1.5YT1H",
        "P1W2D",
        "-PT1S",
        "P0001-02-03T04:05:06",  # alternative format, MUST NOT be used
        "PT1S ",
        "pt1s",
        12,
    ],
)
def test_duration_invalid(duration: object) -> None:
    assert_invalid(statement(result={"duration": duration}), "result.duration")


# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        activity(),
        {"id": "http://example.com/a"},  # objectType defaults to Activity
        {"id": "http://x.com/a", "definition": {}},
        agent(),
        group(agent()),
        statement_ref(),
        substatement(),
        substatement(object=statement_ref()),
        substatement(object=agent(), timestamp="2024-05-04T12:00:00Z"),
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_object_valid(obj: dict, version: str) -> None:
    assert_valid(statement(object=obj), version)


@pytest.mark.parametrize(
    ("obj", "path", "rule"),
    [
        ({"objectType": "activity", "id": "http://x.com"}, "object.objectType", "one of"),
        ({"objectType": "statementref", "id": STATEMENT_ID}, "object.objectType", "one of"),
        ({"objectType": "substatement"}, "object.objectType", "one of"),
        ({"objectType": "agent", "mbox": "mailto:a@b.c"}, "object.objectType", "one of"),
        ({"objectType": "Person"}, "object.objectType", "one of"),
        ({"objectType": "Activity"}, "object.id", "required"),
        (activity("not an iri"), "object.id", "IRI"),
        ({"id": "http://x.com", "name": "x"}, "object.name", "unknown property"),
        ({"id": "http://x.com", "definition": "x"}, "object.definition", "object"),
        ({"mbox": "mailto:a@example.com"}, "object.id", "required"),  # no objectType => Activity
        ({"objectType": "StatementRef"}, "object.id", "required"),
        ({"objectType": "StatementRef", "id": "x"}, "object.id", "UUID"),
        (
            {"objectType": "StatementRef", "id": STATEMENT_ID, "x": 1},
            "object.x",
            "unknown property",
        ),
        (None, "object", "null"),
        ([activity()], "object", "an object"),
    ],
)
def test_object_invalid(obj: object, path: str, rule: str) -> None:
    assert_invalid(statement(object=obj), path, rule=rule)


@pytest.mark.parametrize(
    ("definition", "path", "rule"),
    [
        ({"name": "x"}, "object.definition.name", "language map"),
        ({"name": {"en-US": 1}}, "object.definition.name.en-US", "string"),
        ({"description": 12345}, "object.definition.description", "language map"),
        ({"description": {"something": "x"}}, "object.definition.description.something", "5646"),
        ({"type": "course"}, "object.definition.type", "IRI"),
        ({"moreInfo": "ab=c://x"}, "object.definition.moreInfo", "IRL"),
        ({"extensions": "x"}, "object.definition.extensions", "object"),
        ({"extensions": {"should fail": 1}}, "object.definition.extensions.should fail", "IRI"),
        ({"Name": {"en": "x"}}, "object.definition.Name", "unknown property"),
        ({"interactionType": "Choice"}, "object.definition.interactionType", "one of"),
        ({"interactionType": "choiCe"}, "object.definition.interactionType", "one of"),
        ({"interactionType": 5}, "object.definition.interactionType", "one of"),
        ({"interactionType": ["choice"]}, "object.definition.interactionType", "one of"),
        (
            {"correctResponsesPattern": ["a"]},
            "object.definition.correctResponsesPattern",
            "requires interactionType",
        ),
        (
            {"interactionType": "choice", "correctResponsesPattern": "a"},
            "object.definition.correctResponsesPattern",
            "array",
        ),
        (
            {"interactionType": "choice", "correctResponsesPattern": ["a", 1]},
            "object.definition.correctResponsesPattern[1]",
            "string",
        ),
        ({"choices": [{"id": "a"}]}, "object.definition.choices", "requires interactionType"),
        (
            {"interactionType": "true-false", "choices": [{"id": "a"}]},
            "object.definition.choices",
            "not allowed with interactionType 'true-false'",
        ),
        (
            {"interactionType": "choice", "scale": [{"id": "a"}]},
            "object.definition.scale",
            "not allowed",
        ),
        (
            {"interactionType": "likert", "choices": [{"id": "a"}]},
            "object.definition.choices",
            "not allowed",
        ),
        (
            {"interactionType": "matching", "steps": [{"id": "a"}]},
            "object.definition.steps",
            "not allowed",
        ),
        (
            {"interactionType": "choice", "choices": [{"id": "a"}, {"id": "a"}]},
            "object.definition.choices[1].id",
            "unique",
        ),
        (
            {"interactionType": "choice", "choices": [{"description": {"en": "x"}}]},
            "object.definition.choices[0].id",
            "required",
        ),
        (
            {"interactionType": "choice", "choices": [{"id": 1}]},
            "object.definition.choices[0].id",
            "string",
        ),
        (
            {"interactionType": "choice", "choices": [{"id": "a", "name": "x"}]},
            "object.definition.choices[0].name",
            "unknown property",
        ),
        (
            {"interactionType": "choice", "choices": [{"id": "a", "description": {"a12": "x"}}]},
            "object.definition.choices[0].description.a12",
            "5646",
        ),
        (
            {"interactionType": "choice", "choices": {"id": "a"}},
            "object.definition.choices",
            "array",
        ),
        (
            {"interactionType": "performance", "steps": ["a"]},
            "object.definition.steps[0]",
            "component object",
        ),
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_definition_invalid(definition: dict, path: str, rule: str, version: str) -> None:
    assert_invalid(statement(object=activity(**definition)), path, version, rule)


@pytest.mark.parametrize(
    "definition",
    [
        {"interactionType": "true-false", "correctResponsesPattern": ["true"]},
        {"interactionType": "choice", "choices": [{"id": "a", "description": {"en": "A"}}]},
        {"interactionType": "choice"},
        {"interactionType": "fill-in", "correctResponsesPattern": ["{case_matters=false}x"]},
        {"interactionType": "long-fill-in", "correctResponsesPattern": []},
        {"interactionType": "matching", "source": [{"id": "1"}], "target": [{"id": "a"}]},
        {"interactionType": "performance", "steps": [{"id": "1"}]},
        {"interactionType": "sequencing", "choices": [{"id": "a"}, {"id": "b"}]},
        {"interactionType": "likert", "scale": [{"id": "1"}, {"id": "2"}]},
        {"interactionType": "numeric", "correctResponsesPattern": ["1[:]5"]},
        {"interactionType": "other"},
        {"extensions": {}},
        {"extensions": {"http://example.com/x": None}},
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_definition_valid(definition: dict, version: str) -> None:
    assert_valid(statement(object=activity(**definition)), version)


# --------------------------------------------------------------------------------------------
# SubStatement
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub", "path", "rule"),
    [
        (substatement(id=STATEMENT_ID), "object.id", "not allowed in a SubStatement"),
        (substatement(stored="2024-05-04T12:00:00Z"), "object.stored", "not allowed"),
        (substatement(version="1.0.0"), "object.version", "not allowed"),
        (substatement(authority=agent()), "object.authority", "not allowed"),
        (substatement(foo=1), "object.foo", "unknown property"),
        (substatement(object=substatement()), "object.object.objectType", "must not contain"),
        (substatement(actor=None), "object.actor", "null"),
        (substatement(verb=verb("bad")), "object.verb.id", "IRI"),
        (substatement(actor={"mbox": "x"}), "object.actor.mbox", "mailto:"),
        (
            substatement(object=agent(objectType=None)),
            "object.object.objectType",
            "one of",
        ),
        (
            substatement(context={"registration": "x"}),
            "object.context.registration",
            "UUID",
        ),
        (
            substatement(context={"revision": "1"}, object=agent()),
            "object.context.revision",
            "only allowed when the object is an Activity",
        ),
        (substatement(result={"success": "true"}), "object.result.success", "boolean"),
        (
            substatement(attachments=[attachment(length="x")]),
            "object.attachments[0].length",
            "integer",
        ),
    ],
)
def test_substatement_invalid(sub: dict, path: str, rule: str) -> None:
    assert_invalid(statement(object=sub), path, rule=rule)


def test_substatement_missing_required() -> None:
    for key in ("actor", "verb", "object"):
        sub = substatement()
        del sub[key]
        assert_invalid(statement(object=sub), f"object.{key}", rule="required")


def test_substatement_voided_verb_not_checked_inside() -> None:
    # Only a (top-level) voiding Statement must target a StatementRef.
    sub = substatement(verb=verb("http://adlnet.gov/expapi/verbs/voided"))
    assert_valid(statement(object=sub))


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"score": {"scaled": -1}},
        {"score": {"scaled": 1}},
        {"score": {"scaled": 0.6767676, "raw": 100.6767676, "min": 0, "max": 100.6767676}},
        {"score": {"raw": -5}},
        {"score": {"raw": 5, "min": 5}},
        {"success": False, "completion": False, "response": ""},
        {"extensions": {}},
        {"extensions": {"http://example.com/e": {"nested": [1, None]}}},
    ],
)
def test_result_valid(result: dict) -> None:
    assert_valid(statement(result=result))


@pytest.mark.parametrize(
    ("result", "path", "rule"),
    [
        ("x", "result", "result object"),
        ({"score": 12345}, "result.score", "score object"),
        ({"score": {"scaled": 1.01}}, "result.score.scaled", "between -1 and 1"),
        ({"score": {"scaled": -1.5}}, "result.score.scaled", "between -1 and 1"),
        ({"score": {"scaled": "0.5"}}, "result.score.scaled", "number"),
        ({"score": {"raw": True}}, "result.score.raw", "number"),
        ({"score": {"raw": None}}, "result.score.raw", "null"),
        ({"score": {"raw": float("nan")}}, "result.score.raw", "finite"),
        ({"score": {"max": float("inf")}}, "result.score.max", "finite"),
        ({"score": {"min": 10, "max": 10}}, "result.score.min", "less than max"),
        ({"score": {"min": 10, "max": 5}}, "result.score.min", "less than max"),
        ({"score": {"raw": 5, "min": 6}}, "result.score.raw", "less than min"),
        ({"score": {"raw": 101, "max": 100}}, "result.score.raw", "greater than max"),
        ({"score": {"Raw": 1}}, "result.score.Raw", "unknown property"),
        ({"success": "true"}, "result.success", "boolean"),
        ({"success": 1}, "result.success", "boolean"),
        ({"completion": "false"}, "result.completion", "boolean"),
        ({"completion": {}}, "result.completion", "boolean"),
        ({"response": 12345}, "result.response", "string"),
        ({"extensions": "x"}, "result.extensions", "object"),
        ({"extensions": 12345}, "result.extensions", "object"),
        ({"extensions": {"noscheme": 1}}, "result.extensions.noscheme", "IRI"),
        ({"grade": "A"}, "result.grade", "unknown property"),
    ],
)
def test_result_invalid(result: object, path: str, rule: str) -> None:
    assert_invalid(statement(result=result), path, rule=rule)


# --------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"registration": REGISTRATION},
        {"instructor": agent()},
        {"instructor": group(agent())},
        {"team": group(agent())},
        {"team": group(mbox="mailto:team@example.com")},
        {"contextActivities": {"parent": activity()}},
        {"contextActivities": {"grouping": [activity(), {"id": "http://x.com/b"}]}},
        {"contextActivities": {"category": [], "other": [activity(name={"en": "x"})]}},
        {"revision": "1.2", "platform": "iOS"},
        {"language": "cmn"},
        {"statement": statement_ref()},
        {"extensions": {}},
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_context_valid(context: dict, version: str) -> None:
    assert_valid(statement(context=context), version)


@pytest.mark.parametrize(
    ("context", "path", "rule"),
    [
        ("x", "context", "context object"),
        ({"registration": "should fail"}, "context.registration", "UUID"),
        ({"registration": {"key": "x"}}, "context.registration", "UUID"),
        ({"instructor": "x"}, "context.instructor", "Agent or Group"),
        ({"instructor": {"key": "x"}}, "context.instructor.key", "unknown property"),
        ({"team": agent()}, "context.team.objectType", "'Group'"),
        ({"team": {"mbox": "mailto:t@example.com"}}, "context.team.objectType", "'Group'"),
        ({"team": "x"}, "context.team", "Group object"),
        ({"team": group()}, "context.team.member", "required"),
        ({"contextActivities": "x"}, "context.contextActivities", "object"),
        (
            {"contextActivities": {"parents": [activity()]}},
            "context.contextActivities.parents",
            "unknown property",
        ),
        (
            {"contextActivities": {"Parent": [activity()]}},
            "context.contextActivities.Parent",
            "unknown property",
        ),
        (
            {"contextActivities": {"parent": "http://x.com"}},
            "context.contextActivities.parent",
            "Activity or an array",
        ),
        (
            {"contextActivities": {"parent": [activity(), agent()]}},
            "context.contextActivities.parent[1].objectType",
            "'Activity'",
        ),
        (
            {"contextActivities": {"parent": [{"id": "bad"}]}},
            "context.contextActivities.parent[0].id",
            "IRI",
        ),
        (
            {"contextActivities": {"other": {"definition": {}}}},
            "context.contextActivities.other.id",
            "required",
        ),
        ({"revision": 1}, "context.revision", "string"),
        ({"platform": {"a": 1}}, "context.platform", "string"),
        ({"language": "a12345"}, "context.language", "5646"),
        ({"language": 5}, "context.language", "5646"),
        ({"statement": {"id": STATEMENT_ID}}, "context.statement.objectType", "StatementRef"),
        (
            {"statement": {"objectType": "statementref", "id": STATEMENT_ID}},
            "context.statement.objectType",
            "StatementRef",
        ),
        ({"statement": statement_ref("x")}, "context.statement.id", "UUID"),
        ({"extensions": [1]}, "context.extensions", "object"),
        ({"extensions": {"": 1}}, "context.extensions.", "IRI"),
        ({"Registration": REGISTRATION}, "context.Registration", "unknown property"),
    ],
)
@pytest.mark.parametrize("version", BOTH)
def test_context_invalid(context: object, path: str, rule: str, version: str) -> None:
    assert_invalid(statement(context=context), path, version, rule)


@pytest.mark.parametrize("key", ["revision", "platform"])
@pytest.mark.parametrize("obj", [agent(), group(agent()), statement_ref(), substatement()])
def test_revision_platform_only_with_activity(key: str, obj: dict) -> None:
    assert_invalid(statement(object=obj, context={key: "x"}), f"context.{key}", rule="only allowed")


@pytest.mark.parametrize("key", ["revision", "platform"])
def test_revision_platform_with_default_activity(key: str) -> None:
    assert_valid(statement(object={"id": "http://x.com/a"}, context={key: "x"}))


CONTEXT_AGENTS = [
    {
        "objectType": "contextAgent",
        "agent": agent(),
        "relevantTypes": ["https://example.com/types/player"],
    },
    {"objectType": "contextAgent", "agent": {"mbox": "mailto:b@example.com"}},
]
CONTEXT_GROUPS = [
    {
        "objectType": "contextGroup",
        "group": group(agent(), mbox="mailto:team-1@example.com"),
        "relevantTypes": ["https://example.com/types/team"],
    },
    {"objectType": "contextGroup", "group": group(agent())},
]


def test_context_agents_and_groups_valid_in_2_0() -> None:
    ctx = {"contextAgents": CONTEXT_AGENTS, "contextGroups": CONTEXT_GROUPS}
    assert_valid(statement(context=ctx), "2.0.0")
    assert_valid(statement(object=substatement(context=ctx)), "2.0.0")


@pytest.mark.parametrize("key", ["contextAgents", "contextGroups"])
def test_context_agents_and_groups_rejected_in_1_0_3(key: str) -> None:
    ctx = {"contextAgents": CONTEXT_AGENTS, "contextGroups": CONTEXT_GROUPS}
    assert_invalid(statement(context=ctx), f"context.{key}", "1.0.3", "added in 2.0.0")


@pytest.mark.parametrize(
    ("entry", "path", "rule"),
    [
        ({"objectType": "Should fail", "agent": agent()}, "[0].objectType", "'contextAgent'"),
        ({"agent": agent()}, "[0].objectType", "'contextAgent'"),
        ({"objectType": "contextAgent"}, "[0].agent", "required"),
        ({"objectType": "contextAgent", "agent": {"key": "x"}}, "[0].agent.key", "unknown"),
        ({"objectType": "contextAgent", "agent": group(agent())}, "[0].agent.objectType", "Agent"),
        (
            {"objectType": "contextAgent", "agent": agent(), "relevantTypes": []},
            "[0].relevantTypes",
            "not be empty",
        ),
        (
            {"objectType": "contextAgent", "agent": agent(), "relevantTypes": ["x y"]},
            "[0].relevantTypes[0]",
            "IRI",
        ),
        (
            {"objectType": "contextAgent", "agent": agent(), "relevantTypes": "http://x.com"},
            "[0].relevantTypes",
            "array",
        ),
        ({"objectType": "contextAgent", "agent": agent(), "x": 1}, "[0].x", "unknown"),
        ("x", "[0]", "contextAgent object"),
    ],
)
def test_context_agents_invalid(entry: object, path: str, rule: str) -> None:
    ctx = {"contextAgents": [entry]}
    assert_invalid(statement(context=ctx), f"context.contextAgents{path}", "2.0.0", rule)
    assert_invalid(
        statement(object=substatement(context=ctx)),
        f"object.context.contextAgents{path}",
        "2.0.0",
        rule,
    )


@pytest.mark.parametrize(
    ("entry", "path", "rule"),
    [
        ({"objectType": "contextAgent", "group": group(agent())}, "[0].objectType", "Group'"),
        ({"objectType": "contextGroup"}, "[0].group", "required"),
        ({"objectType": "contextGroup", "group": agent()}, "[0].group.objectType", "'Group'"),
        ({"objectType": "contextGroup", "group": group()}, "[0].group.member", "required"),
        (
            {"objectType": "contextGroup", "group": group(agent()), "relevantTypes": []},
            "[0].relevantTypes",
            "not be empty",
        ),
    ],
)
def test_context_groups_invalid(entry: object, path: str, rule: str) -> None:
    assert_invalid(
        statement(context={"contextGroups": [entry]}), f"context.contextGroups{path}", "2.0.0", rule
    )


def test_context_agents_must_be_array() -> None:
    assert_invalid(
        statement(context={"contextAgents": CONTEXT_AGENTS[0]}),
        "context.contextAgents",
        "2.0.0",
        "array",
    )


# --------------------------------------------------------------------------------------------
# Version, attachments, extensions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.0", "1.0.0", "1.0.3", "1.0.9"])
@pytest.mark.parametrize("version", BOTH)
def test_version_1_0_x_valid(value: str, version: str) -> None:
    assert_valid(statement(version=value), version)


@pytest.mark.parametrize("value", ["2.0", "2.0.0", "2.0.1"])
def test_version_2_0_x_only_under_2_0_rules(value: str) -> None:
    assert_valid(statement(version=value), "2.0.0")
    assert_invalid(statement(version=value), "version", "1.0.3", "'1.0' or '1.0.x'")


@pytest.mark.parametrize("value", ["should fail", "0.9.9", "1.1.0", "1", "1.0.", "2.1.0", 1.0])
@pytest.mark.parametrize("version", BOTH)
def test_version_invalid(value: object, version: str) -> None:
    assert_invalid(statement(version=value), "version", version)


def test_attachments_valid() -> None:
    assert_valid(
        statement(
            attachments=[
                attachment(),
                attachment(
                    display={"en-US": "x", "es": "y"},
                    description={"es-MX": "z"},
                    contentType="image/svg+xml",
                    length=0,
                    sha2="A" * 128,
                    fileUrl="http://over.there.com/file.txt",
                ),
            ]
        )
    )


@pytest.mark.parametrize(
    ("att", "path", "rule"),
    [
        (attachment(usageType="should fail"), "attachments[0].usageType", "IRI"),
        (attachment(display="x"), "attachments[0].display", "language map"),
        (attachment(display={"something": "x"}), "attachments[0].display.something", "5646"),
        (attachment(description="should error"), "attachments[0].description", "language map"),
        (attachment(contentType=12345), "attachments[0].contentType", "media type"),
        (attachment(contentType="textplain"), "attachments[0].contentType", "media type"),
        (attachment(contentType="text/plain; x"), "attachments[0].contentType", "media type"),
        (attachment(length="should fail"), "attachments[0].length", "integer"),
        (attachment(length=1.5), "attachments[0].length", "integer"),
        (attachment(length=-1), "attachments[0].length", "integer"),
        (attachment(length=True), "attachments[0].length", "integer"),
        (attachment(sha2=12345), "attachments[0].sha2", "SHA-2"),
        (attachment(sha2="abc"), "attachments[0].sha2", "SHA-2"),
        (attachment(sha2="z" * 64), "attachments[0].sha2", "SHA-2"),
        (attachment(fileUrl="should fail"), "attachments[0].fileUrl", "IRL"),
        (attachment(url="http://x.com"), "attachments[0].url", "unknown property"),
        ("x", "attachments[0]", "attachment object"),
    ],
)
def test_attachment_invalid(att: object, path: str, rule: str) -> None:
    assert_invalid(statement(attachments=[attachment(), att][1:]), path, rule=rule)


@pytest.mark.parametrize("key", ["usageType", "display", "contentType", "length", "sha2"])
def test_attachment_required(key: str) -> None:
    att = attachment()
    del att[key]
    assert_invalid(statement(attachments=[att]), f"attachments[0].{key}", rule="required")


def test_attachments_must_be_array() -> None:
    assert_invalid(statement(attachments=attachment()), "attachments", rule="array")


@pytest.mark.parametrize("value", [None, "", {}, [], True, 12345, "valid", {"key": "valid"}])
def test_extension_values_are_free(value: object) -> None:
    assert_valid(statement(context={"extensions": {"http://example.com/ex": value}}))


def test_sha256_fixture_is_hex() -> None:
    assert len(SHA256_HEX) == 64
