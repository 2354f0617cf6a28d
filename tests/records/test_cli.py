"""``sme-credit records load`` and ``refresh-snapshots`` on real files and a real store."""

from __future__ import annotations

import argparse
import sys

import pytest
import sqlalchemy as sa

from cli import CliError, records
from settings import Settings

from .conftest import AS_OF


def run(argv: list[str], settings: Settings) -> int:
    """What ``sme-credit`` does with these arguments (the lead wires the module in)."""
    parser = argparse.ArgumentParser(prog="sme-credit")
    records.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args, settings))
    except CliError as error:
        print(f"sme-credit {args.command}: error: {error}", file=sys.stderr)
        return 2


@pytest.fixture
def files(tmp_path, market):
    sellers, orders = tmp_path / "sellers.parquet", tmp_path / "orders.csv"
    market.sellers.to_parquet(sellers)
    market.orders.to_csv(orders, index=False)
    return sellers, orders


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data")


def counts(settings: Settings) -> tuple[int, int, int]:
    engine = sa.create_engine(settings.resolved_database_url())
    with engine.connect() as connection:
        found = tuple(int(connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                      for t in ("seller", "seller_order", "feature_snapshot"))
    engine.dispose()
    return found  # type: ignore[return-value]


def test_loading_twice_stores_the_records_once(files, settings, market, capsys):
    sellers, orders = files
    argv = ["records", "load", "--sellers", str(sellers), "--orders", str(orders),
            "--as-of", AS_OF.isoformat()]
    assert run(argv, settings) == 0
    out = capsys.readouterr().out
    assert f"orders: {len(market.orders):,} rows read, {len(market.orders):,} added" in out
    assert counts(settings) == (len(market.sellers), len(market.orders), len(market.sellers))
    assert run(argv, settings) == 0
    assert f"{len(market.orders):,} unchanged" in capsys.readouterr().out
    assert run(["records", "refresh-snapshots"], settings) == 0
    assert f"rebuilt {len(market.sellers)} feature snapshots" in capsys.readouterr().out


def test_bad_rows_are_named_by_row_and_field(tmp_path, files, settings, market, capsys):
    sellers, _ = files
    orders = tmp_path / "bad.csv"
    frame = market.orders.head(5).astype(str)
    frame.loc[frame.index[2], "currency"] = "XYZ"
    frame.to_csv(orders, index=False)
    assert run(["records", "load", "--sellers", str(sellers), "--orders", str(orders)],
               settings) == 0
    assert "row 3, field currency: unsupported currency" in capsys.readouterr().out
    assert counts(settings)[1] == 4
    assert run(["records", "load", "--sellers", str(sellers), "--orders", str(orders),
                "--strict"], settings) == 2
    assert "row 3, field currency" in capsys.readouterr().err


def test_a_missing_file_or_column_exits_2_and_stores_nothing(tmp_path, files, settings,
                                                              market, capsys):
    sellers, _ = files
    assert run(["records", "load", "--sellers", str(tmp_path / "none.csv"), "--orders",
                str(tmp_path / "none.csv")], settings) == 2
    assert "no such file" in capsys.readouterr().err
    orders = tmp_path / "short.csv"
    market.orders.head(3).drop(columns=["channel"]).to_csv(orders, index=False)
    assert run(["records", "load", "--sellers", str(sellers), "--orders", str(orders)],
               settings) == 2
    assert "field channel: missing column" in capsys.readouterr().err
    assert counts(settings) == (0, 0, 0)


def test_refreshing_an_unknown_seller_exits_2(settings, capsys):
    assert run(["records", "refresh-snapshots", "--seller", "nobody"], settings) == 2
    assert "no seller 'nobody'" in capsys.readouterr().err


def test_load_with_a_tier_history_file_stores_its_periods(files, settings, market, capsys,
                                                          tmp_path):
    sellers, orders = files
    tiers = tmp_path / "tier_history.csv"
    broken = market.tier_history.copy()
    broken.loc[0, "membership_tier"] = "diamond"
    broken.to_csv(tiers, index=False)
    argv = ["records", "load", "--sellers", str(sellers), "--orders", str(orders),
            "--tier-history", str(tiers), "--as-of", AS_OF.isoformat()]
    assert run(argv, settings) == 0
    out = capsys.readouterr().out
    kept = len(market.tier_history) - 1
    assert (f"tier periods: {len(market.tier_history):,} rows read, {kept:,} added, "
            "0 updated, 0 unchanged, 1 set aside") in out
    assert "row 1, field membership_tier: must be one of basic, silver, gold, platinum" in out
    engine = sa.create_engine(settings.resolved_database_url())
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT count(*) FROM seller_tier")).scalar_one()
    engine.dispose()
    assert stored == kept
