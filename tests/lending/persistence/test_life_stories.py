"""Golden life stories: three lines lived day by day through the store, end of day every day.

Each story is told figure by figure in docs/lending.md ("Life stories"); the tables below
are those tables, row for row, and the two are kept in step by hand (nothing is parsed:
change a figure in one, change it in the other). Every story runs on SQLite and on
PostgreSQL, through the store services only. Every day of a story is closed by
``run_end_of_day`` on a simulated clock, one run a day as the daily job runs it, and
every day's trial balance must hold; after each closed day the line's summary row (days
past due, bucket, status) is recorded, so a story can assert its whole delinquency
history, day by day. At each row's date, after that day's end of day, the figures the
row names are compared with the store's: the line's summary (``get_line``), its statement
(``get_statement``, derived from the events) and its booked journal (``journal_totals``),
and those three views must agree with one another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lending.errors import CreditLimitExceeded, LineFrozen
from lending.ledger import Account
from lending.persistence import (
    SqlUnitOfWork,
    current_business_date,
    draw,
    get_line,
    get_schedule,
    get_statement,
    journal_totals,
    payoff,
    prepay,
    repay,
    run_end_of_day,
)
from lending.persistence.services import open_line_from_decision, regrant_line
from lending.policy import CreditDecision, Terms
from lending.products import RequestedPlan

#: A row of a story's table: the figures that hold at the end of its date.
Figures = Mapping[str, object]


def cny(text: str) -> Decimal:
    """An amount as the docs write it (``"1,033.61"``)."""
    return Decimal(text.replace(",", ""))


def approved(seller_id: str, limit: str, terms: Terms) -> CreditDecision:
    """An approval granting ``terms`` (as the policy's decision would)."""
    return CreditDecision(seller_id=seller_id, outcome="approve", limit=cny(limit),
                          terms=terms, reasons=(), policy_version="life-stories-1",
                          grade="B", pd=Decimal("0.04"), points=Decimal("610"),
                          sized_limit=cny(limit))


class LifeStory:
    """One line in a store of its own, its days closed one by one by end of day.

    Parameters
    ----------
    engine
        A freshly migrated store.
    line_id
        The story's line.
    opened_on
        The day the line opens: the store's first business day.
    table
        The story's figures by date (see the module): each row is checked at the end of
        its day.
    """

    def __init__(self, engine: sa.Engine, line_id: str, opened_on: date,
                 table: Mapping[date, Figures]) -> None:
        self.engine = engine
        self.line_id = line_id
        self.business_date = opened_on
        self.table = table
        self.checked: list[date] = []
        #: Days past due, bucket and status at the end of every closed day.
        self.daily: dict[date, tuple[int, str, str]] = {}
        #: The lines end of day advanced on every closed day.
        self.visited: dict[date, int] = {}

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def on(self, day: date) -> date:
        """Close every day before ``day``: ``day`` is then the business date."""
        self.close_through(day - timedelta(days=1))
        assert current_business_date(self.uow(), today=day) == day
        return day

    def close_through(self, last: date) -> None:
        """Run end of day once for each open day up to ``last``, in order, as the daily
        job would; each day's trial balance must hold."""
        while self.business_date <= last:
            day = self.business_date
            (closed,) = run_end_of_day(self.engine, through=day, today=day, clock="simulated")
            assert closed.day == day and closed.trial_balance is not None
            assert closed.trial_balance.ok, (day, closed.trial_balance.problems())
            self.business_date = day + timedelta(days=1)
            view = get_line(self.uow(), self.line_id, business_date=self.business_date)
            assert view.as_of == day
            self.daily[day] = (view.days_past_due, view.bucket, view.status)
            self.visited[day] = closed.lines_processed
            if day in self.table:
                expected = self.table[day]
                actual = self.figures(day)
                assert {name: actual[name] for name in expected} == dict(expected), day
                self.checked.append(day)

    def figures(self, day: date) -> dict[str, object]:
        """The line at the end of ``day``, as the summary, statement and book agree."""
        view = get_line(self.uow(), self.line_id, business_date=day + timedelta(days=1))
        statement = get_statement(self.uow(), self.line_id, day)
        with self.uow().reading() as unit:
            booked = journal_totals(unit, self.line_id)
        assert booked == statement.balances, "the book differs from the derived journal"
        assert (view.outstanding_principal, view.available_credit, view.days_past_due,
                view.bucket, view.status) == (
            statement.outstanding_principal, statement.available_credit,
            statement.days_past_due, statement.bucket, statement.status)
        assert statement.outstanding_principal == booked[Account.LOANS_RECEIVABLE]
        draws = {status.draw_id: status.status
                 for status in get_schedule(self.uow(), self.line_id, day)}
        return {
            "limit": statement.limit, "outstanding": statement.outstanding_principal,
            "available": statement.available_credit, "dpd": statement.days_past_due,
            "bucket": statement.bucket, "status": statement.status,
            "principal_due": statement.principal_due,
            "interest_due": statement.interest_due, "fee_due": statement.fee_due,
            "penalty_due": statement.penalty_due, "total_due": statement.total_due,
            "credit_balance": statement.credit_balance,
            "next_due": statement.next_due_date, "next_due_amount": statement.next_due_amount,
            "draws": draws,
            **{str(account): amount for account, amount in booked.items()},
        }

    def finish(self, last: date) -> None:
        """Close the story's last day; every row of its table was checked."""
        self.close_through(last)
        assert self.checked == sorted(self.table)


def row(**figures: object) -> Figures:
    """A table row: amounts written as in the docs (``"1,033.61"``), compared exactly."""
    return {name: cny(value) if isinstance(value, str) and name not in ("bucket", "status")
            else value for name, value in figures.items()}


Step = tuple[date, Callable[[date], object]]


def play(story: LifeStory, script: list[Step], last_day: date) -> None:
    """Play a story's steps in date order (steps of one day in the order written), each
    on its business date, then close the story's last day."""
    for day, act in sorted(script, key=lambda step: step[0]):
        act(story.on(day))
    story.finish(last_day)


# --------------------------------------------------------------------------- story 1

PURCHASE_TERMS = Terms("purchase_line", interest_free_days=(30, 60, 90),
                       instalment_months=(3, 6, 12),
                       instalment_fee_rate_per_month=Decimal("0.005"))
SHOP = "LS-SHOP"
SHOP_OPENED = date(2026, 1, 5)
SHOP_LAST_DAY = date(2027, 3, 4)
#: The shop's 30-day purchases of 2,000.00 after the first quarter, each repaid on its
#: due date (30 days later).
SHOP_MONTHLY_BUYS = ((date(2026, 5, 4), "D6"), (date(2026, 6, 1), "D7"),
                     (date(2026, 7, 6), "D8"), (date(2026, 8, 3), "D9"),
                     (date(2026, 9, 7), "D10"), (date(2026, 10, 5), "D11"),
                     (date(2026, 11, 2), "D12"), (date(2027, 1, 4), "D14"),
                     (date(2027, 2, 1), "D15"))

#: Story 1's table in docs/lending.md, row for row (columns: outstanding, available, due
#: now, days past due, bucket, status, penalty income, fee income, collections cash,
#: funding cash, next due date and amount; the limit where it changes).
PURCHASE_LINE: dict[date, Figures] = {
    date(2026, 1, 5): row(limit="20,000.00", outstanding="3,000.00", available="17,000.00",
                          total_due="0.00", dpd=0, bucket="current", status="open",
                          penalty_income="0.00", fee_income="0.00", collections_cash="0.00",
                          funding_cash="-3,000.00", next_due=date(2026, 2, 4),
                          next_due_amount="3,000.00"),
    date(2026, 1, 12): row(outstanding="5,000.00", available="15,000.00", total_due="0.00",
                           dpd=0, funding_cash="-5,000.00", next_due=date(2026, 2, 4),
                           next_due_amount="3,000.00"),
    date(2026, 1, 19): row(outstanding="11,000.00", available="9,000.00", total_due="0.00",
                           dpd=0, funding_cash="-11,000.00", next_due=date(2026, 2, 4),
                           next_due_amount="3,000.00"),
    date(2026, 1, 26): row(outstanding="8,000.00", available="12,000.00", total_due="0.00",
                           dpd=0, collections_cash="3,000.00", funding_cash="-11,000.00",
                           credit_balance="0.00", next_due=date(2026, 2, 19),
                           next_due_amount="2,030.00", draws={"D1": "repaid", "D2": "open",
                                                              "D3": "open"}),
    date(2026, 2, 2): row(outstanding="9,500.00", available="10,500.00", total_due="0.00",
                          dpd=0, collections_cash="3,000.00", funding_cash="-12,500.00",
                          next_due=date(2026, 2, 19), next_due_amount="2,030.00"),
    date(2026, 2, 19): row(outstanding="8,530.00", available="11,470.00",
                           principal_due="1,030.00", total_due="1,030.00", dpd=0,
                           bucket="current", status="open", fee_income="30.00",
                           collections_cash="4,000.00", next_due=date(2026, 3, 4),
                           next_due_amount="1,500.00"),
    date(2026, 2, 20): row(total_due="1,030.00", dpd=1, bucket="1-30", status="open",
                           penalty_due="0.00"),
    date(2026, 2, 23): row(total_due="1,030.52", penalty_due="0.52", dpd=4, bucket="1-30",
                           status="frozen", penalty_receivable="0.52", penalty_income="0.52"),
    date(2026, 2, 24): row(total_due="1,031.03", penalty_due="1.03", dpd=5, status="frozen",
                           available="11,470.00", funding_cash="-12,500.00"),
    date(2026, 3, 1): row(outstanding="8,530.00", principal_due="1,030.00",
                          penalty_due="3.61", total_due="1,033.61", dpd=10, bucket="1-30",
                          status="frozen", penalty_income="3.61"),
    date(2026, 3, 2): row(outstanding="7,500.00", available="12,500.00", total_due="0.00",
                          dpd=0, bucket="current", status="open", penalty_receivable="0.00",
                          penalty_income="3.61", fee_income="30.00",
                          collections_cash="5,033.61", next_due=date(2026, 3, 4),
                          next_due_amount="1,500.00"),
    date(2026, 3, 4): row(outstanding="6,000.00", available="14,000.00", total_due="0.00",
                          dpd=0, collections_cash="6,533.61", next_due=date(2026, 3, 13),
                          next_due_amount="2,000.00"),
    date(2026, 3, 10): row(outstanding="4,000.00", available="16,000.00", total_due="0.00",
                           dpd=0, collections_cash="8,533.61", next_due=date(2026, 3, 19),
                           next_due_amount="2,030.00"),
    date(2026, 3, 19): row(outstanding="14,000.00", available="6,000.00", total_due="0.00",
                           dpd=0, fee_income="60.00", collections_cash="10,563.61",
                           funding_cash="-24,500.00", next_due=date(2026, 4, 19),
                           next_due_amount="3,090.00"),
    date(2026, 4, 17): row(outstanding="12,000.00", available="8,000.00", total_due="0.00",
                           dpd=0, fee_income="90.00", collections_cash="12,593.61",
                           next_due=date(2026, 4, 19), next_due_amount="1,060.00",
                           draws={"D1": "repaid", "D2": "repaid", "D3": "repaid",
                                  "D4": "repaid", "D5": "open"}),
    date(2026, 4, 19): row(outstanding="11,000.00", available="9,000.00", total_due="0.00",
                           dpd=0, fee_income="150.00", fee_receivable="0.00",
                           collections_cash="13,653.61", next_due=date(2026, 5, 19),
                           next_due_amount="1,060.00"),
    date(2026, 6, 30): row(outstanding="11,000.00", available="9,000.00", total_due="0.00",
                           dpd=0, fee_income="270.00", collections_cash="17,773.61",
                           funding_cash="-28,500.00", next_due=date(2026, 7, 1),
                           next_due_amount="2,000.00"),
    date(2026, 11, 30): row(limit="20,000.00", outstanding="6,000.00", available="14,000.00",
                            total_due="0.00", dpd=0, fee_income="570.00",
                            collections_cash="33,073.61", funding_cash="-38,500.00",
                            next_due=date(2026, 12, 2), next_due_amount="2,000.00"),
    date(2026, 12, 1): row(limit="30,000.00", outstanding="21,000.00", available="9,000.00",
                           total_due="0.00", dpd=0, funding_cash="-53,500.00",
                           next_due=date(2026, 12, 2), next_due_amount="2,000.00"),
    date(2027, 2, 28): row(outstanding="18,000.00", available="12,000.00", total_due="0.00",
                           dpd=0, fee_income="750.00", collections_cash="40,253.61",
                           funding_cash="-57,500.00", next_due=date(2027, 3, 1),
                           next_due_amount="15,000.00"),
    date(2027, 3, 1): row(outstanding="2,000.00", available="28,000.00", total_due="0.00",
                          dpd=0, fee_income="810.00", collections_cash="56,313.61",
                          next_due=date(2027, 3, 3), next_due_amount="2,000.00"),
    date(2027, 3, 3): row(outstanding="0.00", available="30,000.00", total_due="0.00",
                          dpd=0, collections_cash="58,313.61", next_due=None),
    date(2027, 3, 4): row(limit="30,000.00", outstanding="0.00", available="30,000.00",
                          total_due="0.00", dpd=0, bucket="current", status="open",
                          credit_balance="0.00", loans_receivable="0.00",
                          fee_receivable="0.00", penalty_receivable="0.00",
                          interest_income="0.00", fee_income="810.00",
                          penalty_income="3.61", collections_cash="58,313.61",
                          funding_cash="-57,500.00", supplier_payable="0.00",
                          next_due=None, draws={f"D{n}": "repaid" for n in range(1, 16)}),
}


def play_purchase_line(story: LifeStory) -> None:
    """Story 1, as docs/lending.md tells it."""
    uow = story.uow
    script: list[Step] = []

    def buy(day: date, amount: str, plan: RequestedPlan, draw_id: str) -> None:
        script.append((day, lambda on: draw(
            uow(), line_id=SHOP, amount=cny(amount), on=on, plan=plan,
            supplier_id="SUP-FABRIC", idempotency_key=draw_id, draw_id=draw_id)))

    def pay(day: date, amount: str, payment_id: str, *, available_at_once: str = "") -> None:
        def payment(on: date) -> None:
            receipt = repay(uow(), line_id=SHOP, amount=cny(amount), on=on,
                            idempotency_key=payment_id, payment_id=payment_id)
            if available_at_once:  # restored by the payment, before end of day
                assert receipt.available_credit == cny(available_at_once)
        script.append((day, payment))

    def refused(day: date, amount: str, error: type[Exception]) -> None:
        def attempt(on: date) -> None:
            with pytest.raises(error):
                draw(uow(), line_id=SHOP, amount=cny(amount), on=on,
                     plan=RequestedPlan.interest_free(30), supplier_id="SUP-FABRIC",
                     idempotency_key=f"refused-{on}")
        script.append((day, attempt))

    # the first quarter: weekly purchases, an early repayment, a partial and a late one
    buy(date(2026, 1, 5), "3,000.00", RequestedPlan.interest_free(30), "D1")
    buy(date(2026, 1, 12), "2,000.00", RequestedPlan.interest_free(60), "D2")
    buy(date(2026, 1, 19), "6,000.00", RequestedPlan.instalments(3), "D3")
    pay(date(2026, 1, 26), "3,000.00", "P1", available_at_once="12,000.00")
    buy(date(2026, 2, 2), "1,500.00", RequestedPlan.interest_free(30), "D4")
    pay(date(2026, 2, 19), "1,000.00", "P2")
    refused(date(2026, 2, 24), "500.00", LineFrozen)
    pay(date(2026, 3, 2), "1,033.61", "P3")
    pay(date(2026, 3, 4), "1,500.00", "P4")
    pay(date(2026, 3, 10), "2,000.00", "P5")
    pay(date(2026, 3, 19), "2,030.00", "P6")
    buy(date(2026, 3, 19), "12,000.00", RequestedPlan.instalments(12), "D5")
    pay(date(2026, 4, 17), "2,030.00", "P7")
    # the routine: D5's instalments on their due dates, a 30-day purchase a month
    for month in range(11):
        due = date(2026 + (3 + month) // 12, (3 + month) % 12 + 1, 19)
        pay(due, "1,060.00", f"P-D5-{month + 1}")
    for day, draw_id in SHOP_MONTHLY_BUYS:
        buy(day, "2,000.00", RequestedPlan.interest_free(30), draw_id)
        pay(day + timedelta(days=30), "2,000.00", f"P-{draw_id}")
    # the annual review: the limit is too small for a season's stock, then raised
    refused(date(2026, 12, 1), "15,000.00", CreditLimitExceeded)
    script.append((date(2026, 12, 1), lambda on: regrant_line(
        uow(), line_id=SHOP, seller_id="S-SHOP", limit=cny("30,000.00"),
        terms=PURCHASE_TERMS, policy_version="life-stories-2", on=on, actor="review",
        change_id="R1", reason="annual review")))
    buy(date(2026, 12, 1), "15,000.00", RequestedPlan.interest_free(90), "D13")
    pay(date(2027, 3, 1), "15,000.00", "P-D13")
    script.append((date(2027, 3, 1), lambda on: prepay(
        uow(), line_id=SHOP, draw_id="D5", amount=cny("1,060.00"), on=on,
        idempotency_key="P-D5-12", payment_id="P-D5-12")))

    open_line_from_decision(uow(), approved("S-SHOP", "20,000.00", PURCHASE_TERMS),
                            line_id=SHOP, opened_on=SHOP_OPENED)
    play(story, script, SHOP_LAST_DAY)


# --------------------------------------------------------------------------- story 2

LOAN_TERMS = Terms("term_loan", methods=("annuity",), months=(6, 12, 24),
                   annual_rate=Decimal("0.08"))
LOAN = "LS-LOAN"
LOAN_OPENED = date(2026, 1, 5)
LOAN_PAYOFF_DAY = date(2026, 3, 20)
LOAN_LAST_DAY = date(2026, 5, 6)

#: Story 2's table in docs/lending.md, row for row (outstanding, interest receivable and
#: income, collections cash, next due), with what its text says of every row: available
#: credit 0.00 (a term loan does not revolve), nothing due now.
PAYOFF: dict[date, Figures] = {day: {**row(available="0.00", total_due="0.00", dpd=0),
                                     **figures} for day, figures in {
    date(2026, 1, 5): row(limit="12,000.00", outstanding="12,000.00",
                          interest_receivable="2.58", interest_income="2.58",
                          collections_cash="0.00", funding_cash="-12,000.00",
                          next_due=date(2026, 2, 5), next_due_amount="1,043.86"),
    date(2026, 2, 4): row(outstanding="12,000.00", interest_receivable="80.00",
                          interest_income="80.00"),
    date(2026, 2, 5): row(outstanding="11,036.14", interest_receivable="2.63",
                          interest_income="82.63", collections_cash="1,043.86",
                          next_due=date(2026, 3, 5), next_due_amount="1,043.86"),
    date(2026, 3, 5): row(outstanding="10,065.85", interest_receivable="2.16",
                          interest_income="155.73", collections_cash="2,087.72",
                          next_due=date(2026, 4, 5), next_due_amount="1,043.86"),
    date(2026, 3, 19): row(outstanding="10,065.85", interest_receivable="32.47",
                           interest_income="186.04"),
    date(2026, 3, 20): row(outstanding="0.00", interest_receivable="0.00",
                           interest_income="186.04", collections_cash="12,186.04",
                           credit_balance="0.00", next_due=None, bucket="current",
                           status="open", draws={"D1": "repaid"}),
    date(2026, 4, 6): row(outstanding="0.00", interest_receivable="0.00",
                          interest_income="186.04", next_due=None, bucket="current"),
    date(2026, 5, 6): row(outstanding="0.00", interest_receivable="0.00",
                          interest_income="186.04", penalty_income="0.00",
                          collections_cash="12,186.04", funding_cash="-12,000.00",
                          credit_balance="0.00", next_due=None, bucket="current",
                          status="open", draws={"D1": "repaid"}),
}.items()}


def play_payoff(story: LifeStory) -> None:
    """Story 2, as docs/lending.md tells it."""
    uow = story.uow

    def quote_and_pay(on: date) -> None:
        quote = payoff.get_payoff_quote(uow(), LOAN, on=on)
        assert (quote.principal, quote.interest, quote.fee, quote.penalty, quote.rebated_fee,
                quote.total, quote.credit_balance, quote.amount_to_pay) == tuple(map(cny, (
                    "10,065.85", "32.47", "0.00", "0.00", "0.00", "10,098.32", "0.00",
                    "10,098.32")))
        receipt = payoff.pay_off(uow(), line_id=LOAN, amount=quote.amount_to_pay, on=on,
                                 idempotency_key="L2-PAYOFF", payment_id="P3")
        assert (receipt.outstanding_principal, receipt.total_due, receipt.credit_balance) == (
            cny("0.00"), cny("0.00"), cny("0.00"))

    script: list[Step] = [
        (date(2026, 1, 5), lambda on: draw(
            uow(), line_id=LOAN, amount=cny("12,000.00"), on=on,
            plan=RequestedPlan.term_loan("annuity", 12), supplier_id="SUP-LATHE",
            idempotency_key="L2-D1", draw_id="D1")),
        (date(2026, 2, 5), lambda on: repay(
            uow(), line_id=LOAN, amount=cny("1,043.86"), on=on, idempotency_key="L2-P1",
            payment_id="P1")),
        (date(2026, 3, 5), lambda on: repay(
            uow(), line_id=LOAN, amount=cny("1,043.86"), on=on, idempotency_key="L2-P2",
            payment_id="P2")),
        (LOAN_PAYOFF_DAY, quote_and_pay),
    ]
    open_line_from_decision(uow(), approved("S-LOAN", "12,000.00", LOAN_TERMS),
                            line_id=LOAN, opened_on=LOAN_OPENED)
    play(story, script, LOAN_LAST_DAY)


# --------------------------------------------------------------------------- story 3

TERM_TERMS = Terms("term_loan", methods=("annuity", "equal_principal"), months=(6, 12),
                   annual_rate=Decimal("0.12"))
FACTORY = "LS-FACTORY"
FACTORY_OPENED = date(2026, 1, 5)
FACTORY_LAST_DAY = date(2026, 9, 15)

#: Story 3's table in docs/lending.md: its columns, and its rows with what its text says
#: of them (outstanding, available credit).
DELINQUENCY_COLUMNS = ("dpd", "bucket", "status", "principal_due", "interest_due",
                       "penalty_due", "total_due", "interest_receivable",
                       "penalty_receivable", "income_suspense", "interest_income",
                       "penalty_income")
DELINQUENCY: dict[date, tuple[object, ...]] = {
    date(2026, 3, 5): (0, "current", "open", "985.04", "50.25", "0.00", "1,035.29", "51.55",
                       "0.00", "0.00", "111.55", "0.00"),
    date(2026, 3, 6): (1, "1-30", "open", "985.04", "50.57", "0.00", "1,035.61", "53.18",
                       "0.00", "0.00", "113.18", "0.00"),
    date(2026, 3, 9): (4, "1-30", "frozen", "985.04", "51.55", "0.52", "1,037.11", "58.07",
                       "0.52", "0.00", "118.07", "0.52"),
    date(2026, 4, 5): (31, "31-60", "frozen", "1,979.93", "100.69", "14.57", "2,095.19",
                       "101.71", "14.57", "0.00", "161.71", "14.57"),
    date(2026, 5, 5): (61, "61-90", "frozen", "2,984.77", "150.66", "44.38", "3,179.81",
                       "151.32", "44.38", "0.00", "211.32", "44.38"),
    date(2026, 6, 2): (89, "61-90", "frozen", "2,984.77", "178.14", "86.93", "3,249.84",
                       "197.22", "86.93", "0.00", "257.22", "86.93"),
    date(2026, 6, 3): (90, "61-90", "frozen", "2,984.77", "179.13", "88.51", "3,252.41",
                       "198.87", "88.51", "3.23", "257.22", "86.93"),
    date(2026, 6, 4): (91, "90+", "frozen", "2,984.77", "180.11", "90.08", "3,254.96",
                       "200.51", "90.08", "6.44", "257.22", "86.93"),
    date(2026, 7, 5): (122, "90+", "frozen", "5,024.71", "251.18", "153.43", "5,429.32",
                       "251.18", "153.43", "120.46", "257.22", "86.93"),
    date(2026, 8, 31): (179, "90+", "frozen", "5,024.71", "345.35", "303.61", "5,673.67",
                        "345.35", "303.61", "364.81", "257.22", "86.93"),
    date(2026, 9, 1): (180, "90+", "written_off", "0.00", "0.00", "0.00", "0.00", "0.00",
                       "0.00", "0.00", "257.22", "86.93"),
}
WRITE_OFF: dict[date, Figures] = {
    date(2026, 1, 5): row(limit="6,000.00", outstanding="6,000.00", available="0.00",
                          interest_receivable="1.94", interest_income="1.94",
                          funding_cash="-6,000.00", next_due=date(2026, 2, 5),
                          next_due_amount="1,035.29", dpd=0),
    date(2026, 2, 5): row(outstanding="5,024.71", available="0.00", total_due="0.00",
                          interest_receivable="1.79", interest_income="61.79",
                          collections_cash="1,035.29", next_due=date(2026, 3, 5),
                          next_due_amount="1,035.29", dpd=0),
    **{day: {**row(**dict(zip(DELINQUENCY_COLUMNS, figures, strict=True))),
             **row(outstanding="5,024.71", available="0.00")}
       for day, figures in DELINQUENCY.items() if day < date(2026, 9, 1)},
    date(2026, 9, 1): {
        **row(**dict(zip(DELINQUENCY_COLUMNS, DELINQUENCY[date(2026, 9, 1)], strict=True))),
        **row(outstanding="0.00", available="0.00", loans_receivable="0.00",
              write_off_expense="5,308.86", recovery_income="0.00",
              collections_cash="1,035.29", next_due=None, draws={"D1": "written_off"})},
    date(2026, 9, 14): row(dpd=180, bucket="90+", status="written_off", outstanding="0.00",
                           principal_due="0.00", total_due="0.00", credit_balance="0.00",
                           write_off_expense="5,308.86", recovery_income="2,000.00",
                           collections_cash="3,035.29"),
    date(2026, 9, 15): row(dpd=180, bucket="90+", status="written_off", outstanding="0.00",
                           available="0.00", principal_due="0.00", total_due="0.00",
                           credit_balance="0.00", loans_receivable="0.00",
                           interest_receivable="0.00", penalty_receivable="0.00",
                           fee_receivable="0.00", income_suspense="0.00",
                           interest_income="257.22", penalty_income="86.93",
                           write_off_expense="5,308.86", recovery_income="2,000.00",
                           collections_cash="3,035.29", funding_cash="-6,000.00",
                           draws={"D1": "written_off"}),
}


def play_write_off(story: LifeStory) -> None:
    """Story 3, as docs/lending.md tells it."""
    uow = story.uow
    script: list[Step] = [
        (date(2026, 1, 5), lambda on: draw(
            uow(), line_id=FACTORY, amount=cny("6,000.00"), on=on,
            plan=RequestedPlan.term_loan("annuity", 6), supplier_id="SUP-STEEL",
            idempotency_key="L3-D1", draw_id="D1")),
        (date(2026, 2, 5), lambda on: repay(
            uow(), line_id=FACTORY, amount=cny("1,035.29"), on=on, idempotency_key="L3-P1",
            payment_id="P1")),
        (date(2026, 9, 14), lambda on: repay(
            uow(), line_id=FACTORY, amount=cny("2,000.00"), on=on, idempotency_key="L3-P2",
            payment_id="P2")),
    ]
    open_line_from_decision(uow(), approved("S-FACTORY", "6,000.00", TERM_TERMS),
                            line_id=FACTORY, opened_on=FACTORY_OPENED)
    play(story, script, FACTORY_LAST_DAY)


# --------------------------------------------------------------------------- the tests


def test_a_shop_s_purchase_line_revolves_for_14_months_through_a_late_payment_and_its_cure(
        engine: sa.Engine) -> None:
    story = LifeStory(engine, SHOP, SHOP_OPENED, PURCHASE_LINE)
    play_purchase_line(story)
    assert len(story.daily) == (SHOP_LAST_DAY - SHOP_OPENED).days + 1 == 424
    late = {date(2026, 2, 19) + timedelta(days=n): n for n in range(1, 11)}
    assert {day: figures for day, figures in story.daily.items()
            if figures != (0, "current", "open")} == {
        day: (dpd, "1-30", "frozen" if dpd > 3 else "open") for day, dpd in late.items()}


def test_a_term_loan_paid_off_mid_period_owes_nothing_afterwards_and_never_falls_due(
        engine: sa.Engine) -> None:
    story = LifeStory(engine, LOAN, LOAN_OPENED, PAYOFF)
    play_payoff(story)
    assert set(story.daily.values()) == {(0, "current", "open")}
    assert len(story.daily) == (LOAN_LAST_DAY - LOAN_OPENED).days + 1
    # interest to the payoff date only: nothing is booked after it
    after = get_statement(story.uow(), LOAN, LOAN_LAST_DAY, since=LOAN_PAYOFF_DAY)
    assert after.entries == ()
    (loan,) = get_schedule(story.uow(), LOAN, LOAN_OPENED)
    assert [(i.due_date, i.total, i.interest) for i in loan.schedule][:3] == [
        (date(2026, 2, 5), cny("1,043.86"), cny("80.00")),
        (date(2026, 3, 5), cny("1,043.86"), cny("73.57")),
        (date(2026, 4, 5), cny("1,043.86"), cny("67.11"))]


def test_a_loan_nobody_repays_goes_through_every_bucket_to_write_off_and_recovery(
        engine: sa.Engine) -> None:
    story = LifeStory(engine, FACTORY, FACTORY_OPENED, WRITE_OFF)
    play_write_off(story)
    due = date(2026, 3, 5)  # the first instalment left unpaid
    expected = {}
    for day in story.daily:
        dpd = max(0, min((day - due).days, 180))
        bucket = ("current" if dpd == 0 else "1-30" if dpd <= 30 else "31-60" if dpd <= 60
                  else "61-90" if dpd <= 90 else "90+")
        status = ("written_off" if dpd == 180 else "frozen" if dpd > 3 else "open")
        expected[day] = (dpd, bucket, status)
    assert story.daily == expected
    (loan,) = get_schedule(story.uow(), FACTORY, FACTORY_OPENED)
    assert [(i.number, i.due_date, i.principal, i.interest) for i in loan.schedule] == [
        (n, date(2026, n + 1, 5), cny(principal), cny(interest)) for n, principal, interest in (
            (1, "975.29", "60.00"), (2, "985.04", "50.25"), (3, "994.89", "40.40"),
            (4, "1,004.84", "30.45"), (5, "1,014.89", "20.40"), (6, "1,025.05", "10.25"))]
    # end of day advances the line up to its write-off, and leaves it alone afterwards
    assert {day for day, lines in story.visited.items() if lines} == {
        day for day in story.visited if day <= date(2026, 9, 1)}
    write_off = [entry for entry in get_statement(story.uow(), FACTORY, FACTORY_LAST_DAY).entries
                 if entry.kind == "write_off"]
    assert [(entry.on, {str(p.account): (p.side, p.amount) for p in entry.postings})
            for entry in write_off] == [(date(2026, 9, 1), {
                "write_off_expense": ("debit", cny("5,308.86")),
                "income_suspense": ("debit", cny("369.15")),
                "loans_receivable": ("credit", cny("5,024.71")),
                "interest_receivable": ("credit", cny("347.00")),
                "penalty_receivable": ("credit", cny("306.30"))})]
