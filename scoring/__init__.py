"""Explained credit scores: PD, points, grade and reason codes; batch scoring; stability.

``Scorer.load("models:/sme-credit-pd@champion", tracking_uri=...)`` loads a registered
model once; ``scorer.score({...})`` explains one applicant, ``scorer.score_batch(table)`` a
table. :mod:`scoring.monitor` compares score and feature distributions (PSI).
See ``docs/scoring.md``.
"""

from scoring.config import GradeBands, ScoreScale, ScoringConfig
from scoring.reasons import REASON_CODES
from scoring.scorer import (
    DEFAULT_MODEL_URI,
    BatchScores,
    Driver,
    ExplainedScore,
    ModelInfo,
    Reason,
    Scorer,
)

__all__ = [
    "DEFAULT_MODEL_URI",
    "REASON_CODES",
    "BatchScores",
    "Driver",
    "ExplainedScore",
    "GradeBands",
    "ModelInfo",
    "Reason",
    "ScoreScale",
    "Scorer",
    "ScoringConfig",
]
