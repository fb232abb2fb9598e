import json

import pytest

from lrs_connector.profiles import (
    MATCH,
    NO_MATCH,
    PARTIAL,
    ProfileError,
    ProfileSet,
    match_pattern,
    profile_from_document,
)
from tests.profiles.builders import pattern, pid, profile_doc, statement, template, tid, verb

# Templates A..D are told apart by verb; D also needs a response to succeed.
LETTERS = {"A": "started", "B": "did", "C": "finished", "D": "paused"}
TEMPLATES = [template(k, verb=verb(v)) for k, v in LETTERS.items() if k != "D"] + [
    template(
        "D", verb=verb("paused"), rules=[{"location": "$.result.response", "presence": "included"}]
    )
]


def make_set(*patterns):
    return ProfileSet(
        [profile_from_document(profile_doc(templates=TEMPLATES, patterns=list(patterns)))]
    )


def stmts(letters):
    out = []
    for i, letter in enumerate(letters):
        st = statement(LETTERS[letter.upper()], sid=f"s{i}")
        if letter == "D":
            st["result"] = {"response": "ok"}
        out.append(st)  # lower-case "d" is a paused statement that fails template D's rule
    return out


def run(patterns, root, letters, **kw):
    return match_pattern(make_set(*patterns).pattern(pid(root)), stmts(letters), **kw)


def status(patterns, root, letters):
    return run(patterns, root, letters).status


SEQ_AB = pattern("ab", "sequence", [tid("A"), tid("B")])


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        ("AB", MATCH),
        ("A", PARTIAL),
        ("", PARTIAL),
        ("B", NO_MATCH),
        ("ABC", NO_MATCH),
        ("AC", NO_MATCH),
    ],
)
def test_sequence(letters, expected):
    assert status([SEQ_AB], "ab", letters) == expected


def test_sequence_failure_says_where_and_what_was_expected():
    result = run([SEQ_AB], "ab", "AC")
    assert (result.failed_at, result.statement_id, result.expected) == (1, "s1", [tid("B")])
    extra = run([SEQ_AB], "ab", "ABC")
    assert (extra.failed_at, extra.matched) == (2, 2)
    assert "ended" in extra.detail
    partial = run([SEQ_AB], "ab", "A")
    assert partial.expected == [tid("B")] and partial.failed_at is None


def test_statement_must_succeed_on_the_template_not_just_apply():
    seq = pattern("ad", "sequence", [tid("A"), tid("D")])
    assert status([seq], "ad", "AD") == MATCH
    assert status([seq], "ad", "Ad") == NO_MATCH  # "d" applies to D but breaks its rule


@pytest.mark.parametrize(
    ("letters", "expected"),
    [("A", MATCH), ("B", MATCH), ("C", NO_MATCH), ("", PARTIAL), ("AB", NO_MATCH)],
)
def test_alternates(letters, expected):
    alt = pattern("alt", "alternates", [tid("A"), tid("B")])
    assert status([alt], "alt", letters) == expected


def test_alternates_takes_the_longest_match():
    patterns = [
        pattern("root", "sequence", [pid("alt"), tid("C")]),
        pattern("alt", "alternates", [tid("A"), pid("ab")]),
        SEQ_AB,
    ]
    assert status(patterns, "root", "ABC") == MATCH
    assert status(patterns, "root", "AC") == MATCH


def test_alternates_partial_beats_a_shorter_success():
    # [A, B] is a valid beginning of A B C D through the longer alternative.
    patterns = [
        pattern("root", "sequence", [pid("alt"), tid("D")]),
        pattern("alt", "alternates", [tid("A"), pid("abc")]),
        pattern("abc", "sequence", [tid("A"), tid("B"), tid("C")]),
    ]
    assert status(patterns, "root", "AB") == PARTIAL
    assert status(patterns, "root", "ABCD") == MATCH
    assert status(patterns, "root", "AD") == MATCH


@pytest.mark.parametrize(
    ("letters", "expected"),
    [("B", MATCH), ("AB", MATCH), ("A", PARTIAL), ("C", NO_MATCH), ("AAB", NO_MATCH)],
)
def test_optional(letters, expected):
    patterns = [
        pattern("root", "sequence", [pid("opt"), tid("B")]),
        pattern("opt", "optional", tid("A")),
    ]
    assert status(patterns, "root", letters) == expected


@pytest.mark.parametrize(
    ("letters", "expected"),
    [("A", MATCH), ("AAA", MATCH), ("", PARTIAL), ("B", NO_MATCH), ("AAB", NO_MATCH)],
)
def test_one_or_more(letters, expected):
    assert status([pattern("more", "oneOrMore", tid("A"))], "more", letters) == expected


@pytest.mark.parametrize(
    ("letters", "expected"), [("", MATCH), ("AA", MATCH), ("B", NO_MATCH), ("AAB", NO_MATCH)]
)
def test_zero_or_more(letters, expected):
    assert status([pattern("any", "zeroOrMore", tid("A"))], "any", letters) == expected


def test_zero_or_more_failure_points_at_the_first_unconsumed_statement():
    result = run([pattern("any", "zeroOrMore", tid("A"))], "any", "AAB")
    assert (result.failed_at, result.matched, result.expected) == (2, 2, [tid("A")])


@pytest.mark.parametrize(
    ("repeat", "letters"),
    [("zeroOrMore", "AA"), ("oneOrMore", "AA"), ("optional", "A")],
)
def test_greedy_trap_no_backtracking(repeat, letters):
    # sequence[X(A), A]: X swallows every A, so the final A never comes. A backtracking
    # matcher would say "match"; the spec's greedy rule says the series is still in progress.
    patterns = [
        pattern("root", "sequence", [pid("rep"), tid("A")]),
        pattern("rep", repeat, tid("A")),
    ]
    result = run(patterns, "root", letters)
    assert result.status == PARTIAL
    assert run(patterns, "root", letters + "B").status == NO_MATCH


def test_a_failed_member_gives_its_statements_back():
    # optional(sequence[A, B]) fails on A C, so A and C are matched by what follows.
    patterns = [
        pattern("root", "sequence", [pid("opt"), tid("A"), tid("C")]),
        pattern("opt", "optional", pid("ab")),
        SEQ_AB,
    ]
    assert status(patterns, "root", "AC") == MATCH
    assert status(patterns, "root", "ABAC") == MATCH
    assert status(patterns, "root", "A") == PARTIAL


def test_nested_redo_levels_like_the_spec_example():
    patterns = [
        pattern(
            "levels", "sequence", [tid("A"), pid("redo1"), tid("B"), pid("redo2")], primary=True
        ),
        pattern("redo1", "zeroOrMore", tid("A")),
        pattern("redo2", "zeroOrMore", pid("a-or-b")),
        pattern("a-or-b", "alternates", [tid("A"), tid("B")]),
    ]
    assert status(patterns, "levels", "AB") == MATCH
    assert status(patterns, "levels", "AAABABBA") == MATCH
    assert status(patterns, "levels", "AAA") == PARTIAL
    assert status(patterns, "levels", "ABC") == NO_MATCH


def test_repeating_something_that_can_match_nothing_terminates():
    patterns = [pattern("loop", "zeroOrMore", pid("maybe")), pattern("maybe", "optional", tid("A"))]
    assert status(patterns, "loop", "AA") == MATCH
    assert status(patterns, "loop", "AB") == NO_MATCH
    more = [pattern("loop", "oneOrMore", pid("maybe")), pattern("maybe", "optional", tid("A"))]
    assert status(more, "loop", "") == MATCH


def test_statements_are_ordered_by_timestamp_and_indexes_refer_to_the_input():
    pattern_set = make_set(pattern("abc", "sequence", [tid("A"), tid("B"), tid("C")]))
    series = stmts("BCA")
    for st, ts in zip(
        series,
        ["2025-01-01T10:00:01Z", "2025-01-01T10:00:02Z", "2025-01-01T11:00:00+02:00"],
        strict=True,
    ):
        st["timestamp"] = ts
    assert match_pattern(pattern_set.pattern(pid("abc")), series).status == MATCH
    kept = match_pattern(pattern_set.pattern(pid("abc")), series, order_by_timestamp=False)
    assert (kept.status, kept.failed_at) == (NO_MATCH, 0)
    series[1]["timestamp"] = "2025-01-01T09:00:00Z"  # C now first in time: index 1 fails
    moved = match_pattern(pattern_set.pattern(pid("abc")), series)
    assert (moved.status, moved.failed_at, moved.statement_id) == (NO_MATCH, 1, "s1")


def test_missing_timestamps_keep_input_order_with_a_note():
    result = run([SEQ_AB], "ab", "AB")
    assert result.status == MATCH
    assert "input order" in result.notes[0]


def test_result_is_json_serialisable():
    data = json.loads(json.dumps(run([SEQ_AB], "ab", "AC").as_dict()))
    assert data["status"] == NO_MATCH and data["failed_at"] == 1 and data["expected"] == [tid("B")]


def test_profile_set_shortcut_and_primary_listing():
    pattern_set = make_set(pattern("root", "sequence", [tid("A"), pid("ab")], primary=True), SEQ_AB)
    assert [p.id for p in pattern_set.patterns(primary_only=True)] == [pid("root")]
    assert pattern_set.match_pattern(pid("root"), stmts("AAB")).status == MATCH
    assert set(pattern_set.pattern(pid("root")).templates) == {tid("A"), tid("B")}


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (
            [pattern("x", "sequence", [tid("A"), pid("y")]), pattern("y", "optional", pid("x"))],
            "cycle",
        ),
        ([pattern("x", "oneOrMore", pid("x"))], "cycle"),
        ([pattern("x", "sequence", [tid("A"), pid("missing")])], "neither"),
        ([{**pattern("x", "sequence", [tid("A"), tid("B")]), "optional": tid("A")}], "exactly one"),
    ],
)
def test_broken_patterns_raise(patterns, message):
    with pytest.raises(ProfileError, match=message):
        make_set(*patterns).pattern(pid("x"))
