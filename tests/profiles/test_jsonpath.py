import pytest

from lrs_connector.profiles.jsonpath import JSONPathError, compile_path

EXT = "https://example.org/ext/place"
DOC = {
    "id": "s1",
    "result": {"success": True, "extensions": {EXT: 3, "https://example.org/ext/a.b": "dot"}},
    "context": {
        "contextActivities": {
            "grouping": [
                {"id": "g1", "definition": {"type": "t1"}},
                {"id": "g2"},
                {"id": "g3", "definition": {"type": "t3"}},
            ],
            "category": [{"id": "c1"}],
        }
    },
    "object": {"definition": {"name": {"en-US": "Hello"}}},
}


def ev(path, doc=DOC):
    return compile_path(path).evaluate(doc)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.id", ["s1"]),
        ("$.result.success", [True]),
        ("$.missing", []),
        ("$.id.deeper", []),
        (f"$.result.extensions['{EXT}']", [3]),
        (f'$.result.extensions["{EXT}"]', [3]),
        ("$.result.extensions['https://example.org/ext/a.b']", ["dot"]),
        ("$['result']['success']", [True]),
        ("$.object.definition.name.en-US", ["Hello"]),
        ("$.context.contextActivities.grouping[*].id", ["g1", "g2", "g3"]),
        ("$.context.contextActivities.grouping.*.id", ["g1", "g2", "g3"]),
        ("$.context.contextActivities.grouping[*].definition.type", ["t1", "t3"]),
        ("$.context.contextActivities.grouping[0].id", ["g1"]),
        ("$.context.contextActivities.grouping[2,0].id", ["g3", "g1"]),
        ("$.context.contextActivities.grouping[ 1 , 2 ].id", ["g2", "g3"]),
        ("$.context.contextActivities.grouping[7].id", []),
        ("$.context.contextActivities['grouping','category'][*].id", ["g1", "g2", "g3", "c1"]),
        ("$.context.contextActivities.grouping.id", []),  # no implicit flattening of arrays
        ("$..type", ["t1", "t3"]),
        ("$.context..id", ["g1", "g2", "g3", "c1"]),
        ("$.result.*", [True, {EXT: 3, "https://example.org/ext/a.b": "dot"}]),
    ],
)
def test_paths(path, expected):
    assert ev(path) == expected


def test_an_array_found_is_one_value():
    grouping = DOC["context"]["contextActivities"]["grouping"]
    assert ev("$.context.contextActivities.grouping") == [grouping]


def test_pipe_evaluates_each_alternative_on_the_whole_document_and_flattens():
    # The trap: treating "|" as a step inside the path returns nothing or the wrong values.
    assert ev("$.id | $.context.contextActivities.grouping[*].id") == ["s1", "g1", "g2", "g3"]
    assert ev("$.missing|$.result.success") == [True]
    assert ev(
        "$.context.contextActivities.grouping[*].id|$.context.contextActivities.category"
    ) == [
        "g1",
        "g2",
        "g3",
        [{"id": "c1"}],
    ]


def test_pipe_inside_a_quoted_key_is_part_of_the_key():
    assert ev("$['a|b']", {"a|b": 1, "a": 2}) == [1]


def test_escaped_quote_in_key():
    assert ev("$['it\\'s']", {"it's": 1}) == [1]


def test_lenient_paths_without_dollar_are_parsed_but_flagged():
    compiled = compile_path("context.contextActivities.category[*].id")
    assert compiled.evaluate(DOC) == ["c1"]
    assert compiled.rooted is False
    assert compile_path("$.id").rooted is True
    assert compile_path("$.id | result.success").rooted is False


def test_works_on_non_object_documents():
    assert ev("$.a", [1, 2]) == []
    assert ev("$[1]", [1, 2]) == [2]
    assert ev("$[*]", "text") == []
    assert ev("$", 5) == [5]


@pytest.mark.parametrize(
    "path",
    [
        "",
        "   ",
        "$.a[?(@.b)]",
        "$.a[(@.length-1)]",
        "$.a[-1]",
        "$.a[0:2]",
        "$.a[",
        "$.a['b'",
        "$.a['b]",
        "$.a[b]",
        "$.a |",
        "| $.a",
        "$.a.",
        "$ a",
    ],
)
def test_rejected(path):
    with pytest.raises(JSONPathError):
        compile_path(path)


def test_error_names_the_position():
    with pytest.raises(JSONPathError) as info:
        compile_path("$.a[-1]")
    assert info.value.position == 4
    assert "negative" in str(info.value)


def test_compiled_once():
    assert compile_path("$.result.success") is compile_path("$.result.success")
