"""Mapping statements to competency evidence: rule files, compiled rules, evidence, what-if.

Pure domain code (no Flask, no SQL): :func:`compile_text` turns a rules document into a
:class:`Mapper`; :func:`derive` turns a statement into evidence rows; storage and the
processing loop live in ``lrs_connector.store`` and ``lrs_connector.processing``.
docs/mapping.md teaches the rule format.
"""

from lrs_connector.mapping.document import MappingError, Problem
from lrs_connector.mapping.evidence import Derived, derive, evidence_key
from lrs_connector.mapping.rules import (
    Mapper,
    Rule,
    RuleOutcome,
    Target,
    compile_document,
    compile_text,
    success_reading,
)

__all__ = [
    "Derived",
    "Mapper",
    "MappingError",
    "Problem",
    "Rule",
    "RuleOutcome",
    "Target",
    "compile_document",
    "compile_text",
    "derive",
    "evidence_key",
    "success_reading",
]
