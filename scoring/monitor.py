"""Stability monitoring: PSI of the score and of every model feature.

The population stability index compares the share of a *current* sample in each bin with
the share of a *reference* sample: ``sum((cur - ref) * ln(cur / ref))``
(:func:`models.evaluation.population_stability_index`). Bins are the reference's deciles
for the score and for numeric features (plus one bin for missing values), and the training
levels (plus missing or unseen) for categorical features.

The reference is either another feature table scored by the same model (for example last
quarter's applicants) or, when none is given, the model's own training sample, whose bins
and shares the model stores (``score_reference_``, ``feature_reference_``). The score's PSI
is computed on the raw score; points are a linear function of it, so the bins and the PSI
are the same in points.

Reading: below :data:`SHIFT` (0.1) stable; from 0.1 to :data:`MAJOR_SHIFT` (0.25) a shift
worth watching; 0.25 and above a major shift. Sampling noise alone gives a PSI of about
``(bins - 1) * (1 / n_reference + 1 / n_current)``; with fewer than
:data:`MIN_SAMPLE_ROWS` rows in a sample (about 50 rows per decile) the report warns that
the figures mean little, and it prints that noise level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.evaluation import ScoreReference, population_stability_index
from scoring.scorer import Scorer

__all__ = ["MAJOR_SHIFT", "MIN_SAMPLE_ROWS", "SHIFT", "Stability", "StabilityReport",
           "flag", "plot_score_distributions", "stability_report"]

#: PSI from which a distribution is flagged as shifted.
SHIFT = 0.1
#: PSI from which a distribution is flagged as a major shift.
MAJOR_SHIFT = 0.25
#: Fewer rows than this in a sample make the PSI mostly noise (about 50 per decile).
MIN_SAMPLE_ROWS = 500

Flag = Literal["stable", "shift", "major shift"]


def flag(psi: float) -> Flag:
    """``"stable"`` below 0.1, ``"shift"`` below 0.25, else ``"major shift"``."""
    if psi >= MAJOR_SHIFT:
        return "major shift"
    return "shift" if psi >= SHIFT else "stable"


@dataclass(frozen=True)
class Stability:
    """PSI of one distribution (the score or a feature).

    Attributes
    ----------
    name : ``"score"`` or the feature name.
    kind : ``"score"``, ``"numeric"`` or ``"categorical"``.
    psi : population stability index.
    flag : :func:`flag` of ``psi``.
    labels : bin labels; ``reference`` and ``current`` hold the shares per bin.
    """

    name: str
    kind: str
    psi: float
    flag: Flag
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "psi": self.psi, "flag": self.flag,
                "bins": [{"bin": b, "reference": r, "current": c} for b, r, c
                         in zip(self.labels, self.reference, self.current, strict=True)]}


@dataclass(frozen=True)
class StabilityReport:
    """Score and characteristic stability of a current sample against a reference."""

    model_name: str
    model_version: str
    reference: str
    n_reference: int | None
    n_current: int
    score: Stability
    features: tuple[Stability, ...]
    noise_level: float
    warnings: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per distribution (score first): name, kind, psi, flag."""
        rows = [self.score, *self.features]
        return pd.DataFrame({"name": [r.name for r in rows], "kind": [r.kind for r in rows],
                             "psi": [r.psi for r in rows], "flag": [r.flag for r in rows]})

    def to_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version,
                "reference": self.reference, "n_reference": self.n_reference,
                "n_current": self.n_current, "noise_level": self.noise_level,
                "warnings": list(self.warnings), "score": self.score.to_dict(),
                "features": [f.to_dict() for f in self.features]}

    def render(self) -> str:
        """The report as text: header, warnings, score PSI, features by PSI."""
        n_ref = "?" if self.n_reference is None else f"{self.n_reference:,}"
        lines = [f"model {self.model_name} v{self.model_version}; reference: "
                 f"{self.reference} ({n_ref} rows); current: {self.n_current:,} rows",
                 f"PSI flags: >= {SHIFT} shift, >= {MAJOR_SHIFT} major shift; sampling "
                 f"noise alone gives about {self.noise_level:.3f}"]
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append(f"score PSI {self.score.psi:.4f}  {self.score.flag}")
        lines.append(f"{'feature':<34} {'kind':<12} {'PSI':>8}  flag")
        for item in sorted(self.features, key=lambda s: -s.psi):
            lines.append(f"{item.name:<34} {item.kind:<12} {item.psi:>8.4f}  {item.flag}")
        return "\n".join(lines)


def _bin_labels(edges: tuple[float, ...], to_points: Any = None) -> list[str]:
    """Labels of the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``, then missing.

    With ``to_points`` (a decreasing map from raw score to points) the labels are in points.
    """
    if not edges:
        return ["all", "missing"]
    if to_points is None:
        labels = [f"<= {edges[0]:.4g}"]
        labels += [f"{a:.4g} to {b:.4g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        labels.append(f"> {edges[-1]:.4g}")
    else:
        points = [to_points(e) for e in edges]
        labels = [f">= {points[0]:.0f}"]
        labels += [f"{b:.0f} to {a:.0f}" for a, b in zip(points[:-1], points[1:], strict=True)]
        labels.append(f"< {points[-1]:.0f}")
    return [*labels, "missing"]


def _numeric(name: str, kind: str, reference: ScoreReference, values: np.ndarray,
             to_points: Any = None) -> Stability:
    current = reference.shares_of(values)
    psi = population_stability_index(reference.shares, current)
    return Stability(name, kind, psi, flag(psi), tuple(_bin_labels(reference.edges, to_points)),
                     tuple(float(s) for s in reference.shares),
                     tuple(float(s) for s in current))


def _category_shares(codes: np.ndarray, n_levels: int) -> np.ndarray:
    missing = np.isnan(codes)
    counts = np.bincount(codes[~missing].astype(np.int64), minlength=n_levels).astype(float)
    return np.append(counts, float(missing.sum())) / max(len(codes), 1)


def _categorical(name: str, levels: list[str], reference: np.ndarray,
                 codes: np.ndarray) -> Stability:
    current = _category_shares(codes, len(levels))
    psi = population_stability_index(reference, current)
    return Stability(name, "categorical", psi, flag(psi), (*levels, "missing or unseen"),
                     tuple(float(s) for s in reference), tuple(float(s) for s in current))


def stability_report(scorer: Scorer, current: pd.DataFrame,
                     reference: pd.DataFrame | None = None, *,
                     reference_name: str | None = None) -> StabilityReport:
    """PSI of the score and of every model feature, current against reference.

    Parameters
    ----------
    scorer : the model whose score and features are monitored.
    current : feature table of the current population.
    reference : feature table of the reference population; ``None``: the model's training
        sample (bins and shares stored with the model).
    reference_name : how the report names the reference (default: "training sample" or
        "reference table").

    Raises
    ------
    ValueError
        A table lacks a model feature column, or a sample is empty.
    """
    model = scorer.model
    if len(current) == 0:
        raise ValueError("the current sample has no rows")
    if reference is not None and len(reference) == 0:
        raise ValueError("the reference sample has no rows")
    current_matrix = model.to_matrix(current)
    current_raw = scorer.engine.raw_scores(current_matrix)

    def to_points(raw: float) -> float:
        return float(scorer.points_of(raw))

    if reference is None:
        score_ref = model.score_reference_
        feature_refs = model.feature_reference_
        n_reference: int | None = None
        name = reference_name or "training sample"
    else:
        reference_matrix = model.to_matrix(reference)
        score_ref = ScoreReference.fit(scorer.engine.raw_scores(reference_matrix))
        feature_refs = {}
        for j, spec in enumerate(model.columns_):
            column = reference_matrix[:, j]
            if spec.kind == "numeric":
                feature_refs[spec.name] = {"kind": "numeric",
                                           **ScoreReference.fit(column).to_dict()}
            else:
                feature_refs[spec.name] = {
                    "kind": "categorical", "levels": list(spec.levels),
                    "shares": _category_shares(column, len(spec.levels)).tolist()}
        n_reference = len(reference)
        name = reference_name or "reference table"

    # Points fall as the raw score rises: label the score bins in points.
    score = _numeric("score", "score", score_ref, current_raw, to_points=to_points)
    features = []
    for j, spec in enumerate(model.columns_):
        ref = feature_refs[spec.name]
        if spec.kind == "numeric":
            features.append(_numeric(spec.name, "numeric", ScoreReference.from_dict(
                {"edges": ref["edges"], "shares": ref["shares"]}), current_matrix[:, j]))
        else:
            features.append(_categorical(spec.name, list(spec.levels),
                                         np.asarray(ref["shares"], dtype=float),
                                         current_matrix[:, j]))
    bins = sum(1 for s in score_ref.shares if s > 0)
    noise = (max(bins, 2) - 1) * (1.0 / len(current)
                                  + (1.0 / n_reference if n_reference else 0.0))
    warnings = []
    for what, n in (("current", len(current)), ("reference", n_reference)):
        if n is not None and n < MIN_SAMPLE_ROWS:
            warnings.append(f"the {what} sample has {n} rows (< {MIN_SAMPLE_ROWS}): PSI "
                            f"from sampling noise alone is about {noise:.3f}, so the "
                            "figures say little")
    return StabilityReport(scorer.model_name, scorer.model_version, name, n_reference,
                           len(current), score, tuple(features), noise, tuple(warnings))


def plot_score_distributions(report: StabilityReport, path: str | Path) -> Path:
    """Bar chart of the reference and current shares in each score bin, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    score = report.score
    keep = [k for k, label in enumerate(score.labels) if label != "missing"]
    # Reference deciles of the raw score run from the best to the worst points: reverse
    # them so points grow from left to right.
    keep = keep[::-1]
    labels = [score.labels[k] for k in keep]
    x = np.arange(len(keep))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar(x - 0.2, [score.reference[k] for k in keep], width=0.4,
           label=f"reference ({report.reference})")
    ax.bar(x + 0.2, [score.current[k] for k in keep], width=0.4,
           label=f"current ({report.n_current:,} rows)")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("score bin (points; reference deciles)")
    ax.set_ylabel("share of applicants")
    ax.set_title(f"{report.model_name} v{report.model_version}: score PSI "
                 f"{score.psi:.3f} ({score.flag})")
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
