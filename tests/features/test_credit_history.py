"""The credit-history contract and the repayment features built from it."""

from __future__ import annotations

import pandas as pd
import pytest

from features import build_features
from features.credit_history import load_credit_history, validate_credit_history
from features.records import RecordValidationError
from tests.features.test_builder_helpers import (
    AS_OF,
    at,
    example_orders,
    example_sellers,
    validated_orders,
    validated_sellers,
)


def draw(draw_id: str, seller_id: str, drawn_at: str, amount: float, credit_limit: float,
         due_at: str, repaid_at: str | None = None) -> dict[str, object]:
    return {"draw_id": draw_id, "seller_id": seller_id, "drawn_at": drawn_at,
            "amount": str(amount), "credit_limit": str(credit_limit), "due_at": due_at,
            "repaid_at": repaid_at}


def example_draws() -> list[dict[str, object]]:
    """S1: one draw repaid on time, one repaid 5 days late, one overdue for 10 days, one
    not due yet. S2: one draw repaid after as_of (still outstanding and not due)."""
    return [
        draw("d1", "S1", at(120), 1000.0, 5000.0, at(90), repaid_at=at(95)),
        draw("d2", "S1", at(80), 2000.0, 5000.0, at(50), repaid_at=at(45)),
        draw("d3", "S1", at(40), 500.0, 6000.0, at(10)),
        draw("d4", "S1", at(8), 1500.0, 8000.0, at(-22)),
        draw("e1", "S2", at(15), 300.0, 1000.0, at(-15), repaid_at=at(-3)),
    ]


def example_credit_history(sellers: pd.DataFrame) -> pd.DataFrame:
    return validate_credit_history(pd.DataFrame(example_draws()), sellers["seller_id"],
                                   strict=True).frame


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    return build_features(orders, sellers, AS_OF, example_credit_history(sellers))


def test_valid_credit_history_loads_in_canonical_dtypes() -> None:
    loaded = validate_credit_history(pd.DataFrame(example_draws()), ["S1", "S2"])
    assert loaded.report.ok and loaded.report.n_good == 5
    assert str(loaded.frame["drawn_at"].dtype) == "datetime64[ns, UTC]"
    assert loaded.frame["amount"].dtype == "float64"
    assert loaded.frame["repaid_at"].isna().sum() == 2


def test_bad_draws_are_set_aside_with_row_field_and_reason() -> None:
    rows = example_draws()
    rows[1] = draw("d2", "S1", at(80), 9000.0, 5000.0, at(50))  # above the limit
    rows[2] = draw("d3", "S9", at(40), 500.0, 6000.0, at(41))  # unknown seller, due early
    rows[3]["drawn_at"] = "2025-01-01 10:00"  # naive timestamp
    loaded = validate_credit_history(pd.DataFrame(rows), ["S1", "S2"])
    assert loaded.report.n_good == 2 and loaded.report.n_bad == 3
    problems = set(zip(loaded.report.problems["row"], loaded.report.problems["field"],
                       strict=True))
    assert problems == {(2, "amount"), (3, "seller_id"), (3, "due_at"), (4, "drawn_at")}
    assert "amount above credit_limit" in str(loaded.rejected.loc[0, "reasons"])


def test_strict_mode_rejects_the_whole_credit_history() -> None:
    rows = example_draws()
    rows[0]["credit_limit"] = "0"
    with pytest.raises(RecordValidationError, match="credit_limit: must be above 0"):
        validate_credit_history(pd.DataFrame(rows), strict=True)


def test_missing_column_rejects_the_credit_history() -> None:
    with pytest.raises(RecordValidationError, match="field due_at: missing column"):
        validate_credit_history(pd.DataFrame(example_draws()).drop(columns=["due_at"]))


def test_credit_history_loads_from_csv(tmp_path: object) -> None:
    path = tmp_path / "credit.csv"  # type: ignore[operator]
    pd.DataFrame(example_draws()).to_csv(path, index=False)
    loaded = load_credit_history(path, ["S1", "S2"], strict=True)
    assert len(loaded.frame) == 5


def test_repayment_features_of_a_seller_with_a_late_and_an_overdue_draw(
        table: pd.DataFrame) -> None:
    s1 = table.loc["S1"]
    assert s1.credit_draw_count == 4
    assert s1.credit_outstanding_amount == 2000.0  # d3 and d4
    assert s1.credit_utilisation == pytest.approx(2000.0 / 8000.0)  # limit of d4, the latest
    assert s1.credit_on_time_share == pytest.approx(1 / 3)  # due: d1 on time, d2 late, d3 open
    assert s1.credit_worst_days_past_due == 10.0  # d3, unpaid 10 days after due; d2 was 5 days late
    assert s1.credit_current_days_past_due == 10.0


def test_repayment_after_as_of_does_not_count(table: pd.DataFrame) -> None:
    s2 = table.loc["S2"]
    assert s2.credit_outstanding_amount == 300.0
    assert s2.credit_utilisation == pytest.approx(0.3)
    assert pd.isna(s2.credit_on_time_share)  # nothing due yet
    assert pd.isna(s2.credit_worst_days_past_due)
    assert s2.credit_current_days_past_due == 0.0


def test_seller_without_credit_gets_zero_draws_and_undefined_ratios(
        table: pd.DataFrame) -> None:
    s3 = table.loc["S3"]
    assert s3.credit_draw_count == 0 and s3.credit_outstanding_amount == 0.0
    assert pd.isna(s3.credit_utilisation) and pd.isna(s3.credit_on_time_share)


def test_draws_after_as_of_do_not_move_the_repayment_features(table: pd.DataFrame) -> None:
    sellers = validated_sellers(example_sellers())
    orders = validated_orders(example_orders(), sellers)
    later = example_draws() + [draw("d5", "S1", at(-1), 100.0, 9000.0, at(-30)),
                               draw("d6", "S3", AS_OF.isoformat(), 100.0, 900.0, at(-30))]
    credit = validate_credit_history(pd.DataFrame(later), strict=True).frame
    pd.testing.assert_frame_equal(build_features(orders, sellers, AS_OF, credit), table,
                                  check_exact=True)
