"""Every snapshot the service builds holds the seller's credit history with us as of the
snapshot time, exactly what the batch builder computes from the exported history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from features import REPAYMENT_FEATURES, build_features, json_value
from lending import RepaymentPlan
from lending.persistence import SqlUnitOfWork, advance_line, draw, get_line, open_line, repay
from lending.persistence.history import (
    PANEL_COLUMNS,
    credit_history_frame,
    end_of_day,
    history_date,
    line_month_panel,
)
from records.ingest import ingest_orders, register_sellers
from records.snapshots import current_snapshot, read_orders, read_sellers, refresh_snapshots

from .conftest import AS_OF, as_rows

#: When the snapshots are built: 17:30 in Shanghai on 1 July, so the history is the
#: lines as end of day left them on 30 June.
NOW = AS_OF + timedelta(hours=9, minutes=30)
DAY = timedelta(days=1)


def _uow(engine: sa.Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine)


def _book(engine: sa.Engine, late_payer: str, defaulter: str) -> None:
    """A line repaid late, then cured; another whose one draw is never repaid."""
    u = lambda: _uow(engine)  # noqa: E731
    open_line(u(), line_id="L-A", seller_id=late_payer, limit="5000.00",
              opened_on=date(2025, 9, 1))
    draw(u(), line_id="L-A", amount="3000.00", on=date(2025, 9, 2),
         plan=RepaymentPlan.instalments(3), supplier_id="SUP", idempotency_key="a1")
    repay(u(), line_id="L-A", amount="2100.00", on=date(2025, 11, 20), idempotency_key="a2")
    draw(u(), line_id="L-A", amount="1000.00", on=date(2025, 11, 25),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="a3")
    repay(u(), line_id="L-A", amount="1000.00", on=date(2026, 1, 20), idempotency_key="a4")
    repay(u(), line_id="L-A", amount="1100.00", on=date(2026, 3, 10), idempotency_key="a5")
    advance_line(u(), line_id="L-A", to=date(2026, 6, 30))
    open_line(u(), line_id="L-B", seller_id=defaulter, limit="1000.00",
              opened_on=date(2026, 3, 1))
    draw(u(), line_id="L-B", amount="800.00", on=date(2026, 3, 1),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="b1")
    advance_line(u(), line_id="L-B", to=date(2026, 6, 30))


def _later_events(engine: sa.Engine) -> None:
    """What happens after the snapshot: a new draw, a payment, months of end of day."""
    draw(_uow(engine), line_id="L-A", amount="500.00", on=date(2026, 7, 2),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="a6")
    repay(_uow(engine), line_id="L-B", amount="900.00", on=date(2026, 7, 3),
          idempotency_key="b2")
    for line_id in ("L-A", "L-B"):
        advance_line(_uow(engine), line_id=line_id, to=date(2026, 9, 30))


def _builder_rows(engine: sa.Engine, history: pd.DataFrame, as_of: datetime
                  ) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        orders, sellers = read_orders(connection), read_sellers(connection)
    table = build_features(orders.drop(columns=["currency"]), sellers, pd.Timestamp(as_of),
                           history)
    return {str(seller_id): {str(name): json_value(value) for name, value in row.items()}
            for seller_id, row in table.astype(object).iterrows()}


@pytest.fixture
def stored(engine: sa.Engine, market) -> tuple[str, str, str]:
    assert register_sellers(engine, as_rows(market.sellers), now=AS_OF).rejected == ()
    assert ingest_orders(engine, as_rows(market.orders), now=AS_OF).rejected == ()
    late_payer, defaulter, without_line = (str(s) for s in market.sellers.seller_id[:3])
    _book(engine, late_payer, defaulter)
    return late_payer, defaulter, without_line


def test_snapshots_equal_the_batch_builder_fed_the_exported_history(engine, stored):
    late_payer, defaulter, without_line = stored
    assert refresh_snapshots(engine, now=NOW, progress=False) > 0
    snapshots = {seller_id: current_snapshot(engine, seller_id, now=NOW, max_age=DAY)
                 for seller_id in stored}
    assert all(snapshot.as_of == NOW for snapshot in snapshots.values())
    _later_events(engine)
    # The history exported months later, read by the builder as of the snapshot time.
    expected = _builder_rows(engine, credit_history_frame(engine), NOW)
    for seller_id, snapshot in snapshots.items():
        assert dict(snapshot.features) == expected[seller_id], seller_id
    # and the history as known at the snapshot time gives the same rows
    assert _builder_rows(engine, credit_history_frame(engine, as_of=NOW), NOW) == expected

    late = snapshots[late_payer].features
    assert late["credit_draw_count"] == 2 and late["credit_months_on_book"] == 10
    assert late["credit_worst_days_past_due_360d"] > 30
    assert late["credit_cures_360d"] >= 1 and late["credit_current_days_past_due"] == 0
    bad = snapshots[defaulter].features
    assert bad["credit_current_days_past_due"] == (date(2026, 6, 30) - date(2026, 3, 31)).days
    assert bad["credit_times_30_plus_360d"] == 1 and bad["credit_cures_360d"] == 0
    none = snapshots[without_line].features
    assert set(REPAYMENT_FEATURES) <= set(none)
    assert (none["credit_draw_count"], none["credit_times_30_plus_360d"],
            none["credit_cures_360d"]) == (0, 0, 0)
    assert none["credit_months_on_book"] is None
    assert none["credit_worst_days_past_due_360d"] is None


def test_a_snapshot_rebuilt_for_one_seller_reads_its_history_point_in_time(engine, stored):
    late_payer, defaulter, _ = stored
    before = current_snapshot(engine, defaulter, now=NOW, max_age=DAY).features
    _later_events(engine)
    # Asked again about the same moment, after the payment: nothing after it is used.
    again = current_snapshot(engine, defaulter, now=NOW - timedelta(minutes=1),
                             max_age=DAY).features
    assert again["credit_current_days_past_due"] == before["credit_current_days_past_due"]
    later = current_snapshot(engine, defaulter, now=datetime(2026, 8, 1, 9, tzinfo=NOW.tzinfo),
                             max_age=DAY).features
    assert later["credit_current_days_past_due"] == 0
    assert later["credit_cures_360d"] == 1


def test_the_month_end_panel_has_the_days_past_due_end_of_day_derives(engine, stored):
    _later_events(engine)
    panel = line_month_panel(engine)
    assert list(panel.columns) == list(PANEL_COLUMNS)
    assert panel.dtypes["months_on_book"] == "int64"
    assert panel.dtypes["month"] == "datetime64[ns]"
    a = panel[panel.line_id == "L-A"]
    assert list(a.months_on_book) == list(range(len(a)))
    assert a.month.iloc[0] == pd.Timestamp("2025-09-30")
    assert a.month.iloc[-1] == pd.Timestamp("2026-09-30")
    for row in panel.itertuples():
        view = get_line(_uow(engine), row.line_id, row.month.date())
        assert (row.days_past_due, row.bucket, row.status) == (
            view.days_past_due, view.bucket, view.status), row
    assert set(panel.bucket) >= {"current", "1-30", "31-60", "90+"}


def test_history_times_are_the_ends_of_business_days():
    assert history_date(NOW) == date(2026, 6, 30)
    end = end_of_day(date(2026, 6, 30))
    assert end == AS_OF - timedelta(hours=8)  # midnight in Shanghai
    assert history_date(end) == date(2026, 6, 30)
    assert history_date(end - timedelta(microseconds=1)) == date(2026, 6, 29)


def test_a_bounced_payment_is_restated_as_never_made(engine):
    from lending.persistence import reverse_payment

    opened = date(2026, 1, 5)
    open_line(_uow(engine), line_id="L-R", seller_id="S-R", limit="1000.00", opened_on=opened)
    draw(_uow(engine), line_id="L-R", amount="500.00", on=opened,
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="r1")
    paid = repay(_uow(engine), line_id="L-R", amount="500.00", on=opened + 10 * DAY,
                 idempotency_key="r2")
    known_paid = credit_history_frame(engine)
    assert known_paid["instalment_paid_at"].notna().all()
    reverse_payment(_uow(engine), line_id="L-R", payment_id=paid.payment_id,
                    on=opened + 40 * DAY)
    advance_line(_uow(engine), line_id="L-R", to=opened + 60 * DAY)
    restated = credit_history_frame(engine)
    assert restated["instalment_paid_at"].isna().all()
    assert restated["repaid_at"].isna().all()
    # As known before the reversal, it was paid.
    before = credit_history_frame(engine, as_of=end_of_day(opened + 39 * DAY))
    pd.testing.assert_frame_equal(before, known_paid)
    panel = line_month_panel(engine)
    for row in panel.itertuples():
        view = get_line(_uow(engine), row.line_id, row.month.date())
        assert row.days_past_due == view.days_past_due
    assert panel.days_past_due.iloc[-1] == (date(2026, 2, 28) - date(2026, 2, 4)).days
