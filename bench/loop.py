"""Measurement: does the loop pay off? (issue 14 item 6; docs/models.md, "The loop pays off")

    .venv/bin/python bench/loop.py --dir /tmp/loop --sellers 3500 --months 24 \\
        --base-default-rate 0.3 --window-months 12 --review-every-months 3 --seed 11
    .venv/bin/python bench/loop.py --dir /tmp/loop --reuse      # the same store again
    .venv/bin/python bench/loop.py --dir /tmp/loop --reuse --split-by-decision

Runs the loop through the product's own commands on a fresh data directory (``--dir``):

1. ``sme-credit simulate`` (a first champion is trained on a separate synthetic
   marketplace and promoted, then the book is run through the service; every line is
   reviewed every ``--review-every-months`` months on book by a new decision, so that
   labelled decisions carry a credit history);
2. ``sme-credit labels --window-months W`` (labels from the ledger) and
   ``sme-credit export decisions`` (every decision with its features: the declined ones
   are the rejects);
3. ``sme-credit train --features labels --label label --time-column decided_at``
   (challenger A), and the same with ``--reject-inference fuzzy --rejects decisions``
   (challenger B); the labels table has several rows per seller (its reviews), so
   ``train`` groups them by seller, and a seller decided in a later part loses its
   earlier rows; ``--split-by-decision`` trains on a copy whose ``seller_id`` is the
   decision's id instead (every decision a row of its own);
4. the promotion gates (:func:`models.gates.judge`, what ``sme-credit models promote``
   runs) of A and of B against the **first** champion on A's out-of-time hold-out (the
   latest labelled decisions; B holds out the same rows), then ``sme-credit promote`` of A
   itself. The score PSI of :func:`judge` is taken against the challenger's scores of
   every applicant of its training window (approved and declined,
   :func:`models.gates.applicants_of_training_window`); the PSI against its training
   scores (the approved sellers only) is printed beside it;
5. what only the simulator knows (``outcomes.parquet``): every decision of the
   out-of-time period (from the start of the hold-out to the end of the book, approved or
   not) with whether the seller had failed within 12 months (``failed_within_12m``: its
   default day falls in the 12 months after the decision or before it; a review of a
   seller already failed, its line in arrears, is a bad case, not a good one; stores
   simulated before 2026-12-07 lack the column and fall back to ``defaults_within_12m``,
   which counted those reviews as good), for the AUC of each model on the
   through-the-door population (DeLong 95 % intervals, paired against the champion) and
   the PD level of each model on the rejects against their observed default rate
   (Jeffreys 95 % interval).

``--base-default-rate`` sets the mean 12-month default probability of the *simulated*
marketplace (``sme-credit simulate --base-default-rate``, the generator's
``base_default_rate``). The first champion's training marketplace keeps the default 0.05: the
lender's first model learnt on a less risky population than its own book turns out to be.

Prints every figure; ``--json PATH`` writes them too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _cli(argv: list[str]) -> int:
    from cli import main as sme_credit

    print(f"\n$ sme-credit {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    status = sme_credit(argv)
    print(f"[{time.perf_counter() - started:.1f} s, exit {status}]", flush=True)
    return status


def _simulate(args: argparse.Namespace) -> None:
    status = _cli(["simulate", "--sellers", str(args.sellers), "--months", str(args.months),
                   "--seed", str(args.seed), "--base-default-rate", str(args.base_default_rate),
                   "--review-every-months", str(args.review_every_months)])
    if status != 0:
        raise SystemExit(f"simulate failed (exit {status})")


def _features_of_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions export with features under their own names (a feature that clashed
    with a decision column is exported as ``feature_NAME``)."""
    renamed = {c: c.removeprefix("feature_") for c in decisions.columns
               if c.startswith("feature_")}
    return decisions.drop(columns=list(renamed.values()), errors="ignore").rename(
        columns=renamed)


def _auc_with_interval(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from models.evaluation import delong_covariance

    aucs, cov = delong_covariance(y, score.reshape(1, -1))
    se = float(np.sqrt(max(float(cov[0, 0]), 0.0)))
    return {"auc": float(aucs[0]), "lower": max(0.0, float(aucs[0]) - 1.96 * se),
            "upper": min(1.0, float(aucs[0]) + 1.96 * se)}


def _gate_lines(outcome: Any) -> list[str]:
    lines = []
    for gate in outcome.gates:
        mark = "pass" if gate.passed else ("FAIL" if gate.blocking else "warn")
        value = "-" if gate.value is None else f"{gate.value:.4f}"
        lines.append(f"    [{mark}] {gate.name}: {value} ({gate.bound}); {gate.detail}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True,
                        help="data directory (store, MLflow, outputs); must not exist "
                        "unless --reuse")
    parser.add_argument("--reuse", action="store_true",
                        help="use the store already in --dir (skip the simulation)")
    parser.add_argument("--sellers", type=int, default=3500)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--base-default-rate", type=float, default=0.3)
    parser.add_argument("--review-every-months", type=int, default=3,
                        help="simulate's --review-every-months (0: no reviews)")
    parser.add_argument("--window-months", type=int, default=12)
    parser.add_argument("--definition", default="default")
    parser.add_argument("--embargo-days", type=float, default=None,
                        help="train's --embargo-days (default: train's own, the label "
                        "window; a book too short to hold it at two cuts needs "
                        "--time-validation cross-validation or a shorter embargo)")
    parser.add_argument("--time-validation", choices=("out-of-time", "cross-validation"),
                        default="out-of-time", help="train's --time-validation")
    parser.add_argument("--group-split", choices=("strict", "outcome"), default="strict",
                        help="train's --group-split")
    parser.add_argument("--reject-pd-factor", type=float, default=1.0)
    parser.add_argument("--split-by-decision", action="store_true",
                        help="train on a copy of the labels whose seller_id is the "
                        "decision's id: every labelled decision a row of its own in the "
                        "out-of-time split, so a "
                        "seller's earlier decisions may train a model judged on its later "
                        "ones (by default train groups the rows by seller, and a seller "
                        "with a decision in a later part loses its earlier rows)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    if args.dir.exists() and not args.reuse and any(args.dir.iterdir()):
        parser.error(f"{args.dir} is not empty; give a new folder or --reuse")
    args.dir.mkdir(parents=True, exist_ok=True)
    os.environ["SME_CREDIT_DATA_DIR"] = str(args.dir)
    os.environ["SME_CREDIT_CLOCK"] = "simulated"
    started = time.perf_counter()
    if not args.reuse:
        _simulate(args)

    from cli.models import latest_applicants
    from features.registry import FEATURES
    from models.backtest import jeffreys_interval
    from models.evaluation import paired_auc_difference
    from models.gates import (
        GateConfig,
        RecentApplicants,
        applicants_of_training_window,
        judge,
    )
    from models.registry import alias_versions, load_credit_model, load_holdout
    from scoring.config import GradeBands
    from settings import Settings
    from synth import marketplace as generator

    # the generator versions itself since 2.0.0 (earlier ones said nothing)
    generator_version = getattr(generator, "GENERATOR_VERSION", "before 2.0.0")
    settings = Settings()
    uri, name = settings.resolved_tracking_uri(), settings.model_name
    tag = f"{args.definition}-w{args.window_months}"
    labels_path = args.dir / f"labels-{tag}.parquet"
    decisions_path = args.dir / "decisions.parquet"
    if _cli(["labels", "--out", str(labels_path), "--window-months",
             str(args.window_months), "--definition", args.definition]) != 0:
        return 1
    if not decisions_path.exists() and _cli(["export", "decisions", "--out",
                                             str(decisions_path)]) != 0:
        return 1
    versions = alias_versions(uri, name)
    first_champion = versions["champion"]
    training_path = labels_path
    if args.split_by_decision:
        # the labels with each decision as its own "seller": train does not group them
        training_path = labels_path.with_name(f"labels-{tag}-by-decision.parquet")
        by_decision = pd.read_parquet(labels_path)
        by_decision["seller_id"] = by_decision["decision_id"]
        by_decision.to_parquet(training_path)
        training_path.with_suffix(".json").write_text(
            labels_path.with_suffix(".json").read_text())
    common = ["train", "--features", str(training_path), "--label", "label",
              "--time-column", "decided_at", "--time-validation", args.time_validation,
              "--group-split", args.group_split]
    if args.embargo_days is not None:
        common += ["--embargo-days", f"{args.embargo_days:g}"]
    if _cli(common) != 0:
        return 1
    plain_version = alias_versions(uri, name)["challenger"]
    if _cli([*common, "--reject-inference", "fuzzy", "--rejects", str(decisions_path),
             "--reject-pd-factor", f"{args.reject_pd_factor:g}"]) != 0:
        return 1
    fuzzy_version = alias_versions(uri, name)["challenger"]

    champion, _ = load_credit_model(uri, name, version=first_champion)
    plain, _ = load_credit_model(uri, name, version=plain_version)
    fuzzy, _ = load_credit_model(uri, name, version=fuzzy_version)
    models = {f"champion v{first_champion} (first)": champion,
              f"challenger v{plain_version} (ledger labels)": plain,
              f"challenger v{fuzzy_version} (+ fuzzy reject inference)": fuzzy}
    figures: dict[str, Any] = {"command": " ".join(sys.argv), "first_champion": first_champion,
                               "plain": plain_version, "fuzzy": fuzzy_version,
                               "generator_version": generator_version,
                               "split_by_decision": args.split_by_decision,
                               "time_validation": args.time_validation,
                               "group_split": args.group_split,
                               "embargo_days": args.embargo_days}
    print(f"\nsynthetic generator version {generator_version}")

    labels = pd.read_parquet(labels_path)
    history = [n for n, spec in FEATURES.items() if spec.family == "repayment"
               and n in labels.columns]
    # a seller without a line has every credit-history feature at its "none yet" value
    with_history = (labels["credit_months_on_book"].fillna(0) > 0) \
        if "credit_months_on_book" in labels.columns else pd.Series(False, index=labels.index)
    outcomes = pd.read_parquet(args.dir / "simulation" / "outcomes.parquet")
    reviewed = labels["decision_id"].isin(
        outcomes.loc[outcomes["review"], "decision_id"]) if "review" in outcomes else \
        pd.Series(False, index=labels.index)
    varying = {n: int(labels.loc[reviewed, n].nunique()) for n in history}
    figures["labels"] = {"rows": len(labels), "bads": int(labels["label"].sum()),
                         "sellers": int(labels["seller_id"].nunique()),
                         "reviews": int(reviewed.sum()),
                         "review_bads": int(labels.loc[reviewed, "label"].sum()),
                         "credit_history_features": history,
                         "distinct_values_in_reviews": varying,
                         "with_credit_history": int(with_history.sum())}
    print(f"\nlabels ({tag}): {len(labels):,} decisions of "
          f"{labels['seller_id'].nunique():,} sellers, {int(labels['label'].sum())} bad; "
          f"{int(reviewed.sum()):,} are reviews ({int(labels.loc[reviewed, 'label'].sum())} "
          f"bad); {int(with_history.sum())} with months on book > 0 (a draw before the "
          f"decision); distinct values of the credit-history features in the reviews: "
          + ", ".join(f"{n} {k}" for n, k in varying.items()))

    # --- the promotion gates against the first champion, on A's out-of-time hold-out
    grades = GradeBands()
    gates = GateConfig(grade_upper_pd=tuple(grades.upper_pd),
                       grade_labels=tuple(grades.labels))
    X, y = load_holdout(uri, name, plain_version)
    applicants = _features_of_decisions(
        latest_applicants(settings.resolved_database_url(), 5000))
    every_decision = _features_of_decisions(pd.read_parquet(decisions_path))
    window = plain.metadata_["training"]["windows"]["holdout"]
    print(f"\nout-of-time hold-out of v{plain_version}: {len(y)} decisions, {int(y.sum())} "
          f"bad, decided {window[0]} to {window[1]}")
    figures["holdout"] = {"rows": len(y), "bads": int(y.sum()), "window": window}
    for key, model in (("plain", plain), ("fuzzy", fuzzy)):
        recent = RecentApplicants(applicants, "the simulated book's decisions",
                                  applicants_of_training_window(every_decision, model))
        outcome = judge(model, X, y, champion=champion, config=gates,
                        servable_features=FEATURES.keys(), recent=recent)
        auc = outcome.comparisons.get("auc", {})
        verdict = all(g.passed for g in outcome.gates if g.blocking)
        figures[f"gate_{key}"] = {"promoted": verdict, "auc": auc,
                                  "challenger": outcome.figures.get("challenger", {}),
                                  "champion": outcome.figures.get("champion", {}),
                                  "comparisons": outcome.comparisons,
                                  "gates": [{"name": g.name, "passed": g.passed,
                                             "blocking": g.blocking, "value": g.value,
                                             "bound": g.bound, "detail": g.detail}
                                            for g in outcome.gates]}
        print(f"  gates, challenger {key} v{figures[key]} against champion "
              f"v{first_champion}: {'PROMOTED' if verdict else 'REJECTED'}")
        for line in _gate_lines(outcome):
            print(line)
        for note in outcome.notes:
            print(f"    note: {note}")
        psi_training = outcome.figures["challenger"].get("psi_training_scores")
        if psi_training is not None:
            print(f"    score PSI against the challenger's training scores (approved "
                  f"sellers only), for comparison: {psi_training:.4f}")
        for model_key in ("challenger", "champion"):
            area = _auc_with_interval(y, (model if model_key == "challenger" else champion)
                                      .decision_function(X))
            print(f"    {model_key} hold-out AUC {area['auc']:.4f} "
                  f"[{area['lower']:.4f}, {area['upper']:.4f}]")
            figures[f"gate_{key}"][f"{model_key}_auc_interval"] = area

    # --- what only the simulator knows: the through-the-door population after the cut
    decisions = every_decision
    decided_day = pd.to_datetime(outcomes["decided_at"], utc=True).dt.tz_convert(
        settings.timezone).dt.tz_localize(None)
    window_end = decided_day + pd.DateOffset(months=args.window_months)
    default_day = pd.to_datetime(outcomes["default_day"])
    truth_column = "failed_within_12m" if "failed_within_12m" in outcomes \
        else "defaults_within_12m"
    figures["through_the_door_truth"] = truth_column
    # an upper bound of the ledger's label: a ledger bad also needs 90 days past due in it
    stopped = default_day.notna() & (default_day <= window_end)
    if truth_column == "defaults_within_12m":  # the old truth: not before the decision
        stopped &= default_day >= decided_day
    outcomes["defaults_within_window"] = stopped
    if "review" not in outcomes:
        outcomes["review"] = False
    frame = outcomes[["decision_id", "kept_aside", truth_column,
                      "defaults_within_window", "review"]].merge(
        decisions, on="decision_id", how="inner")
    start = pd.Timestamp(window[0])
    later = frame.loc[pd.to_datetime(frame["created_at"], utc=True) >= start]
    truth = later[truth_column].to_numpy(dtype=float)
    rejects = later["kept_aside"].to_numpy(dtype=bool)
    print(f"\nthrough the door from {start}: {len(later):,} decisions "
          f"({int(rejects.sum()):,} declined or referred), {int(truth.sum())} of them of "
          f"sellers failed within 12 months (the simulator's truth, {truth_column})")
    figures["through_the_door"] = {"rows": len(later), "rejects": int(rejects.sum()),
                                   "bads": int(truth.sum()),
                                   "reject_bads": int(truth[rejects].sum())}
    raw = {label: model.decision_function(later) for label, model in models.items()}
    pds = {label: model.predict_pd(later) for label, model in models.items()}
    champion_label = next(iter(models))
    lo, hi = jeffreys_interval(int(truth[rejects].sum()), int(rejects.sum()))
    in_window = later["defaults_within_window"].to_numpy(dtype=bool)
    figures["through_the_door"].update({
        "reject_default_rate_12m": float(truth[rejects].mean()),
        "reject_default_rate_12m_interval": [lo, hi],
        "reject_default_rate_window": float(in_window[rejects].mean()),
        "approved_default_rate_12m": float(truth[~rejects].mean()),
        "approved_default_rate_window": float(in_window[~rejects].mean())})
    print(f"  rejects: observed 12-month default rate {truth[rejects].mean():.4f} "
          f"[{lo:.4f}, {hi:.4f}] (Jeffreys 95 %), stopped paying within the "
          f"{args.window_months}-month label window {in_window[rejects].mean():.4f}; "
          f"approved: {truth[~rejects].mean():.4f} and {in_window[~rejects].mean():.4f}")
    rows = []
    for label in models:
        area = _auc_with_interval(truth, raw[label])
        reject_area = _auc_with_interval(truth[rejects], raw[label][rejects])
        row: dict[str, Any] = {"model": label, "auc": area, "reject_auc": reject_area,
               "mean_pd_all": float(pds[label].mean()),
               "mean_pd_rejects": float(pds[label][rejects].mean()),
               "mean_pd_approved": float(pds[label][~rejects].mean())}
        if label != champion_label:
            paired = paired_auc_difference(truth, raw[label], raw[champion_label])
            row["vs_champion"] = paired.to_dict()
        rows.append(row)
        against: dict[str, float] | None = row.get("vs_champion")
        print(f"  {label}: AUC {area['auc']:.4f} [{area['lower']:.4f}, {area['upper']:.4f}]"
              + (f", minus champion {against['difference']:+.4f} [{against['lower']:+.4f}, "
                 f"{against['upper']:+.4f}]" if against else "")
              + f"; on the rejects AUC {reject_area['auc']:.4f}, mean PD "
              f"{row['mean_pd_rejects']:.4f} (approved {row['mean_pd_approved']:.4f})")
    figures["through_the_door"]["models"] = rows
    # a seller decided several times (its reviews) counts once: its first decision of the
    # period, so that the intervals do not take repeated sellers for independent ones
    first_of_seller = ~later["seller_id"].duplicated().to_numpy()
    review_rows = later["review"].to_numpy(dtype=bool)
    parts = {"first decision per seller": first_of_seller,
             "applications": ~review_rows, "reviews": review_rows}
    figures["through_the_door"]["parts"] = {}
    for part, mask in parts.items():
        if truth[mask].min() == truth[mask].max():
            continue
        pieces = [f"  {part}: {int(mask.sum()):,} decisions, {int(truth[mask].sum())} "
                "defaulted;"]
        part_figures: dict[str, Any] = {"rows": int(mask.sum()),
                                        "bads": int(truth[mask].sum())}
        for label in models:
            area = _auc_with_interval(truth[mask], raw[label][mask])
            part_figures[label] = {"auc": area}
            text = f" {label.split(' (')[0]} {area['auc']:.4f}"
            if label != champion_label:
                paired = paired_auc_difference(truth[mask], raw[label][mask],
                                               raw[champion_label][mask])
                part_figures[label]["vs_champion"] = paired.to_dict()
                text += f" ({paired.difference:+.4f} [{paired.lower:+.4f}, " \
                        f"{paired.upper:+.4f}])"
            pieces.append(text)
        figures["through_the_door"]["parts"][part] = part_figures
        print(",".join(pieces))

    # --- and the product's own promotion of challenger A
    status = _cli(["promote", "--version", plain_version, "--by", "bench/loop.py"])
    figures["promote_exit_status"] = status
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\ntotal {figures['seconds']} s")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
