"""Small rule documents and statements for the mapping tests."""

from __future__ import annotations

import textwrap

from lrs_connector.mapping import bundled, compile_text

C = "https://lrs-connector.dev/frameworks/lnd-leadership/competencies/"
D = "https://lrs-connector.dev/frameworks/lnd-leadership/dimensions/"
ADL = "http://adlnet.gov/expapi/verbs/"
T = "https://lrs-connector.dev/xapi/templates/"


def compile_yaml(text: str, file: str = "rules.yaml"):
    return compile_text(textwrap.dedent(text), file, bundled.profiles(), bundled.known_targets())


def rules_yaml(*rules: str, name: str = "test") -> str:
    body = "\n".join(textwrap.indent(textwrap.dedent(r).strip(), "  ") for r in rules)
    return f"name: {name}\nrules:\n{body}\n"


PASSED_QUIZ = f"""
- id: passed-quiz
  description: passed the quiz
  match:
    verb: {ADL}passed
    activity_id_prefix: https://lms.example.org/quiz/
    success: true
  targets:
    - {{target: {C}business-acumen, kind: knowledge, weight: 1, confidence: 0.9}}
"""

FAILED_QUIZ = f"""
- id: failed-quiz
  description: failed the quiz
  match:
    verb: [{ADL}failed, {ADL}passed]
    success: false
  targets:
    - {{target: {C}business-acumen, kind: knowledge, polarity: negative, weight: 0.5}}
"""

COMPLETED = f"""
- id: completed-course
  description: completed a course
  match:
    verb: {ADL}completed
    completion: true
  targets:
    - {{target: {D}financial-fluency, kind: knowledge, weight: 0.5, valid_days: 30}}
"""


def bundled_without_failed_rules(text: str | None = None) -> str:
    """The bundled rules (or ``text``) without the failed-assessment rules: a draft version
    that changes evidence for learners who failed an assessment."""
    lines, keep = [], True
    for line in (text or bundled.bundled_text()).splitlines():
        if line.startswith("  - id: "):
            keep = not line.startswith("  - id: failed-")
        if keep:
            lines.append(line)
    return "\n".join(lines) + "\n"
