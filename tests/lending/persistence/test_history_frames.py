"""The credit-history reads (credit history, month-end panel, delinquency) build exactly
the frames the implementation before their optimisation built
(:mod:`.history_reference`, a frozen copy of it), on a varied book, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from lending import RepaymentPlan
from lending.delinquency import DelinquencyPolicy
from lending.persistence import (
    SqlUnitOfWork,
    advance_line,
    change_limit,
    draw,
    open_line,
    prepay,
    repay,
    reverse_payment,
)
from lending.persistence.history import (
    credit_history_frame,
    delinquency_frame,
    line_month_panel,
)

from . import history_reference as reference

THROUGH = date(2026, 6, 30)


def build_book(uow: Callable[[], SqlUnitOfWork]) -> None:
    """Lines with draws, early, partial and late repayments, a bounced payment, a credit
    balance, a write-off and a recovery, limit changes, a line without a draw and one
    opened after the others' last month end."""
    d = date
    # on time, one instalment paid early, a prepayment, a limit raised then cut
    open_line(uow(), line_id="L1", seller_id="S1", limit="20000.00", opened_on=d(2025, 10, 3))
    draw(uow(), line_id="L1", amount="6000.00", on=d(2025, 10, 5),
         plan=RepaymentPlan.instalments(3, fee_rate_per_month="0.005"), supplier_id="SUP",
         idempotency_key="1a", draw_id="L1-d1")
    repay(uow(), line_id="L1", amount="2100.00", on=d(2025, 11, 1), idempotency_key="1b")
    change_limit(uow(), line_id="L1", new_limit="30000.00", on=d(2025, 11, 10))
    draw(uow(), line_id="L1", amount="9000.00", on=d(2025, 11, 12),
         plan=RepaymentPlan.term_loan("annuity", 6, "0.18"), supplier_id="SUP",
         idempotency_key="1c", draw_id="L1-d2")
    repay(uow(), line_id="L1", amount="2100.00", on=d(2025, 12, 5), idempotency_key="1d")
    prepay(uow(), line_id="L1", draw_id="L1-d2", amount="3000.00", on=d(2025, 12, 20),
           idempotency_key="1e")
    change_limit(uow(), line_id="L1", new_limit="12000.00", on=d(2026, 1, 2))
    repay(uow(), line_id="L1", amount="2200.00", on=d(2026, 1, 5), idempotency_key="1f")
    # partial and late payments, cured in the end
    open_line(uow(), line_id="L2", seller_id="S2", limit="8000.00", opened_on=d(2025, 9, 15),
              delinquency=DelinquencyPolicy(freeze_after_days=60))
    draw(uow(), line_id="L2", amount="3000.00", on=d(2025, 9, 16),
         plan=RepaymentPlan.instalments(3), supplier_id="SUP", idempotency_key="2a")
    repay(uow(), line_id="L2", amount="400.00", on=d(2025, 10, 30), idempotency_key="2b")
    draw(uow(), line_id="L2", amount="1000.00", on=d(2025, 11, 2),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="2c")
    repay(uow(), line_id="L2", amount="1500.00", on=d(2025, 12, 28), idempotency_key="2d")
    repay(uow(), line_id="L2", amount="3000.00", on=d(2026, 2, 14), idempotency_key="2e")
    # never paid: written off, then a recovery
    quick = DelinquencyPolicy(grace_days=2, freeze_after_days=10, write_off_after_days=60)
    open_line(uow(), line_id="L3", seller_id="S3", limit="5000.00", opened_on=d(2025, 11, 20),
              delinquency=quick)
    draw(uow(), line_id="L3", amount="2500.00", on=d(2025, 11, 21),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="3a")
    draw(uow(), line_id="L3", amount="800.00", on=d(2025, 12, 1),
         plan=RepaymentPlan.instalments(2), supplier_id="SUP", idempotency_key="3b")
    advance_line(uow(), line_id="L3", to=d(2026, 3, 1))
    repay(uow(), line_id="L3", amount="700.00", on=d(2026, 4, 10), idempotency_key="3c")
    # a bounced payment; later money pays what it seemed to pay; an overpayment whose
    # credit balance pays the next instalment on its due date
    open_line(uow(), line_id="L4", seller_id="S1", limit="10000.00", opened_on=d(2026, 1, 4))
    draw(uow(), line_id="L4", amount="3000.00", on=d(2026, 1, 5),
         plan=RepaymentPlan.instalments(3), supplier_id="SUP", idempotency_key="4a")
    repay(uow(), line_id="L4", amount="1000.00", on=d(2026, 2, 5), idempotency_key="4b",
          payment_id="P4b")
    reverse_payment(uow(), line_id="L4", payment_id="P4b", on=d(2026, 2, 12))
    repay(uow(), line_id="L4", amount="2600.00", on=d(2026, 3, 1), idempotency_key="4c")
    # opened, never drawn; and a line opened in the last month
    open_line(uow(), line_id="L5", seller_id="S5", limit="1000.00", opened_on=d(2026, 2, 27))
    open_line(uow(), line_id="L6", seller_id="S6", limit="3000.00", opened_on=d(2026, 6, 20))
    draw(uow(), line_id="L6", amount="900.00", on=d(2026, 6, 21),
         plan=RepaymentPlan.bullet(60), supplier_id="SUP", idempotency_key="6a")
    for line_id in ("L1", "L2", "L3", "L4", "L5", "L6"):
        advance_line(uow(), line_id=line_id, to=THROUGH)


@pytest.fixture
def book(engine: sa.Engine, uow: Callable[[], SqlUnitOfWork]) -> sa.Engine:
    build_book(uow)
    return engine


def _shanghai(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone(timedelta(hours=8)))


def test_the_credit_history_is_the_reference_frame(book):
    frame = credit_history_frame(book)
    assert len(frame) > 15 and frame["written_off_at"].notna().any()
    assert frame["instalment_paid_at"].notna().any() and frame["repaid_at"].notna().any()
    pd.testing.assert_frame_equal(frame, reference.credit_history_frame(book))
    for as_of in (_shanghai(date(2025, 12, 6), 9), _shanghai(date(2026, 2, 13), 0),
                  _shanghai(date(2026, 4, 30), 17)):
        pd.testing.assert_frame_equal(credit_history_frame(book, as_of=as_of),
                                      reference.credit_history_frame(book, as_of=as_of))
    pd.testing.assert_frame_equal(credit_history_frame(book, seller_ids=["S1", "S3"]),
                                  reference.credit_history_frame(book, seller_ids=["S1", "S3"]))
    pd.testing.assert_frame_equal(credit_history_frame(book, timezone="America/New_York"),
                                  reference.credit_history_frame(book,
                                                                 timezone="America/New_York"))


def test_the_month_end_panel_is_the_reference_frame(book):
    panel = line_month_panel(book)
    assert set(panel["status"]) >= {"open", "written_off"}
    assert (panel["days_past_due"] > 0).any()
    pd.testing.assert_frame_equal(panel, reference.line_month_panel(book))
    for through in (date(2025, 12, 31), date(2026, 3, 15), date(2026, 6, 5)):
        pd.testing.assert_frame_equal(line_month_panel(book, through=through),
                                      reference.line_month_panel(book, through=through))
    pd.testing.assert_frame_equal(line_month_panel(book, timezone="Europe/London"),
                                  reference.line_month_panel(book, timezone="Europe/London"))


def test_the_delinquency_frame_is_the_reference_frame(book):
    frame = delinquency_frame(book)
    assert "written_off" in set(frame["to_bucket"])
    pd.testing.assert_frame_equal(frame, reference.delinquency_frame(book))
    pd.testing.assert_frame_equal(
        delinquency_frame(book, line_ids=["L2", "L3"], through=date(2026, 1, 31)),
        reference.delinquency_frame(book, line_ids=["L2", "L3"], through=date(2026, 1, 31)))


def test_an_empty_store_gives_empty_frames_of_the_reference_dtypes(engine):
    pd.testing.assert_frame_equal(credit_history_frame(engine),
                                  reference.credit_history_frame(engine))
    pd.testing.assert_frame_equal(line_month_panel(engine), reference.line_month_panel(engine))
