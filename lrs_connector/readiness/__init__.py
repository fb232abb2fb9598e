"""Readiness: proficiency per competency from evidence, roll-up to dimensions and roles,
levels, explanations and next steps (pure: no Flask, no SQL). docs/scoring.md states the model.
"""

from lrs_connector.readiness.model import (
    EvidenceItem,
    ModelError,
    ScoringModel,
)
from lrs_connector.readiness.scoring import Activity, Readiness, Scorer

__all__ = ["Activity", "EvidenceItem", "ModelError", "Readiness", "Scorer", "ScoringModel"]
