"""The features a lender adds from its own ledger: days past due through time, cures,
utilisation trend and months on book, point in time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import REPAYMENT_FEATURES, build_features
from features.credit_history import validate_credit_history
from tests.features.test_builder_helpers import (
    AS_OF,
    at,
    example_orders,
    example_sellers,
    validated_orders,
    validated_sellers,
)
from tests.features.test_credit_history import example_credit_history

NEW_FEATURES = ("credit_worst_days_past_due_90d", "credit_worst_days_past_due_360d",
                "credit_times_30_plus_360d", "credit_cures_360d",
                "credit_utilisation_change_90d", "credit_months_on_book")


def instalment(draw_id: str, number: int, drawn_at: str, amount: float, due_at: str,
               due: str, paid: str | None, principal: float, *, repaid_at: str | None = None,
               written_off_at: str | None = None, seller_id: str = "S1",
               limit: float = 5000.0) -> dict[str, object]:
    return {"draw_id": draw_id, "seller_id": seller_id, "drawn_at": drawn_at,
            "amount": str(amount), "credit_limit": str(limit), "due_at": due_at,
            "repaid_at": repaid_at, "line_id": "L1", "line_opened_at": at(400),
            "instalment_id": f"{draw_id}.{number}", "instalment_due_at": due,
            "instalment_paid_at": paid, "instalment_principal": str(principal),
            "written_off_at": written_off_at}


def ledger_rows() -> list[dict[str, object]]:
    """S1's line, opened 400 days before as_of: a draw in three instalments paid 10, 120
    and 90 days late; a bullet paid 40 days late; a bullet 5 days past due at as_of.
    S2 and S3 have no credit with us."""
    a: dict[str, Any] = dict(drawn_at=at(380), amount=3000.0, due_at=at(290), repaid_at=at(200))
    b: dict[str, Any] = dict(drawn_at=at(100), amount=1000.0, due_at=at(70), repaid_at=at(30))
    c: dict[str, Any] = dict(drawn_at=at(20), amount=500.0, due_at=at(5))
    return [
        instalment("dA", 1, due=at(350), paid=at(340), principal=1000.0, **a),
        instalment("dA", 2, due=at(320), paid=at(200), principal=1000.0, **a),
        instalment("dA", 3, due=at(290), paid=at(200), principal=1000.0, **a),
        instalment("dB", 1, due=at(70), paid=at(30), principal=1000.0, **b),
        instalment("dC", 1, due=at(5), paid=None, principal=500.0, **c),
    ]


def history(rows: list[dict[str, object]]) -> pd.DataFrame:
    return validate_credit_history(pd.DataFrame(rows), ["S1", "S2", "S3"], strict=True).frame


@pytest.fixture(scope="module")
def records() -> tuple[pd.DataFrame, pd.DataFrame]:
    sellers = validated_sellers(example_sellers())
    return validated_orders(example_orders(), sellers), sellers


def features_of(records: tuple[pd.DataFrame, pd.DataFrame], rows: list[dict[str, object]],
                as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    orders, sellers = records
    return build_features(orders, sellers, as_of, history(rows), features=REPAYMENT_FEATURES)


def test_an_instalment_level_history_validates_with_the_instalment_as_its_key() -> None:
    loaded = validate_credit_history(pd.DataFrame(ledger_rows()), ["S1"])
    assert loaded.report.ok and loaded.report.n_good == 5
    rows = ledger_rows()
    rows[1]["instalment_id"] = "dA.1"
    refused = validate_credit_history(pd.DataFrame(rows), ["S1"])
    assert "duplicate instalment_id" in str(refused.rejected["reasons"].iloc[0])


def test_days_past_due_through_time_cures_and_months_on_book_of_a_seller(records) -> None:
    row = features_of(records, ledger_rows()).loc["S1"]
    # The worst moment of the last 90 days is the bullet paid 40 days late; of the last
    # 360 days the second instalment, paid 120 days late.
    assert row["credit_worst_days_past_due_90d"] == 40
    assert row["credit_worst_days_past_due_360d"] == 120
    # Two spells above 30 days: the draw's 2nd and 3rd instalments (one spell), the bullet.
    assert row["credit_times_30_plus_360d"] == 2
    # Three returns to current: after the 1st instalment, after the 2nd and 3rd, after the
    # bullet; the last bullet is still past due.
    assert row["credit_cures_360d"] == 3
    # 500 of 5000 outstanding now, 1000 of 5000 ninety days ago.
    assert row["credit_utilisation_change_90d"] == pytest.approx(0.1 - 0.2)
    assert row["credit_months_on_book"] == 400 // 30
    # The draw-level features read one row per draw.
    assert row["credit_draw_count"] == 3
    assert row["credit_outstanding_amount"] == 500.0
    assert row["credit_worst_days_past_due"] == 90
    assert row["credit_current_days_past_due"] == 5
    assert row["credit_on_time_share"] == 0.0


def test_a_seller_without_credit_gets_the_documented_no_history_values(records) -> None:
    row = features_of(records, ledger_rows()).loc["S3"]
    assert math.isnan(row["credit_worst_days_past_due_90d"])
    assert math.isnan(row["credit_worst_days_past_due_360d"])
    assert row["credit_times_30_plus_360d"] == 0 and row["credit_cures_360d"] == 0
    assert math.isnan(row["credit_utilisation_change_90d"])
    assert math.isnan(row["credit_months_on_book"])
    assert row["credit_draw_count"] == 0 and row["credit_current_days_past_due"] == 0


def test_events_after_as_of_change_nothing(records) -> None:
    before = features_of(records, ledger_rows())
    later = ledger_rows()
    # The overdue bullet is paid, and a new draw made and written off, all after as_of.
    later[4]["instalment_paid_at"] = at(-1)
    later[4]["repaid_at"] = at(-1)
    later.append(instalment("dD", 1, drawn_at=at(-2), amount=800.0, due_at=at(-30),
                            due=at(-30), paid=None, principal=800.0, written_off_at=at(-200)))
    later.append(instalment("dE", 1, drawn_at=at(-1), amount=100.0, due_at=at(-10),
                            due=at(-10), paid=None, principal=100.0, seller_id="S3"))
    pd.testing.assert_frame_equal(features_of(records, later), before, check_exact=True)


def test_a_written_off_draw_stops_counting_days_but_never_cures(records) -> None:
    rows = [instalment("dW", 1, drawn_at=at(300), amount=800.0, due_at=at(280), due=at(280),
                       paid=None, principal=800.0, written_off_at=at(100))]
    row = features_of(records, rows).loc["S1"]
    assert row["credit_worst_days_past_due_360d"] == 180  # frozen at the write-off
    assert row["credit_worst_days_past_due_90d"] == 180
    assert row["credit_cures_360d"] == 0 and row["credit_times_30_plus_360d"] == 1


def test_a_draw_level_file_is_one_instalment_per_draw(records) -> None:
    orders, sellers = records
    table = build_features(orders, sellers, AS_OF, example_credit_history(sellers))
    s1 = table.loc["S1"]
    # d2 was repaid 5 days late, d3 is 10 days past due at as_of.
    assert s1["credit_worst_days_past_due_90d"] == 10
    assert s1["credit_cures_360d"] == 1 and s1["credit_times_30_plus_360d"] == 0
    # No line in a draw-level file: months on book from the first draw (120 days ago).
    assert s1["credit_months_on_book"] == 4
    assert np.isfinite(s1["credit_utilisation_change_90d"])
