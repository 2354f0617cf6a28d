"""Lending rules: pure domain logic on ``Decimal`` with no I/O.

Money and rounding (:mod:`lending.money`), due dates and day counts
(:mod:`lending.calendar`), daily interest (:mod:`lending.interest`), repayment schedules
(:mod:`lending.schedules`), the repayment waterfall (:mod:`lending.allocation`),
delinquency (:mod:`lending.delinquency`), the double-entry journal (:mod:`lending.ledger`),
event-sourced credit lines (:mod:`lending.lines`) and the credit policy
(:mod:`lending.policy`). Rules and conventions are documented in ``docs/lending.md``.
"""

from lending.allocation import (
    Allocation,
    AllocationPolicy,
    Component,
    DueAmount,
    allocate_payment,
)
from lending.calendar import DayCount, add_months, monthly_due_dates, year_fraction
from lending.delinquency import (
    BUCKETS,
    Bucket,
    BucketChanged,
    DelinquencyEvent,
    DelinquencyPolicy,
    LineAccrualResumed,
    LineFreezeLifted,
    LineFreezeStarted,
    LineNonAccrualStarted,
    LineWrittenOff,
    bucket_for,
    days_past_due,
)
from lending.errors import (
    BackdatedOperation,
    CreditLimitExceeded,
    CurrencyMismatch,
    DuplicateOperation,
    InsufficientPayoff,
    InvalidAmount,
    InvalidIdentifier,
    InvalidPolicy,
    InvalidScheduleTerms,
    InvalidScore,
    LendingError,
    LineClosed,
    LineFrozen,
    NothingToPayOff,
    NothingToPrepay,
    PaymentAlreadyReversed,
    RefundExceedsCreditBalance,
    UnbalancedEntry,
    UnknownDraw,
    UnknownGrade,
    UnknownPayment,
)
from lending.interest import accrued_interest
from lending.ledger import Account, EntryKind, Journal, JournalEntry, Posting
from lending.lines import (
    BalanceRefunded,
    CreditLine,
    DrawMade,
    DrawPayoff,
    DrawStatus,
    InstalmentStatus,
    LimitChanged,
    LineEvent,
    LineState,
    LineTerms,
    PaymentReceived,
    PaymentReversed,
    PayoffQuote,
    PayoffReceived,
    PrepaymentReceived,
    RepaymentPlan,
    fold_line,
    open_term_loan,
    operation_id,
    payoff_quote,
)
from lending.money import AMOUNT_ROUNDING, minor_unit, parse_amount, quantize, split_evenly
from lending.policy import (
    CreditDecision,
    CreditPolicy,
    PolicyReason,
    ScoreLike,
    ScoreSummary,
    SellerProfile,
    Terms,
    decide,
    load_policy,
    parse_policy,
)
from lending.schedules import (
    Instalment,
    PrepaymentOption,
    Schedule,
    ScheduleMethod,
    annuity_payment,
    build_schedule,
    reschedule_after_prepayment,
)

__all__ = [
    # errors
    "LendingError", "InvalidAmount", "CurrencyMismatch", "InvalidScheduleTerms",
    "CreditLimitExceeded", "LineFrozen", "LineClosed", "BackdatedOperation",
    "DuplicateOperation", "UnknownDraw", "UnknownPayment", "PaymentAlreadyReversed",
    "NothingToPrepay", "UnbalancedEntry", "InvalidPolicy", "UnknownGrade", "InvalidScore",
    "InvalidIdentifier", "RefundExceedsCreditBalance", "InsufficientPayoff",
    "NothingToPayOff",
    # money and dates
    "AMOUNT_ROUNDING", "minor_unit", "parse_amount", "quantize", "split_evenly",
    "DayCount", "add_months", "monthly_due_dates", "year_fraction", "accrued_interest",
    # schedules
    "Instalment", "Schedule", "ScheduleMethod", "PrepaymentOption", "annuity_payment",
    "build_schedule", "reschedule_after_prepayment",
    # allocation and delinquency
    "Allocation", "AllocationPolicy", "Component", "DueAmount", "allocate_payment",
    "BUCKETS", "Bucket", "BucketChanged", "DelinquencyEvent", "DelinquencyPolicy",
    "LineFreezeLifted", "LineFreezeStarted", "LineWrittenOff", "LineNonAccrualStarted",
    "LineAccrualResumed", "bucket_for", "days_past_due",
    # ledger
    "Account", "EntryKind", "Journal", "JournalEntry", "Posting",
    # lines
    "CreditLine", "DrawMade", "DrawStatus", "InstalmentStatus", "LimitChanged", "LineEvent",
    "LineState",
    "LineTerms", "PaymentReceived", "PaymentReversed", "PrepaymentReceived", "RepaymentPlan",
    "fold_line", "open_term_loan", "PayoffReceived", "BalanceRefunded", "DrawPayoff",
    "PayoffQuote", "payoff_quote", "operation_id",
    # credit policy
    "CreditDecision", "CreditPolicy", "PolicyReason", "ScoreLike", "ScoreSummary",
    "SellerProfile", "Terms", "decide", "load_policy", "parse_policy",
]
