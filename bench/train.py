"""Benchmark: training time on the synthetic marketplace and the share spent on MLflow.

    .venv/bin/python bench/train.py                      # 100,000 sellers, default search
    .venv/bin/python bench/train.py --sellers 20000 --max-candidates 2

Prints the time of each stage: data (generation and features, not part of training),
training (search, refit, calibration), evaluation (metrics, plots, card, hold-out sample;
no MLflow) and MLflow logging (parameters, metrics, artifacts, model, registration and
alias), and the MLflow share of training + evaluation + logging. The MLflow store is a
fresh SQLite store in a temporary folder, created (schema migrations) before the clock
starts, as it exists on any machine that trained before; its creation time is printed too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import features  # noqa: E402
from models import TrainConfig, train  # noqa: E402
from synth.marketplace import generate_marketplace  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sellers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-candidates", type=int, default=TrainConfig().max_candidates)
    parser.add_argument("--cv-folds", type=int, default=TrainConfig().cv_folds)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    market = generate_marketplace(args.sellers, args.months, args.seed)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    truth = market.truth.set_index("seller_id").reindex(table.index)
    label = truth["defaulted_12m"].astype(int).to_numpy()
    data_seconds = time.perf_counter() - started
    print(f"data: {args.sellers:,} sellers, {len(market.orders):,} orders, "
          f"{table.shape[1]} features, bad rate {label.mean():.2%}, {data_seconds:.1f} s "
          "(not counted)")

    config = TrainConfig(max_candidates=args.max_candidates, cv_folds=args.cv_folds,
                         n_jobs=args.n_jobs, seed=args.seed)
    started = time.perf_counter()
    model = train(table, label, config=config)
    train_seconds = time.perf_counter() - started
    report = model.training_report_
    print(f"training: {train_seconds:.1f} s ({report.scheme}, {len(report.candidates)} "
          f"candidates x {config.cv_folds} folds, {model.best_iteration_} rounds, "
          f"calibration {model.calibration_.method}, hold-out AUC "
          f"{report.holdout_metrics['auc']:.4f})")

    from mlflow.tracking import MlflowClient

    from models.registry import log_and_register

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        started = time.perf_counter()
        MlflowClient(uri).search_experiments()  # creates the store's tables
        store_seconds = time.perf_counter() - started
        logged = log_and_register(model, table, label, tracking_uri=uri,
                                  model_name="bench-pd", segment="seller_kind",
                                  artifact_location=(Path(tmp) / "artifacts").as_uri())
    evaluation_seconds = logged.seconds["evaluation"]
    mlflow_seconds = logged.seconds["mlflow"]
    total = train_seconds + evaluation_seconds + mlflow_seconds
    print(f"evaluation (metrics, plots, card; no MLflow): {evaluation_seconds:.1f} s")
    print(f"MLflow logging and registration: {mlflow_seconds:.1f} s "
          f"(store creation before that: {store_seconds:.1f} s)")
    print(f"total {total:.1f} s; MLflow share {mlflow_seconds / total:.1%} (target < 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
