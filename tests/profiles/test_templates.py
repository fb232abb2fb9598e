import json

import pytest

from lrs_connector.profiles import (
    INVALID,
    SUCCESS,
    UNMATCHED,
    ProfileError,
    ProfileSet,
    compile_template,
    profile_from_document,
)
from tests.profiles.builders import BASE, atype, profile_doc, statement, template, tid, verb

EVIDENCE = f"{BASE}/attachment-usage/evidence"


def outcome(template_props, st, **kw):
    return compile_template(template("t", **template_props)).match(st, **kw)


def ctx(**activities):
    return {"contextActivities": activities}


def act(kind, iri="https://example.org/a"):
    return {"id": iri, "definition": {"type": atype(kind)}}


# --- determining properties ---------------------------------------------------------------


def test_verb():
    props = {"verb": verb("did")}
    assert outcome(props, statement("did")).outcome == SUCCESS
    result = outcome(props, statement("started"))
    assert result.outcome == UNMATCHED
    assert result.reasons[0].requirement == "verb"
    assert result.reasons[0].found == [verb("started")]
    assert outcome(props, {"object": {}}).outcome == UNMATCHED


def test_object_activity_type():
    props = {"objectActivityType": atype("task")}
    assert outcome(props, statement(object_type="task")).outcome == SUCCESS
    assert outcome(props, statement(object_type="course")).outcome == UNMATCHED
    assert outcome(props, statement(object_type=None)).outcome == UNMATCHED
    agent_object = statement()
    agent_object["object"] = {"objectType": "Agent", "definition": {"type": atype("task")}}
    assert outcome(props, agent_object).outcome == UNMATCHED


@pytest.mark.parametrize(
    ("prop", "key"),
    [
        ("contextGroupingActivityType", "grouping"),
        ("contextParentActivityType", "parent"),
        ("contextOtherActivityType", "other"),
        ("contextCategoryActivityType", "category"),
    ],
)
def test_context_activity_types_need_a_superset(prop, key):
    props = {prop: [atype("program"), atype("tag")]}
    both = statement(context=ctx(**{key: [act("program"), act("tag"), act("cat")]}))
    assert outcome(props, both).outcome == SUCCESS
    one = statement(context=ctx(**{key: [act("program")]}))
    result = outcome(props, one)
    assert result.outcome == UNMATCHED
    assert result.reasons[0].requirement == prop
    # The same types under another contextActivities key do not count.
    other_key = "other" if key != "other" else "parent"
    elsewhere = statement(context=ctx(**{other_key: [act("program"), act("tag")]}))
    assert outcome(props, elsewhere).outcome == UNMATCHED


def test_singleton_context_activity_is_normalized_to_an_array():
    props = {
        "contextParentActivityType": [atype("parent")],
        "rules": [{"location": "$.context.contextActivities.parent[0].id", "presence": "included"}],
    }
    st = statement(context=ctx(parent=act("parent")))
    original = json.dumps(st, sort_keys=True)
    assert outcome(props, st).outcome == SUCCESS
    assert json.dumps(st, sort_keys=True) == original  # the caller's statement is untouched


def test_attachment_usage_type():
    props = {"attachmentUsageType": [EVIDENCE]}
    with_attachment = statement(attachments=[{"usageType": EVIDENCE}, {"usageType": "x:y"}])
    assert outcome(props, with_attachment).outcome == SUCCESS
    assert outcome(props, statement(attachments=[{"usageType": "x:y"}])).outcome == UNMATCHED
    assert outcome(props, statement()).outcome == UNMATCHED


def test_all_determining_properties_together():
    props = {
        "verb": verb("did"),
        "objectActivityType": atype("task"),
        "contextGroupingActivityType": [atype("program")],
        "contextCategoryActivityType": [atype("cat")],
        "attachmentUsageType": [EVIDENCE],
    }
    st = statement(
        context=ctx(grouping=[act("program")], category=[act("cat")]),
        attachments=[{"usageType": EVIDENCE}],
    )
    assert outcome(props, st).outcome == SUCCESS
    st["context"]["contextActivities"]["category"] = []
    assert outcome(props, st).reasons[0].requirement == "contextCategoryActivityType"


# --- rules: presence x any/all/none ---------------------------------------------------------

LOC = "$.result.response"
ABSENT = statement()
GOOD = statement(result={"response": "a"})
OTHER = statement(result={"response": "z"})


def rule_outcome(rule, st):
    return outcome({"rules": [{"location": LOC, **rule}]}, st).outcome


@pytest.mark.parametrize(
    ("rule", "absent", "good", "other"),
    [
        ({"presence": "included"}, INVALID, SUCCESS, SUCCESS),
        ({"presence": "excluded"}, SUCCESS, INVALID, INVALID),
        ({"presence": "recommended"}, SUCCESS, SUCCESS, SUCCESS),
        # presence missing: value checks always apply ("any" needs a value; "all" is vacuous)
        ({"any": ["a", "b"]}, INVALID, SUCCESS, INVALID),
        ({"all": ["a", "b"]}, SUCCESS, SUCCESS, INVALID),
        ({"none": ["a"]}, SUCCESS, INVALID, SUCCESS),
        ({"presence": "included", "any": ["a"]}, INVALID, SUCCESS, INVALID),
        ({"presence": "included", "all": ["a"]}, INVALID, SUCCESS, INVALID),
        ({"presence": "included", "none": ["a"]}, INVALID, INVALID, SUCCESS),
        # recommended: value checks only when a value is there
        ({"presence": "recommended", "any": ["a"]}, SUCCESS, SUCCESS, INVALID),
        ({"presence": "recommended", "all": ["a"]}, SUCCESS, SUCCESS, INVALID),
        ({"presence": "recommended", "none": ["a"]}, SUCCESS, INVALID, SUCCESS),
        # excluded: only absence matters (prose); pseudocode would fail "any" when absent
        ({"presence": "excluded", "any": ["a"]}, SUCCESS, INVALID, INVALID),
        ({"presence": "excluded", "none": ["a"]}, SUCCESS, INVALID, INVALID),
    ],
)
def test_presence_and_value_lists(rule, absent, good, other):
    assert (rule_outcome(rule, ABSENT), rule_outcome(rule, GOOD), rule_outcome(rule, OTHER)) == (
        absent,
        good,
        other,
    )


def test_reason_names_rule_location_and_found_values():
    props = {
        "rules": [{"location": "$.id", "presence": "included"}, {"location": LOC, "all": ["a"]}]
    }
    result = outcome(props, statement(sid="x", result={"response": "z"}))
    assert result.outcome == INVALID
    (reason,) = result.reasons
    assert (reason.rule, reason.location, reason.requirement, reason.found) == (
        1,
        LOC,
        "all",
        ["z"],
    )
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["reasons"][0]["rule"] == 1
    assert as_json["template"] == tid("t")


def test_all_failing_rules_are_reported():
    props = {
        "rules": [{"location": "$.id", "presence": "included"}, {"location": LOC, "any": ["a"]}]
    }
    result = outcome(props, statement())
    assert [r.rule for r in result.reasons] == [0, 1]


def test_json_equality_of_values():
    # true is not 1 in JSON, though it is in Python; 1 and 1.0 are the same number.
    assert (
        outcome(
            {"rules": [{"location": "$.result.score.raw", "all": [1]}]},
            statement(result={"score": {"raw": True}}),
        ).outcome
        == INVALID
    )
    assert (
        outcome(
            {"rules": [{"location": "$.result.score.raw", "all": [1]}]},
            statement(result={"score": {"raw": 1.0}}),
        ).outcome
        == SUCCESS
    )
    assert (
        outcome(
            {"rules": [{"location": "$.result.success", "any": [True]}]},
            statement(result={"success": 1}),
        ).outcome
        == INVALID
    )
    obj_rule = {"rules": [{"location": "$.result.extensions['x:y']", "any": [{"a": 1, "b": [2]}]}]}
    assert (
        outcome(obj_rule, statement(result={"extensions": {"x:y": {"b": [2], "a": 1}}})).outcome
        == SUCCESS
    )


# --- array-valued locations -------------------------------------------------------------------

GROUPING_IDS = "$.context.contextActivities.grouping[*].id"


def grouped(*ids):
    return statement(context=ctx(grouping=[{"id": i} for i in ids]))


@pytest.mark.parametrize(
    ("rule", "ids", "expected"),
    [
        ({"any": ["g2"]}, ["g1", "g2"], SUCCESS),
        ({"any": ["g9"]}, ["g1", "g2"], INVALID),
        ({"all": ["g1", "g2", "g3"]}, ["g1", "g2"], SUCCESS),
        ({"all": ["g1"]}, ["g1", "g2"], INVALID),
        ({"none": ["g2"]}, ["g1", "g2"], INVALID),
        ({"none": ["g9"]}, ["g1", "g2"], SUCCESS),
        ({"presence": "included"}, [], INVALID),
        ({"presence": "excluded"}, ["g1"], INVALID),
    ],
)
def test_array_valued_locations(rule, ids, expected):
    assert (
        outcome({"rules": [{"location": GROUPING_IDS, **rule}]}, grouped(*ids)).outcome == expected
    )


def test_array_value_itself_is_one_value():
    rule = {"location": "$.result.extensions['x:list']", "any": [["a", "b"]]}
    assert (
        outcome({"rules": [rule]}, statement(result={"extensions": {"x:list": ["a", "b"]}})).outcome
        == SUCCESS
    )
    assert (
        outcome({"rules": [rule]}, statement(result={"extensions": {"x:list": ["a"]}})).outcome
        == INVALID
    )


def test_pipe_locations_in_rules():
    rule = {"location": "$.actor.mbox | $.actor.account.name", "presence": "included"}
    assert outcome({"rules": [rule]}, statement()).outcome == SUCCESS
    st = statement()
    st["actor"] = {"account": {"homePage": "https://lms", "name": "ana"}}
    assert outcome({"rules": [rule]}, st).outcome == SUCCESS
    st["actor"] = {"openid": "https://id"}
    assert outcome({"rules": [rule]}, st).outcome == INVALID


# --- selectors and unmatchable values -------------------------------------------------------

GROUPING = "$.context.contextActivities.grouping[*]"


def typed_grouping(*types):
    return statement(
        context=ctx(
            grouping=[
                act(t, f"https://e/{i}") if t else {"id": f"https://e/{i}"}
                for i, t in enumerate(types)
            ]
        )
    )


@pytest.mark.parametrize(
    ("rule", "types", "expected"),
    [
        ({"presence": "included"}, ["program", "tag"], SUCCESS),
        ({"presence": "included"}, ["program", None], INVALID),  # one unmatchable value
        ({"presence": "included"}, [], INVALID),
        ({"presence": "excluded"}, [None, None], SUCCESS),  # only unmatchable values
        ({"presence": "excluded"}, [None, "tag"], INVALID),
        ({"any": [atype("tag")]}, [None, "tag"], SUCCESS),  # unmatchable does not hurt "any"
        ({"all": [atype("tag"), atype("program")]}, ["program", "tag"], SUCCESS),
        ({"all": [atype("tag"), atype("program")]}, ["program", None], INVALID),
        ({"none": [atype("tag")]}, [None, "program"], SUCCESS),
        ({"none": [atype("tag")]}, [None, "tag"], INVALID),
        # recommended + all with only unmatchable values: prose says no matchable values, so
        # nothing to check (the pseudocode would fail here).
        ({"presence": "recommended", "all": [atype("tag")]}, [None], SUCCESS),
        ({"presence": "recommended", "all": [atype("tag")]}, [None, "tag"], INVALID),
    ],
)
def test_selectors(rule, types, expected):
    props = {"rules": [{"location": GROUPING, "selector": "$.definition.type", **rule}]}
    assert outcome(props, typed_grouping(*types)).outcome == expected


def test_selector_reason_counts_unmatchable_values():
    props = {
        "rules": [{"location": GROUPING, "selector": "$.definition.type", "presence": "included"}]
    }
    result = outcome(props, typed_grouping("program", None, None))
    assert "2 value(s)" in result.reasons[0].message


# --- StatementRef templates -------------------------------------------------------------------

REF_PROFILE = profile_doc(
    templates=[
        template("target", verb=verb("started")),
        template("other-target", verb=verb("paused")),
        template("about-object", verb=verb("did"), objectStatementRefTemplate=[tid("target")]),
        template(
            "about-context",
            verb=verb("finished"),
            contextStatementRefTemplate=[tid("target"), tid("other-target")],
        ),
        template("bad-target", verb=verb("paused"), objectStatementRefTemplate=[tid("nope")]),
    ]
)


@pytest.fixture(scope="module")
def ref_set():
    return ProfileSet([profile_from_document(REF_PROFILE)])


def ref(sid):
    return {"objectType": "StatementRef", "id": sid}


def test_object_statement_ref(ref_set):
    t = ref_set.template(tid("about-object"))
    started = statement("started", sid="s-start")
    finished = statement("finished", sid="s-fin")
    refs = {"s-start": started, "s-fin": finished}
    st = statement("did")
    st["object"] = ref("s-start")
    assert t.match(st, refs).outcome == SUCCESS
    st["object"] = ref("s-fin")
    result = t.match(st, refs)
    assert result.outcome == INVALID
    assert result.reasons[0].requirement == "objectStatementRefTemplate"
    assert result.reasons[0].found == [{tid("target"): UNMATCHED}]
    # A callable works as well as a mapping.
    st["object"] = ref("s-start")
    assert t.match(st, refs.get).outcome == SUCCESS


def test_statement_ref_not_available_is_noted_not_failed(ref_set):
    st = statement("did")
    st["object"] = ref("unknown")
    result = ref_set.template(tid("about-object")).match(st)
    assert result.outcome == SUCCESS
    assert "not available" in result.notes[0]


def test_object_must_be_a_statement_ref(ref_set):
    result = ref_set.template(tid("about-object")).match(statement("did"))
    assert result.outcome == INVALID
    assert "not a StatementRef" in result.reasons[0].message


def test_context_statement_ref(ref_set):
    t = ref_set.template(tid("about-context"))
    refs = {"p": statement("paused", sid="p"), "d": statement("did", sid="d")}
    st = statement("finished", context={"statement": ref("p")})
    assert t.match(st, refs).outcome == SUCCESS  # matches the second listed template
    st["context"]["statement"] = ref("d")
    assert t.match(st, refs).outcome == INVALID
    assert t.match(statement("finished"), refs).outcome == INVALID


def test_statement_ref_to_unknown_template(ref_set):
    st = statement("paused")
    st["object"] = ref("x")
    result = ref_set.template(tid("bad-target")).match(st, {"x": statement("paused")})
    assert result.outcome == INVALID
    assert result.reasons[0].found == [{tid("nope"): "unknown template"}]


def test_statement_ref_cycles_terminate():
    doc = profile_doc(
        templates=[
            template("loop", verb=verb("did"), objectStatementRefTemplate=[tid("loop")]),
        ]
    )
    t = ProfileSet([profile_from_document(doc)]).template(tid("loop"))
    st = statement("did", sid="self")
    st["object"] = ref("self")
    result = t.match(st, {"self": st})
    assert result.outcome == SUCCESS
    assert "deeper than" in result.notes[0]


# --- profile-level results ------------------------------------------------------------------

SHARED = profile_doc(
    templates=[
        template("did-task", verb=verb("did"), objectActivityType=atype("task")),
        template(
            "did-with-score",
            verb=verb("did"),
            rules=[{"location": "$.result.score.scaled", "presence": "included"}],
        ),
        template("started", verb=verb("started")),
    ]
)


def test_each_template_is_matched_on_its_own_and_profile_result_is_strict():
    profile_set = ProfileSet([profile_from_document(SHARED)])
    match = profile_set.match_statement(statement("did"))
    assert {r.template_id: r.outcome for r in match.results} == {
        tid("did-task"): SUCCESS,
        tid("did-with-score"): INVALID,
        tid("started"): UNMATCHED,
    }
    assert match.matched == [tid("did-task")]
    # The spec's validates(): any applicable template failing makes the statement invalid.
    assert match.profiles[SHARED["id"]] == {
        "outcome": INVALID,
        "templates": [tid("did-with-score")],
    }
    scored = statement("did", result={"score": {"scaled": 0.5}})
    assert profile_set.match_statement(scored).profiles[SHARED["id"]] == {
        "outcome": SUCCESS,
        "templates": [tid("did-task"), tid("did-with-score")],
    }
    assert profile_set.match_statement(statement("paused")).profiles[SHARED["id"]] == {
        "outcome": UNMATCHED,
        "templates": [],
    }
    data = json.loads(json.dumps(match.as_dict()))
    assert [t["template"] for t in data["templates"]] == [tid("did-task"), tid("did-with-score")]
    assert len(match.as_dict(include_unmatched=True)["templates"]) == 3


def test_template_ids_restrict_matching():
    profile_set = ProfileSet([profile_from_document(SHARED)])
    match = profile_set.match_statement(statement("did"), template_ids=[tid("did-task")])
    assert [r.template_id for r in match.results] == [tid("did-task")]


def test_non_object_statement_is_invalid():
    result = compile_template(template("t")).match(["not", "a", "statement"])
    assert result.outcome == INVALID


@pytest.mark.parametrize(
    "rule",
    [
        {"location": "$.a[?(@.b)]", "presence": "included"},
        {"location": "$.a", "selector": "$[-1]", "presence": "included"},
        {"location": "$.a", "presence": "sometimes"},
        {"presence": "included"},
    ],
)
def test_uncompilable_templates_raise(rule):
    with pytest.raises(ProfileError):
        compile_template(template("t", rules=[rule]))


def test_lenient_compilation_of_imperfect_templates():
    # Location without "$", empty "rules" and empty "any" still compile (checker flags them).
    t = compile_template(template("t", rules=[{"location": "result.response", "any": []}]))
    assert t.match(statement()).outcome == SUCCESS
    assert compile_template(template("t", rules=[])).match(statement()).outcome == SUCCESS
