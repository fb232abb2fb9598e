"""equivalent(): the Statement Comparison Requirements (xAPI 1.0.3 Data 2.3.1, 2.0.0 alike)."""

from __future__ import annotations

import copy
import json

import pytest

from lrs_connector.xapi.comparison import equivalent
from tests.xapi import (
    STATEMENT_ID,
    activity,
    agent,
    full_statement,
    group,
    statement,
    statement_ref,
    substatement,
    verb,
)


def changed(path: str, value: object, base: dict | None = None) -> dict:
    """Copy of ``base`` (default full_statement()) with the dotted ``path`` set to ``value``."""
    s = copy.deepcopy(base if base is not None else full_statement())
    node = s
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return s


_DELETE = object()


def test_identical_and_json_round_trip() -> None:
    s = full_statement()
    assert equivalent(s, copy.deepcopy(s))
    assert equivalent(s, json.loads(json.dumps(s)))


def test_key_order_irrelevant() -> None:
    s = full_statement()
    assert equivalent(s, dict(reversed(list(s.items()))))


# ---- ignored: properties the LRS assigns ---------------------------------------------------


@pytest.mark.parametrize("key", ["id", "stored", "authority", "version", "timestamp"])
def test_lrs_assigned_property_absent_on_one_side(key: str) -> None:
    s = full_statement()
    assert equivalent(s, changed(key, _DELETE))
    assert equivalent(changed(key, _DELETE), s)


def test_a_timestamp_the_lrs_filled_in_is_ignored() -> None:
    """An LRS sets a missing timestamp to `stored`: a copy sent again without one gets another."""
    first = changed("timestamp", "2024-05-04T12:00:00.000Z")
    first["stored"] = first["timestamp"]
    again = changed("timestamp", "2024-05-04T12:00:07.000Z")
    again["stored"] = again["timestamp"]
    assert equivalent(first, again)
    assert equivalent(first, full_statement()) and equivalent(full_statement(), first)
    # a client's own timestamps (not the stored time) still count
    first["stored"] = again["stored"] = "2024-05-04T12:01:00.000Z"
    assert not equivalent(first, again)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("stored", "2030-01-01T00:00:00Z"),
        ("authority", agent(mbox="mailto:other@example.com")),
        ("version", "1.0.0"),
        ("id", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_lrs_assigned_property_different(key: str, value: object) -> None:
    assert equivalent(full_statement(), changed(key, value))


# ---- timestamps: same instant, different serialization ------------------------------------


@pytest.mark.parametrize(
    "ts",
    [
        "2024-05-04T12:00:00.123Z",
        "2024-05-04T12:00:00.123+00:00",
        "2024-05-04T14:00:00.123+02:00",
        "2024-05-04T07:00:00.123-05:00",
        "2024-05-04T12:00:00.1234Z",  # beyond millisecond precision
        "2024-05-04t12:00:00.123z",
        "20240504T120000.123Z",
    ],
)
def test_timestamp_same_instant(ts: str) -> None:
    assert equivalent(full_statement(), changed("timestamp", ts))


@pytest.mark.parametrize("ts", ["2024-05-04T12:00:00.124Z", "2024-05-04T12:00:00.123+01:00"])
def test_timestamp_different_instant(ts: str) -> None:
    assert not equivalent(full_statement(), changed("timestamp", ts))


def test_substatement_timestamp() -> None:
    a = statement(object=substatement(timestamp="2024-05-04T12:00:00Z"))
    assert equivalent(a, statement(object=substatement(timestamp="2024-05-04T13:00:00+01:00")))
    assert not equivalent(a, statement(object=substatement(timestamp="2024-05-04T12:00:01Z")))
    assert not equivalent(a, statement(object=substatement()))


# ---- not part of the statement: activity definitions, verb display -------------------------


def test_activity_definition_ignored() -> None:
    assert equivalent(full_statement(), changed("object.definition", {"name": {"en": "Other"}}))
    assert equivalent(full_statement(), changed("object.definition", _DELETE))
    assert not equivalent(  # a different context activity id is a real difference
        full_statement(), changed("context.contextActivities.parent.0", activity())
    )
    parent_id = full_statement()["context"]["contextActivities"]["parent"][0]["id"]
    assert equivalent(
        full_statement(),
        changed("context.contextActivities.parent.0", activity(parent_id, name={"en": "renamed"})),
    )


def test_verb_display_ignored() -> None:
    assert equivalent(full_statement(), changed("verb.display", {"fr": "terminé"}))
    assert equivalent(full_statement(), changed("verb.display", _DELETE))
    assert not equivalent(full_statement(), changed("verb.id", "http://example.com/other"))


# ---- unordered lists, case-insensitive values, contextActivities shape ---------------------


def test_group_members_unordered() -> None:
    a, b = agent(mbox="mailto:a@example.com"), agent(mbox="mailto:b@example.com")
    assert equivalent(statement(actor=group(a, b)), statement(actor=group(b, a)))
    assert not equivalent(statement(actor=group(a, b)), statement(actor=group(a, a)))
    assert not equivalent(statement(actor=group(a, b)), statement(actor=group(a)))


def test_other_lists_ordered() -> None:
    one, two = activity("http://x.com/1"), activity("http://x.com/2")
    assert not equivalent(
        statement(context={"contextActivities": {"parent": [one, two]}}),
        statement(context={"contextActivities": {"parent": [two, one]}}),
    )


def test_mbox_domain_case_insensitive_local_part_not() -> None:
    base = statement(actor=agent(mbox="mailto:Learner@Example.COM"))
    assert equivalent(base, statement(actor=agent(mbox="mailto:Learner@example.com")))
    assert not equivalent(base, statement(actor=agent(mbox="mailto:learner@example.com")))


def test_instructor_and_member_mbox_domain() -> None:
    a = statement(context={"instructor": group(agent(mbox="mailto:t@EXAMPLE.com"))})
    b = statement(context={"instructor": group(agent(mbox="mailto:t@example.com"))})
    assert equivalent(a, b)


def test_uuid_case_insensitive() -> None:
    upper = STATEMENT_ID.upper()
    assert equivalent(statement(object=statement_ref()), statement(object=statement_ref(upper)))
    assert equivalent(
        changed("context.registration", "EC531277-B57B-4C15-8D91-D292C5B2B8F7"), full_statement()
    )


def test_language_map_keys_case_insensitive() -> None:
    assert equivalent(
        full_statement(), changed("attachments.0.display", {"EN-us": "A test attachment"})
    )
    assert not equivalent(full_statement(), changed("attachments.0.display", {"en-US": "other"}))


def test_context_activity_object_equals_single_element_array() -> None:
    a = statement(context={"contextActivities": {"parent": activity()}})
    b = statement(context={"contextActivities": {"parent": [activity()]}})
    assert equivalent(a, b)
    assert not equivalent(a, statement(context={"contextActivities": {"grouping": [activity()]}}))


# ---- duration: string, precision beyond 0.01 s ignored -------------------------------------


def test_duration_precision_beyond_hundredths_ignored() -> None:
    a = statement(result={"duration": "P1DT12H36M0.12567S"})
    assert equivalent(a, statement(result={"duration": "P1DT12H36M0.12S"}))
    assert equivalent(a, statement(result={"duration": "P1DT12H36M0.129S"}))
    assert not equivalent(a, statement(result={"duration": "P1DT12H36M0.13S"}))


def test_duration_is_a_string() -> None:
    assert not equivalent(
        statement(result={"duration": "PT60M"}), statement(result={"duration": "PT1H"})
    )


# ---- differences that count ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("actor", agent(mbox="mailto:other@example.com")),
        ("actor.name", "Someone else"),
        ("object.id", "http://example.com/other"),
        ("result.score.raw", 51),
        ("result.success", False),
        ("result.response", "other"),
        ("result.extensions", {"http://example.com/ext/attempts": 3}),
        ("context.platform", "Other"),
        ("context.registration", "00000000-0000-0000-0000-000000000000"),
        ("context.extensions", {}),
        ("context.language", "fr"),
        ("attachments", []),
        ("attachments.0.length", 28),
        ("object.objectType", _DELETE),  # explicit vs default objectType: serialization counts
    ],
)
def test_real_differences(path: str, value: object) -> None:
    assert not equivalent(full_statement(), changed(path, value))


def test_result_added_is_a_difference() -> None:
    assert not equivalent(statement(), statement(result={"completion": True}))


def test_numbers_compare_by_value() -> None:
    assert equivalent(changed("result.score.raw", 50.0), full_statement())


def test_iris_not_normalised() -> None:
    assert not equivalent(
        statement(object=activity("http://example.com/a")),
        statement(object=activity("HTTP://example.com/a")),
    )


def test_substatement_compared_recursively() -> None:
    a = statement(object=substatement(verb=verb(display={"en": "x"})))
    assert equivalent(a, statement(object=substatement(verb=verb(display={"de": "y"}))))
    assert not equivalent(a, statement(object=substatement(actor=agent(name="other"))))


def test_non_dict_inputs() -> None:
    assert not equivalent(statement(), [])  # type: ignore[arg-type]
    assert equivalent([], [])  # type: ignore[arg-type]
