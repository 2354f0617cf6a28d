"""Issue 15, point in time for every event: cancellations, disputes and tiers have times.

The contract carries ``cancelled_at``, ``disputed_at`` and a membership-tier history; the
builder uses each event only from its time, so an extract taken long after ``as_of``
(where the seller's collapse shows as cancellations, disputes, refunds and a lower tier)
gives exactly the features an extract at ``as_of`` gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_features
from features.builder import tier_as_of
from features.records import (
    RecordValidationError,
    validate_orders,
    validate_sellers,
    validate_tier_history,
)
from synth.marketplace import generate_marketplace
from tests.features.test_builder_helpers import AS_OF, at, order, seller
from tests.features.test_records import order_rows, problems_of, seller_rows

DAY = pd.Timedelta(days=1)


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------

def test_old_extracts_without_the_new_columns_stay_valid() -> None:
    orders = validate_orders(order_rows(), strict=True).frame
    assert orders["cancelled_at"].isna().all() and orders["disputed_at"].isna().all()
    assert str(orders["cancelled_at"].dtype) == "datetime64[ns, UTC]"
    sellers = validate_sellers(seller_rows(), strict=True).frame
    assert sellers["membership_tier_at"].isna().all()


def test_event_times_are_parsed_and_checked_like_every_time() -> None:
    raw = order_rows()
    raw["cancelled_at"] = ["", "2025-01-03T12:00:00+08:00", ""]
    raw["disputed_at"] = ["", "", "2025-01-06T00:00:00Z"]
    kept = validate_orders(raw, strict=True).frame
    assert kept.loc[1, "cancelled_at"] == pd.Timestamp("2025-01-03T04:00:00Z")
    assert kept.loc[2, "disputed_at"] == pd.Timestamp("2025-01-06T00:00:00Z")

    bad = order_rows()
    bad["cancelled_at"] = ["", "2101-01-01T00:00:00Z", ""]
    bad["disputed_at"] = ["2025-01-05T00:00:00", "", "2025-01-01T00:00:00Z"]
    found = problems_of(validate_orders(bad).report.problems)
    assert (2, "cancelled_at",
            "out of range: a time from 1970-01-01T00:00:00Z to 2099-12-31T23:59:59.999999Z"
            ) in found
    assert (1, "disputed_at", "naive timestamp: a time zone offset is required") in found
    assert (3, "disputed_at", "disputed_at before created_at") in found


def test_an_event_time_without_its_event_is_refused() -> None:
    raw = order_rows()
    raw["cancelled_at"] = ["2025-01-05T00:00:00Z", "", ""]  # O1 is completed
    raw["disputed_at"] = ["", "2025-01-05T00:00:00Z", ""]  # O2 is not disputed
    found = problems_of(validate_orders(raw).report.problems)
    assert (1, "cancelled_at", "given while status is not cancelled") in found
    assert (2, "disputed_at", "given while disputed is false") in found


def test_tier_history_is_validated() -> None:
    raw = pd.DataFrame({
        "seller_id": ["S1", "S1", "S1", "S9", "S2"],
        "membership_tier": ["basic", "GOLD", "silver", "gold", "diamond"],
        "valid_from": ["2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z",
                       "2024-06-01T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
        "valid_to": ["2024-06-01T00:00:00Z", "", "", "2023-01-01T00:00:00Z", ""],
    })
    result = validate_tier_history(raw, ["S1", "S2"])
    found = problems_of(result.report.problems)
    assert (3, "valid_from",
            "a second period of the seller from the same valid_from (first on row 2)") in found
    assert (4, "seller_id", "tier history of an unknown seller") in found
    assert (4, "valid_to", "not after valid_from") in found
    assert (5, "membership_tier", "must be one of basic, silver, gold, platinum") in found
    assert list(result.frame["membership_tier"]) == ["basic", "gold"]
    # valid_to may be left out altogether
    with_no_end = validate_tier_history(raw.iloc[:2].drop(columns=["valid_to"]), strict=True)
    assert with_no_end.frame["valid_to"].isna().all()
    with pytest.raises(RecordValidationError):
        validate_tier_history(raw, strict=True)


# --------------------------------------------------------------------------------------------
# The tier in effect at as_of
# --------------------------------------------------------------------------------------------

def _sellers(*rows: dict[str, object]) -> pd.DataFrame:
    return validate_sellers(pd.DataFrame(list(rows)), strict=True).frame


def _history(rows: list[tuple[str, str, str, str | None]]) -> pd.DataFrame:
    return validate_tier_history(pd.DataFrame(
        rows, columns=["seller_id", "membership_tier", "valid_from", "valid_to"]),
        strict=True).frame


def test_tier_is_the_one_in_effect_at_as_of() -> None:
    sellers = _sellers(seller("A", at(400), tier="basic", tier_at=at(-100)),
                       seller("B", at(400), tier="gold", tier_at=at(10)),
                       seller("C", at(400), tier="gold", tier_at=at(-100)),
                       seller("D", at(400), tier="silver", tier_at=at(-100)))
    history = _history([
        ("A", "silver", at(300), at(100)), ("A", "gold", at(100), None),
        ("B", "platinum", at(300), None),  # the record's later observation wins
        ("D", "gold", at(300), at(50)),  # ended before as_of, next period unknown
    ])
    tiers = tier_as_of(sellers, history, AS_OF)
    # A: history says gold (the record's basic is observed after as_of); B: its record's
    # tier, observed 10 days before as_of, is newer than the history's; C: the tier
    # observed at extraction is not carried back and no history: unknown; D: ended
    assert list(tiers) == ["gold", "gold", None, None]
    assert list(tier_as_of(sellers, None, AS_OF)) == [None, "gold", None, None]


def test_tier_periods_start_inclusive_and_end_exclusive() -> None:
    sellers = _sellers(seller("A", at(400), tier_at=at(-100)))
    history = _history([("A", "silver", at(300), at(100)), ("A", "gold", at(100), None)])
    start = pd.Timestamp(at(100))
    assert tier_as_of(sellers, history, start).tolist() == ["gold"]
    assert tier_as_of(sellers, history, start - pd.Timedelta(microseconds=1)).tolist() \
        == ["silver"]


def test_builder_reports_the_tier_at_as_of_and_a_missing_one_as_missing() -> None:
    sellers = _sellers(seller("A", at(400), tier="basic", tier_at=at(-100)),
                       seller("B", at(400), tier="gold", tier_at=at(10)))
    orders = validate_orders(pd.DataFrame([order("o1", "A", "b", at(5), 10.0)]),
                             sellers["seller_id"], strict=True).frame
    history = _history([("A", "silver", at(300), None)])
    table = build_features(orders, sellers, AS_OF, tier_history=history)
    assert table.loc["A", "membership_tier"] == "silver"
    assert table.loc["B", "membership_tier"] == "gold"
    alone = build_features(orders, sellers, AS_OF)
    assert pd.isna(alone.loc["A", "membership_tier"])


# --------------------------------------------------------------------------------------------
# The leak of the issue: an extract taken a year later
# --------------------------------------------------------------------------------------------

def _collapse_after(orders: pd.DataFrame, sellers: pd.DataFrame, history: pd.DataFrame,
                    as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What a later extract shows of sellers that collapsed after ``as_of``: orders placed
    before ``as_of`` cancelled, disputed, refunded and paid out afterwards, tiers cut."""
    later = orders.copy()
    rng = np.random.default_rng(4)
    before = (later["created_at"] < as_of).to_numpy()
    untouched = before & later["cancelled_at"].isna().to_numpy() \
        & later["disputed_at"].isna().to_numpy() & later["refunded_at"].isna().to_numpy()
    pick = rng.random(len(later))
    after = pd.Series(as_of + pd.to_timedelta(rng.integers(0, 200, len(later)), unit="D"),
                      index=later.index)
    cancel = untouched & (pick < 0.2)
    dispute = untouched & (pick >= 0.2) & (pick < 0.5) & later["shipped_at"].notna().to_numpy()
    refund = untouched & (pick >= 0.5) & (pick < 0.7)
    later.loc[cancel, "status"] = "cancelled"
    later.loc[cancel, "cancelled_at"] = after[cancel]
    later.loc[dispute, "disputed"] = True
    later.loc[dispute, "disputed_at"] = after[dispute]
    later.loc[refund, "refunded_amount"] = later.loc[refund, "amount"]
    later.loc[refund, "refunded_at"] = after[refund]
    # payouts made after as_of come later still
    unpaid = before & (later["paid_out_at"] >= as_of).to_numpy(dtype=bool, na_value=False)
    later.loc[unpaid, "paid_out_at"] = later.loc[unpaid, "paid_out_at"] + 30 * DAY
    assert cancel.sum() and dispute.sum() and refund.sum() and unpaid.sum()

    later_sellers = sellers.copy()
    later_sellers["membership_tier"] = "basic"
    later_sellers["membership_tier_at"] = as_of + pd.Timedelta(days=365)
    cut = history.copy()
    cut = pd.concat([cut, pd.DataFrame({
        "seller_id": sellers["seller_id"], "membership_tier": "basic",
        "valid_from": as_of + pd.Timedelta(days=30), "valid_to": pd.NaT})],
        ignore_index=True)
    cut["valid_to"] = cut["valid_to"].astype("datetime64[ns, UTC]")
    return later, later_sellers, cut


@pytest.mark.parametrize("days_back", [60, 200])
def test_changes_after_as_of_in_a_later_extract_move_no_feature(days_back: int) -> None:
    market = generate_marketplace(60, 15, seed=11)
    as_of = pd.Timestamp(market.as_of) - pd.Timedelta(days=days_back)
    # the extract at as_of: what was known then
    known = market.orders[market.orders["created_at"] < as_of].copy()
    for name in ("refunded_at", "shipped_at", "paid_out_at", "cancelled_at", "disputed_at"):
        known.loc[known[name] >= as_of, name] = pd.NaT
    known.loc[known["refunded_at"].isna(), "refunded_amount"] = 0.0
    known.loc[known["cancelled_at"].isna() & (known["status"] == "cancelled"),
              "status"] = "pending"
    known["disputed"] = known["disputed_at"].notna()
    history = market.tier_history[market.tier_history["valid_from"] <= as_of].copy()
    history.loc[history["valid_to"] > as_of, "valid_to"] = pd.NaT
    known_sellers = market.sellers.assign(membership_tier_at=pd.Series(
        pd.NaT, index=market.sellers.index, dtype="datetime64[ns, UTC]"))

    at_as_of = build_features(known, known_sellers, as_of, tier_history=history)
    later, later_sellers, later_history = _collapse_after(
        market.orders, market.sellers, market.tier_history, as_of)
    from_later = build_features(later, later_sellers, as_of, tier_history=later_history)
    pd.testing.assert_frame_equal(from_later, at_as_of.loc[from_later.index],
                                  check_exact=True)
    # and the later extract does show the collapse at its own date
    end = pd.Timestamp(market.as_of) + pd.Timedelta(days=200)
    moved = build_features(later, later_sellers, end, tier_history=later_history)
    assert (moved["membership_tier"] == "basic").all()
    assert at_as_of["membership_tier"].notna().all()


def test_generated_tier_history_ends_at_each_sellers_tier() -> None:
    market = generate_marketplace(40, 6, seed=3)
    history = validate_tier_history(market.tier_history, market.sellers["seller_id"],
                                    strict=True).frame
    tiers = tier_as_of(market.sellers.drop(columns=["membership_tier_at"]), history,
                       market.as_of)
    assert list(tiers) == list(market.sellers["membership_tier"].astype(str))
    first = history.groupby("seller_id")["valid_from"].min()
    registered = market.sellers.set_index("seller_id")["registered_at"]
    assert (first == registered.loc[first.index]).all()
    orders = market.orders
    assert orders.loc[orders["status"] == "cancelled", "cancelled_at"].notna().all()
    assert (orders["disputed_at"].notna() == orders["disputed"]).all()
