"""Benchmark: explained scores, one seller and a batch, against shap and LightGBM.

    .venv/bin/python bench/explain.py                          # trains and registers a model
    .venv/bin/python bench/explain.py --sellers 50000 --threads 2
    .venv/bin/python bench/explain.py --model models:/sme-credit-pd@champion \\
        --tracking-uri sqlite:///data/mlflow.db --features data/features.parquet

Without ``--model`` it generates a synthetic marketplace, builds the features, trains a
small model (one candidate, three folds), logs and registers it in a temporary MLflow
store and loads it back with ``Scorer.load("models:/bench-pd/1")``: every figure below is
on that one registered model.

- **Single row**: for each of ``--single-rows`` sellers in turn, one call of each method on
  the same row, interleaved so that load from other processes hits all three alike:
  ``Scorer.score(dict)`` (encoding, contributions, raw score, additivity check, PD,
  points, grade, reasons with texts and drivers), LightGBM's bare
  ``Booster.predict(row, pred_contrib=True)`` on the already encoded row, and
  ``shap.TreeExplainer.shap_values`` on it. p50 and p99 in microseconds; target: our p99
  at most 1.5x the bare call's.
- **Batch**: ``Scorer.score_batch(feature table)`` (encoding from the DataFrame,
  contributions, raw scores, additivity check, PD, points, grades, family points, the
  principal adverse reason codes; the per-row reason objects and JSON are built on demand
  and timed separately) against ``shap.TreeExplainer.shap_values`` and bare
  ``pred_contrib`` on the already encoded matrix; median of ``--repeats`` runs, rows per
  second; target: at least 2x shap's throughput, with the same values (checked to 1e-9).

``--linear-base`` trains that model with the default search's linear-base candidate
instead (trees boosted on a logistic regression; :mod:`models.linear_base`). Our figures
then include the linear part's contributions, and so do the references the targets are
measured against: shap and LightGBM explain the booster only, so the model's explanation
through them is their values plus the linear part's exact Shapley values
(``LinearBase.row`` for one row, ``LinearBase.contributions`` for the batch: numpy
arithmetic, the cheapest way to add them). The booster-only figures are printed too, with
their ratios; the values are checked against shap's plus the linear part.

LightGBM's threads (``--threads``, default 1) apply to every method: ``OMP_NUM_THREADS``
is set before LightGBM loads, and the explicit calls get ``num_threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sellers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--single-rows", type=int, default=2000,
                        help="timed single-row calls of each method (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="batch runs (median)")
    parser.add_argument("--model", help="registry URI or model folder (default: train one)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI for --model models:/...")
    parser.add_argument("--features", type=Path,
                        help="feature table (Parquet) to score with --model")
    parser.add_argument("--linear-base", action="store_true",
                        help="train the model with the linear-base candidate")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before LightGBM loads
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import warnings

    import numpy as np
    import pandas as pd
    import shap

    from scoring import Scorer

    warnings.filterwarnings("ignore", message="LightGBM binary classifier")
    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        if args.model:
            if args.features is None:
                raise SystemExit("--model needs --features (the table to score)")
            table = pd.read_parquet(args.features)
            scorer = Scorer.load(args.model, tracking_uri=args.tracking_uri,
                                 n_threads=args.threads)
        else:
            table, scorer = _train_and_register(args, Path(tmp))
    model = scorer.model
    booster = model.booster_
    n_iter = model.best_iteration_
    print(f"model {scorer.model_name} v{scorer.model_version}: {booster.num_trees()} trees "
          f"(used: {n_iter}), "
          f"{'a linear base, ' if model.linear_ is not None else ''}"
          f"{len(scorer.feature_names)} features, "
          f"{len(table):,} rows to score; LightGBM threads {args.threads}; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    # ---------------------------------------------------------------- one row
    matrix = model.to_matrix(table)
    records = table.head(200).to_dict(orient="records")
    rows = [np.ascontiguousarray(matrix[k:k + 1]) for k in range(len(records))]
    explainer = shap.TreeExplainer(booster)
    linear = model.linear_
    ours, bare, by_shap, bare_linear = [], [], [], []
    clock = time.perf_counter_ns
    for i in range(args.single_rows + 50):
        k = i % len(records)
        t0 = clock()
        result = scorer.score(records[k])
        t1 = clock()
        booster.predict(rows[k], pred_contrib=True, num_iteration=n_iter,
                        num_threads=args.threads)
        t2 = clock()
        explainer.shap_values(rows[k])
        t3 = clock()
        if linear is not None:  # the model's bare explanation: the booster's plus the linear
            np.asarray(booster.predict(rows[k], pred_contrib=True, num_iteration=n_iter,
                                       num_threads=args.threads))[0] + linear.row(rows[k][0])[0]
        t4 = clock()
        if i >= 50:  # warm-up left out
            ours.append(t1 - t0)
            bare.append(t2 - t1)
            by_shap.append(t3 - t2)
            bare_linear.append(t4 - t3)
        assert result.model_version == scorer.model_version
    single = {name: (np.percentile(v, 50) / 1e3, np.percentile(v, 99) / 1e3)
              for name, v in (("ours", ours), ("bare", bare), ("shap", by_shap),
                              ("bare_linear", bare_linear))}
    print(f"single row, {args.single_rows} calls over {len(records)} sellers "
          "(microseconds, p50 / p99):")
    print(f"  Scorer.score (full explained score):   {single['ours'][0]:8.1f} / "
          f"{single['ours'][1]:8.1f}")
    print(f"  LightGBM predict(pred_contrib=True):   {single['bare'][0]:8.1f} / "
          f"{single['bare'][1]:8.1f}")
    print(f"  shap.TreeExplainer.shap_values:        {single['shap'][0]:8.1f} / "
          f"{single['shap'][1]:8.1f}")
    against = "bare"
    if linear is not None:
        print(f"  pred_contrib + the linear part:        {single['bare_linear'][0]:8.1f} / "
              f"{single['bare_linear'][1]:8.1f}  (the model's bare explanation)")
        print(f"  p99 ratio ours / bare pred_contrib of the booster alone: "
              f"{single['ours'][1] / single['bare'][1]:.2f}x; p50 ratio "
              f"{single['ours'][0] / single['bare'][0]:.2f}x")
        against = "bare_linear"
    ratio = single["ours"][1] / single[against][1]
    named = "pred_contrib + linear part" if linear is not None else "pred_contrib"
    print(f"  p99 ratio ours / bare {named}: {ratio:.2f}x (target <= 1.5x); p50 ratio "
          f"{single['ours'][0] / single[against][0]:.2f}x")

    # ------------------------------------------------------------------ batch
    timings: dict[str, list[float]] = {"ours": [], "shap": [], "bare": [], "json": [],
                                       "linear": []}
    batch: Any = None
    values: Any = None
    by_shap_model: Any = None
    seconds = time.perf_counter
    for _ in range(args.repeats):
        s0 = seconds()
        batch = scorer.score_batch(table)
        s1 = seconds()
        values = explainer.shap_values(matrix)
        s2 = seconds()
        booster.predict(matrix, pred_contrib=True, num_iteration=n_iter,
                        num_threads=args.threads)
        s3 = seconds()
        if linear is not None:  # shap explains the booster; the model adds the linear part
            by_shap_model = linear.contributions(matrix)
            by_shap_model[:, :-1] += values
            by_shap_model[:, -1] += explainer.expected_value
        s4 = seconds()
        timings["ours"].append(s1 - s0)
        timings["shap"].append(s2 - s1)
        timings["bare"].append(s3 - s2)
        timings["linear"].append(s4 - s3)
    s0 = seconds()
    batch.to_frame(reasons_json=True)
    timings["json"].append(seconds() - s0)
    rate = {k: len(table) / float(np.median(v)) for k, v in timings.items() if k != "linear"}
    if by_shap_model is None:
        by_shap_model = np.column_stack([values, np.full(len(matrix),
                                                         explainer.expected_value)])
    gap = float(np.abs(batch.contributions - by_shap_model).max())
    print(f"batch of {len(table):,} rows, median of {args.repeats} runs (rows per second):")
    print(f"  Scorer.score_batch (explained scores): {rate['ours']:12,.0f}")
    print(f"  shap.TreeExplainer.shap_values:        {rate['shap']:12,.0f}")
    print(f"  LightGBM predict(pred_contrib=True):   {rate['bare']:12,.0f}")
    reference = rate["shap"]
    if linear is not None:
        reference = len(table) / float(np.median(
            [a + b for a, b in zip(timings["shap"], timings["linear"], strict=True)]))
        print(f"  shap values + the linear part:         {reference:12,.0f}  "
              "(the model's explanation through shap)")
        print(f"  throughput ratio ours / shap on the booster alone: "
              f"{rate['ours'] / rate['shap']:.2f}x")
    print(f"  reasons as objects and JSON, on top:   {rate['json']:12,.0f} "
          "(per-row Python; what `sme-credit score` writes)")
    print(f"  throughput ratio ours / shap{' + linear part' if linear is not None else ''}: "
          f"{rate['ours'] / reference:.2f}x (target >= 2x);"
          f" largest difference from shap's values{' + linear part' if linear is not None else ''}"
          f" {gap:.2e} (must be <= 1e-9)")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0 if gap <= 1e-9 else 1


def _train_and_register(args: argparse.Namespace, folder: Path) -> tuple[Any, Any]:
    import features
    from models import TrainConfig, train
    from models.registry import log_and_register
    from scoring import Scorer
    from synth.marketplace import generate_marketplace

    started = time.perf_counter()
    market = generate_marketplace(args.sellers, args.months, args.seed)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    label = (market.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    from models.config import DEFAULT_CANDIDATES
    from models.linear_base import LINEAR_BASE_KEY

    candidates = tuple(c for c in DEFAULT_CANDIDATES
                       if bool(c.get(LINEAR_BASE_KEY)) == args.linear_base)
    model = train(table, label, config=TrainConfig(max_candidates=1, cv_folds=3,
                                                   n_jobs=args.threads, seed=args.seed,
                                                   candidates=candidates))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    logged = log_and_register(model, table, label, tracking_uri=uri, model_name="bench-pd",
                              artifact_location=(folder / "artifacts").as_uri())
    scorer = Scorer.load(f"models:/bench-pd/{logged.version}", tracking_uri=uri,
                         n_threads=args.threads)
    print(f"setup: {args.sellers:,} sellers, trained and registered in "
          f"{time.perf_counter() - started:.0f} s (not counted)")
    return table, scorer


if __name__ == "__main__":
    sys.exit(main())
