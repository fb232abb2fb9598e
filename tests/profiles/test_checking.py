from pathlib import Path

import pytest

from lrs_connector.profiles import (
    ProfileError,
    ProfileSet,
    check,
    has_errors,
    load_bundled,
    load_profile,
    load_profiles,
    profile_from_document,
)
from tests.profiles.builders import (
    BASE,
    PROFILE_ID,
    VERSION,
    atype,
    concept,
    pattern,
    pid,
    profile_doc,
    template,
    tid,
    verb,
)

FIXTURES = Path(__file__).resolve().parents[2] / "../shared/fixtures/xapi-profiles"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"published profiles not found at {FIXTURES}"
)

GOOD_TEMPLATES = [
    template(
        "a",
        verb=verb("did"),
        objectActivityType=atype("task"),
        rules=[{"location": "$.result.success", "presence": "included"}],
    ),
    template("b", verb=verb("finished")),
]
GOOD_PATTERNS = [
    pattern("main", "sequence", [tid("a"), pid("bs")], primary=True),
    pattern("bs", "oneOrMore", tid("b")),
]


def findings_for(doc, strict=True, others=()):
    profiles = [profile_from_document(doc), *[profile_from_document(o) for o in others]]
    return check(ProfileSet(profiles), strict=strict)


def keys(findings):
    return {(f.severity, f.node_id, f.property) for f in findings}


def test_good_profile_is_clean():
    assert findings_for(profile_doc(templates=GOOD_TEMPLATES, patterns=GOOD_PATTERNS)) == []


def test_bundled_profile_checks_clean_in_strict_mode():
    profiles = load_bundled()
    assert [p.id for p in profiles] == ["https://lrs-connector.dev/xapi/profiles/lnd-leadership"]
    assert check(profiles, strict=True) == []


def test_bundled_profile_needs_the_base_vocabulary_for_adl_verbs():
    findings = check(load_bundled(), known_iris=())
    assert {f.message.split()[0] for f in findings} == {
        "http://adlnet.gov/expapi/verbs/completed",
        "http://adlnet.gov/expapi/verbs/passed",
        "http://adlnet.gov/expapi/verbs/failed",
    }


def mutate(fn):
    doc = profile_doc(templates=GOOD_TEMPLATES, patterns=GOOD_PATTERNS)
    fn(doc)
    return doc


def t(doc, name):
    return next(x for x in doc["templates"] if x["id"] == tid(name))


def p(doc, name):
    return next(x for x in doc["patterns"] if x["id"] == pid(name))


def c(doc, iri):
    return next(x for x in doc["concepts"] if x["id"] == iri)


CASES = {
    # profile metadata
    "missing prefLabel": (lambda d: d.pop("prefLabel"), PROFILE_ID, "prefLabel"),
    "missing author": (lambda d: d.pop("author"), PROFILE_ID, "author"),
    "missing versions": (lambda d: d.pop("versions"), PROFILE_ID, "versions"),
    "missing conformsTo": (lambda d: d.pop("conformsTo"), PROFILE_ID, "conformsTo"),
    "missing @context": (lambda d: d.pop("@context"), PROFILE_ID, "@context"),
    "wrong type": (lambda d: d.update(type="Vocabulary"), PROFILE_ID, "type"),
    "context array without ours": (
        lambda d: d.update({"@context": ["https://x/ctx"]}),
        PROFILE_ID,
        "@context",
    ),
    "relative id": (lambda d: d.update(seeAlso="docs/profile"), PROFILE_ID, "seeAlso"),
    "bad author type": (lambda d: d["author"].update(type="Team"), PROFILE_ID, "author.type"),
    "version without time": (
        lambda d: d["versions"][0].pop("generatedAtTime"),
        PROFILE_ID,
        "versions[0].generatedAtTime",
    ),
    "version equals profile": (
        lambda d: d["versions"].append(
            {"id": PROFILE_ID, "generatedAtTime": "2020-01-01T00:00:00Z"}
        ),
        PROFILE_ID,
        "versions[1].id",
    ),
    "language map not a map": (lambda d: d.update(definition="text"), PROFILE_ID, "definition"),
    "unknown bare property": (lambda d: d.update(colour="blue"), PROFILE_ID, "colour"),
    "empty string": (lambda d: d["prefLabel"].update(en=""), PROFILE_ID, "prefLabel.en"),
    # concepts
    "verb without definition": (
        lambda d: c(d, verb("did")).pop("definition"),
        verb("did"),
        "definition",
    ),
    "concept in another scheme": (
        lambda d: c(d, verb("did")).update(inScheme="https://x/v9"),
        verb("did"),
        "inScheme",
    ),
    "unknown concept type": (lambda d: c(d, verb("did")).update(type="Noun"), verb("did"), "type"),
    "broader of another type": (
        lambda d: c(d, verb("did")).update(broader=[atype("task")]),
        verb("did"),
        "broader",
    ),
    "related on live concept": (
        lambda d: c(d, verb("did")).update(related=[verb("started")]),
        verb("did"),
        "related",
    ),
    "extension with both schemas": (
        lambda d: d["concepts"].append(
            concept(
                "ResultExtension", f"{BASE}/ext/x", schema="https://x/s.json", inlineSchema="{}"
            )
        ),
        f"{BASE}/ext/x",
        "inlineSchema",
    ),
    "activity types on context extension": (
        lambda d: d["concepts"].append(
            concept("ContextExtension", f"{BASE}/ext/y", recommendedActivityTypes=[atype("task")])
        ),
        f"{BASE}/ext/y",
        "recommendedActivityTypes",
    ),
    "verbs on activity extension": (
        lambda d: d["concepts"].append(
            concept("ActivityExtension", f"{BASE}/ext/z", recommendedVerbs=[verb("did")])
        ),
        f"{BASE}/ext/z",
        "recommendedVerbs",
    ),
    "resource without content type": (
        lambda d: d["concepts"].append(concept("StateResource", f"{BASE}/state/s")),
        f"{BASE}/state/s",
        "contentType",
    ),
    "activity without definition": (
        lambda d: d["concepts"].append(
            {"id": f"{BASE}/activities/x", "type": "Activity", "inScheme": VERSION}
        ),
        f"{BASE}/activities/x",
        "activityDefinition",
    ),
    "activity definition without context": (
        lambda d: d["concepts"].append(
            {
                "id": f"{BASE}/activities/y",
                "type": "Activity",
                "inScheme": VERSION,
                "activityDefinition": {"name": {"en": "y"}},
            }
        ),
        f"{BASE}/activities/y",
        "activityDefinition.@context",
    ),
    "duplicate id": (
        lambda d: d["concepts"].append(concept("Verb", verb("did"))),
        verb("did"),
        "id",
    ),
    # templates
    "template without definition": (lambda d: t(d, "a").pop("definition"), tid("a"), "definition"),
    "template without inScheme": (lambda d: t(d, "a").pop("inScheme"), tid("a"), "inScheme"),
    "unknown verb": (lambda d: t(d, "a").update(verb=verb("flew")), tid("a"), "verb"),
    "verb that is an activity type": (
        lambda d: t(d, "a").update(verb=atype("task")),
        tid("a"),
        "verb",
    ),
    "unknown grouping type": (
        lambda d: t(d, "a").update(contextGroupingActivityType=[atype("nope")]),
        tid("a"),
        "contextGroupingActivityType",
    ),
    "category type not an array": (
        lambda d: t(d, "a").update(contextCategoryActivityType=atype("task")),
        tid("a"),
        "contextCategoryActivityType",
    ),
    "unknown attachment usage": (
        lambda d: t(d, "a").update(attachmentUsageType=[f"{BASE}/nope"]),
        tid("a"),
        "attachmentUsageType",
    ),
    "object ref and object type": (
        lambda d: t(d, "a").update(objectStatementRefTemplate=[tid("b")]),
        tid("a"),
        "objectStatementRefTemplate",
    ),
    "ref to unknown template": (
        lambda d: t(d, "b").update(contextStatementRefTemplate=[tid("zzz")]),
        tid("b"),
        "contextStatementRefTemplate",
    ),
    "empty rules": (lambda d: t(d, "b").update(rules=[]), tid("b"), "rules"),
    "location without $": (
        lambda d: t(d, "a")["rules"][0].update(location="result.success"),
        tid("a"),
        "rules[0].location",
    ),
    "rule without requirement": (
        lambda d: t(d, "a")["rules"][0].pop("presence"),
        tid("a"),
        "rules[0]",
    ),
    "any not an array": (lambda d: t(d, "a")["rules"][0].update(any="x"), tid("a"), "rules[0].any"),
    "unknown rule property": (
        lambda d: t(d, "a")["rules"][0].update(regex=".*"),
        tid("a"),
        "regex",
    ),
    # patterns
    "primary without definition": (
        lambda d: p(d, "main").pop("definition"),
        pid("main"),
        "definition",
    ),
    "alternates of one": (
        lambda d: d["patterns"].append(pattern("alt", "alternates", [tid("a")])),
        pid("alt"),
        "alternates",
    ),
    "optional inside alternates": (
        lambda d: d["patterns"].extend(
            [
                pattern("alt", "alternates", [tid("a"), pid("opt")]),
                pattern("opt", "optional", tid("b")),
            ]
        ),
        pid("alt"),
        "alternates",
    ),
    "sequence of one in a non-primary": (
        lambda d: d["patterns"].append(pattern("one", "sequence", [tid("a")])),
        pid("one"),
        "sequence",
    ),
    "primary sequence of one that is reused": (
        lambda d: d["patterns"].extend(
            [
                pattern("one", "sequence", [tid("a")], primary=True),
                pattern("uses", "zeroOrMore", pid("one")),
            ]
        ),
        pid("one"),
        "sequence",
    ),
    "pattern inScheme of another profile": (
        lambda d: p(d, "bs").update(inScheme="https://x/v"),
        pid("bs"),
        "inScheme",
    ),
}

FATAL = {
    "bad JSONPath": (
        lambda d: t(d, "a")["rules"][0].update(location="$.a[?(@.b)]"),
        tid("a"),
        "rules[0].location",
    ),
    "bad selector": (
        lambda d: t(d, "a")["rules"][0].update(selector="$[-1]"),
        tid("a"),
        "rules[0].selector",
    ),
    "bad presence": (
        lambda d: t(d, "a")["rules"][0].update(presence="always"),
        tid("a"),
        "rules[0].presence",
    ),
    "pattern with two kinds": (
        lambda d: p(d, "bs").update(optional=tid("a")),
        pid("bs"),
        "optional/oneOrMore",
    ),
    "pattern without kind": (lambda d: p(d, "bs").pop("oneOrMore"), pid("bs"), "sequence"),
    "unknown pattern member": (
        lambda d: p(d, "main")["sequence"].append(pid("ghost")),
        pid("main"),
        "sequence",
    ),
    "rule without location": (
        lambda d: t(d, "a")["rules"][0].pop("location"),
        tid("a"),
        "rules[0].location",
    ),
    # reported once, on the first pattern of the cycle in document order
    "pattern cycle": (lambda d: p(d, "bs").update(oneOrMore=pid("main")), pid("main"), "patterns"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_must_violations_are_errors_when_strict_and_warnings_when_lenient(case):
    fn, node, prop = CASES[case]
    doc = mutate(fn)
    strict = findings_for(doc)
    assert ("error", node, prop) in keys(strict), [str(f) for f in strict]
    lenient = findings_for(doc, strict=False)
    assert ("warning", node, prop) in keys(lenient)
    assert not has_errors(lenient)


@pytest.mark.parametrize("case", sorted(FATAL))
def test_fatal_problems_are_errors_even_when_lenient(case):
    fn, node, prop = FATAL[case]
    doc = mutate(fn)
    lenient = findings_for(doc, strict=False)
    assert ("error", node, prop) in keys(lenient), [str(f) for f in lenient]
    assert sum(f.severity == "error" for f in lenient) == 1  # no follow-on duplicates


def test_should_violations_are_always_warnings():
    doc = mutate(lambda d: d.update({"@context": "https://example.org/other-context"}))
    assert keys(findings_for(doc)) == {("warning", PROFILE_ID, "@context")}
    doc = mutate(lambda d: d.update(conformsTo="https://w3id.org/xapi/profiles#0.9"))
    assert keys(findings_for(doc)) == {("warning", PROFILE_ID, "conformsTo")}


def test_primary_sequence_of_one_template_is_allowed_when_not_reused():
    doc = mutate(
        lambda d: d["patterns"].append(pattern("single", "sequence", [tid("a")], primary=True))
    )
    assert findings_for(doc) == []


def test_references_resolve_across_loaded_profiles():
    other_id = "https://example.org/xapi/profiles/other"
    other = profile_doc(
        id=other_id,
        versions=[{"id": f"{other_id}/v1", "generatedAtTime": "2025-01-01T00:00:00Z"}],
        concepts=[
            {
                **concept("Verb", "https://example.org/other/verbs/flew"),
                "inScheme": f"{other_id}/v1",
            }
        ],
        templates=[
            {
                **template("other-t", verb="https://example.org/other/verbs/flew"),
                "id": "https://example.org/other/templates/t",
                "inScheme": f"{other_id}/v1",
            }
        ],
    )
    doc = mutate(
        lambda d: (
            t(d, "b").update(verb="https://example.org/other/verbs/flew"),
            p(d, "main")["sequence"].append("https://example.org/other/templates/t"),
        )
    )
    assert ("error", tid("b"), "verb") in keys(findings_for(doc))
    assert findings_for(doc, others=[other]) == []


def test_findings_name_node_property_and_profile():
    doc = mutate(lambda d: t(d, "a").pop("definition"))
    (finding,) = findings_for(doc)
    assert finding.as_dict() == {
        "severity": "error",
        "node": tid("a"),
        "property": "definition",
        "message": "is required",
        "profile": PROFILE_ID,
    }
    assert str(finding).startswith("ERROR   " + tid("a"))


def test_node_without_id_gets_a_positional_name():
    doc = mutate(lambda d: t(d, "b").pop("id"))
    assert ("error", f"{PROFILE_ID}#templates[1]", "id") in keys(findings_for(doc))


# --- loading ------------------------------------------------------------------------------


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.jsonld"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile(bad)
    no_id = tmp_path / "noid.json"
    no_id.write_text('{"type": "Profile"}')
    with pytest.raises(ProfileError, match="no string 'id'"):
        load_profile(no_id)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.json")
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(ProfileError, match="JSON object"):
        load_profile(listed)


def test_load_folder_and_duplicate_profiles(tmp_path):
    import json

    (tmp_path / "b.jsonld").write_text(json.dumps(profile_doc()))
    (tmp_path / "notes.txt").write_text("ignored")
    loaded = load_profiles([tmp_path])
    assert [p.id for p in loaded] == [PROFILE_ID]
    assert loaded[0].source.endswith("b.jsonld")
    with pytest.raises(ProfileError, match="already loaded"):
        ProfileSet(loaded + loaded)


# --- published profiles (read from the shared fixtures, never copied) ------------------------


@needs_fixtures
def test_published_profiles_load_and_pass_lenient_checking():
    profile_set = ProfileSet(load_profiles([FIXTURES]))
    assert len(profile_set.profiles) == 6
    assert not has_errors(check(profile_set, strict=False))
    for profile in profile_set.profiles:
        profile_set.templates(profile.id)  # every template compiles
        profile_set.patterns(profile.id)  # every pattern resolves, no cycles


@needs_fixtures
def test_published_scorm_profile_fails_strict_checking_for_known_reasons():
    findings = check(load_profile(FIXTURES / "adl-scorm-v1.0.jsonld"), strict=True)
    messages = {f.message for f in findings if f.severity == "error"}
    assert "must not be an empty array" in messages
    assert "'timestamp' should start with '$'" in messages


@needs_fixtures
def test_published_cmi5_templates_lack_definitions():
    findings = check(load_profile(FIXTURES / "adl-cmi5-v1.0.jsonld"), strict=True)
    assert sum(f.property == "definition" for f in findings) == 10
