"""Demo data: five L&D professionals, about 17 months of activity from two systems.

Why it looks the way it does:

* **Two systems, one person.** The demo Moodle (source `demo`) names people by LMS account, as
  Moodle's xAPI log store does by default; a workplace feedback tool (source
  `demo-workplace`) names them by work email (`mbox`). Before the statements arrive, the demo
  registers each person's two identities as one learner (a learner merge done up front, the
  same result `lrs-connector learners merge` gives after the fact), so evidence from both
  systems meets on one learner and badges have an email address to be issued to.
* **Evidence for the whole framework.** The bundled mapping only knows four demo courses and
  the profile's on-the-job templates, which leave about half of the training manager's
  requirements without any rule. The demo Moodle has a wider catalogue (courses and a
  practicum whose tasks the line manager signs off), so the demo publishes a mapping version
  of its own: the bundled rules plus rules for that catalogue. It does so only when the
  bundled rules (or nothing) are in force, never over an organisation's own mapping.
* **Stories, not noise.** Each person has a career story (see PERSONAS); the statements are
  generated from a fixed table, timestamps relative to today, ids stable: loading the demo
  again (today or later) stores nothing new.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrs_connector.settings import Settings
from lrs_connector.store import database
from lrs_connector.store.holders import SOURCES, Holder, HolderError

DEMO_NAMESPACE = uuid.UUID("3f1b6f0e-8c44-5a53-9d6e-4a0b7e2c9d11")
SITE = "https://moodle.demo.lrs-connector.dev"
WORKPLACE = "https://workplace.demo.lrs-connector.dev"
ADL = "http://adlnet.gov/expapi/verbs/"
OURS = "https://lrs-connector.dev/xapi/"
EXT = OURS + "extensions/"
FRAMEWORK = "https://lrs-connector.dev/frameworks/lnd-leadership/"
ROLES = {
    "TM": FRAMEWORK + "roles/training-manager",
    "DIR": FRAMEWORK + "roles/director",
    "CLO": FRAMEWORK + "roles/clo",
}
LMS_SOURCE, WORKPLACE_SOURCE = "demo", "demo-workplace"
MAPPING_NAME = "lnd-leadership-demo"
MAPPING_SOURCE = "lrs_connector/demo.py: the bundled rules and the demo Moodle catalogue"

LEARNERS = {
    "amara": ("Amara Okafor", "amara.okafor@example.org"),
    "ben": ("Ben Castillo", "ben.castillo@example.org"),
    "chloe": ("Chloé Martin", "chloe.martin@example.org"),
    "dev": ("Dev Raman", "dev.raman@example.org"),
    "erin": ("Erin Walsh", "erin.walsh@example.org"),
}

#: Who they are; the table ACTIVITY tells it in statements.
PERSONAS = {
    "erin": "new training manager, promoted five months ago: courses, a first practicum task, "
    "a first change initiative",
    "ben": "experienced training manager ready for director: 17 months of signed-off practice "
    "across the craft, a budget, enterprise projects",
    "amara": "training manager stretching into finance: finance course, budget, business cases "
    "with ROI, the CFO's endorsement",
    "chloe": "strong at influence, weak in financial fluency: partnerships with four functions "
    "and endorsements, two failed finance assessments",
    "dev": "director close to CLO readiness: board briefings, approved business cases, "
    "enterprise roll-outs, endorsed by the CEO and CFO",
}

#: People the workplace feedback tool also knows (by email); Erin is too new to be in it.
IN_WORKPLACE = ("amara", "ben", "chloe", "dev")

# -- the demo Moodle catalogue ---------------------------------------------------------------

#: Courses the bundled mapping already has rules for.
COURSES = {
    "finance-for-ld": "Finance for L&D leaders",
    "change-leadership": "Leading change",
    "stakeholder-influence": "Influencing stakeholders outside L&D",
    "learning-analytics": "Learning analytics and ROI",
}

#: Courses only the demo mapping knows: title and the competencies they teach.
CATALOGUE = {
    "designing-learning": ("Designing learning that transfers", ("learning-design",)),
    "running-delivery": ("Running blended delivery", ("delivery-management",)),
    "capability-planning": ("Workforce capability planning", ("capability-planning",)),
    "lean-ld-operations": ("Lean L&D operations", ("process-improvement",)),
    "quality-governance": ("Quality and governance in L&D", ("quality-governance",)),
    "learning-platforms": ("Running learning platforms", ("platform-stewardship",)),
    "vendors-and-teams": ("Managing vendors and the L&D team", ("vendor-talent-management",)),
    "project-essentials": ("Project management essentials", ("project-management",
                                                             "planning-detail")),
    "internal-consulting": ("Internal consulting for L&D", ("needs-analysis", "customer-service",
                                                           "business-strategy-alignment")),
    "professional-ethics": ("Professional ethics in L&D", ("integrity-honesty",)),
}

#: Leadership practicum: workplace tasks the line manager signs off in Moodle (`passed`).
PRACTICUM = {
    "learning-design": ("Design a programme end to end", ("learning-design",)),
    "delivery-season": ("Run a delivery season", ("delivery-management", "customer-service")),
    "needs-analysis": ("Analyse a business unit's performance needs",
                       ("needs-analysis", "customer-service")),
    "capability-plan": ("Write a capability plan with a business unit",
                        ("capability-planning", "business-strategy-alignment")),
    "process-review": ("Streamline an L&D process", ("process-improvement", "planning-detail")),
    "quality-audit": ("Run a quality and compliance audit", ("quality-governance",
                                                             "integrity-honesty")),
    "platform-admin": ("Run the learning platform for a year", ("platform-stewardship",)),
    "vendor-review": ("Select and review a learning vendor", ("vendor-talent-management",)),
    "project-delivery": ("Deliver an L&D project on time and budget", ("project-management",
                                                                       "planning-detail")),
    "strategy-alignment": ("Align the learning plan with the business strategy",
                           ("business-strategy-alignment",)),
}

PERFORMANCE = "http://adlnet.gov/expapi/activities/performance"

# -- the activity table ----------------------------------------------------------------------

# (learner, verb, activity kind, activity slug, days ago, result). Kinds: "course" and
# "assessment" (a course's quiz) and "practicum" in Moodle; the bundled profile's activity
# types for on-the-job work. Statements with the verbs `received` and `received-decision`
# come from the workplace tool (others' verdicts on the learner), the rest from Moodle.
Act = tuple[str, str, str, str, int, dict | None]


def _done(completion: bool = True) -> dict:
    return {"completion": completion}


def _passed(scaled: float) -> dict:
    return {"success": True, "score": {"scaled": scaled}}


def _failed(scaled: float) -> dict:
    return {"success": False, "score": {"scaled": scaled}}


def _course(who: str, slug: str, days: int, *scores: float) -> list[Act]:
    """Completed a course, then its quiz attempts a day apart (failed below 0.6)."""
    out: list[Act] = [(who, "completed", "course", slug, days, _done())]
    for offset, scaled in enumerate(scores, 1):
        verb = "passed" if scaled >= 0.6 else "failed"
        result = _passed(scaled) if verb == "passed" else _failed(scaled)
        out.append((who, verb, "assessment", slug, max(days - offset, 0), result))
    return out


def _signed_off(who: str, task: str, *days: int) -> list[Act]:
    return [(who, "passed", "practicum", task, d, {"success": True, "completion": True})
            for d in days]


# Amara's first seven Moodle statements come first, in this order: the badge tests
# (tests/badges) post them to lift her step by step, void some and lift her again.
ACTIVITY: list[Act] = [
    ("amara", "completed", "course", "finance-for-ld", 80, _done()),
    ("amara", "passed", "assessment", "finance-for-ld", 79, _passed(0.86)),
    ("amara", "presented", "business-case", "lms-consolidation", 60,
     {"extensions": {EXT + "projected-roi": 2.4}}),
    ("amara", "briefed", "leadership-briefing", "q2-impact-briefing", 45, None),
    ("amara", "owned", "budget", "ld-budget-2026", 30, None),
    ("amara", "led", "change-initiative", "lxp-rollout", 20, None),
    ("amara", "partnered", "cross-functional-partnership", "finance-cost-review", 100, None),
    ("amara", "received", "stakeholder-endorsement", "cfo-endorsement", 10,
     {"response": "Clear link between the programme and retention costs."}),
    ("amara", "received-decision", "business-case", "lms-consolidation", 50,
     {"success": True, "extensions": {EXT + "decision": "approved"}}),
    ("amara", "drafted", "business-case", "coaching-academy", 12, None),
    ("amara", "owned", "budget", "ld-budget-2025", 400, None),
    *_course("amara", "designing-learning", 470, 0.81),
    *_course("amara", "running-delivery", 430, 0.77),
    *_course("amara", "project-essentials", 300, 0.9),
    *_course("amara", "learning-analytics", 200, 0.84),
    *_signed_off("amara", "delivery-season", 380, 140),
    *_signed_off("amara", "learning-design", 330),
    *_signed_off("amara", "project-delivery", 250),
    *_signed_off("amara", "needs-analysis", 160),
    *_course("amara", "vendors-and-teams", 180, 0.83),
    *_course("amara", "capability-planning", 280, 0.76),
    *_course("amara", "quality-governance", 240, 0.8),
    *_course("amara", "learning-platforms", 350, 0.71),
    *_signed_off("amara", "vendor-review", 90),
    *_signed_off("amara", "strategy-alignment", 60),
    *_signed_off("amara", "capability-plan", 120),
    *_signed_off("amara", "process-review", 200),
    # Ben: an experienced training manager, ready for director.
    ("ben", "completed", "course", "change-leadership", 70, _done()),
    ("ben", "failed", "assessment", "change-leadership", 69, _failed(0.52)),
    ("ben", "passed", "assessment", "change-leadership", 50, _passed(0.67)),
    ("ben", "represented", "enterprise-project", "erp-migration", 40, None),
    ("ben", "shadowed", "department-shadowing", "operations", 25, None),
    *_course("ben", "designing-learning", 510, 0.88),
    *_course("ben", "running-delivery", 490, 0.91),
    *_course("ben", "internal-consulting", 420, 0.83),
    *_course("ben", "vendors-and-teams", 360, 0.79),
    *_course("ben", "quality-governance", 340, 0.86),
    *_course("ben", "learning-platforms", 280, 0.8),
    *_course("ben", "capability-planning", 230, 0.74),
    *_course("ben", "lean-ld-operations", 190, 0.82),
    *_course("ben", "project-essentials", 150, 0.87),
    *_course("ben", "learning-analytics", 120, 0.9),
    *_course("ben", "finance-for-ld", 300, 0.72),
    *_course("ben", "professional-ethics", 90, 0.95),
    *_signed_off("ben", "learning-design", 400, 35),
    *_signed_off("ben", "delivery-season", 380, 60),
    *_signed_off("ben", "needs-analysis", 300, 30),
    *_signed_off("ben", "strategy-alignment", 210, 15),
    *_signed_off("ben", "capability-plan", 200),
    *_signed_off("ben", "process-review", 170),
    *_signed_off("ben", "quality-audit", 320, 20),
    *_signed_off("ben", "platform-admin", 110),
    *_signed_off("ben", "vendor-review", 140),
    *_signed_off("ben", "project-delivery", 100),
    ("ben", "owned", "budget", "ld-budget-2025", 365, None),
    ("ben", "owned", "budget", "ld-budget-2026", 28, None),
    ("ben", "led", "change-initiative", "lxp-rollout", 220, None),
    ("ben", "led", "change-initiative", "lms-migration", 150, None),
    ("ben", "led", "change-initiative", "coaching-culture", 45, None),
    ("ben", "partnered", "cross-functional-partnership", "hr-onboarding-redesign", 260, None),
    ("ben", "partnered", "cross-functional-partnership", "sales-enablement", 80, None),
    ("ben", "presented", "business-case", "sales-academy", 130,
     {"extensions": {EXT + "projected-roi": 1.8}}),
    ("ben", "received-decision", "business-case", "sales-academy", 118,
     {"success": True, "extensions": {EXT + "decision": "approved"}}),
    ("ben", "briefed", "leadership-briefing", "coo-quarterly", 65, None),
    ("ben", "received", "stakeholder-endorsement", "coo-endorsement", 55, None),
    ("ben", "received", "stakeholder-feedback", "hr-director-feedback", 240,
     {"response": "Ben made onboarding something managers ask for."}),
    # Chloé: influence outside L&D is her strength; money is not (yet).
    *_course("chloe", "learning-analytics", 90, 0.83),
    *_course("chloe", "stakeholder-influence", 55, 0.92),
    ("chloe", "partnered", "cross-functional-partnership", "hr-onboarding-redesign", 35, None),
    ("chloe", "partnered", "cross-functional-partnership", "finance-cost-review", 15, None),
    ("chloe", "partnered", "cross-functional-partnership", "sales-enablement", 300, None),
    ("chloe", "partnered", "cross-functional-partnership", "operations-safety", 180, None),
    ("chloe", "shadowed", "department-shadowing", "sales", 240, None),
    ("chloe", "received", "stakeholder-endorsement", "sales-director-endorsement", 160, None),
    ("chloe", "received", "stakeholder-endorsement", "coo-endorsement", 40, None),
    ("chloe", "received", "stakeholder-feedback", "hr-director-feedback", 20,
     {"response": "Chloé gets people from four departments into one room and agreeing."}),
    *_course("chloe", "internal-consulting", 400, 0.88),
    *_course("chloe", "designing-learning", 450, 0.85),
    *_course("chloe", "finance-for-ld", 130, 0.44, 0.55),
    *_signed_off("chloe", "needs-analysis", 280, 45),
    *_signed_off("chloe", "learning-design", 350),
    *_signed_off("chloe", "delivery-season", 210),
    *_signed_off("chloe", "strategy-alignment", 70),
    *_course("chloe", "running-delivery", 380, 0.8),
    *_course("chloe", "project-essentials", 260, 0.86),
    *_course("chloe", "learning-platforms", 330, 0.77),
    *_course("chloe", "lean-ld-operations", 150, 0.81),
    *_signed_off("chloe", "project-delivery", 120),
    *_signed_off("chloe", "capability-plan", 100),
    *_signed_off("chloe", "process-review", 60),
    *_course("chloe", "quality-governance", 200, 0.84),
    *_signed_off("chloe", "quality-audit", 80),
    # Dev: a director close to chief learning officer.
    *_course("dev", "finance-for-ld", 505, 0.41, 0.78),
    *_course("dev", "change-leadership", 470, 0.9),
    *_course("dev", "stakeholder-influence", 430, 0.87),
    *_course("dev", "capability-planning", 400, 0.85),
    *_course("dev", "learning-analytics", 380, 0.93),
    *_course("dev", "professional-ethics", 200, 0.97),
    *_course("dev", "vendors-and-teams", 350, 0.84),
    *_course("dev", "quality-governance", 330, 0.8),
    *_course("dev", "lean-ld-operations", 310, 0.86),
    *_signed_off("dev", "strategy-alignment", 360, 120, 10),
    *_signed_off("dev", "capability-plan", 300, 60),
    *_signed_off("dev", "needs-analysis", 340, 90),
    *_signed_off("dev", "learning-design", 420, 150),
    *_signed_off("dev", "delivery-season", 410, 100),
    *_signed_off("dev", "process-review", 260, 50),
    *_signed_off("dev", "quality-audit", 290, 40),
    *_signed_off("dev", "platform-admin", 240, 30),
    *_signed_off("dev", "vendor-review", 220, 25),
    *_signed_off("dev", "project-delivery", 200, 35),
    ("dev", "owned", "budget", "ld-budget-2025", 365, None),
    ("dev", "owned", "budget", "ld-budget-2026", 20, None),
    ("dev", "presented", "business-case", "leadership-academy", 210,
     {"extensions": {EXT + "projected-roi": 3.1}}),
    ("dev", "received-decision", "business-case", "leadership-academy", 200,
     {"success": True, "extensions": {EXT + "decision": "approved"}}),
    ("dev", "presented", "business-case", "skills-platform", 75,
     {"extensions": {EXT + "projected-roi": 2.2}}),
    ("dev", "received-decision", "business-case", "skills-platform", 62,
     {"success": True, "extensions": {EXT + "decision": "approved"}}),
    ("dev", "briefed", "leadership-briefing", "board-skills-briefing", 180, None),
    ("dev", "briefed", "leadership-briefing", "ceo-talent-review", 45, None),
    ("dev", "briefed", "leadership-briefing", "q2-impact-briefing", 8, None),
    ("dev", "represented", "enterprise-project", "erp-migration", 250, None),
    ("dev", "represented", "enterprise-project", "merger-integration", 95, None),
    ("dev", "shadowed", "department-shadowing", "finance", 330, None),
    ("dev", "led", "change-initiative", "lxp-rollout", 300, None),
    ("dev", "led", "change-initiative", "coaching-culture", 110, None),
    ("dev", "led", "change-initiative", "skills-platform-rollout", 40, None),
    ("dev", "led", "change-initiative", "lms-migration", 230, None),
    ("dev", "briefed", "leadership-briefing", "cfo-quarterly", 25, None),
    ("dev", "shadowed", "department-shadowing", "operations", 60, None),
    ("dev", "partnered", "cross-functional-partnership", "sales-enablement", 35, None),
    ("dev", "received", "stakeholder-endorsement", "coo-endorsement", 12, None),
    *_signed_off("dev", "platform-admin", 5),
    ("dev", "presented", "business-case", "coaching-academy", 30,
     {"extensions": {EXT + "projected-roi": 1.6}}),
    *_signed_off("dev", "learning-design", 20),
    *_signed_off("dev", "delivery-season", 15),
    ("dev", "partnered", "cross-functional-partnership", "finance-cost-review", 150, None),
    ("dev", "partnered", "cross-functional-partnership", "operations-safety", 85, None),
    ("dev", "received", "stakeholder-endorsement", "ceo-endorsement", 30, None),
    ("dev", "received", "stakeholder-endorsement", "cfo-endorsement", 70, None),
    ("dev", "received", "stakeholder-feedback", "board-feedback", 170,
     {"response": "The clearest account of skills risk the board has had."}),
    # Erin: five months into her first training manager role.
    *_course("erin", "designing-learning", 150, 0.79),
    *_course("erin", "running-delivery", 120, 0.74),
    ("erin", "completed", "course", "learning-platforms", 90, _done()),
    *_course("erin", "learning-analytics", 40, 0.55),
    *_signed_off("erin", "delivery-season", 30),
    *_course("erin", "internal-consulting", 100, 0.8),
    *_signed_off("erin", "learning-design", 60),
    *_signed_off("erin", "needs-analysis", 20),
    ("erin", "partnered", "cross-functional-partnership", "hr-onboarding-redesign", 50, None),
    ("erin", "completed", "course", "change-leadership", 14, _done()),
    ("erin", "passed", "assessment", "change-leadership", 13,
     {"success": True, "score": {"raw": 17, "min": 0, "max": 20, "scaled": 0.85}}),
    ("erin", "led", "change-initiative", "coaching-culture", 7, None),
    ("erin", "briefed", "leadership-briefing", "board-skills-briefing", 3, None),
]

#: Context (and activity definition) extensions the bundled profile's templates ask for.
SLUG_EXTENSIONS: dict[str, dict] = {
    "lms-consolidation": {"context": {EXT + "readiness-stretch": ["financial-fluency"]}},
    "coaching-academy": {"context": {EXT + "readiness-stretch": ["financial-fluency"]}},
    "sales-academy": {"context": {EXT + "readiness-stretch": ["financial-fluency"]}},
    "leadership-academy": {"context": {EXT + "readiness-stretch": ["financial-fluency"]}},
    "skills-platform": {"context": {EXT + "readiness-stretch": ["financial-fluency"]}},
    "q2-impact-briefing": {
        "context": {
            EXT + "senior-leader-role": "Chief Operating Officer",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "coo-quarterly": {
        "context": {
            EXT + "senior-leader-role": "Chief Operating Officer",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "ceo-talent-review": {
        "context": {
            EXT + "senior-leader-role": "Chief Executive Officer",
            EXT + "readiness-stretch": ["enterprise-exposure", "influence"],
        }
    },
    "board-skills-briefing": {
        "context": {
            EXT + "senior-leader-role": "Board of Directors",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "ld-budget-2025": {
        "definition": {EXT + "budget-amount": {"amount": 380000, "currency": "EUR"}},
        "context": {EXT + "readiness-stretch": ["financial-fluency"]},
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
    "skills-platform-rollout": {
        "context": {
            EXT + "change-kind": "technology-rollout",
            EXT + "readiness-stretch": ["championing-change", "enterprise-exposure"],
        }
    },
    "lms-migration": {
        "context": {
            EXT + "change-kind": "technology-rollout",
            EXT + "readiness-stretch": ["championing-change"],
        }
    },
    "cfo-quarterly": {
        "context": {
            EXT + "senior-leader-role": "Chief Financial Officer",
            EXT + "readiness-stretch": ["financial-fluency"],
        }
    },
    "coaching-culture": {
        "context": {
            EXT + "change-kind": "learning-culture",
            EXT + "readiness-stretch": ["championing-change"],
        }
    },
    "cfo-endorsement": {"context": {EXT + "senior-leader-role": "Chief Financial Officer"}},
    "ceo-endorsement": {"context": {EXT + "senior-leader-role": "Chief Executive Officer"}},
    "coo-endorsement": {"context": {EXT + "senior-leader-role": "Chief Operating Officer"}},
    "sales-director-endorsement": {"context": {EXT + "senior-leader-role": "Sales Director"}},
    "hr-director-feedback": {"context": {EXT + "senior-leader-role": "HR Director"}},
    "board-feedback": {"context": {EXT + "senior-leader-role": "Board of Directors"}},
    "erp-migration": {
        "context": {
            EXT + "business-function": "it",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "merger-integration": {
        "context": {
            EXT + "business-function": "finance",
            EXT + "readiness-stretch": ["enterprise-exposure", "championing-change"],
        }
    },
    "operations": {
        "context": {
            EXT + "business-function": "operations",
            EXT + "readiness-stretch": ["influence"],
        }
    },
    "sales": {
        "context": {
            EXT + "business-function": "sales",
            EXT + "readiness-stretch": ["enterprise-exposure"],
        }
    },
    "finance": {
        "context": {
            EXT + "business-function": "finance",
            EXT + "readiness-stretch": ["financial-fluency"],
        }
    },
    "hr-onboarding-redesign": {
        "context": {EXT + "business-function": "hr", EXT + "readiness-stretch": ["influence"]}
    },
    "finance-cost-review": {
        "context": {EXT + "business-function": "finance", EXT + "readiness-stretch": ["influence"]}
    },
    "sales-enablement": {
        "context": {EXT + "business-function": "sales", EXT + "readiness-stretch": ["influence"]}
    },
    "operations-safety": {
        "context": {
            EXT + "business-function": "operations",
            EXT + "readiness-stretch": ["influence", "championing-change"],
        }
    },
}

VERBS = {
    "completed": (ADL + "completed", "completed"),
    "passed": (ADL + "passed", "passed"),
    "failed": (ADL + "failed", "failed"),
    "presented": (OURS + "verbs/presented", "presented"),
    "briefed": (OURS + "verbs/briefed", "briefed"),
    "owned": (OURS + "verbs/owned", "took ownership of"),
    "led": (OURS + "verbs/led", "led"),
    "received": (OURS + "verbs/received", "received"),
    "received-decision": (OURS + "verbs/received-decision", "received a decision on"),
    "represented": (OURS + "verbs/represented", "represented L&D on"),
    "shadowed": (OURS + "verbs/shadowed", "shadowed"),
    "partnered": (OURS + "verbs/partnered", "partnered with"),
    "drafted": (OURS + "verbs/drafted", "drafted"),
}
#: Verbs the workplace feedback tool sends: what others decided or said about the learner.
WORKPLACE_VERBS = frozenset({"received", "received-decision"})


def _title(kind: str, slug: str) -> str:
    if kind in ("course", "assessment"):
        name = COURSES[slug] if slug in COURSES else CATALOGUE[slug][0]
        return name + (" — assessment" if kind == "assessment" else "")
    if kind == "practicum":
        return "Leadership practicum: " + PRACTICUM[slug][0]
    return slug.replace("-", " ").capitalize()


def _activity(kind: str, slug: str, workplace: bool) -> tuple[str, str]:
    """The object's id and type."""
    if kind == "course":
        return f"{SITE}/course/{slug}", "http://adlnet.gov/expapi/activities/course"
    if kind == "assessment":
        return f"{SITE}/course/{slug}/quiz", "http://adlnet.gov/expapi/activities/assessment"
    if kind == "practicum":
        return f"{SITE}/practicum/{slug}", PERFORMANCE
    base = WORKPLACE if workplace else f"{SITE}/activities"
    return f"{base}/{kind}/{slug}", OURS + "activity-types/" + kind


def _statement(act: Act, anchor: datetime) -> dict:
    who, verb, kind, slug, days_ago, result = act
    name, email = LEARNERS[who]
    workplace = verb in WORKPLACE_VERBS
    verb_id, verb_display = VERBS[verb]
    activity_id, activity_type = _activity(kind, slug, workplace)
    if workplace:
        actor = {"objectType": "Agent", "name": name, "mbox": f"mailto:{email}"}
        platform = "Workplace feedback"
    else:
        actor = {"objectType": "Agent", "name": name, "account": {"homePage": SITE, "name": who}}
        platform = "Moodle 4.4"
    statement = {
        "id": str(uuid.uuid5(DEMO_NAMESPACE, f"{who}:{verb}:{kind}:{slug}:{days_ago}")),
        "actor": actor,
        "verb": {"id": verb_id, "display": {"en-US": verb_display}},
        "object": {
            "objectType": "Activity",
            "id": activity_id,
            "definition": {"name": {"en-US": _title(kind, slug)}, "type": activity_type},
        },
        "timestamp": (anchor - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z"),
        "context": {"platform": platform, "language": "en-US"},
    }
    if result:
        statement["result"] = result
    extras = SLUG_EXTENSIONS.get(slug, {})
    if "context" in extras:
        statement["context"]["extensions"] = extras["context"]
    if "definition" in extras:
        statement["object"]["definition"]["extensions"] = extras["definition"]
    return statement


def _all(now: datetime | None) -> list[dict]:
    anchor = (now or datetime.now(UTC)).replace(hour=9, minute=0, second=0, microsecond=0)
    return [_statement(act, anchor) for act in ACTIVITY]


def statements(now: datetime | None = None) -> list[dict]:
    """The demo Moodle's statements (actors are LMS accounts), timestamps relative to `now`."""
    return [s for s in _all(now) if "account" in s["actor"]]


def needs_demo_mapping(statement: dict) -> bool:
    """Whether only the demo mapping has a rule for this statement (a catalogue course or a
    practicum task; the bundled rules know the four COURSES and the on-the-job work)."""
    object_id = str(statement.get("object", {}).get("id", ""))
    return object_id.startswith(f"{SITE}/practicum/") or any(
        object_id in (f"{SITE}/course/{slug}", f"{SITE}/course/{slug}/quiz")
        for slug in CATALOGUE
    )


def workplace_statements(now: datetime | None = None) -> list[dict]:
    """The workplace feedback tool's statements (actors by work email)."""
    return [s for s in _all(now) if "mbox" in s["actor"]]


# -- the demo mapping version ----------------------------------------------------------------


def _target(competency: str, kind: str, weight: float, confidence: float, **extra) -> dict:
    return {"target": FRAMEWORK + "competencies/" + competency, "kind": kind,
            "weight": weight, "confidence": confidence, "valid_days": 730, **extra}


def catalogue_rules() -> list[dict]:
    """Rules for the demo Moodle's courses and practicum, in the bundled rules' style:
    completion and a passed quiz are knowledge, a failed quiz counts against, a practicum task
    the line manager signed off is practice."""
    rules: list[dict] = []
    for slug, (title, competencies) in CATALOGUE.items():
        course = f"{SITE}/course/{slug}"
        rules += [
            {"id": f"demo-completed-{slug}",
             "description": f"Completed the course “{title}” (completion is enough).",
             "match": {"template": OURS + "templates/completed-learning", "activity_id": course},
             "targets": [_target(c, "knowledge", 0.5, 0.6) for c in competencies]},
            {"id": f"demo-passed-{slug}",
             "description": f"Passed the assessment of “{title}” (result.success decides).",
             "match": {"template": OURS + "templates/passed-learning",
                       "activity_id": course + "/quiz", "success": True},
             "targets": [_target(c, "knowledge", 1.0, 0.9) for c in competencies]},
            {"id": f"demo-failed-{slug}",
             "description": f"Failed the assessment of “{title}”: evidence against.",
             "match": {"template": OURS + "templates/failed-learning",
                       "activity_id": course + "/quiz", "success": False},
             "targets": [_target(c, "knowledge", 0.5, 0.8, polarity="negative")
                         for c in competencies]},
        ]
    for slug, (title, competencies) in PRACTICUM.items():
        rules.append(
            {"id": f"demo-practicum-{slug}",
             "description": f"Leadership practicum task “{title}”, signed off by the line "
                            "manager.",
             "match": {"template": OURS + "templates/passed-learning",
                       "activity_id": f"{SITE}/practicum/{slug}", "success": True},
             "targets": [_target(c, "practice", 1.5, 0.8) for c in competencies]}
        )
    return rules


def mapping_text() -> str:
    """The demo mapping version: the bundled rules followed by the catalogue's (JSON, which
    the mapping importer reads like YAML); the same text every time, so it is stored once."""
    import yaml

    from lrs_connector.mapping import bundled

    document = yaml.safe_load(bundled.bundled_text())
    document["name"] = MAPPING_NAME
    document["description"] = (
        document.get("description", "").strip()
        + " The demo adds rules for the demo Moodle's wider catalogue: courses and the "
        "leadership practicum, whose tasks the line manager signs off."
    )
    document["rules"] = [*document["rules"], *catalogue_rules()]
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _ensure_mapping(conn, now: datetime) -> str:
    """Publish the demo mapping when the bundled rules (or none) are in force; a line to say
    what was done."""
    from lrs_connector.mapping import bundled
    from lrs_connector.store import mapping
    from lrs_connector.store.mapping_tables import mapping_versions

    text = mapping_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    mapping.active(conn, now)  # a fresh database gets the bundled rules as version 1 first
    published = mapping.published_version(conn)
    rows = conn.execute(
        sa.select(mapping_versions.c.version, mapping_versions.c.source,
                  mapping_versions.c.digest)
    ).all()
    mine = next((r.version for r in rows if r.digest == digest), None)
    current = next((r for r in rows if r.version == published), None)
    if mine is not None and mine == published:
        return f"mapping version {mine} ({MAPPING_NAME}) is in force"
    if current is not None and current.source != bundled.BUNDLED_SOURCE:
        return (f"mapping version {published} is in force and was left alone; the demo's "
                "catalogue rules are not, so readiness will be lower than intended")
    if mine is not None:
        mapping.publish_version(conn, mine, now)
    else:
        mine = mapping.import_version(conn, text, MAPPING_SOURCE, now, publish=True)
    return f"mapping version {mine} ({MAPPING_NAME}) published: the bundled rules + the catalogue"


# -- identities, sources, loading ------------------------------------------------------------


def account_alias(who: str) -> str:
    return f"account:{SITE}|{who}"


def email_alias(who: str) -> str:
    return f"mbox:{LEARNERS[who][1]}"


def _link_identities(conn, now: datetime) -> int:
    """One learner per person, holding both their LMS account and their work email: created
    with both aliases, or (when both were already seen apart) merged like `learners merge`
    does. Returns how many merges were needed."""
    from lrs_connector.learners import Identity, agent_keys
    from lrs_connector.store import learners as store

    merges = 0
    for who in IN_WORKPLACE:
        name, email = LEARNERS[who]
        account = agent_keys({"account": {"homePage": SITE, "name": who}})
        mbox = agent_keys({"mbox": f"mailto:{email}"})
        store.resolve(conn, [Identity((*account, *mbox), name)], now)
        known = store.lookup(conn, [account[0], mbox[0]])
        keep, away = known[account[0]], known[mbox[0]]
        if keep != away:
            store.merge(conn, keep, away, now)
            merges += 1
    return merges


def _source(conn, name: str, description: str, *, rotate: bool):
    """The source `name`, created if missing; rotated when asked (to print its secret)."""
    try:
        return SOURCES.add(conn, name, description=description)
    except HolderError:
        if rotate:
            return SOURCES.rotate(conn, name)
        return SOURCES.get(conn, name), None


def _post_new(intake, source: Holder, batch: list[dict], engine: Engine) -> int:
    """Post the statements not stored yet (ids are stable: a later day adds nothing)."""
    from lrs_connector.store import statements as store

    with database.read(engine) as conn:
        stored = store.find(conn, [s["id"] for s in batch])
    fresh = [s for s in batch if s["id"] not in stored]
    if fresh:
        intake.post(source, fresh, "1.0.3")
    return len(fresh)


def configure_stores(settings: Settings) -> None:
    """Give the stores these settings' configuration, as the app does."""
    from lrs_connector.processing import configure_handlers

    configure_handlers(settings)


def load(engine: Engine, settings: Settings, echo: Callable[[str], None] = print) -> int:
    """Create (or re-key) the demo sources, link identities, publish the demo mapping, store
    the statements not stored yet and process them; returns how many were new."""
    from lrs_connector import processing
    from lrs_connector.intake.service import Intake

    configure_stores(settings)
    now = datetime.now(UTC)
    with database.write(engine) as conn:
        lms, new = _source(conn, LMS_SOURCE, "Demo data and first steps (the demo Moodle)",
                           rotate=True)
        workplace, _ = _source(conn, WORKPLACE_SOURCE, "Demo data: the workplace feedback tool",
                               rotate=False)
        mapping_line = _ensure_mapping(conn, now)
        _link_identities(conn, now)
    intake = Intake.from_settings(engine, settings)
    lms_batch, workplace_batch = statements(now), workplace_statements(now)
    added = _post_new(intake, lms, lms_batch, engine)
    added += _post_new(intake, workplace, workplace_batch, engine)
    while processing.process_batch(engine, settings.process_batch_size):
        pass
    echo(
        f"demo: {len(lms_batch) + len(workplace_batch)} statements ({added} new) from sources "
        f"'{LMS_SOURCE}' (Moodle, LMS accounts) and '{WORKPLACE_SOURCE}' (work email)"
    )
    echo(f"demo: {mapping_line}")
    echo(f"demo source credentials: key {new.key} secret {new.secret}")
    echo(
        f"  curl -u {new.key}:{new.secret} -H 'X-Experience-API-Version: 1.0.3' "
        f"'{settings.public_base_url}/xapi/statements?statementId={lms_batch[0]['id']}'"
    )
    return added


# -- settings and the closing summary --------------------------------------------------------


def demo_settings_overrides() -> dict:
    """Settings the demo needs when they are not configured: an issuer contact address turns
    badges on (docs/badges.md); the issuer says plainly that it is a demo."""
    return {
        "badges_issuer_email": "badges@demo.lrs-connector.dev",
        "badges_issuer_name": "lrs-connector demo academy",
        "badges_issuer_description": "Badges issued from the lrs-connector demo data; they "
        "describe invented people.",
    }


def with_demo_settings(settings: Settings) -> Settings:
    """`settings` with the demo's values for what is not configured (the issuer email is empty)."""
    if settings.badges_issuer_email:
        return settings
    return replace(settings, **demo_settings_overrides())


@dataclass(frozen=True)
class Shown:
    """One learner in the summary."""

    who: str
    learner_id: int
    levels: dict[str, tuple[float, str]]  # role code → (score, level)
    page_url: str
    badge_url: str | None
    badge_label: str | None


SHOWN = ("dev", "ben", "amara")


def shown(engine: Engine, settings: Settings, now: datetime | None = None) -> list[Shown]:
    """The summary's learners: stored readiness, a signed page link, the top badge."""
    from lrs_connector import learner_links
    from lrs_connector.secret_key import secret_key
    from lrs_connector.store import badges, learners, readiness

    now = now or datetime.now(UTC)
    secret = secret_key(settings)
    out: list[Shown] = []
    with database.read(engine) as conn:
        for who in SHOWN:
            learner_id = learners.by_alias(conn, account_alias(who))
            if learner_id is None:
                continue
            stored = readiness.current_roles(conn, learner_id)
            levels = {code: (stored[iri].score, stored[iri].level)
                      for code, iri in ROLES.items() if iri in stored}
            badge, label = None, None
            if badges.config().enabled:  # the highest level held, the senior role on a tie
                held = [(code, found) for code, iri in ROLES.items()
                        if (found := badges.current_badge(conn, learner_id, iri)) is not None]
                if held:
                    code, found = max(held, key=lambda h: (
                        badges.config().threshold(h[1].level) or 0.0, list(ROLES).index(h[0])))
                    badge, label = found.assertion_url, f"{code} {found.level}"
            token = learner_links.issue(secret, learner_id, now)
            out.append(Shown(who, learner_id, levels,
                             learner_links.url(settings.public_base_url, token), badge, label))
    return out


def summary(engine: Engine, settings: Settings) -> list[str]:
    """Lines to print at the end of the demo: for three learners, their readiness per role,
    their signed readiness page (valid 90 days) and their highest badge."""
    from lrs_connector.store import badges

    badges_on = badges.config().enabled
    lines = ["Demo learners (readiness per role: training manager, director, CLO):"]
    for entry in shown(engine, settings):
        name = LEARNERS[entry.who][0]
        roles = ", ".join(f"{code} {level} ({score:.0f})"
                          for code, (score, level) in entry.levels.items())
        lines.append(f"  {name} (learner {entry.learner_id}, {PERSONAS[entry.who]})")
        lines.append(f"    readiness: {roles}")
        lines.append(f"    readiness page: {entry.page_url}")
        if entry.badge_url:
            lines.append(f"    badge ({entry.badge_label}): {entry.badge_url}")
        else:
            lines.append("    badge: none yet (badges start at 'developing')" if badges_on
                         else "    badge: none (set badges_issuer_email to issue badges)")
    return lines
