"""The synthetic marketplace is hard enough to be worth modelling, and labelled like a lender's.

No single record channel may give the default risk away, a shock must move the true PD,
and only the sellers the approval policy approved carry an observed outcome.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

import features
from cli import synth as synth_cli
from models.evaluation import auc, single_feature_aucs
from settings import Settings
from synth.marketplace import (
    DEFAULT_APPROVAL_RATE,
    DEFAULT_ORDERS_PER_SELLER_MONTH,
    DemandShock,
    SystematicFactor,
    generate_marketplace,
)


@pytest.mark.parametrize(
    ("sellers", "orders_per_seller_month"),
    [
        (20_000, None),  # the default density: about 4 orders per seller and month
        (5_000, 40.0),   # ten times denser: per-order noise averages out, seller noise stays
    ],
)
def test_no_single_feature_reaches_85_percent_of_the_true_pds_auc_lift(
        sellers: int, orders_per_seller_month: float | None) -> None:
    market = generate_marketplace(
        sellers, 12, seed=2026,
        orders_per_seller_month=orders_per_seller_month or DEFAULT_ORDERS_PER_SELLER_MONTH)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    truth = market.truth.set_index("seller_id").reindex(table.index)
    label = truth["defaulted_12m"].to_numpy(dtype=int)

    oracle_lift = auc(label, truth["true_pd"].to_numpy()) - 0.5
    singles = single_feature_aucs(table, label)
    name, best = str(singles.index[0]), float(singles.iloc[0])
    share = (best - 0.5) / oracle_lift
    assert share < 0.85, f"{name}: AUC {best:.4f}, {share:.2f} of the true PD's lift"
    # ... while the records still say a good deal about the risk.
    assert share > 0.4, f"{name}: AUC {best:.4f}, {share:.2f} of the true PD's lift"


def test_a_demand_shock_raises_the_true_pd_of_the_industries_it_hits() -> None:
    calm = generate_marketplace(3000, 12, seed=5, orders_per_seller_month=2,
                                shock=DemandShock(weeks=0, industries=("toys",)))
    shocked = generate_marketplace(3000, 12, seed=5, orders_per_seller_month=2,
                                   shock=DemandShock(start="2026-03-01", industries=("toys",)))
    toys = (calm.sellers["industry"] == "toys").to_numpy()

    assert toys.sum() > 100
    pd.testing.assert_series_equal(calm.truth["latent_health"], shocked.truth["latent_health"])
    assert shocked.truth["true_pd"][toys].mean() > 1.3 * calm.truth["true_pd"][toys].mean()
    assert (shocked.truth["industry_outlook"][toys]
            < calm.truth["industry_outlook"][toys]).all()
    assert shocked.parameters["industry_outlook"]["toys"] \
        < calm.parameters["industry_outlook"]["toys"] - 0.5


def test_the_true_pd_has_several_factors() -> None:
    truth = generate_marketplace(4000, 6, seed=3, orders_per_seller_month=2).truth
    pd_rank = truth["true_pd"].rank()

    assert pd_rank.corr(truth["latent_health"].rank()) < -0.6
    assert pd_rank.corr(truth["hidden_risk"].rank()) > 0.2
    assert pd_rank.corr(truth["industry_outlook"].rank()) < -0.1
    assert truth["industry_outlook"].nunique() > 1


def test_the_industry_climate_shows_in_demand() -> None:
    """A climate that only moved PD would be invisible; it moves the records too."""
    quiet = SystematicFactor(demand=0.0, quality=0.0, payout=0.0)
    loud = SystematicFactor(demand=1.0, quality=0.0, payout=0.0)
    orders = {name: generate_marketplace(1500, 6, seed=8, orders_per_seller_month=10,
                                         systematic=factor).orders
              for name, factor in (("quiet", quiet), ("loud", loud))}
    sellers = generate_marketplace(1500, 6, seed=8, orders_per_seller_month=10,
                                   systematic=quiet).sellers.set_index("seller_id")

    def monthly_share_spread(frame: pd.DataFrame) -> float:
        industry = frame["seller_id"].map(sellers["industry"])
        month = frame["created_at"].dt.strftime("%Y-%m")
        counts = frame.groupby([month, industry]).size().unstack()
        shares = counts.div(counts.sum(axis=1), axis=0)
        return float(np.log(shares).std().mean())

    assert monthly_share_spread(orders["loud"]) > 2 * monthly_share_spread(orders["quiet"])


def test_only_approved_sellers_have_an_observed_outcome() -> None:
    market = generate_marketplace(3000, 12, seed=12, orders_per_seller_month=3)
    truth = market.truth
    approved = truth["approved"].to_numpy(dtype=bool)
    defaulted = truth["defaulted_12m"].to_numpy(dtype=bool)
    observed = truth["observed_default_12m"]

    assert truth["approved"].dtype == bool
    assert approved.mean() == pytest.approx(DEFAULT_APPROVAL_RATE, abs=0.002)
    assert observed[~approved].isna().all()
    assert (observed[approved].astype(bool).to_numpy() == defaulted[approved]).all()
    # The policy reads risk from the records: the declined default far more often.
    assert defaulted[~approved].mean() > 2 * defaulted[approved].mean()
    assert market.parameters["approved_share"] == pytest.approx(approved.mean())

    labels = market.training_labels()
    assert set(labels.index) == set(truth.loc[approved, "seller_id"])
    assert labels.sum() == defaulted[approved].sum()
    assert len(market.training_labels(label_all=True)) == len(truth)


def test_approving_everyone_labels_every_seller() -> None:
    truth = generate_marketplace(200, 3, seed=4, orders_per_seller_month=2,
                                 approval_rate=1.0).truth
    assert truth["approved"].all()
    assert truth["observed_default_12m"].notna().all()


def test_cli_writes_the_approval_and_the_observed_outcome(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="sme-credit")
    synth_cli.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "market"
    args = parser.parse_args(["synth", "--sellers", "300", "--months", "3", "--seed", "9",
                              "--out", str(out), "--orders-per-month", "5",
                              "--approval-rate", "0.5", "--no-progress"])
    assert args.handler(args, Settings()) == 0

    truth = pd.read_parquet(out / "truth.parquet")
    assert truth["approved"].mean() == pytest.approx(0.5, abs=0.01)
    assert truth.loc[~truth["approved"], "observed_default_12m"].isna().all()
    assert truth.loc[truth["approved"], "observed_default_12m"].notna().all()
    assert "approved 50.0% of sellers" in capsys.readouterr().out
