"""Persistence of the lending rules: SQLModel tables, Alembic migrations, a unit of work,
repositories and the services that take plain values and a unit of work.

This sub-package is the only part of :mod:`lending` that imports SQLModel or SQLAlchemy;
the rule modules (``lending/*.py``) stay pure. The engine, the unit of work it builds on,
group commit, the idempotency records shared with the decisions and the migrations of
these tables are the store's (:mod:`store`).
Conventions (locking, idempotency, booking of the journal) are documented in
``docs/lending.md``.

Typical use::

    engine = store.make_engine(url)
    store.upgrade_database(engine)
    open_line(SqlUnitOfWork(engine), line_id="L1", seller_id="S1", limit="50000.00",
              opened_on=date(2026, 1, 5))
    draw(SqlUnitOfWork(engine), line_id="L1", amount="3000.00", on=date(2026, 1, 6),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP-9", idempotency_key="req-1")
"""

from lending.persistence.business_day import (
    BusinessDayRecord,
    EndOfDayRunRecord,
    check_draw_date,
    check_value_date,
    current_business_date,
)
from lending.persistence.eod import (
    DayClosed,
    EndOfDayScheduler,
    EndOfDayStatus,
    TrialBalance,
    TrialBalanceFailed,
    close_day,
    end_of_day_status,
    run_end_of_day,
    trial_balance,
)
from lending.persistence.errors import (
    DayAlreadyClosed,
    DayNotClosable,
    DecisionNotApproved,
    EndOfDayRunning,
    IdempotencyKeyReused,
    LineAlreadyExists,
    NotTheBusinessDate,
    UnknownLine,
    ValueDateOutsideWindow,
)
from lending.persistence.payoff import (
    BalanceRefundReceipt,
    get_payoff_quote,
    pay_off,
    refund_balance,
)
from lending.persistence.services import (
    DrawReceipt,
    LimitChangeReceipt,
    LineView,
    PaymentReceipt,
    Statement,
    advance_line,
    book_journal,
    change_limit,
    draw,
    get_line,
    get_schedule,
    get_statement,
    journal_totals,
    lines_of_seller,
    open_line,
    open_line_from_decision,
    prepay,
    repay,
    reverse_payment,
)
from lending.persistence.tables import (
    CreditLineCreate,
    CreditLineRecord,
    IdempotencyRecord,
    JournalEntryRecord,
    JournalPostingRecord,
    LineEventRecord,
)
from lending.persistence.unit_of_work import SqlUnitOfWork

__all__ = [
    "SqlUnitOfWork",
    "UnknownLine", "LineAlreadyExists", "IdempotencyKeyReused", "DecisionNotApproved",
    "LineView", "DrawReceipt", "PaymentReceipt", "LimitChangeReceipt", "Statement",
    "open_line", "open_line_from_decision", "draw", "repay", "prepay", "reverse_payment",
    "change_limit", "advance_line", "get_line", "lines_of_seller", "get_schedule",
    "get_statement", "book_journal",
    "journal_totals",
    # paying a line off, paying a credit balance back (lending/persistence/payoff.py)
    "BalanceRefundReceipt", "get_payoff_quote", "pay_off", "refund_balance",
    "CreditLineCreate", "CreditLineRecord", "LineEventRecord",
    "JournalEntryRecord", "JournalPostingRecord", "IdempotencyRecord",
    # the business day and end of day (lending/persistence/business_day.py, eod.py)
    "BusinessDayRecord", "EndOfDayRunRecord", "current_business_date", "check_draw_date",
    "check_value_date", "close_day", "run_end_of_day", "trial_balance", "end_of_day_status",
    "DayClosed", "EndOfDayStatus", "TrialBalance", "EndOfDayScheduler",
    "NotTheBusinessDate", "ValueDateOutsideWindow", "DayNotClosable", "DayAlreadyClosed",
    "TrialBalanceFailed", "EndOfDayRunning",
]
