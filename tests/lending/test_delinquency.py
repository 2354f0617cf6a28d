from datetime import date
from decimal import Decimal

import pytest

from lending import (
    BucketChanged,
    CreditLine,
    DelinquencyPolicy,
    LineFreezeLifted,
    LineFreezeStarted,
    LineFrozen,
    LineTerms,
    LineWrittenOff,
    RepaymentPlan,
    bucket_for,
    days_past_due,
)
from lending.errors import InvalidPolicy, LineClosed

OPENED = date(2025, 1, 1)
DUE = date(2025, 1, 31)  # a 30-day bullet drawn on 1 January


def _line_with_bullet(amount: str = "1000.00", **policy: object) -> CreditLine:
    terms = LineTerms("L1", Decimal("10000.00"), OPENED,
                      delinquency=DelinquencyPolicy(**policy))  # type: ignore[arg-type]
    line = CreditLine(terms)
    line.draw("D1", amount, OPENED, RepaymentPlan.bullet(30), supplier_id="S1")
    return line


@pytest.mark.parametrize(("days", "bucket"), [(0, "current"), (1, "1-30"), (30, "1-30"),
                                              (31, "31-60"), (60, "31-60"), (61, "61-90"),
                                              (90, "61-90"), (91, "90+"), (400, "90+")])
def test_days_past_due_map_to_buckets(days, bucket):
    assert bucket_for(days) == bucket


def test_an_instalment_due_today_is_not_yet_past_due():
    assert days_past_due([DUE], DUE) == 0
    assert days_past_due([DUE], date(2025, 2, 1)) == 1


def test_days_past_due_count_from_the_oldest_unpaid_due_date():
    line = _line_with_bullet()
    assert line.state(DUE).days_past_due == 0
    assert line.state(date(2025, 3, 2)).days_past_due == 30
    assert line.state(date(2025, 3, 3)).bucket == "31-60"


def test_bucket_transitions_are_events_with_their_dates():
    events = _line_with_bullet().state(date(2025, 6, 1)).delinquency_events
    changes = [(e.on, e.to_bucket) for e in events if isinstance(e, BucketChanged)]
    assert changes == [(date(2025, 2, 1), "1-30"), (date(2025, 3, 3), "31-60"),
                       (date(2025, 4, 2), "61-90"), (date(2025, 5, 2), "90+")]


def test_no_penalty_within_the_grace_period():
    line = _line_with_bullet()
    assert line.state(date(2025, 2, 3)).penalty_due == 0  # 3 days past due


def test_penalty_accrues_daily_on_overdue_principal_after_the_grace_period():
    line = _line_with_bullet()
    # 4th to 10th day past due: 7 days at 0.05 % on 1,000 = 3.50
    assert line.state(date(2025, 2, 10)).penalty_due == Decimal("3.50")


def test_penalty_rate_and_grace_are_configurable():
    line = _line_with_bullet(grace_days=0, penalty_daily_rate=Decimal("0.001"))
    assert line.state(date(2025, 2, 10)).penalty_due == Decimal("10.00")


def test_penalty_rounding_never_drifts_from_the_exact_accrual():
    line = _line_with_bullet("333.33")  # 0.166665 a day
    state = line.state(date(2025, 3, 5))  # 30 penalty days
    assert state.penalty_due == Decimal("5.00")  # 4.99995 rounded half up


def test_line_is_frozen_for_new_draws_while_past_due_beyond_the_threshold():
    line = _line_with_bullet()
    line.draw("D2", "100.00", date(2025, 2, 3), RepaymentPlan.bullet(30), supplier_id="S1")
    with pytest.raises(LineFrozen, match="4 days past due"):
        line.draw("D3", "100.00", date(2025, 2, 4), RepaymentPlan.bullet(30),
                  supplier_id="S1")


def test_line_thaws_once_the_arrears_are_paid():
    line = _line_with_bullet()
    line.repay("P1", "1010.00", date(2025, 2, 10))
    line.draw("D2", "100.00", date(2025, 2, 10), RepaymentPlan.bullet(30), supplier_id="S1")
    events = line.state(date(2025, 2, 10)).delinquency_events
    assert LineFreezeStarted(date(2025, 2, 4), 4) in events
    assert LineFreezeLifted(date(2025, 2, 10)) in events
    assert BucketChanged(date(2025, 2, 10), "1-30", "current", 0) in events


def test_line_is_written_off_at_180_days_past_due_and_closed():
    line = _line_with_bullet()
    assert not line.state(date(2025, 7, 29)).closed  # 179 days past due
    state = line.state(date(2025, 7, 30))
    assert state.closed and state.outstanding_principal == 0 and state.penalty_due == 0
    (written_off,) = [e for e in state.delinquency_events if isinstance(e, LineWrittenOff)]
    # 1,000 principal + 177 penalty days at 0.50
    assert written_off == LineWrittenOff(date(2025, 7, 30), 180, Decimal("1088.50"))
    with pytest.raises(LineClosed):
        line.draw("D2", "100.00", date(2025, 8, 1), RepaymentPlan.bullet(30),
                  supplier_id="S1")


def test_delinquency_policy_refuses_nonsense():
    with pytest.raises(InvalidPolicy, match="penalty_daily_rate"):
        DelinquencyPolicy(penalty_daily_rate=0.0005)  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicy, match="grace_days"):
        DelinquencyPolicy(grace_days=-1)
