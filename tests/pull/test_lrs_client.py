"""The LRS client against answers shaped exactly like real LRSs' (Ralph's recorded ones)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
import responses

from lrs_connector.intake.lrs_client import LRSClient, LRSError, format_since, origin
from tests.network import free_port
from tests.pull.fake_lrs import (
    BASE,
    RECORDED_401,
    RECORDED_EMPTY_PAGE,
    RECORDED_FIRST_PAGE,
    STATEMENTS,
    DribblingLRS,
)


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def client(**kwargs) -> LRSClient:
    return LRSClient(BASE, username="lrsuser", password="lrspass", **kwargs)


def test_ralphs_relative_more_link_is_followed_on_the_same_server(mock):
    mock.get(STATEMENTS, body=RECORDED_FIRST_PAGE, content_type="application/json")
    page = client().fetch(STATEMENTS + "?limit=2")
    assert [s["id"] for s in page.statements] == [
        "ff24561a-ddc7-4b49-88d1-ee21fb668fd2",
        "4de5ec93-2efa-4bf0-8c5a-327d3a08012b",
    ]
    assert page.more == (
        "http://ralph.test:8100/xAPI/statements?limit=2&since=2020-01-01T00%3A00%3A00.000Z"
        "&ascending=true&pit_id=None&search_after=ff24561a-ddc7-4b49-88d1-ee21fb668fd2"
    )
    sent = mock.calls[0].request
    assert sent.headers["X-Experience-API-Version"] == "1.0.3"
    assert sent.headers["Authorization"].startswith("Basic ")


def test_an_empty_last_page_ends_the_pull_even_without_a_version_header(mock):
    mock.get(STATEMENTS, body=RECORDED_EMPTY_PAGE, content_type="application/json")
    page = client().fetch(STATEMENTS)
    assert page.statements == [] and page.more is None


def test_an_empty_page_offering_more_ends_the_pull(mock):
    mock.get(STATEMENTS, json={"statements": [], "more": "/xAPI/statements?more=x"})
    assert client().fetch(STATEMENTS).more is None


@pytest.mark.parametrize("more", ["", None])
def test_an_empty_or_null_more_ends_the_pull(mock, more):
    mock.get(STATEMENTS, json={"statements": [{"id": "x"}], "more": more})
    assert client().fetch(STATEMENTS).more is None


def test_a_bare_list_is_one_last_page(mock):
    mock.get(STATEMENTS, json=[{"id": "a"}, {"id": "b"}])
    page = client().fetch(STATEMENTS)
    assert len(page.statements) == 2 and page.more is None


def test_an_absolute_more_link_is_followed(mock):
    absolute = "http://ralph.test:8100/xAPI/statements?more=abc"
    mock.get(STATEMENTS, json={"statements": [{"id": "a"}], "more": absolute})
    assert client().fetch(STATEMENTS).more == absolute


def test_a_more_link_relative_to_the_request_path_is_resolved(mock):
    mock.get(STATEMENTS, json={"statements": [{"id": "a"}], "more": "statements?page=2"})
    assert client().fetch(STATEMENTS).more == BASE + "statements?page=2"


def test_a_more_link_to_another_server_is_refused(mock):
    mock.get(STATEMENTS, json={"statements": [{"id": "a"}], "more": "http://evil.test/x"})
    page = client().fetch(STATEMENTS)
    with pytest.raises(LRSError, match="another server"):
        client().fetch(page.more)
    assert len(mock.calls) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://lrs.test/xapi/statements", "https://lrs.test:443/xapi/statements?more=x"),
        ("http://lrs.test/xapi/", "http://lrs.test:80/xapi/statements"),
        ("HTTPS://LRS.Test/xapi/", "https://lrs.test/xapi/"),
        ("http://127.0.0.1:8100/xAPI/", "http://127.0.0.1:8100/other"),
        ("https://[::1]/xapi/", "https://[::1]:443/xapi/"),
    ],
)
def test_the_same_server_is_recognised_however_written(a, b):
    assert origin(a) == origin(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://lrs.test/xapi/", "http://lrs.test/xapi/"),
        ("https://lrs.test/xapi/", "https://lrs.test:80/xapi/"),
        ("http://lrs.test/xapi/", "http://lrs.test:443/xapi/"),
        ("http://lrs.test:8100/xapi/", "http://lrs.test:8101/xapi/"),
        ("https://lrs.test/xapi/", "https://lrs.test.evil.test/xapi/"),
        ("https://lrs.test/xapi/", "https://lrs.test:notaport/xapi/"),
    ],
)
def test_another_scheme_port_or_host_is_another_server(a, b):
    assert origin(a) != origin(b)


def test_an_absolute_more_link_with_the_default_port_is_followed(mock):
    endpoint = "https://lrs.test/xAPI/"
    following = "https://LRS.test:443/xAPI/statements?more=abc"
    mock.get(endpoint + "statements", json={"statements": [{"id": "a"}], "more": following})
    mock.get(following, json={"statements": [{"id": "b"}]})
    lrs = LRSClient(endpoint)
    page = lrs.fetch(endpoint + "statements")
    assert page.more == following
    assert lrs.fetch(page.more).statements == [{"id": "b"}]


@pytest.mark.parametrize(
    ("headers_too", "length"),
    [(True, True), (False, True), (False, False)],
    ids=["headers", "body", "body-without-length"],
)
def test_a_server_dribbling_its_answer_is_cut_off_at_the_timeout(headers_too, length):
    """Each byte comes well within the read timeout; the whole answer would take 12 s."""
    with DribblingLRS(delay=0.05, headers_too=headers_too, length=length) as lrs:
        started = time.monotonic()
        with pytest.raises(LRSError, match=r"no answer within 1 s from http://127\.0\.0\.1"):
            LRSClient(lrs.base, timeout=1).fetch(lrs.base + "statements")
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 6  # far below the 12 s, even on a busy machine
    assert lrs.requests == 1


def test_a_slow_but_complete_answer_within_the_timeout_is_read():
    with DribblingLRS(delay=0.0005) as lrs:
        page = LRSClient(lrs.base, timeout=10).fetch(lrs.base + "statements")
    assert page.statements == [] and page.more is None


def test_refused_credentials_are_named_as_such(mock):
    mock.get(STATEMENTS, status=401, body=RECORDED_401, content_type="application/json")
    with pytest.raises(LRSError, match=r"refused the credentials \(401\)") as caught:
        client().fetch(STATEMENTS + "?since=x&token=secret")
    assert caught.value.status == 401
    assert "secret" not in caught.value.message


def test_a_failing_server_gives_its_status(mock):
    mock.get(STATEMENTS, status=503, body="upstream down")
    with pytest.raises(LRSError, match=r"failed \(503\)") as caught:
        client().fetch(STATEMENTS)
    assert caught.value.status == 503


def test_a_timeout_is_reported_with_the_limit(mock):
    mock.get(STATEMENTS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(LRSError, match="no answer within 7 s"):
        client(timeout=7).fetch(STATEMENTS)


def test_an_unreachable_server_is_reported(mock):
    mock.get(STATEMENTS, body=requests.ConnectionError("Connection refused"))
    with pytest.raises(
        LRSError, match=r"cannot connect to http://ralph\.test:8100/xAPI/statements"
    ):
        client().fetch(STATEMENTS)


def test_pages_larger_than_the_bound_are_refused(mock):
    mock.get(STATEMENTS, json={"statements": [{"id": "x" * 2000}]})
    with pytest.raises(LRSError, match="exceeds 1024"):
        client(max_page_bytes=1024).fetch(STATEMENTS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>login</html>", "not JSON"),
        (b'"hello"', "not a statement result"),
        (b'{"detail": "x"}', "has no `statements`"),
        (b'{"statements": {"id": "x"}}', "is not a list"),
    ],
)
def test_answers_that_are_not_statement_results_are_refused(mock, body, message):
    mock.get(STATEMENTS, body=body, content_type="application/json")
    with pytest.raises(LRSError, match=message):
        client().fetch(STATEMENTS)


def test_the_first_url_asks_since_the_cursor_with_the_filters():
    url = client().first_url(
        datetime(2026, 11, 28, 12, 44, 4, 964431, tzinfo=UTC),
        500,
        {"verb": "http://adlnet.gov/expapi/verbs/completed", "related_activities": True},
    )
    assert url.startswith(STATEMENTS + "?")
    assert "since=2026-11-28T12%3A44%3A04.964Z" in url
    assert "limit=500" in url and "ascending=true" in url
    assert "verb=http%3A%2F%2Fadlnet.gov%2Fexpapi%2Fverbs%2Fcompleted" in url
    assert "related_activities=true" in url


def test_since_is_never_later_than_the_cursor():
    assert format_since(datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)) == (
        "2026-01-01T00:00:00.999Z"
    )


def test_a_failure_message_never_carries_the_query_of_a_more_link():
    """urllib3 writes the request's path and query into its messages; a `more` link may hold
    a token, and the message is shown to auditors (the pull source's last error)."""
    port = free_port()  # nothing listens there
    lrs = LRSClient(f"http://127.0.0.1:{port}/xapi/", timeout=2)
    with pytest.raises(LRSError) as failed:
        lrs.fetch(f"http://127.0.0.1:{port}/xapi/statements?more=SECRET-token&since=x")
    assert "cannot connect" in failed.value.message
    assert "SECRET" not in failed.value.message and "since=" not in failed.value.message
