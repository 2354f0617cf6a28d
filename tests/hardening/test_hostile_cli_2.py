"""``sme-credit records load`` with times outside the plausible range and look-alike ids
(issue 16), on SQLite and PostgreSQL: the bad rows are set aside naming their row and
field, the good ones are stored, and nothing crashes, from CSV and from Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cli import main
from store import make_engine, upgrade_database
from tests.hardening.conftest import SmallMarket


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          database_url: str) -> Iterator[sa.Engine]:
    """The database ``sme-credit records load`` writes to (SQLite and PostgreSQL)."""
    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", database_url)
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _records(market: SmallMarket) -> tuple[pd.DataFrame, pd.DataFrame]:
    chosen = sorted(market.seller_for.values())
    sellers = market.sellers[market.sellers["seller_id"].isin(chosen)].reset_index(drop=True)
    orders = market.orders[market.orders["seller_id"].isin(chosen)].reset_index(drop=True)
    return sellers, orders


def _stored(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"select count(*) from {table}")).scalar_one())


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_records_load_sets_aside_times_out_of_range_naming_row_and_field(
        tmp_path: Path, small_market: SmallMarket, capsys: pytest.CaptureFixture[str],
        store: sa.Engine, form: str):
    sellers, orders = _records(small_market)
    if form == "csv":
        sellers = sellers.astype({"registered_at": str})
        orders = orders.astype({"created_at": str})
        sellers.loc[1, "registered_at"] = "1500-01-01T00:00:00Z"
        orders.loc[2, "created_at"] = "9999-12-31T23:59:59-14:00"
        sellers.to_csv(tmp_path / "sellers.csv", index=False)
        orders.to_csv(tmp_path / "orders.csv", index=False)
    else:
        # Parquet keeps microsecond times of any year: 1600 is a real timestamp there.
        registered = sellers["registered_at"].dt.as_unit("us")
        registered.iloc[1] = pd.Timestamp("1600-01-01", tz="UTC").as_unit("us")
        created = orders["created_at"].dt.as_unit("us")
        created.iloc[2] = pd.Timestamp("2500-01-01", tz="UTC").as_unit("us")
        sellers.assign(registered_at=registered).to_parquet(tmp_path / "sellers.parquet")
        orders.assign(created_at=created).to_parquet(tmp_path / "orders.parquet")
    status = main(["records", "load", "--sellers", str(tmp_path / f"sellers.{form}"),
                   "--orders", str(tmp_path / f"orders.{form}")])
    out, err = capsys.readouterr()
    assert status == 0, (out, err)
    assert "Traceback" not in err
    assert "row 2, field registered_at: out of range" in out, out
    assert "row 3, field created_at: out of range" in out, out
    assert _stored(store, "seller") == len(sellers) - 1
    # the second seller's orders go with it (an order of an unknown seller)
    expected = len(orders) - 1 - int(
        (orders["seller_id"] == sellers.loc[1, "seller_id"]).drop(index=2).sum())
    assert _stored(store, "seller_order") == expected


def test_records_load_sets_aside_look_alike_ids(tmp_path: Path, small_market: SmallMarket,
                                                capsys: pytest.CaptureFixture[str],
                                                store: sa.Engine):
    sellers, orders = _records(small_market)
    first = str(sellers["seller_id"].iloc[0])
    twin = sellers.iloc[[0]].assign(seller_id="\uff33" + first[1:])
    sellers = pd.concat([sellers, twin], ignore_index=True)
    sellers.to_csv(tmp_path / "sellers.csv", index=False)
    orders.to_csv(tmp_path / "orders.csv", index=False)
    status = main(["records", "load", "--sellers", str(tmp_path / "sellers.csv"),
                   "--orders", str(tmp_path / "orders.csv")])
    out, err = capsys.readouterr()
    assert status == 0, (out, err)
    assert f"row {len(sellers)}, field seller_id: not an id" in out, out
    assert _stored(store, "seller") == len(sellers) - 1
