"""Fairness by segment: approval rates, adverse impact ratios and calibration.

Pure pandas/numpy (no MLflow): :func:`fairness_report` takes labels, PDs and the segment
columns of a sample and returns one row per segment of each dimension:

- **Dimensions**: seller kind (``seller_kind`` of the feature table, or ``kind`` of the
  synthetic marketplace's sellers and truth frames), ``industry`` and ``region`` (sellers
  frame and record contract; not features, so a feature table alone lacks them) and tenure
  (``tenure_days`` of the feature table, in bands of 30-day months). A dimension whose
  column the sample lacks is skipped with a note. Missing values form a segment
  ``missing``.
- **Approval** is what the credit policy does with the PD: approved when the PD's grade is
  one the policy approves and the PD is at or below the policy's refer (and decline)
  threshold (:class:`ApprovalRule`). The rule's defaults are those of the shipped default
  policy (``lending/policies/default.toml``); ``models`` sits below ``lending`` in the
  layers, so it cannot read the policy itself: an entry point passes a rule built from
  any policy, and a test keeps these defaults in step with ``lending.policy.decide``.
  The policy's other rules (minimum GMV, cash cycle, limit floor, credit history) are
  not applied: the figures measure what the *model* does to each segment.
- **Adverse impact ratio** (AIR): a segment's approval rate over the approval rate of the
  most-approved segment of the same dimension, among segments of at least
  ``min_segment_size`` applicants (a handful of applicants would otherwise set the
  reference); the four-fifths rule flags a ratio below ``min_air`` (0.8).
- **Calibration**: the segment's mean PD against the Jeffreys interval of its observed
  default rate (:func:`models.backtest.by_grade`). The intervals share
  ``calibration_level`` family-wise (Bonferroni over the ``k`` segments of at least
  ``min_segment_size`` applicants, each at ``1 - (1 - level) / k``, as the promotion gate's
  grades do): a dozen segments at 95 % each would warn about a perfectly calibrated model
  about half the time. ``family_wise=False`` gives every segment ``calibration_level``.

Flags: ``air_below_min`` and ``calibration_outside_interval`` (warnings), and
``small_segment`` for a segment under ``min_segment_size`` applicants: shown, never a
warning.

The machine-readable form (:meth:`FairnessReport.to_dict`, written by the registry as
``fairness/fairness.json`` on a version's run)::

    {"segments": [{"dimension", "segment", "n", "approval_rate", "air", "mean_pd",
                   "observed_rate", "lower", "upper", "flags": [...]}],
     "thresholds": {...}, "notes": [...]}

Numbers that do not exist (the AIR of a dimension where nobody is approved, the rates of
an empty segment) are ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import by_grade, grades_of

__all__ = [
    "AIR_BELOW_MIN",
    "CALIBRATION_OUTSIDE",
    "DIMENSIONS",
    "SMALL_SEGMENT",
    "ApprovalRule",
    "FairnessConfig",
    "FairnessReport",
    "fairness_report",
    "segment_values",
]

AIR_BELOW_MIN = "air_below_min"
CALIBRATION_OUTSIDE = "calibration_outside_interval"
SMALL_SEGMENT = "small_segment"
#: Dimension -> the columns that may carry it, first found wins.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "seller kind": ("seller_kind", "kind"),
    "industry": ("industry",),
    "region": ("region",),
    "tenure": ("tenure_days",),
}
_MISSING = "missing"
_DAYS_PER_MONTH = 30.0  # the feature definitions' months are 30-day months
_COLUMNS = ["dimension", "segment", "n", "approved", "bads", "approval_rate", "air",
            "mean_pd", "observed_rate", "lower", "upper", "flags"]


@dataclass(frozen=True)
class ApprovalRule:
    """Which PDs the credit policy approves (its grade rules and PD thresholds).

    Parameters
    ----------
    approve_grades : the grades whose rule is ``approve``.
    max_pd : the policy's ``refer_pd_above`` (a PD above it is referred, so not approved;
        ``decline_pd_above`` is higher).
    grade_upper_pd, grade_labels : the scorer's grade bands.
    policy_version : the policy these figures come from.
    """

    approve_grades: tuple[str, ...] = ("A", "B", "C")
    max_pd: float = 0.10
    grade_upper_pd: tuple[float, ...] = (0.01, 0.025, 0.05, 0.10)
    grade_labels: tuple[str, ...] = ("A", "B", "C", "D", "E")
    policy_version: str = "2026.11-default.1"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not 0.0 <= self.max_pd <= 1.0:
            raise ValueError(f"max_pd must be in [0, 1]; got {self.max_pd}")
        if len(self.grade_labels) != len(self.grade_upper_pd) + 1:
            raise ValueError(f"grade_labels needs one label more than grade_upper_pd; got "
                             f"{len(self.grade_labels)} and {len(self.grade_upper_pd)}")
        unknown = [g for g in self.approve_grades if g not in self.grade_labels]
        if unknown:
            raise ValueError(f"approve_grades names grades the bands lack: {unknown}")

    def approved(self, pd_: object) -> np.ndarray:
        """Whether the policy approves each PD (boolean array)."""
        values = np.asarray(pd_, dtype=float)
        grades = grades_of(values, self.grade_upper_pd, self.grade_labels)
        return np.isin(grades, list(self.approve_grades)) & (values <= self.max_pd)


@dataclass(frozen=True)
class FairnessConfig:
    """Thresholds of the fairness figures and of the promotion's fairness warning.

    Parameters
    ----------
    min_air : a segment's adverse impact ratio below this warns (four-fifths rule).
    min_segment_size : segments with fewer applicants are shown but never warn, and never
        set the AIR's reference.
    calibration_level : family-wise level of the segments' Jeffreys intervals (each
        segment's own level when ``family_wise`` is false).
    family_wise : Bonferroni-adjust the intervals over the segments that may warn.
    tenure_band_months : lower bounds (months on the marketplace) of the tenure bands
        after the first (``(6, 12, 24, 60)``: under 6, 6-12, 12-24, 24-60, 60 and more).
    approval : what counts as approved.
    """

    min_air: float = 0.8
    min_segment_size: int = 30
    calibration_level: float = 0.95
    family_wise: bool = True
    tenure_band_months: tuple[int, ...] = (6, 12, 24, 60)
    approval: ApprovalRule = field(default_factory=ApprovalRule)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not 0.0 < self.min_air <= 1.0:
            raise ValueError(f"min_air must be in (0, 1]; got {self.min_air}")
        if self.min_segment_size < 1:
            raise ValueError(f"min_segment_size must be >= 1; got {self.min_segment_size}")
        if not 0.5 <= self.calibration_level < 1.0:
            raise ValueError(f"calibration_level must be in [0.5, 1); got "
                             f"{self.calibration_level}")
        bands = list(self.tenure_band_months)
        if not bands or bands != sorted(set(bands)) or bands[0] <= 0:
            raise ValueError(f"tenure_band_months must be positive and increase; got "
                             f"{self.tenure_band_months}")
        self.approval.check()


@dataclass
class FairnessReport:
    """Figures by segment (:func:`fairness_report`).

    Attributes
    ----------
    table : one row per segment: ``dimension``, ``segment``, ``n``, ``approved``,
        ``bads``, ``approval_rate``, ``air``, ``mean_pd``, ``observed_rate``, ``lower``,
        ``upper``, ``flags`` (a list).
    config : the thresholds used.
    notes : skipped dimensions and other facts the reader needs.
    """

    table: pd.DataFrame
    config: FairnessConfig
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> pd.DataFrame:
        """The rows that warn (a flag other than ``small_segment``)."""
        warns = self.table["flags"].map(lambda f: any(x != SMALL_SEGMENT for x in f))
        return self.table.loc[warns.astype(bool)]

    def describe_warnings(self) -> str:
        """The warning rows as one line of text (empty when none)."""
        parts = []
        for row in self.warnings().to_dict(orient="records"):
            what = []
            if AIR_BELOW_MIN in row["flags"]:
                what.append(f"AIR {row['air']:.3f}")
            if CALIBRATION_OUTSIDE in row["flags"]:
                what.append(f"mean PD {row['mean_pd']:.4f} outside "
                            f"[{row['lower']:.4f}, {row['upper']:.4f}]")
            parts.append(f"{row['dimension']} {row['segment']} (n={row['n']}): "
                         + ", ".join(what))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see the module's description); NaN as ``None``."""
        keys = ("dimension", "segment", "n", "approval_rate", "air", "mean_pd",
                "observed_rate", "lower", "upper", "flags")
        segments = [{k: _plain(row[k]) for k in keys}
                    for row in self.table.to_dict(orient="records")]
        return {"segments": segments, "thresholds": asdict(self.config),
                "notes": list(self.notes)}

    def to_markdown(self) -> str:
        """The table in Markdown, for the model card."""
        lines = ["| dimension | segment | n | approval rate | AIR | mean PD | observed | "
                 "interval | flags |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for row in self.table.to_dict(orient="records"):
            lines.append(
                f"| {row['dimension']} | {row['segment']} | {row['n']} "
                f"| {_num(row['approval_rate'], '.1%')} | {_num(row['air'], '.2f')} "
                f"| {_num(row['mean_pd'], '.4f')} | {_num(row['observed_rate'], '.4f')} "
                f"| [{row['lower']:.4f}, {row['upper']:.4f}] | {', '.join(row['flags'])} |")
        return "\n".join(lines)


def _num(value: float, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return value


def tenure_bands(tenure_days: object, band_months: Sequence[int]) -> np.ndarray:
    """The tenure band of each seller (``"<6 months"``, ``"6-12 months"``, ...,
    ``"60+ months"``; ``"missing"`` for NaN) from days on the marketplace."""
    months = np.asarray(pd.to_numeric(pd.Series(tenure_days), errors="coerce"),
                        dtype=float) / _DAYS_PER_MONTH
    bounds = list(band_months)
    labels = _band_labels(bounds)
    positions = np.searchsorted(np.asarray(bounds, dtype=float), months, side="right")
    out = np.asarray(labels, dtype=object)[np.minimum(positions, len(labels) - 1)]
    out[np.isnan(months)] = _MISSING
    return out


def segment_values(frame: pd.DataFrame, config: FairnessConfig | None = None,
                   ) -> tuple[dict[str, np.ndarray], list[str]]:
    """The segment of each row per dimension found in ``frame``, and notes on the
    dimensions it lacks (see :data:`DIMENSIONS`)."""
    config = config or FairnessConfig()
    found: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for dimension, candidates in DIMENSIONS.items():
        column = next((c for c in candidates if c in frame.columns), None)
        if column is None:
            notes.append(f"{dimension}: skipped, the sample has no column "
                         + " or ".join(repr(c) for c in candidates))
            continue
        if dimension == "tenure":
            found[dimension] = tenure_bands(frame[column], config.tenure_band_months)
            continue
        values = frame[column].astype(object)
        found[dimension] = np.asarray(values.where(values.notna(), _MISSING).astype(str),
                                      dtype=object)
    return found, notes


def fairness_report(y: object, pd_: object, segments: pd.DataFrame,
                    config: FairnessConfig | None = None) -> FairnessReport:
    """Approval rate, adverse impact ratio and calibration of every segment.

    Parameters
    ----------
    y : 1 = default, 0 = not, aligned with ``segments``' rows.
    pd_ : calibrated PD per row.
    segments : a frame holding the segment columns (:data:`DIMENSIONS`); other columns
        are ignored.
    config : thresholds; :class:`FairnessConfig` defaults when ``None``.

    Raises
    ------
    ValueError
        Bad thresholds, or ``y``, ``pd_`` and ``segments`` of different lengths.
    """
    config = config or FairnessConfig()
    config.check()
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(pd_, dtype=float)
    if not len(y_arr) == len(p_arr) == len(segments):
        raise ValueError(f"y, pd_ and segments differ in length: {len(y_arr)}, "
                         f"{len(p_arr)}, {len(segments)}")
    approved = config.approval.approved(p_arr)
    found, notes = segment_values(segments, config)
    large_segments = sum(int((pd.Series(values).value_counts() >= config.min_segment_size)
                             .sum()) for values in found.values())
    level = config.calibration_level
    if config.family_wise and large_segments > 1:
        level = 1.0 - (1.0 - config.calibration_level) / large_segments
        notes.append(f"calibration intervals at {level:.2%} each: family-wise "
                     f"{config.calibration_level:.0%} over {large_segments} segments of "
                     f"{config.min_segment_size} applicants or more (Bonferroni)")
    rows: list[dict[str, Any]] = []
    for dimension, values in found.items():
        table = by_grade(y_arr, p_arr, values, [], level=level)
        if dimension == "tenure":  # bands in their natural order
            order = {label: i for i, label in enumerate(
                [*_band_labels(config.tenure_band_months), _MISSING])}
            table = table.sort_values("grade", key=lambda s: s.map(order)).reset_index(
                drop=True)
        counts = {str(g): int(approved[values == g].sum()) for g in table["grade"]}
        dim_rows: list[dict[str, Any]] = []
        for record in table.to_dict(orient="records"):
            n = int(record["n"])
            dim_rows.append({
                "dimension": dimension, "segment": str(record["grade"]), "n": n,
                "approved": counts[str(record["grade"])], "bads": int(record["bads"]),
                "approval_rate": counts[str(record["grade"])] / n if n else math.nan,
                "mean_pd": float(record["predicted_pd"]),
                "observed_rate": float(record["observed_rate"]),
                "lower": float(record["lower"]), "upper": float(record["upper"])})
        large = [r["approval_rate"] for r in dim_rows if r["n"] >= config.min_segment_size]
        reference = max(large or [r["approval_rate"] for r in dim_rows])
        if not large:
            notes.append(f"{dimension}: no segment of {config.min_segment_size} applicants "
                         "or more; the AIR's reference is the most-approved small segment")
        for row in dim_rows:
            row["air"] = row["approval_rate"] / reference if reference > 0 else math.nan
            flags = []
            if row["n"] < config.min_segment_size:
                flags.append(SMALL_SEGMENT)
            else:
                if math.isfinite(row["air"]) and row["air"] < config.min_air:
                    flags.append(AIR_BELOW_MIN)
                if not row["lower"] <= row["mean_pd"] <= row["upper"]:
                    flags.append(CALIBRATION_OUTSIDE)
            row["flags"] = flags
        if reference <= 0:
            notes.append(f"{dimension}: no applicant approved, so no adverse impact ratio")
        rows += dim_rows
    return FairnessReport(pd.DataFrame(rows, columns=_COLUMNS), config, notes)


def _band_labels(band_months: Sequence[int]) -> list[str]:
    bounds = list(band_months)
    return ([f"<{bounds[0]} months"]
            + [f"{lo}-{hi} months" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
            + [f"{bounds[-1]}+ months"])
