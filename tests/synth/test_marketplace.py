"""The synthetic marketplace: contract, realism and the truth behind it."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from cli import CliError
from cli import synth as synth_cli
from features.records import (
    ORDER_FIELDS,
    SELLER_FIELDS,
    load_orders,
    load_sellers,
    validate_orders,
    validate_sellers,
)
from settings import Settings
from synth.marketplace import (
    DEFAULT_AS_OF,
    SPRING_FESTIVAL,
    DemandShock,
    Marketplace,
    SystematicFactor,
    generate_marketplace,
    seasonality,
    spring_festival,
)

SHANGHAI = "Asia/Shanghai"


@pytest.fixture(scope="module")
def market() -> Marketplace:
    """14 months before 2026-07-01: covers 618 and Double 11 of 2025 and the 2026 Spring
    Festival (17 February)."""
    return generate_marketplace(500, 14, seed=11, orders_per_seller_month=60)


@pytest.fixture(scope="module")
def per_seller(market: Marketplace) -> pd.DataFrame:
    orders = market.orders
    grouped = orders.groupby("seller_id", observed=True)
    buyers = orders.groupby(["seller_id", "buyer_id"], observed=True).size()
    top_share = buyers.groupby(level=0).max() / buyers.groupby(level=0).sum()
    paid = orders["paid_out_at"].notna()
    payout_days = (orders["paid_out_at"] - orders["created_at"]).dt.total_seconds() / 86_400
    recent = orders["created_at"] >= market.as_of - pd.Timedelta(days=91)
    earlier = orders["created_at"].between(market.as_of - pd.Timedelta(days=365),
                                           market.as_of - pd.Timedelta(days=274))
    frame = pd.DataFrame({
        "orders": grouped.size(),
        "mean_amount": grouped["amount"].mean(),
        "buyers": grouped["buyer_id"].nunique(),
        "top_buyer_share": top_share,
        "refund_rate": (orders["refunded_amount"] > 0).groupby(orders["seller_id"]).mean(),
        "payout_days": payout_days[paid].groupby(orders["seller_id"][paid]).mean(),
        "recent_gmv": orders["amount"].where(recent, 0.0).groupby(orders["seller_id"]).sum(),
        "year_ago_gmv": orders["amount"].where(earlier, 0.0).groupby(orders["seller_id"]).sum(),
    })
    truth = market.truth.set_index("seller_id")
    return frame.join(truth[["kind", "latent_health", "true_pd"]], how="inner")


def _daily_gmv(orders: pd.DataFrame) -> pd.Series:
    local_day = orders["created_at"].dt.tz_convert(SHANGHAI).dt.date
    return orders["amount"].groupby(local_day).sum()


def test_same_seed_gives_identical_marketplace() -> None:
    first = generate_marketplace(150, 3, seed=5, orders_per_seller_month=20)
    second = generate_marketplace(150, 3, seed=5, orders_per_seller_month=20)
    other = generate_marketplace(150, 3, seed=6, orders_per_seller_month=20)

    pd.testing.assert_frame_equal(first.sellers, second.sellers)
    pd.testing.assert_frame_equal(first.orders, second.orders)
    pd.testing.assert_frame_equal(first.truth, second.truth)
    assert first.as_of == second.as_of
    assert not first.truth["true_pd"].equals(other.truth["true_pd"])


def test_order_density_leaves_sellers_and_truth_unchanged() -> None:
    sparse = generate_marketplace(200, 3, seed=8, orders_per_seller_month=2)
    dense = generate_marketplace(200, 3, seed=8, orders_per_seller_month=20)
    # The approval policy reads the records, so only it may differ with the density.
    policy = ["approved", "observed_default_12m"]

    pd.testing.assert_frame_equal(sparse.sellers, dense.sellers)
    pd.testing.assert_frame_equal(sparse.truth.drop(columns=policy),
                                  dense.truth.drop(columns=policy))
    assert len(dense.orders) > 5 * len(sparse.orders)


def test_records_pass_the_contract() -> None:
    market = generate_marketplace(400, 14, seed=11)  # default density: ~100 orders a seller
    sellers = validate_sellers(market.sellers)
    orders = validate_orders(market.orders, market.sellers["seller_id"])

    assert sellers.report.ok, sellers.report.summary()
    assert orders.report.ok, orders.report.summary()
    # Already in the canonical dtypes and column order that validation produces.
    pd.testing.assert_frame_equal(sellers.frame, market.sellers)
    pd.testing.assert_frame_equal(orders.frame, market.orders)
    assert list(market.sellers.columns) == [spec.name for spec in SELLER_FIELDS]
    assert list(market.orders.columns) == [spec.name for spec in ORDER_FIELDS]
    assert market.orders["order_id"].is_unique
    assert market.sellers["seller_id"].str.fullmatch(r"S\d{6}").all()
    assert market.orders["order_id"].str.fullmatch(r"O\d{8}").all()
    assert (market.orders["currency"] == "CNY").all()


def test_nothing_is_recorded_at_or_after_as_of(market: Marketplace) -> None:
    orders = market.orders
    as_of = market.as_of
    assert as_of == DEFAULT_AS_OF
    for column in ("created_at", "shipped_at", "paid_out_at", "refunded_at"):
        assert (orders[column].dropna() < as_of).all(), column
    assert (market.sellers["registered_at"] < as_of).all()
    assert orders["created_at"].min() >= as_of - pd.DateOffset(months=14)


def test_sellers_register_before_their_first_order(market: Marketplace) -> None:
    first_order = market.orders.groupby("seller_id", observed=True)["created_at"].min()
    registered = market.sellers.set_index("seller_id")["registered_at"]
    assert (registered.loc[first_order.index] < first_order).all()


def test_new_sellers_have_few_or_no_orders(market: Marketplace, per_seller: pd.DataFrame
                                           ) -> None:
    sellers = market.sellers.set_index("seller_id")
    orders = per_seller["orders"].reindex(sellers.index, fill_value=0)
    new = sellers["registered_at"] > market.as_of - pd.Timedelta(days=90)

    assert (orders == 0).sum() >= 1
    assert new.sum() >= 5
    assert orders[new].median() < 0.5 * orders[~new].median()


def test_order_life_cycle_is_consistent(market: Marketplace) -> None:
    orders = market.orders
    refunded = orders["refunded_amount"] > 0
    assert (refunded == orders["refunded_at"].notna()).all()
    assert (orders["refunded_amount"] <= orders["amount"]).all()
    assert np.allclose(orders["amount"], orders["amount"].round(2))
    assert np.allclose(orders["refunded_amount"], orders["refunded_amount"].round(2))
    for column in ("shipped_at", "paid_out_at", "refunded_at"):
        assert (orders[column].dropna() >= orders.loc[orders[column].notna(), "created_at"]).all()

    status = orders["status"]
    cancelled = status == "cancelled"
    assert orders.loc[cancelled, ["shipped_at", "paid_out_at", "refunded_at"]].isna().all().all()
    assert not orders.loc[cancelled, "disputed"].any()
    assert orders.loc[status == "completed", ["shipped_at", "paid_out_at"]].notna().all().all()
    assert orders.loc[status == "shipped", "shipped_at"].notna().all()
    assert orders.loc[status == "shipped", "paid_out_at"].isna().all()
    assert orders.loc[status == "pending", ["shipped_at", "paid_out_at"]].isna().all().all()
    # Old orders have run their course; only recent ones can still be open.
    old = orders["created_at"] < market.as_of - pd.Timedelta(days=150)
    assert status[old].isin(["completed", "cancelled"]).all()
    assert status[~old].isin(["pending", "shipped"]).any()

    local_hour = orders["created_at"].dt.tz_convert(SHANGHAI).dt.hour
    assert local_hour.between(8, 22).all()
    assert (orders["buyer_country"] == "CN").mean() > 0.6
    assert orders["buyer_country"].nunique() > 5


def test_factories_have_fewer_larger_more_concentrated_buyers(per_seller: pd.DataFrame
                                                              ) -> None:
    established = per_seller[per_seller["orders"] >= 100]
    by_kind = established.groupby("kind")[["buyers", "mean_amount", "top_buyer_share"]].median()
    factory, shop = by_kind.to_dict("index")["factory"], by_kind.to_dict("index")["shop"]

    assert factory["buyers"] < 0.25 * shop["buyers"]
    assert factory["mean_amount"] > 3 * shop["mean_amount"]
    assert factory["top_buyer_share"] > 5 * shop["top_buyer_share"]


def test_factories_sell_custom_and_samples_and_shops_dropship(market: Marketplace) -> None:
    kind = market.orders["seller_id"].map(market.sellers.set_index("seller_id")["kind"])
    mix = pd.crosstab(kind, market.orders["channel"], normalize="index").to_dict("index")

    assert mix["factory"]["custom"] + mix["factory"]["sample"] > 0.3
    assert mix["shop"]["dropship"] > 0.3
    assert mix["factory"]["dropship"] < 0.05


def test_factories_are_paid_out_more_slowly(per_seller: pd.DataFrame) -> None:
    payout = per_seller.groupby("kind")["payout_days"].median().to_dict()
    assert payout["factory"] > payout["shop"] + 5


def test_spring_festival_dip_and_11_11_spike_show_in_daily_gmv(market: Marketplace) -> None:
    gmv = _daily_gmv(market.orders).to_dict()

    def mean_of(first: date, days: int) -> float:
        return float(np.mean([gmv[first + timedelta(days=d)] for d in range(days)]))

    # Shops spike fivefold, factories (a large share of GMV) far less: about 2.5x in all,
    # give or take the industries' climate that month.
    assert gmv[date(2025, 11, 11)] > 2.0 * mean_of(date(2025, 10, 1), 28)
    assert gmv[date(2025, 6, 18)] > 1.5 * mean_of(date(2025, 6, 22), 7)
    assert mean_of(spring_festival(2026), 7) < 0.5 * mean_of(date(2026, 1, 5), 21)


def test_seasonality_knows_chinese_new_year_from_2015_to_2035() -> None:
    assert set(SPRING_FESTIVAL) == set(range(2015, 2036))
    assert all(date(year, 1, 20) <= day <= date(year, 2, 21)
               for year, day in SPRING_FESTIVAL.items())
    days = np.array(["2024-02-10", "2024-03-20"], dtype="datetime64[D]")
    assert seasonality(days, "factory")[0] < 0.2 * seasonality(days, "factory")[1]
    assert seasonality(days, "shop")[0] < 0.5 * seasonality(days, "shop")[1]
    with pytest.raises(ValueError, match="2015-2035"):
        spring_festival(2040)


def test_demand_shock_hits_the_chosen_industries() -> None:
    shock = DemandShock(start="2026-01-05", weeks=4, depth=0.7, industries=("apparel",))
    market = generate_marketplace(400, 12, seed=3, orders_per_seller_month=30, shock=shock)
    industry = market.orders["seller_id"].map(market.sellers.set_index("seller_id")["industry"])
    created = market.orders["created_at"]
    during = created.between(pd.Timestamp("2026-01-12", tz="UTC"),
                             pd.Timestamp("2026-02-01", tz="UTC"))
    before = created.between(pd.Timestamp("2025-12-01", tz="UTC"),
                             pd.Timestamp("2025-12-21", tz="UTC"))
    hit = industry == "apparel"

    ratio_hit = during[hit].sum() / before[hit].sum()
    ratio_other = during[~hit].sum() / before[~hit].sum()
    assert ratio_hit < 0.6 * ratio_other
    assert market.parameters["shock"]["industries"] == ["apparel"]


def test_realised_default_rate_tracks_the_base_rate() -> None:
    for base in (0.03, 0.08):
        market = generate_marketplace(2000, 1, seed=21, base_default_rate=base,
                                      orders_per_seller_month=2)
        truth = market.truth
        standard_error = np.sqrt(base * (1 - base) / len(truth))
        assert truth["true_pd"].mean() == pytest.approx(base, rel=1e-6)
        assert abs(market.realised_default_rate - base) < 4 * standard_error


def test_defaults_fall_within_twelve_months_after_as_of(market: Marketplace) -> None:
    truth = market.truth
    defaulted = truth["defaulted_12m"]
    assert (defaulted == truth["default_date"].notna()).all()
    dates = truth.loc[defaulted, "default_date"]
    assert (dates > market.as_of).all()
    assert (dates <= market.as_of + pd.DateOffset(months=12)).all()
    assert (truth["as_of"] == market.as_of).all()
    assert truth["true_pd"].between(0, 1).all()


def test_latent_health_shows_in_the_records(per_seller: pd.DataFrame) -> None:
    established = per_seller[(per_seller["orders"] >= 200) & (per_seller["year_ago_gmv"] > 0)]
    health = established["latent_health"]
    growth = np.log1p(established["recent_gmv"]) - np.log1p(established["year_ago_gmv"])

    assert growth.corr(health, method="spearman") > 0.3
    assert established["refund_rate"].corr(health, method="spearman") < -0.2
    assert established["payout_days"].corr(health, method="spearman") < -0.1
    # Health is the largest of the PD's factors, not the only one (hidden risk, climate).
    assert per_seller["true_pd"].corr(per_seller["latent_health"], method="spearman") < -0.7


def test_without_hidden_risk_and_climate_the_pd_follows_health_alone() -> None:
    market = generate_marketplace(300, 2, seed=4, hidden_risk_share=0.0,
                                  orders_per_seller_month=5,
                                  systematic=SystematicFactor(pd_loading=0.0))
    truth = market.truth.sort_values("latent_health")
    assert truth["true_pd"].corr(-truth["latent_health"], method="spearman") > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_sellers": 0}, "n_sellers"),
        ({"months": 0}, "months"),
        ({"seed": -1}, "seed"),
        ({"base_default_rate": 0.5}, "base_default_rate"),
        ({"base_default_rate": 0.0}, "base_default_rate"),
        ({"hidden_risk_share": 1.0}, "hidden_risk_share"),
        ({"orders_per_seller_month": 0}, "orders_per_seller_month"),
        ({"signal_strength": -1.0}, "signal_strength"),
        ({"as_of": "2014-03-01"}, "Spring Festival"),
        ({"shock": DemandShock(industries=("mining",))}, "unknown shock industries"),
        ({"approval_rate": 0.0}, "approval_rate"),
        ({"systematic": SystematicFactor(persistence=1.0)}, "persistence"),
        ({"systematic": SystematicFactor(pd_loading=-0.1)}, "pd_loading"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"n_sellers": 10, "months": 2, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_marketplace(**arguments)  # type: ignore[arg-type]


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sme-credit")
    synth_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", *argv])
    return int(args.handler(args, Settings()))


def test_cli_writes_sellers_orders_truth_and_manifest(tmp_path, capsys) -> None:
    out = tmp_path / "market"
    status = _run_cli("--sellers", "120", "--months", "4", "--seed", "9", "--out", str(out),
                      "--orders-per-month", "20", "--no-progress")

    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    sellers = pd.read_parquet(out / "sellers.parquet")
    orders = pd.read_parquet(out / "orders.parquet")
    truth = pd.read_parquet(out / "truth.parquet")
    expected = generate_marketplace(120, 4, seed=9, orders_per_seller_month=20)
    assert manifest["seed"] == 9
    assert manifest["as_of"] == "2026-07-01T00:00:00+00:00"
    assert manifest["counts"] == {"sellers": 120, "orders": len(orders),
                                  "tier_history": len(expected.tier_history), "truth": 120}
    assert manifest["realised_default_rate"] == pytest.approx(truth["defaulted_12m"].mean())
    assert manifest["generator_version"]
    assert len(orders) == len(expected.orders)
    assert load_sellers(out / "sellers.parquet").report.ok
    assert load_orders(out / "orders.parquet", sellers).report.ok
    printed = capsys.readouterr().out
    assert "orders.parquet" in printed and f"{len(orders):,} rows" in printed
    assert "realised default rate" in printed


def test_cli_csv_output_loads_back_through_the_contract(tmp_path) -> None:
    out = tmp_path / "csv"
    _run_cli("--sellers", "60", "--months", "2", "--seed", "2", "--out", str(out),
             "--orders-per-month", "15", "--format", "csv", "--as-of", "2025-03-15")

    sellers = load_sellers(out / "sellers.csv", strict=True).frame
    orders = load_orders(out / "orders.csv", sellers, strict=True).frame
    expected = generate_marketplace(60, 2, seed=2, orders_per_seller_month=15,
                                    as_of="2025-03-15")
    pd.testing.assert_frame_equal(sellers, expected.sellers)
    pd.testing.assert_frame_equal(orders, expected.orders)
    # a date without offset means midnight in the lender's time zone (Asia/Shanghai)
    assert json.loads((out / "manifest.json").read_text())["as_of"] == \
        "2025-03-14T16:00:00+00:00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sellers", "0"], "--sellers"),
        (["--sellers", "5", "--months", "0"], "--months"),
        (["--sellers", "5", "--default-rate", "0.6"], "--default-rate"),
        (["--sellers", "5", "--default-rate", "0"], "--default-rate"),
        (["--sellers", "5", "--as-of", "not a date"], "--as-of"),
        (["--sellers", "5", "--as-of", "2013-01-01"], "Spring Festival"),
        (["--sellers", "5", "--approval-rate", "0"], "--approval-rate"),
        (["--sellers", "5", "--approval-rate", "1.2"], "--approval-rate"),
    ],
)
def test_cli_refuses_bad_arguments(tmp_path, argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        _run_cli(*argv, "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_cli_refuses_an_unwritable_out_dir(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CliError, match="not writable|not a folder"):
        _run_cli("--sellers", "5", "--out", str(blocker / "market"))
    with pytest.raises(CliError, match="not a folder"):
        _run_cli("--sellers", "5", "--out", str(blocker))


def test_sme_credit_synth_reports_bad_arguments_with_exit_status_2(tmp_path, capsys) -> None:
    cli = pytest.importorskip("cli")
    try:
        cli.build_parser()
    except ImportError as exc:  # another sub-command is not written yet
        pytest.skip(f"sme-credit parser incomplete: {exc}")

    assert cli.main(["synth", "--sellers", "0", "--out", str(tmp_path / "out")]) == 2
    assert "--sellers must be at least 1" in capsys.readouterr().err
    assert cli.main(["synth", "--sellers", "30", "--months", "2", "--orders-per-month", "5",
                     "--out", str(tmp_path / "ok"), "--no-progress"]) == 0
    assert (tmp_path / "ok" / "manifest.json").is_file()
