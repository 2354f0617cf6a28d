"""How hard is the synthetic marketplace? The figures of docs/synthetic-marketplace.md.

    .venv/bin/python scripts/synth_difficulty.py                   # 20,000 sellers, seed 2026
    .venv/bin/python scripts/synth_difficulty.py --sellers 40000 --seed 7 --months 12

Generates one marketplace at the generator's default parameters, builds the point-in-time
features (:func:`features.build_features`), and prints, on the same rows:

- the true PD's AUC (the oracle, which knows what no record shows);
- the best single feature's AUC on all sellers (the feature's better direction), and its
  share of the oracle's lift (AUC - 0.5): the generator promises at most 85 %;
- the model's AUC: :func:`models.train` with its default configuration, trained on the
  *approved* sellers only (the only ones whose outcome a lender observes), evaluated on
  its own hold-out of approved sellers and on every seller it never saw (that hold-out
  plus all declined sellers);
- a cross-validated logistic regression (median imputation with missing indicators,
  standardised numeric features, one-hot categories, ``LogisticRegressionCV``) trained on
  the same approved training rows and evaluated on the same rows as the model;

with the time of each step. AUCs are against the realised ``defaulted_12m``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import features  # noqa: E402
from models import TrainConfig, train  # noqa: E402
from models.evaluation import auc, single_feature_aucs  # noqa: E402
from synth.marketplace import generate_marketplace  # noqa: E402

#: Issue 15 item 2: no single feature reaches more than this share of the true PD's AUC lift.
MAX_SINGLE_FEATURE_SHARE = 0.85

def logistic_regression(train_rows: pd.DataFrame, train_label: np.ndarray, seed: int):  # noqa: ANN201
    """A cross-validated logistic regression pipeline fitted on ``train_rows``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in train_rows.columns
                   if isinstance(train_rows[c].dtype, pd.CategoricalDtype)
                   or not (pd.api.types.is_numeric_dtype(train_rows[c].dtype)
                           or pd.api.types.is_bool_dtype(train_rows[c].dtype))]
    numeric = [c for c in train_rows.columns if c not in categorical]
    prepare = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                  StandardScaler()), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), categorical),
    ])
    model = make_pipeline(prepare, LogisticRegressionCV(
        Cs=8, cv=5, scoring="roc_auc", max_iter=2000, random_state=seed))
    frame = train_rows.copy()
    for c in numeric:
        frame[c] = frame[c].astype(float)
    for c in categorical:
        frame[c] = frame[c].astype(str)
    model.fit(frame, train_label)
    return model, numeric, categorical


def _as_lr_input(rows: pd.DataFrame, numeric: list[str], categorical: list[str]
                 ) -> pd.DataFrame:
    frame = rows.copy()
    for c in numeric:
        frame[c] = frame[c].astype(float)
    for c in categorical:
        frame[c] = frame[c].astype(str)
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sellers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    market = generate_marketplace(args.sellers, args.months, args.seed)
    generated = time.perf_counter()
    table = features.build_features(market.orders, market.sellers, market.as_of)
    built = time.perf_counter()
    truth = market.truth.set_index("seller_id").reindex(table.index)
    label = truth["defaulted_12m"].astype(int).to_numpy()
    true_pd = truth["true_pd"].to_numpy(dtype=float)
    approved = truth["approved"].to_numpy(dtype=bool)
    print(f"marketplace: {args.sellers:,} sellers, {args.months} months, seed {args.seed}, "
          f"{len(market.orders):,} orders, {table.shape[1]} features; generated in "
          f"{generated - started:.1f} s, features in {built - generated:.1f} s")
    print(f"default rate {label.mean():.2%}; approved {approved.mean():.1%} "
          f"(default rate {label[approved].mean():.2%}), declined "
          f"{(~approved).mean():.1%} (default rate {label[~approved].mean():.2%})")

    def lift_share(area: float, oracle: float) -> float:
        return (area - 0.5) / (oracle - 0.5)

    oracle_all = auc(label, true_pd)
    singles = single_feature_aucs(table, label)
    best_name = str(singles.index[0])
    health_auc = auc(label, -truth["latent_health"].to_numpy(dtype=float))
    print(f"\nall {len(label):,} sellers: true PD AUC {oracle_all:.4f}; the latent health "
          f"alone (what a perfect reading of every record channel could reach at most, "
          f"but for the new-seller and stopped-trading flags) {health_auc:.4f} "
          f"({lift_share(health_auc, oracle_all):.3f} of the lift)")
    print("best single features (AUC, share of the true PD's lift):")
    for name, area in singles.head(5).items():
        print(f"  {name:40s} {area:.4f}  {lift_share(area, oracle_all):.3f}")
    best_share = lift_share(float(singles.iloc[0]), oracle_all)
    print(f"target: no single feature above {MAX_SINGLE_FEATURE_SHARE:.2f} of the true PD's "
          f"lift: {'MET' if best_share <= MAX_SINGLE_FEATURE_SHARE else 'NOT MET'} "
          f"({best_share:.3f}, {singles.index[0]})")

    approved_rows = np.flatnonzero(approved)
    start_train = time.perf_counter()
    model = train(table.iloc[approved_rows], label[approved_rows],
                  config=TrainConfig(n_jobs=args.n_jobs, seed=args.seed))
    trained = time.perf_counter()
    holdout = approved_rows[model.training_report_.holdout_positions]
    fitted = np.setdiff1d(approved_rows, holdout)
    unseen = np.union1d(holdout, np.flatnonzero(~approved))
    lr, numeric, categorical = logistic_regression(table.iloc[fitted], label[fitted],
                                                   args.seed)
    lr_done = time.perf_counter()
    print(f"\nmodel: models.train default config on {len(approved_rows):,} approved sellers "
          f"({len(fitted):,} fitted, {len(holdout):,} held out), {trained - start_train:.1f} s;"
          f" logistic regression (5-fold CV over C) {lr_done - trained:.1f} s")
    print(f"{'rows':44s} {'true PD':>8s} {'model':>13s} {'logistic':>13s} "
          f"{'best feature':>13s}")
    for title, rows in ((f"approved hold-out ({len(holdout):,})", holdout),
                        (f"all never trained on ({len(unseen):,})", unseen),
                        (f"all sellers ({len(label):,}, incl. training)",
                         np.arange(len(label)))):
        y = label[rows]
        oracle = auc(y, true_pd[rows])
        model_auc = auc(y, model.predict_pd(table.iloc[rows]))
        lr_auc = auc(y, lr.predict_proba(_as_lr_input(table.iloc[rows], numeric,
                                                      categorical))[:, 1])
        feature = table[best_name].iloc[rows].astype(float)
        feature_auc = auc(y, feature.fillna(table[best_name].astype(float).median())
                          .to_numpy())
        feature_auc = max(feature_auc, 1.0 - feature_auc)
        print(f"{title:44s} {oracle:8.4f} {model_auc:.4f} ({lift_share(model_auc, oracle):.2f})"
              f" {lr_auc:.4f} ({lift_share(lr_auc, oracle):.2f})"
              f" {feature_auc:.4f} ({lift_share(feature_auc, oracle):.2f})")
    print(f"(in brackets: share of the true PD's AUC lift; best feature: {best_name})")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
