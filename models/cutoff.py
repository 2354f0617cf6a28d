"""The typical applicant approved at the cut-off: what reasons are measured against.

:class:`CutoffReference` is the comparison point of :mod:`scoring.reasons` (which explains
how it is used). It lives here, below :mod:`scoring`, so that :mod:`models.registry` can
compute it once when a version is registered (from the version's hold-out sample) and store
it with the model (``metadata_["cutoff_reference"]``, see :func:`stored_cutoff_reference`):
a scorer then reads it instead of scoring the hold-out sample on every load.

The reference depends on the model only (its TreeSHAP contributions, in raw log-odds, and
its calibrated PD), on the sample, and on two scoring settings: the approval cut-off PD and
the number of approved applicants in the band. A stored reference records both; a scorer
configured otherwise computes its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from models.credit_model import CreditModel

__all__ = [
    "DEFAULT_APPROVAL_CUTOFF_PD",
    "DEFAULT_REFERENCE_BAND_ROWS",
    "METADATA_KEY",
    "REFERENCE_SAMPLE_ROWS",
    "CutoffReference",
    "StoredCutoffReference",
    "cutoff_reference_record",
    "stored_cutoff_reference",
]

#: The approval cut-off of the default policy: the top of grade C (``ScoringConfig``).
DEFAULT_APPROVAL_CUTOFF_PD = 0.05
#: Approved applicants with the highest PDs that make up the reference band.
DEFAULT_REFERENCE_BAND_ROWS = 200
#: Most rows of a version's hold-out sample read as the reference sample.
REFERENCE_SAMPLE_ROWS = 20_000
#: Key of the stored reference in ``CreditModel.metadata_``.
METADATA_KEY = "cutoff_reference"


@dataclass(frozen=True)
class CutoffReference:
    """The typical applicant approved at the cut-off: what reasons are measured against.

    Attributes
    ----------
    cutoff_pd : the approval cut-off (highest calibrated PD approved).
    raw_score : the mean raw score of the band (the reference applicant's score).
    contributions : mean TreeSHAP contribution per model feature over the band (log-odds,
        model column order).
    values : typical encoded value per feature over the band: the median of a numeric
        feature, the most common level code of a categorical one; NaN when at least half
        of the band lacks the value.
    rows : applicants in the band (0: no sample; the comparison is the training average,
        ``contributions`` all zero and ``raw_score`` the model's expected raw score).
    """

    cutoff_pd: float
    raw_score: float
    contributions: tuple[float, ...]
    values: tuple[float, ...]
    rows: int

    @property
    def at_cutoff(self) -> bool:
        """Whether this is a cut-off band (``False``: the training-average fallback)."""
        return self.rows > 0

    @classmethod
    def training_average(cls, n_features: int, expected_raw_score: float,
                         cutoff_pd: float) -> CutoffReference:
        """The fallback without a reference sample: the model's expected raw score."""
        return cls(cutoff_pd, float(expected_raw_score), (0.0,) * n_features,
                   (math.nan,) * n_features, 0)

    @classmethod
    def from_scores(cls, contributions: np.ndarray, matrix: np.ndarray, pd_: np.ndarray,
                    *, cutoff_pd: float, band_rows: int,
                    categorical: Sequence[bool]) -> CutoffReference:
        """The band of a scored reference sample.

        Parameters
        ----------
        contributions : ``(rows, features + 1)`` TreeSHAP values, bias last.
        matrix : ``(rows, features)`` encoded values.
        pd_ : calibrated PD per row.
        cutoff_pd : the highest PD the policy approves.
        band_rows : applicants in the band: the approved ones with the highest PDs.
        categorical : per feature, whether it is categorical.

        Raises
        ------
        ValueError
            No applicant of the sample is approved at ``cutoff_pd``, or ``band_rows`` < 1.
        """
        if band_rows < 1:
            raise ValueError(f"band_rows must be >= 1; got {band_rows}")
        pd_ = np.asarray(pd_, dtype=np.float64)
        approved = np.flatnonzero(pd_ <= cutoff_pd)
        if len(approved) == 0:
            raise ValueError(f"no applicant of the reference sample ({len(pd_)} rows) has a "
                             f"PD at or below the cut-off {cutoff_pd}")
        raw = contributions.sum(axis=1)
        # Highest PD first; among equal PDs (isotonic steps) the highest raw score.
        order = np.lexsort((-raw[approved], -pd_[approved]))
        band = approved[order[:band_rows]]
        mean = contributions[band, :-1].mean(axis=0)
        values = []
        for j, is_categorical in enumerate(categorical):
            column = matrix[band, j]
            present = column[~np.isnan(column)]
            if len(present) * 2 < len(column):
                values.append(math.nan)
            elif is_categorical:
                codes, counts = np.unique(present, return_counts=True)
                values.append(float(codes[np.argmax(counts)]))
            else:
                values.append(float(np.median(present)))
        return cls(float(cutoff_pd), float(raw[band].mean()), tuple(float(m) for m in mean),
                   tuple(values), len(band))

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff_pd": self.cutoff_pd, "raw_score": self.raw_score,
                "contributions": list(self.contributions),
                "values": [None if math.isnan(v) else v for v in self.values],
                "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CutoffReference:
        """The inverse of :meth:`to_dict`."""
        return cls(float(data["cutoff_pd"]), float(data["raw_score"]),
                   tuple(float(v) for v in data["contributions"]),
                   tuple(math.nan if v is None else float(v) for v in data["values"]),
                   int(data["rows"]))


@dataclass(frozen=True)
class StoredCutoffReference:
    """A reference computed when the model was registered (``metadata_["cutoff_reference"]``).

    Attributes
    ----------
    cutoff_pd, band_rows : the settings it was computed with.
    reference : the reference, or ``None`` when no applicant of the sample was approved at
        the cut-off (``problem`` says so; reasons then fall back to the training average).
    problem : why there is no reference.
    sample : what the sample was (for the reader), and ``sample_rows`` its size.
    """

    cutoff_pd: float
    band_rows: int
    reference: CutoffReference | None
    problem: str | None
    sample: str
    sample_rows: int

    def matches(self, cutoff_pd: float, band_rows: int) -> bool:
        """Whether it was computed with these settings."""
        return self.cutoff_pd == cutoff_pd and self.band_rows == band_rows

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff_pd": self.cutoff_pd, "band_rows": self.band_rows,
                "reference": None if self.reference is None else self.reference.to_dict(),
                "problem": self.problem, "sample": self.sample,
                "sample_rows": self.sample_rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredCutoffReference:
        reference = data.get("reference")
        return cls(float(data["cutoff_pd"]), int(data["band_rows"]),
                   None if reference is None else CutoffReference.from_dict(reference),
                   data.get("problem"), str(data.get("sample", "")),
                   int(data.get("sample_rows", 0)))


def cutoff_reference_record(model: CreditModel, sample: pd.DataFrame, *, sample_name: str,
                            cutoff_pd: float = DEFAULT_APPROVAL_CUTOFF_PD,
                            band_rows: int = DEFAULT_REFERENCE_BAND_ROWS,
                            ) -> StoredCutoffReference:
    """The reference of ``model`` on (the first :data:`REFERENCE_SAMPLE_ROWS` rows of)
    ``sample``, as it is stored with a registered version.

    The contributions are LightGBM's ``pred_contrib`` (:meth:`CreditModel.explain`), the
    values a scorer's :class:`scoring.contributions.ContributionEngine` gives to
    floating-point rounding of the sum over trees.
    """
    sample = sample.iloc[:REFERENCE_SAMPLE_ROWS]
    matrix = model.to_matrix(sample)
    contributions = model.explain(sample).to_numpy(dtype=np.float64)
    raw = model.decision_function(sample)
    pd_ = np.asarray(model.calibration_.apply(raw), dtype=np.float64)
    try:
        reference: CutoffReference | None = CutoffReference.from_scores(
            contributions, matrix, pd_, cutoff_pd=cutoff_pd, band_rows=band_rows,
            categorical=[c.kind == "categorical" for c in model.columns_])
        problem = None
    except ValueError as exc:  # no applicant of the sample approved at the cut-off
        reference, problem = None, str(exc)
    return StoredCutoffReference(float(cutoff_pd), int(band_rows), reference, problem,
                                 sample_name, len(sample))


def stored_cutoff_reference(model: CreditModel) -> StoredCutoffReference | None:
    """The reference stored with ``model`` when it was registered; ``None`` for a model
    registered before references were stored (or never registered)."""
    data = (getattr(model, "metadata_", None) or {}).get(METADATA_KEY)
    if not data:
        return None
    stored = StoredCutoffReference.from_dict(data)
    if stored.reference is not None and \
            len(stored.reference.contributions) != len(model.columns_):
        return None
    return stored
