"""Benchmark: statement-template evaluations per second on one core.

Run: .venv/bin/python bench/templates.py [--seconds 2]

"applying" evaluations are the expensive kind: the determining properties match, so every rule
(3 to 6 per template here) is evaluated. "whole profile" matches each statement against every
bundled template, most of which do not apply and are rejected on the verb.
Target (issue 3): >= 50,000 applying evaluations per second.
"""

from __future__ import annotations

import argparse
import time

from lrs_connector.profiles import ProfileSet, compile_template

EXT = "https://lrs-connector.dev/xapi/extensions/"
BRIEFED = "https://lrs-connector.dev/xapi/verbs/briefed"
BRIEFING = "https://lrs-connector.dev/xapi/activity-types/leadership-briefing"


def _template(rule_count: int) -> dict:
    rules = [
        {"location": f"$.context.extensions['{EXT}senior-leader-role']", "presence": "included"},
        {"location": "$.result.success", "presence": "recommended", "all": [True]},
        {
            "location": f"$.context.extensions['{EXT}readiness-stretch'][*]",
            "presence": "recommended",
            "all": ["enterprise-exposure", "influence", "financial-fluency", "championing-change"],
        },
        {"location": "$.context.contextActivities.category[*].id", "any": ["https://x/v1"]},
        {"location": "$.actor.mbox | $.actor.account.name", "presence": "included"},
        {
            "location": "$.context.contextActivities.grouping[*]",
            "selector": "$.definition.type",
            "none": ["https://x/banned"],
        },
    ]
    return {
        "id": f"https://x/templates/bench-{rule_count}",
        "verb": BRIEFED,
        "objectActivityType": BRIEFING,
        "rules": rules[:rule_count],
    }


STATEMENT = {
    "id": "6f1e0a4e-0000-4000-8000-000000000001",
    "actor": {"mbox": "mailto:ana@example.org", "objectType": "Agent"},
    "verb": {"id": BRIEFED},
    "object": {"id": "https://x/briefings/q3", "definition": {"type": BRIEFING}},
    "result": {"success": True},
    "context": {
        "contextActivities": {
            "category": [{"id": "https://x/v1"}],
            "grouping": [{"id": "https://x/g", "definition": {"type": "https://x/program"}}],
        },
        "extensions": {
            f"{EXT}senior-leader-role": "Chief Financial Officer",
            f"{EXT}readiness-stretch": ["enterprise-exposure", "influence"],
        },
    },
    "timestamp": "2025-06-01T10:00:00Z",
}


def _rate(fn, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(1000):
            fn()
        count += 1000
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    for rule_count in range(3, 7):
        template = compile_template(_template(rule_count))
        result = template.match(STATEMENT)
        assert result.outcome == "success", result.as_dict()
        rate = _rate(lambda t=template: t.match(STATEMENT), args.seconds)
        print(f"applying, {rule_count} rules: {rate:>10,.0f} evaluations/s")
    profile_set = ProfileSet.bundled()
    templates = profile_set.templates()
    rate = _rate(lambda: profile_set.match_statement(STATEMENT), args.seconds)
    print(
        f"whole bundled profile ({len(templates)} templates): {rate:>10,.0f} statements/s "
        f"= {rate * len(templates):,.0f} template evaluations/s"
    )


if __name__ == "__main__":
    main()
