"""Tests for lrs_connector.xapi, plus small statement builders shared by the test modules.

Builders return fresh dicts so each test can mutate its statement freely.
"""

from __future__ import annotations

import copy

MBOX = "mailto:learner@example.com"
VERB_ID = "http://adlnet.gov/expapi/verbs/completed"
ACTIVITY_ID = "http://example.com/activities/course-101"
STATEMENT_ID = "2e5cd37e-5b55-4e47-8c6d-2f49d6b5b2c1"
REGISTRATION = "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
SHA256_HEX = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"


def agent(**props: object) -> dict:
    """An Agent identified by mbox; ``props`` override or add properties."""
    return {"objectType": "Agent", "name": "Learner", "mbox": MBOX, **props}


def account_agent(name: str = "learner-1", home: str = "https://lms.example.com") -> dict:
    return {"objectType": "Agent", "account": {"homePage": home, "name": name}}


def group(*members: dict, **props: object) -> dict:
    """A Group; anonymous unless an IFI is passed in ``props``."""
    g: dict = {"objectType": "Group", "name": "Team"}
    if members:
        g["member"] = list(members)
    g.update(props)
    return g


def verb(vid: str = VERB_ID, **props: object) -> dict:
    return {"id": vid, "display": {"en-US": "completed"}, **props}


def activity(aid: str = ACTIVITY_ID, **definition: object) -> dict:
    """An Activity; keyword arguments become its definition."""
    a: dict = {"objectType": "Activity", "id": aid}
    if definition:
        a["definition"] = dict(definition)
    return a


def statement_ref(sid: str = STATEMENT_ID) -> dict:
    return {"objectType": "StatementRef", "id": sid}


def attachment(**props: object) -> dict:
    a = {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": "text/plain; charset=ascii",
        "length": 27,
        "sha2": SHA256_HEX,
    }
    a.update(props)
    return a


def statement(**props: object) -> dict:
    """A minimal valid statement; ``props`` override or add top-level properties."""
    s = {"actor": agent(), "verb": verb(), "object": activity()}
    s.update(copy.deepcopy(props))
    return s


def substatement(**props: object) -> dict:
    s = {"objectType": "SubStatement", "actor": agent(), "verb": verb(), "object": activity()}
    s.update(copy.deepcopy(props))
    return s


def full_statement() -> dict:
    """A realistic statement using most optional properties."""
    return statement(
        id=STATEMENT_ID,
        object=activity(
            name={"en-US": "Course 101"},
            description={"en-US": "Intro course"},
            type="http://adlnet.gov/expapi/activities/course",
            moreInfo="https://lms.example.com/course/101",
            extensions={"http://example.com/ext/level": 1},
        ),
        result={
            "score": {"scaled": 0.5, "raw": 50, "min": 0, "max": 100},
            "success": True,
            "completion": True,
            "response": "done",
            "duration": "PT1H2M3.45S",
            "extensions": {"http://example.com/ext/attempts": 2},
        },
        context={
            "registration": REGISTRATION,
            "instructor": agent(mbox="mailto:teacher@example.com"),
            "team": group(agent(), mbox="mailto:team@example.com"),
            "contextActivities": {
                "parent": [activity("http://example.com/activities/program")],
                "grouping": activity("http://example.com/activities/school"),
                "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
                "other": [],
            },
            "revision": "r1",
            "platform": "Example LMS",
            "language": "en-US",
            "statement": statement_ref(),
            "extensions": {"http://example.com/ext/session": "abc", "http://example.com/n": None},
        },
        timestamp="2024-05-04T12:00:00.123Z",
        stored="2024-05-04T12:00:01.000Z",
        authority=agent(mbox="mailto:lrs@example.com"),
        version="1.0.3",
        attachments=[attachment(description={"en-US": "desc"})],
    )
