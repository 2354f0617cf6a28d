"""The transaction-record contract: every problem reported with row, field and reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.records import (
    ORDER_FIELDS,
    SELLER_FIELDS,
    RecordValidationError,
    load_orders,
    load_sellers,
    read_table,
    validate_orders,
    validate_sellers,
)


def seller_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seller_id": ["S1", "S2"],
            "kind": ["shop", "factory"],
            "registered_at": ["2024-01-05T09:00:00+08:00", "2023-06-01T00:00:00Z"],
            "region": ["Zhejiang", "Guangdong"],
            "industry": ["apparel", "electronics"],
            "membership_tier": ["gold", "basic"],
        }
    )


def order_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3"],
            "seller_id": ["S1", "S1", "S2"],
            "buyer_id": ["B1", "B2", "B1"],
            "created_at": ["2025-01-02T10:00:00+08:00", "2025-01-03T10:00:00+08:00",
                           "2025-01-04T02:00:00Z"],
            "amount": ["120.50", "80", "1000.00"],
            "currency": ["CNY", "cny", "CNY"],
            "status": ["completed", "cancelled", "shipped"],
            "refunded_amount": ["20.50", "0", "0"],
            "refunded_at": ["2025-01-10T10:00:00+08:00", "", ""],
            "disputed": ["false", "no", "TRUE"],
            "channel": ["wholesale", "dropship", "custom"],
            "buyer_country": ["CN", "cn", "US"],
            "shipped_at": ["2025-01-03T10:00:00+08:00", "", "2025-01-05T00:00:00Z"],
            "paid_out_at": ["2025-01-09T10:00:00+08:00", "", ""],
        }
    )


def problems_of(result_report: pd.DataFrame) -> set[tuple[int, str, str]]:
    return {(int(r.row), r.field, r.reason) for r in result_report.itertuples(index=False)}


def test_clean_records_load_in_canonical_dtypes() -> None:
    sellers = validate_sellers(seller_rows())
    orders = validate_orders(order_rows(), sellers.frame["seller_id"])
    assert sellers.report.ok and orders.report.ok
    assert list(orders.frame.columns) == [spec.name for spec in ORDER_FIELDS]
    assert list(sellers.frame.columns) == [spec.name for spec in SELLER_FIELDS]
    frame = orders.frame
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"
    assert frame.loc[0, "created_at"] == pd.Timestamp("2025-01-02T02:00:00Z")
    assert frame["amount"].tolist() == [120.5, 80.0, 1000.0]
    assert frame["currency"].tolist() == ["CNY", "CNY", "CNY"]
    assert frame["disputed"].tolist() == [False, False, True]
    assert frame["buyer_country"].tolist() == ["CN", "CN", "US"]
    assert pd.isna(frame.loc[1, "shipped_at"])
    assert isinstance(frame["channel"].dtype, pd.CategoricalDtype)


def test_every_problem_is_reported_with_row_field_and_reason() -> None:
    raw = order_rows()
    raw.loc[0, "amount"] = "-5"
    raw.loc[1, "amount"] = "inf"
    raw.loc[2, "amount"] = "abc"
    raw.loc[2, "currency"] = "XBT"
    result = validate_orders(raw, ["S1", "S2"])
    found = problems_of(result.report.problems)
    assert (1, "amount", "negative amount") in found
    assert (2, "amount", "not a finite number") in found
    assert (3, "amount", "not a number") in found
    assert (3, "currency", "unsupported currency (supported: CNY)") in found
    assert result.report.n_bad == 3 and result.report.n_good == 0
    assert not any(field == "refunded_amount" for _, field, _ in found)


def test_refund_above_amount_and_refund_before_order_are_rejected() -> None:
    raw = order_rows()
    raw.loc[0, "refunded_amount"] = "130"
    raw.loc[0, "refunded_at"] = "2025-01-01T10:00:00+08:00"
    result = validate_orders(raw, ["S1", "S2"])
    found = problems_of(result.report.problems)
    assert (1, "refunded_amount", "refunded_amount above amount") in found
    assert (1, "refunded_at", "refunded_at before created_at") in found
    assert result.frame["order_id"].tolist() == ["O2", "O3"]


def test_bad_rows_are_set_aside_and_good_rows_kept() -> None:
    raw = order_rows()
    raw.loc[1, "seller_id"] = "S9"
    result = validate_orders(raw, ["S1", "S2"])
    assert result.frame["order_id"].tolist() == ["O1", "O3"]
    assert result.rejected["row"].tolist() == [2]
    assert result.rejected["reasons"].tolist() == ["order for an unknown seller"]
    assert "3 rows read, 2 kept, 1 set aside" in result.report.summary()


def test_duplicate_order_id_keeps_the_first_and_names_it() -> None:
    raw = pd.concat([order_rows(), order_rows().iloc[[0]]], ignore_index=True)
    result = validate_orders(raw, ["S1", "S2"])
    assert problems_of(result.report.problems) == {
        (4, "order_id", "duplicate order_id (first seen on row 1)")}
    assert result.frame["order_id"].tolist() == ["O1", "O2", "O3"]


def test_naive_timestamps_are_rejected() -> None:
    raw = order_rows()
    raw.loc[2, "created_at"] = "2025-01-04 02:00:00"
    found = problems_of(validate_orders(raw).report.problems)
    assert (3, "created_at", "naive timestamp: a time zone offset is required") in found


def test_naive_parquet_timestamp_column_is_rejected(tmp_path: Path) -> None:
    raw = seller_rows()
    raw["registered_at"] = pd.to_datetime(["2024-01-05", "2023-06-01"])
    path = tmp_path / "sellers.parquet"
    raw.to_parquet(path)
    result = load_sellers(path)
    assert result.report.n_bad == 2
    assert set(result.report.problems["reason"]) == {
        "naive timestamp: a time zone offset is required"}


def test_missing_column_rejects_the_file_and_extra_column_is_reported() -> None:
    raw = seller_rows().drop(columns=["region"]).assign(score=1)
    with pytest.raises(RecordValidationError) as caught:
        validate_sellers(raw)
    found = problems_of(caught.value.report.problems)
    assert found == {(0, "region", "missing column"),
                     (0, "score", "extra column (not part of the contract)")}


def test_extra_column_sets_no_row_aside_but_strict_mode_rejects() -> None:
    raw = seller_rows().assign(score=1)
    lenient = validate_sellers(raw)
    assert lenient.report.n_good == 2 and not lenient.report.ok
    with pytest.raises(RecordValidationError, match="extra column"):
        validate_sellers(raw, strict=True)


def test_strict_mode_rejects_the_whole_file_on_one_bad_row() -> None:
    raw = order_rows()
    raw.loc[2, "channel"] = "telepathy"
    with pytest.raises(RecordValidationError, match="row 3, field channel"):
        validate_orders(raw, strict=True)


def test_refund_amount_without_refund_time_is_a_problem() -> None:
    raw = order_rows()
    raw.loc[1, "refunded_amount"] = "10"
    found = problems_of(validate_orders(raw).report.problems)
    assert (2, "refunded_at", "missing while refunded_amount is above 0") in found


def test_csv_and_parquet_round_trip_to_the_same_frame(tmp_path: Path) -> None:
    csv_path = tmp_path / "orders.csv"
    order_rows().to_csv(csv_path, index=False)
    from_csv = load_orders(csv_path, ["S1", "S2"]).frame
    parquet_path = tmp_path / "orders.parquet"
    from_csv.to_parquet(parquet_path)
    from_parquet = load_orders(parquet_path, ["S1", "S2"]).frame
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_unreadable_files_give_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "orders.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        read_table(broken)
    unsupported = tmp_path / "orders.json"
    unsupported.write_text("{}")
    with pytest.raises(ValueError, match="unsupported file type"):
        read_table(unsupported)
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "absent.csv")


def test_control_characters_in_ids_are_rejected() -> None:
    raw = order_rows()
    raw.loc[0, "buyer_id"] = "B\x00; DROP TABLE orders"
    found = problems_of(validate_orders(raw).report.problems)
    assert (1, "buyer_id", "contains control characters") in found


def test_problem_rows_scale_without_python_loops() -> None:
    n = 200_000
    first = order_rows().iloc[:1]
    raw = pd.DataFrame({spec.name: np.repeat(first[spec.name].to_numpy(), n)
                        for spec in ORDER_FIELDS if spec.name in first.columns})
    raw["order_id"] = [f"O{i}" for i in range(n)]
    raw.loc[::1000, "amount"] = "-1"
    result = validate_orders(raw)
    assert result.report.n_bad == n // 1000
    assert result.report.n_good == n - n // 1000


def test_categorical_and_text_inputs_validate_alike() -> None:
    raw = order_rows()
    categorical = raw.assign(status=raw["status"].astype("category"),
                             channel=pd.Categorical(["wholesale", "telepathy", "custom"]))
    from_text = validate_orders(raw.assign(channel=["wholesale", "telepathy", "custom"]))
    from_categories = validate_orders(categorical)
    pd.testing.assert_frame_equal(from_text.report.problems, from_categories.report.problems)
    pd.testing.assert_frame_equal(from_text.frame, from_categories.frame)


def test_many_duplicates_each_name_their_first_row() -> None:
    raw = pd.concat([order_rows()] * 3, ignore_index=True)
    problems = validate_orders(raw).report.problems
    assert problems["reason"].tolist() == [
        f"duplicate order_id (first seen on row {first})" for first in (1, 2, 3, 1, 2, 3)]
    assert problems["row"].tolist() == [4, 5, 6, 7, 8, 9]
