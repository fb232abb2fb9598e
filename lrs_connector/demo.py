"""Demo data: a `demo` source and a few months of activity for five L&D professionals.

The statements are generated, not random: loading the demo twice on one day stores nothing
new (ids include the day, as timestamps are relative to it so the demo never looks stale).
Learners differ on purpose (a manager strong in delivery, one stretching into finance and the
enterprise, one with failed assessments…), so that the later stages have something to tell
apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from lrs_connector.settings import Settings
from lrs_connector.store import database
from lrs_connector.store.holders import SOURCES, HolderError

DEMO_NAMESPACE = uuid.UUID("3f1b6f0e-8c44-5a53-9d6e-4a0b7e2c9d11")
SITE = "https://moodle.demo.lrs-connector.dev"
ADL = "http://adlnet.gov/expapi/verbs/"
OURS = "https://lrs-connector.dev/xapi/"

LEARNERS = {
    "amara": ("Amara Okafor", "amara.okafor@example.org"),
    "ben": ("Ben Castillo", "ben.castillo@example.org"),
    "chloe": ("Chloé Martin", "chloe.martin@example.org"),
    "dev": ("Dev Raman", "dev.raman@example.org"),
    "erin": ("Erin Walsh", "erin.walsh@example.org"),
}

COURSES = {
    "finance-for-ld": "Finance for L&D leaders",
    "change-leadership": "Leading change",
    "stakeholder-influence": "Influencing stakeholders outside L&D",
    "learning-analytics": "Learning analytics and ROI",
}

# (learner, verb, activity kind, activity slug, days ago, result)
ACTIVITY: list[tuple[str, str, str, str, int, dict | None]] = [
    ("amara", ADL + "completed", "course", "finance-for-ld", 80, {"completion": True}),
    (
        "amara",
        ADL + "passed",
        "assessment",
        "finance-for-ld",
        79,
        {"success": True, "score": {"scaled": 0.86}},
    ),
    (
        "amara",
        OURS + "verbs/presented",
        "business-case",
        "lms-consolidation",
        60,
        {"extensions": {OURS + "extensions/projected-roi": 2.4}},
    ),
    ("amara", OURS + "verbs/briefed", "leadership-briefing", "q2-impact-briefing", 45, None),
    ("amara", OURS + "verbs/owned", "budget", "ld-budget-2026", 30, None),
    ("amara", OURS + "verbs/led", "change-initiative", "lxp-rollout", 20, None),
    (
        "amara",
        OURS + "verbs/received",
        "stakeholder-endorsement",
        "cfo-endorsement",
        10,
        {"response": "Clear link between the programme and retention costs."},
    ),
    ("ben", ADL + "completed", "course", "change-leadership", 70, {"completion": True}),
    (
        "ben",
        ADL + "failed",
        "assessment",
        "change-leadership",
        69,
        {"success": False, "score": {"scaled": 0.52}},
    ),
    (
        "ben",
        ADL + "passed",
        "assessment",
        "change-leadership",
        50,
        {"success": True, "score": {"scaled": 0.67}},
    ),
    ("ben", OURS + "verbs/represented", "enterprise-project", "erp-migration", 40, None),
    ("ben", OURS + "verbs/shadowed", "department-shadowing", "operations", 25, None),
    ("chloe", ADL + "completed", "course", "learning-analytics", 90, {"completion": True}),
    ("chloe", ADL + "completed", "course", "stakeholder-influence", 55, {"completion": True}),
    (
        "chloe",
        OURS + "verbs/partnered",
        "cross-functional-partnership",
        "hr-onboarding-redesign",
        35,
        None,
    ),
    (
        "chloe",
        OURS + "verbs/partnered",
        "cross-functional-partnership",
        "finance-cost-review",
        15,
        None,
    ),
    ("dev", ADL + "completed", "course", "finance-for-ld", 120, {"completion": True}),
    (
        "dev",
        ADL + "failed",
        "assessment",
        "finance-for-ld",
        119,
        {"success": False, "score": {"scaled": 0.41}},
    ),
    (
        "dev",
        ADL + "failed",
        "assessment",
        "finance-for-ld",
        100,
        {"success": False, "score": {"scaled": 0.58}},
    ),
    ("erin", ADL + "completed", "course", "change-leadership", 14, {"completion": True}),
    (
        "erin",
        ADL + "passed",
        "assessment",
        "change-leadership",
        13,
        {"success": True, "score": {"raw": 17, "min": 0, "max": 20, "scaled": 0.85}},
    ),
    ("erin", OURS + "verbs/led", "change-initiative", "coaching-culture", 7, None),
    ("erin", OURS + "verbs/briefed", "leadership-briefing", "board-skills-briefing", 3, None),
]

EXT = OURS + "extensions/"
# Context (and activity definition) extensions the bundled profile's templates ask for.
SLUG_EXTENSIONS: dict[str, dict] = {
    "lms-consolidation": {"context": {EXT + "readiness-stretch": ["financial-fluency"]}},
    "q2-impact-briefing": {
        "context": {
            EXT + "senior-leader-role": "Chief Operating Officer",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "board-skills-briefing": {
        "context": {
            EXT + "senior-leader-role": "Board of Directors",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "ld-budget-2026": {
        "definition": {EXT + "budget-amount": {"amount": 420000, "currency": "EUR"}},
        "context": {EXT + "readiness-stretch": ["financial-fluency"]},
    },
    "lxp-rollout": {
        "context": {
            EXT + "change-kind": "technology-rollout",
            EXT + "readiness-stretch": ["championing-change"],
        }
    },
    "coaching-culture": {
        "context": {
            EXT + "change-kind": "learning-culture",
            EXT + "readiness-stretch": ["championing-change"],
        }
    },
    "cfo-endorsement": {"context": {EXT + "senior-leader-role": "Chief Financial Officer"}},
    "erp-migration": {
        "context": {
            EXT + "business-function": "it",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "operations": {
        "context": {
            EXT + "business-function": "operations",
            EXT + "readiness-stretch": ["influence"],
        }
    },
    "hr-onboarding-redesign": {
        "context": {EXT + "business-function": "hr", EXT + "readiness-stretch": ["influence"]}
    },
    "finance-cost-review": {
        "context": {EXT + "business-function": "finance", EXT + "readiness-stretch": ["influence"]}
    },
}

VERB_NAMES = {
    "completed": "completed",
    "passed": "passed",
    "failed": "failed",
    "presented": "presented",
    "briefed": "briefed",
    "owned": "owned",
    "led": "led",
    "received": "received",
    "represented": "represented L&D on",
    "shadowed": "shadowed",
    "partnered": "partnered with",
}


def statements(now: datetime | None = None) -> list[dict]:
    """The demo statements; timestamps are relative to `now` so the demo never looks stale."""
    anchor = (now or datetime.now(UTC)).replace(hour=9, minute=0, second=0, microsecond=0)
    out = []
    for index, (who, verb, kind, slug, days_ago, result) in enumerate(ACTIVITY):
        name, _email = LEARNERS[who]
        if kind in ("course", "assessment"):
            activity_id = f"{SITE}/course/{slug}" + ("/quiz" if kind == "assessment" else "")
            activity_type = "http://adlnet.gov/expapi/activities/" + (
                "course" if kind == "course" else "assessment"
            )
            title = COURSES[slug] + (" — assessment" if kind == "assessment" else "")
        else:
            activity_id = f"{SITE}/activities/{kind}/{slug}"
            activity_type = OURS + "activity-types/" + kind
            title = slug.replace("-", " ").capitalize()
        statement = {
            "id": str(uuid.uuid5(DEMO_NAMESPACE, f"{anchor.date()}:{index}:{who}:{slug}:{verb}")),
            "actor": {
                "objectType": "Agent",
                "name": name,
                "account": {"homePage": SITE, "name": who},
            },
            "verb": {"id": verb, "display": {"en-US": VERB_NAMES[verb.rsplit("/", 1)[1]]}},
            "object": {
                "objectType": "Activity",
                "id": activity_id,
                "definition": {"name": {"en-US": title}, "type": activity_type},
            },
            "timestamp": (anchor - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z"),
            "context": {"platform": "Moodle 4.4", "language": "en-US"},
        }
        if result:
            statement["result"] = result
        extras = SLUG_EXTENSIONS.get(slug, {})
        if "context" in extras:
            statement["context"]["extensions"] = extras["context"]
        if "definition" in extras:
            statement["object"]["definition"]["extensions"] = extras["definition"]
        out.append(statement)
    return out


def load(engine: Engine, settings: Settings, echo: Callable[[str], None] = print) -> int:
    """Create (or re-key) the `demo` source and store the demo statements; returns new ids."""
    from lrs_connector.intake.service import Intake

    with database.write(engine) as conn:
        try:
            source, new = SOURCES.add(conn, "demo", description="Demo data and first steps")
        except HolderError:
            source, new = SOURCES.rotate(conn, "demo")
    intake = Intake.from_settings(engine, settings)
    with database.read(engine) as conn:
        from lrs_connector.store import statements as store

        before = store.count(conn)
    intake.post(source, statements(), "1.0.3")
    with database.read(engine) as conn:
        added = store.count(conn) - before
    echo(f"demo: {len(ACTIVITY)} statements ({added} new) from source 'demo'")
    echo(f"demo source credentials: key {new.key} secret {new.secret}")
    echo(
        f"  curl -u {new.key}:{new.secret} -H 'X-Experience-API-Version: 1.0.3' "
        f"'{settings.public_base_url}/xapi/statements?statementId={statements()[0]['id']}'"
    )
    return added
