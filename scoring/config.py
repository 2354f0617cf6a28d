"""How a raw score becomes points and a grade, and how reasons are chosen.

Points-to-double-odds scaling
-----------------------------
With good:bad odds ``o`` (``o = (1 - p) / p``), a scorecard gives
``points = offset + factor * ln(o)`` with ``factor = pdo / ln 2`` and
``offset = base_points - factor * ln(base_odds)``: ``base_points`` at ``base_odds`` and
``pdo`` more points each time the odds double. With ``z`` the log-odds of default,
``ln(o) = -z``, so ``points = offset - factor * z``.

``z`` is the model's **calibrated** log-odds, ``z = a * f + b`` with ``f`` the booster's
raw score and ``(a, b)`` the model's Platt map (``Calibration.points_slope`` and
``points_intercept``; ``(1, 0)`` for a model without calibration or saved before the map
was stored). So 600 points mean 50:1 calibrated good:bad odds for every champion, and the
points still split exactly into the baseline points and the reason points, the TreeSHAP
contributions times ``a`` (see :mod:`scoring.scorer`). With Platt calibration the PD is
``1 / (1 + odds)`` of the points' odds (within the PD floor); with isotonic calibration the
PD comes from the isotonic map and the points from the Platt map fitted on the same scores.
Both are increasing in ``f``, so points and PD rank applicants the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from models.cutoff import DEFAULT_APPROVAL_CUTOFF_PD, DEFAULT_REFERENCE_BAND_ROWS

__all__ = ["GradeBands", "ScoreScale", "ScoringConfig"]


@dataclass(frozen=True)
class ScoreScale:
    """Points-to-double-odds scaling.

    Attributes
    ----------
    base_points : points at ``base_odds`` (default 600).
    base_odds : good:bad odds that score ``base_points`` (default 50, i.e. 50:1).
    pdo : points to double the odds (default 20).
    """

    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def check(self) -> None:
        """Raise ``ValueError`` for a scale that cannot work."""
        if not self.base_odds > 0:
            raise ValueError(f"base_odds must be > 0; got {self.base_odds}")
        if not self.pdo > 0:
            raise ValueError(f"pdo must be > 0; got {self.pdo}")
        if not math.isfinite(self.base_points):
            raise ValueError(f"base_points must be a finite number; got {self.base_points}")

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Points at even odds (log-odds 0)."""
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, log_odds: float) -> float:
        """Points of a (calibrated) log-odds of default."""
        return self.offset - self.factor * log_odds

    def to_dict(self) -> dict[str, float]:
        return {"base_points": self.base_points, "base_odds": self.base_odds,
                "pdo": self.pdo}


@dataclass(frozen=True)
class GradeBands:
    """Grades by calibrated PD.

    A PD at or below ``upper_pd[i]`` (and above the previous bound) gets ``labels[i]``;
    a PD above the last bound gets the last label. Defaults: A up to 1 %, B up to 2.5 %,
    C up to 5 %, D up to 10 %, E above.
    """

    upper_pd: tuple[float, ...] = (0.01, 0.025, 0.05, 0.10)
    labels: tuple[str, ...] = ("A", "B", "C", "D", "E")

    def check(self) -> None:
        """Raise ``ValueError`` naming what is wrong with the bands."""
        if len(self.labels) != len(self.upper_pd) + 1:
            raise ValueError(f"grade bands need one label more than bounds; got "
                             f"{len(self.labels)} labels for {len(self.upper_pd)} bounds")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"grade labels must differ; got {self.labels}")
        previous = 0.0
        for bound in self.upper_pd:
            if not previous < bound < 1.0:
                raise ValueError("grade PD bounds must increase strictly inside (0, 1); got "
                                 f"{self.upper_pd}")
            previous = bound

    def to_dict(self) -> dict[str, list[float] | list[str]]:
        return {"upper_pd": list(self.upper_pd), "labels": list(self.labels)}


@dataclass(frozen=True)
class ScoringConfig:
    """Everything that turns a model's output into a scored, explained result.

    Attributes
    ----------
    scale : points scaling (:class:`ScoreScale`).
    grades : PD bands (:class:`GradeBands`).
    max_adverse_reasons : principal adverse reasons given (default 4).
    max_positive_factors : strongest positive factors given (default 3).
    min_reason_points : a factor differs from the typical approved applicant at the
        cut-off by at least this many points to be named (default 2: about 7 % in the
        odds).
    min_gap_share : an adverse factor also makes up at least this share of the
        applicant's points gap to that applicant (a positive factor: of its lead over it)
        to be named (default 0.1).
    approval_cutoff_pd : the approval cut-off: the highest calibrated PD the policy
        approves (default 0.05, the top of grade C, the last grade the default policy
        approves); reasons are measured against the approved applicants just below it.
    reference_band_rows : how many approved applicants of the reference sample, those
        with the highest PDs, make up the typical applicant at the cut-off (default 200).
    max_drivers : features shown per reason: the factor's feature, then the adjustment
        features folded into it (default 3).
    """

    scale: ScoreScale = field(default_factory=ScoreScale)
    grades: GradeBands = field(default_factory=GradeBands)
    max_adverse_reasons: int = 4
    max_positive_factors: int = 3
    min_reason_points: float = 2.0
    min_gap_share: float = 0.1
    approval_cutoff_pd: float = DEFAULT_APPROVAL_CUTOFF_PD
    reference_band_rows: int = DEFAULT_REFERENCE_BAND_ROWS
    max_drivers: int = 3

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        self.scale.check()
        self.grades.check()
        for name in ("max_adverse_reasons", "max_positive_factors", "max_drivers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if not self.min_reason_points >= 0:
            raise ValueError(f"min_reason_points must be >= 0; got {self.min_reason_points}")
        if not 0 <= self.min_gap_share <= 1:
            raise ValueError(f"min_gap_share must be between 0 and 1; got {self.min_gap_share}")
        if not 0 < self.approval_cutoff_pd < 1:
            raise ValueError("approval_cutoff_pd must be between 0 and 1 (exclusive); got "
                             f"{self.approval_cutoff_pd}")
        if self.reference_band_rows < 1:
            raise ValueError(f"reference_band_rows must be >= 1; got "
                             f"{self.reference_band_rows}")
