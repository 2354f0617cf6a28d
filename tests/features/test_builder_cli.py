"""``sme-credit features``: load through the contract, build, write Parquet, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import pytest
from distributed import LocalCluster

from cli import CliError
from cli.features import register
from features import build_features
from settings import Settings
from tests.features.test_builder_helpers import (
    AS_OF,
    example_orders,
    example_sellers,
    validated_orders,
    validated_sellers,
)
from tests.features.test_credit_history import example_credit_history, example_draws

# dask's own shuffle code still calls Series.values on timezone-aware columns (pandas 3.1)
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.csv" for name in ("sellers", "orders", "credit")}
    pd.DataFrame(example_sellers()).to_csv(paths["sellers"], index=False)
    pd.DataFrame(example_orders()).to_csv(paths["orders"], index=False)
    pd.DataFrame(example_draws()).to_csv(paths["credit"], index=False)
    return paths


def main(argv: list[str]) -> int:
    """``sme-credit features ...`` through the sub-command's own parser and handler, with
    user errors printed and exit status 2 as ``cli.main`` does (which also needs every
    other sub-command module to exist)."""
    parser = argparse.ArgumentParser(prog="sme-credit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args, Settings()))
    except CliError as exc:
        print(f"sme-credit {args.command}: error: {exc}", file=sys.stderr)
        return 2


def expected_table(with_credit: bool = False) -> pd.DataFrame:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    credit = example_credit_history(sellers) if with_credit else None
    return build_features(orders, sellers, AS_OF, credit)


def test_cli_writes_the_feature_table_as_parquet(inputs: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "features.parquet"
    status = main(["features", "--orders", str(inputs["orders"]), "--sellers",
                   str(inputs["sellers"]), "--as-of", "2025-07-01", "--out", str(out),
                   "--credit-history", str(inputs["credit"])])
    assert status == 0
    printed = capsys.readouterr().out
    assert "orders: 6 rows read, 6 kept, 0 set aside" in printed
    assert f"wrote 3 sellers x 61 features as of 2025-06-30T16:00:00+00:00 to {out}" in printed
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected_table(with_credit=True),
                                  check_exact=True, check_index_type=False)


def test_cli_sets_bad_rows_aside_and_reports_the_counts(
        inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = example_orders()
    rows[2]["channel"] = "teleshopping"
    pd.DataFrame(rows).to_csv(inputs["orders"], index=False)
    out = tmp_path / "features.parquet"
    assert main(["features", "--orders", str(inputs["orders"]), "--sellers",
                 str(inputs["sellers"]), "--as-of", "2025-07-01", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "orders: 6 rows read, 5 kept, 1 set aside, 1 problems" in printed
    assert "row 3, field channel: must be one of wholesale, dropship, custom, sample" in printed
    assert pd.read_parquet(out).loc["S1", "order_count_365d"] == 4


def test_strict_cli_rejects_naming_file_row_and_field(
        inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = example_orders()
    rows[2]["created_at"] = "2025-01-01 10:00"  # no time zone
    pd.DataFrame(rows).to_csv(inputs["orders"], index=False)
    out = tmp_path / "features.parquet"
    status = main(["features", "--orders", str(inputs["orders"]), "--sellers",
                   str(inputs["sellers"]), "--as-of", "2025-07-01", "--out", str(out),
                   "--strict"])
    assert status == 2
    error = capsys.readouterr().err
    assert str(inputs["orders"]) in error
    assert "row 3, field created_at: naive timestamp" in error
    assert not out.exists()


def test_cli_refuses_a_bad_as_of_and_a_missing_file(inputs: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "features.parquet"
    base = ["features", "--sellers", str(inputs["sellers"]), "--out", str(out)]
    assert main([*base, "--orders", str(inputs["orders"]), "--as-of", "someday"]) == 2
    assert "--as-of is not a date" in capsys.readouterr().err
    assert main([*base, "--orders", str(tmp_path / "nope.csv"), "--as-of", "2025-07-01"]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


def test_cli_builds_on_a_dask_scheduler(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        status = main(["features", "--orders", str(inputs["orders"]), "--sellers",
                       str(inputs["sellers"]), "--as-of", "2025-07-01", "--out", str(out),
                       "--scheduler", cluster.scheduler_address])
    assert status == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected_table(), check_exact=True,
                                  check_index_type=False)


def test_cli_reads_the_tier_in_effect_from_a_tier_history_file(
        inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = example_sellers()
    for row in rows:
        row["membership_tier_at"] = None  # the tier's moment is not known
    pd.DataFrame(rows).to_csv(inputs["sellers"], index=False)
    tiers = tmp_path / "tiers.csv"
    pd.DataFrame([
        {"seller_id": "S1", "membership_tier": "silver", "valid_from": "2024-01-01T00:00:00Z",
         "valid_to": "2025-01-01T00:00:00Z"},
        {"seller_id": "S1", "membership_tier": "platinum",
         "valid_from": "2025-01-01T00:00:00Z", "valid_to": ""},
        {"seller_id": "S2", "membership_tier": "gold", "valid_from": "2025-08-01T00:00:00Z",
         "valid_to": ""},
    ]).to_csv(tiers, index=False)
    out = tmp_path / "features.parquet"
    assert main(["features", "--orders", str(inputs["orders"]), "--sellers",
                 str(inputs["sellers"]), "--tier-history", str(tiers), "--as-of",
                 "2025-07-01", "--out", str(out)]) == 0
    assert "tier history: 3 rows read, 3 kept, 0 set aside" in capsys.readouterr().out
    table = pd.read_parquet(out)
    # S1: platinum since 2025-01-01; S2: its gold starts after as_of; S3: no history
    assert table["membership_tier"].astype(object).where(
        table["membership_tier"].notna(), None).tolist() == ["platinum", None, None]
