"""Credit lines: read a line, its schedule and statement; draw on it; repay it; quote
and pay off what it owes; pay a credit balance back.

Amounts are decimal strings in the line's currency's major unit (``"1250.00"``) and must
be exact to its minor unit. ``on`` (a business date) defaults to today in the lender's
time zone. Draws, repayments, payoffs and balance refunds take an ``Idempotency-Key``;
payoffs and balance refunds happen on the business date.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from access.principal import Principal
from api.deps import IdempotencyKeyHeader, SettingsDep, UowDep, require
from api.errors import ApiError, ErrorBody
from api.validation import PlausibleDate
from lending.lines import DrawStatus, PayoffQuote
from lending.persistence import payoff, services
from lending.persistence.business_day import (
    current_business_date,
)
from lending.persistence.tables import CreditLineBase
from lending.persistence.unit_of_work import SqlUnitOfWork
from lending.products import RequestedPlan
from settings import Settings

router = APIRouter(prefix="/v1", tags=["credit lines"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
LineId = Annotated[str, Field(pattern=_ID, description="Credit line id.")]
OperationId = Annotated[str, Field(pattern=_ID)]
#: A plain decimal in ASCII digits. Python's Decimal also reads "1_000", "١٠٠" (other
#: scripts' digits), " 5 " and "1e3"; money must not be read in ways a person would not.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def plain_decimal(value: Any) -> Any:
    """Refuse a money string that is not a plain decimal (a ``BeforeValidator``)."""
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError("an amount is a plain decimal string such as \"1250.00\" (digits "
                         "0-9, an optional '-' and '.', no exponent, separators or spaces)")
    return value


Money = Annotated[Decimal, BeforeValidator(plain_decimal),
                  Field(allow_inf_nan=False, max_digits=20,
                        description="Decimal string in the major unit, e.g. \"1250.00\"; "
                        "exact to the minor unit.")]


def _today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


def _business_date(uow: SqlUnitOfWork, settings: Settings) -> date:
    """The lender's current business date (the last day end of day closed, plus one)."""
    return current_business_date(uow, today=_today(settings))


# ------------------------------------------------------------------- bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InterestFreePlan(_Body):
    """A purchase-line draw repaid in one interest-free payment after ``days`` days: one
    of the periods the line's decision granted."""

    kind: Literal["interest_free"]
    days: int = Field(ge=1, le=366, description="One of the granted interest-free periods.")


class InstalmentsPlan(_Body):
    """A purchase-line draw repaid in equal monthly interest-free instalments over
    ``months`` months (one of the granted numbers), with the granted monthly service fee."""

    kind: Literal["instalments"]
    months: int = Field(ge=1, le=120, description="One of the granted numbers of months.")


class TermLoanPlan(_Body):
    """A term-loan draw repaid by a granted ``method`` over a granted number of
    ``months``; it bears the annual rate the decision granted (never sent by the client)."""

    kind: Literal["term_loan"]
    method: Literal["annuity", "equal_principal", "interest_only", "daily_interest"]
    months: int = Field(ge=1, le=120, description="One of the granted numbers of months.")


class BulletPlan(_Body):
    """Earlier shape of an interest-free bullet (still accepted): as ``interest_free``."""

    method: Literal["interest_free_bullet"]
    interest_free_days: Literal[30, 60, 90]


class InstalmentPlan(_Body):
    """Earlier shape of interest-free instalments (still accepted): as ``instalments``."""

    method: Literal["interest_free_instalments"]
    months: int = Field(ge=2, le=24)


def _plan_tag(value: Any) -> str | None:
    """The plan's shape: its ``kind``, or the ``method`` of the earlier shapes."""
    tag = (value.get("kind", value.get("method")) if isinstance(value, dict)
           else getattr(value, "kind", getattr(value, "method", None)))
    return tag if isinstance(tag, str) else None


DrawPlan = Annotated[
    Annotated[InterestFreePlan, Tag("interest_free")]
    | Annotated[InstalmentsPlan, Tag("instalments")]
    | Annotated[TermLoanPlan, Tag("term_loan")]
    | Annotated[BulletPlan, Tag("interest_free_bullet")]
    | Annotated[InstalmentPlan, Tag("interest_free_instalments")],
    Discriminator(_plan_tag, custom_error_type="invalid_plan",
                  custom_error_message="plan.kind must be interest_free, instalments or "
                  "term_loan")]


class DrawRequest(_Body):
    """A draw that pays a supplier."""

    amount: Money
    supplier_id: str = Field(pattern=_ID)
    plan: DrawPlan = Field(description=(
        "How the draw is repaid, within the terms the line's decision granted: "
        "{\"kind\": \"interest_free\", \"days\": 30}, {\"kind\": \"instalments\", "
        "\"months\": 3} (purchase line) or {\"kind\": \"term_loan\", \"method\": "
        "\"annuity\", \"months\": 12} (term loan). Anything else the grant does not "
        "allow is refused with 422 plan_not_granted naming the allowed values."))
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    on: PlausibleDate | None = Field(None, description="The lender's business date, which the "
                            "service gives the draw itself; any other date is refused "
                            "(422 not_the_business_date, details.allowed).")


class RepaymentRequest(_Body):
    """A repayment, allocated by the line's waterfall (dues first, oldest first)."""

    amount: Money
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    on: PlausibleDate | None = Field(None, description="Value date (default: the business date): "
                            "from the business date back the configured window (default 5 "
                            "days); applied as of that date. Outside it: 422 "
                            "value_date_outside_window, details.earliest and .latest.")


class PayoffRequest(_Body):
    """A payment that pays off the line (every open draw) or one draw, on the business
    date. It must cover the payoff quote of the day (``GET .../payoff``); anything above
    it stays on the line as the borrower's credit balance."""

    amount: Money
    draw_id: OperationId | None = Field(None, description="The one draw to pay off "
                                        "(default: every open draw of the line).")
    payment_id: OperationId | None = Field(None, description="The payment's id among the "
                                           "line's operations (default: a new one).")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class BalanceRefundRequest(_Body):
    """Pay part or all of the borrower's credit balance back to them, on the business
    date."""

    amount: Money
    refund_id: OperationId | None = Field(None, description="The refund's id among the "
                                          "line's operations (default: a new one).")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


# ------------------------------------------------------------------ answers
# The stored line's shared fields (CreditLineBase) and its state as of a date. The
# docstring is the schema's description in the OpenAPI document.
class CreditLinePublic(CreditLineBase):
    """A credit line as answered to callers."""

    id: str
    limit: Decimal
    opened_on: date
    status: str
    version: int
    as_of: date
    outstanding_principal: Decimal
    available_credit: Decimal
    days_past_due: int
    bucket: str


def line_public(view: services.LineView) -> CreditLinePublic:
    """The answer for a line as of a date."""
    return CreditLinePublic(
        id=view.line_id, seller_id=view.seller_id, product=view.product,
        currency=view.currency, policy_version=view.policy_version,
        revolving=view.revolving, limit=view.limit, opened_on=view.opened_on,
        status=view.status, version=view.version, as_of=view.as_of,
        outstanding_principal=view.outstanding_principal,
        available_credit=view.available_credit, days_past_due=view.days_past_due,
        bucket=view.bucket)


class InstalmentPublic(BaseModel):
    """One instalment of a draw."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    total: Decimal


class DrawPublic(BaseModel):
    """A draw's receipt: its schedule and the line after it."""

    line_id: str
    draw_id: str
    on: date
    amount: Decimal
    supplier_id: str
    schedule: list[InstalmentPublic]
    available_credit: Decimal
    outstanding_principal: Decimal
    line_version: int


class PaymentPublic(BaseModel):
    """A repayment's receipt."""

    line_id: str
    payment_id: str
    on: date
    amount: Decimal
    total_due: Decimal
    credit_balance: Decimal
    outstanding_principal: Decimal
    available_credit: Decimal
    line_version: int


class DrawPayoffPublic(BaseModel):
    """What settles one draw: principal, interest accrued to the date, fees due and
    earned, penalty, and the unearned fee rebated (already left out of ``total``)."""

    draw_id: str
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    rebated_fee: Decimal
    total: Decimal


class PayoffQuotePublic(BaseModel):
    """What settles the line (or one draw) if paid on ``on``, the business date.

    ``total`` is the sum of the draws' payoffs; the borrower's ``credit_balance`` is
    applied first, so ``amount_to_pay`` is what a payoff must bring.
    """

    line_id: str
    on: date
    draw_id: str | None
    draws: list[DrawPayoffPublic]
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    rebated_fee: Decimal
    total: Decimal
    credit_balance: Decimal
    amount_to_pay: Decimal


class BalanceRefundPublic(BaseModel):
    """A balance refund's receipt: what was paid back and the credit balance left."""

    line_id: str
    refund_id: str
    on: date
    amount: Decimal
    credit_balance: Decimal
    line_version: int


class InstalmentStatusPublic(InstalmentPublic):
    """An instalment as of a date, with what is unpaid."""

    is_due: bool
    principal_unpaid: Decimal
    interest_unpaid: Decimal
    fee_unpaid: Decimal
    penalty_unpaid: Decimal


class DrawStatusPublic(BaseModel):
    """A draw as of a date."""

    draw_id: str
    drawn_on: date
    amount: Decimal
    supplier_id: str
    status: str
    outstanding_principal: Decimal
    total_due: Decimal
    days_past_due: int
    instalments: list[InstalmentStatusPublic]


class SchedulePublic(BaseModel):
    """Every draw of a line with its schedule as of a date."""

    line_id: str
    as_of: date
    draws: list[DrawStatusPublic]


class EntryPublic(BaseModel):
    """One balanced journal entry."""

    on: date
    kind: str
    reference: str
    postings: list[dict[str, str]]


class StatementPublic(BaseModel):
    """A line's statement as of a date."""

    line_id: str
    currency: str
    as_of: date
    since: date | None
    limit: Decimal
    available_credit: Decimal
    over_limit: Decimal
    outstanding_principal: Decimal
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    penalty_due: Decimal
    total_due: Decimal
    credit_balance: Decimal
    days_past_due: int
    bucket: str
    status: str
    next_due_date: date | None
    next_due_amount: Decimal
    balances: dict[str, Decimal]
    entries: list[EntryPublic]


def _plan(body: InterestFreePlan | InstalmentsPlan | TermLoanPlan | BulletPlan
          | InstalmentPlan) -> RequestedPlan:
    if isinstance(body, InterestFreePlan):
        return RequestedPlan.interest_free(body.days)
    if isinstance(body, BulletPlan):
        return RequestedPlan.interest_free(body.interest_free_days)
    if isinstance(body, TermLoanPlan):
        return RequestedPlan.term_loan(body.method, body.months)
    return RequestedPlan.instalments(body.months)


def _draw_status(draw: DrawStatus) -> DrawStatusPublic:
    return DrawStatusPublic(
        draw_id=draw.draw_id, drawn_on=draw.drawn_on, amount=draw.amount,
        supplier_id=draw.supplier_id, status=draw.status,
        outstanding_principal=draw.outstanding_principal, total_due=draw.total_due,
        days_past_due=draw.days_past_due,
        instalments=[InstalmentStatusPublic(
            number=i.number, due_date=i.due_date, principal=i.principal, interest=i.interest,
            fee=i.fee, total=i.principal + i.interest + i.fee, is_due=i.is_due,
            principal_unpaid=i.principal_unpaid, interest_unpaid=i.interest_unpaid,
            fee_unpaid=i.fee_unpaid, penalty_unpaid=i.penalty_unpaid)
            for i in draw.instalments])


def _payoff_quote(quote: PayoffQuote) -> PayoffQuotePublic:
    return PayoffQuotePublic(
        line_id=quote.line_id, on=quote.on, draw_id=quote.draw_id,
        draws=[DrawPayoffPublic(draw_id=d.draw_id, principal=d.principal,
                                interest=d.interest, fee=d.fee, penalty=d.penalty,
                                rebated_fee=d.rebated_fee, total=d.total)
               for d in quote.draws],
        principal=quote.principal, interest=quote.interest, fee=quote.fee,
        penalty=quote.penalty, rebated_fee=quote.rebated_fee, total=quote.total,
        credit_balance=quote.credit_balance, amount_to_pay=quote.amount_to_pay)


def _check_dates(as_of: date | None, since: date | None) -> None:
    if as_of is not None and since is not None and since > as_of:
        raise ApiError(422, "invalid_request", "since must not be after as_of",
                       [{"path": "query.since", "message": "after as_of"}])


# ------------------------------------------------------------------- routes
@router.get("/lines/{line_id}", response_model=CreditLinePublic)
def read_line(line_id: LineId, principal: Annotated[Principal, require("lines:read")],
              uow: UowDep, settings: SettingsDep,
              as_of: PlausibleDate | None = None) -> CreditLinePublic:
    """Limit, available credit, outstanding principal, days past due and bucket (without
    ``as_of``: as end of day left the line, plus today's events)."""
    business = None if as_of is not None else _business_date(uow, settings)
    return line_public(services.get_line(uow, line_id, as_of, business_date=business))


@router.get("/lines/{line_id}/schedule", response_model=SchedulePublic)
def read_schedule(line_id: LineId, principal: Annotated[Principal, require("lines:read")],
                  uow: UowDep, settings: SettingsDep,
                  as_of: PlausibleDate | None = None) -> SchedulePublic:
    """Every draw of the line with its schedule and unpaid amounts as of a date (without
    ``as_of``: as end of day left the line, plus today's events)."""
    on = as_of or services.get_line(uow, line_id,
                                    business_date=_business_date(uow, settings)).as_of
    draws = services.get_schedule(uow, line_id, on)
    return SchedulePublic(line_id=line_id, as_of=on, draws=[_draw_status(d) for d in draws])


@router.get("/lines/{line_id}/statement", response_model=StatementPublic)
def read_statement(line_id: LineId, principal: Annotated[Principal, require("lines:read")],
                   uow: UowDep, settings: SettingsDep, as_of: PlausibleDate | None = None,
                   since: Annotated[PlausibleDate | None, Query(description="Entries after this "
                                                       "date only.")] = None,
                   ) -> StatementPublic:
    """Balances, amounts due, the next due date and the journal entries."""
    _check_dates(as_of, since)
    business = None if as_of is not None else _business_date(uow, settings)
    statement = services.get_statement(uow, line_id, as_of, since, business_date=business)
    fields = {name: getattr(statement, name) for name in StatementPublic.model_fields
              if name not in ("balances", "entries")}
    return StatementPublic(
        **fields,
        balances={account.value: amount for account, amount in statement.balances.items()},
        entries=[EntryPublic(on=e.on, kind=str(e.kind), reference=e.reference,
                             postings=[{"account": str(p.account), "side": str(p.side),
                                        "amount": str(p.amount)} for p in e.postings])
                 for e in statement.entries])


@router.post("/lines/{line_id}/draws", response_model=DrawPublic, status_code=201)
def create_draw(line_id: LineId, body: DrawRequest,
                principal: Annotated[Principal, require("lines:write")], uow: UowDep,
                settings: SettingsDep, idempotency_key: IdempotencyKeyHeader) -> DrawPublic:
    """Draw on the line to pay a supplier (the line is locked; never above the limit)."""
    receipt = services.draw(uow, line_id=line_id, amount=body.amount, on=body.on,
                            business_today=_today(settings), plan=_plan(body.plan),
                            supplier_id=body.supplier_id, currency=body.currency,
                            idempotency_key=idempotency_key, client=principal.client)
    return DrawPublic(
        line_id=receipt.line_id, draw_id=receipt.draw_id, on=receipt.on,
        amount=receipt.amount, supplier_id=receipt.supplier_id,
        schedule=[InstalmentPublic(number=i.number, due_date=i.due_date,
                                   principal=i.principal, interest=i.interest, fee=i.fee,
                                   total=i.total) for i in receipt.schedule],
        available_credit=receipt.available_credit,
        outstanding_principal=receipt.outstanding_principal,
        line_version=receipt.line_version)


@router.post("/lines/{line_id}/repayments", response_model=PaymentPublic, status_code=201)
def create_repayment(line_id: LineId, body: RepaymentRequest,
                     principal: Annotated[Principal, require("lines:write")], uow: UowDep,
                     settings: SettingsDep,
                     idempotency_key: IdempotencyKeyHeader) -> PaymentPublic:
    """Post a repayment; it pays what is due first (the line's allocation order)."""
    receipt = services.repay(uow, line_id=line_id, amount=body.amount, on=body.on,
                             business_today=_today(settings),
                             value_date_window_days=settings.repayment_value_date_window_days,
                             currency=body.currency, idempotency_key=idempotency_key,
                             client=principal.client)
    return PaymentPublic(**{name: getattr(receipt, name)
                            for name in PaymentPublic.model_fields})


_NOTHING_TO_PAY_OFF: dict[int | str, dict[str, Any]] = {409: {
    "model": ErrorBody, "description": "The line (or the draw) owes nothing: "
    "nothing_to_pay_off"}}


@router.get("/lines/{line_id}/payoff", response_model=PayoffQuotePublic,
            responses=_NOTHING_TO_PAY_OFF)
def read_payoff_quote(line_id: LineId, principal: Annotated[Principal, require("lines:read")],
                      uow: UowDep, settings: SettingsDep,
                      draw_id: Annotated[str | None, Query(
                          pattern=_ID, description="One draw to quote (default: every "
                          "open draw of the line).")] = None) -> PayoffQuotePublic:
    """What pays off the line (or one draw) today, the business date: per draw the
    principal, interest accrued to date, fees, penalty and unearned fee rebated; the
    credit balance applied; the amount to pay."""
    quote = payoff.get_payoff_quote(uow, line_id, draw_id=draw_id,
                                    business_date=_business_date(uow, settings))
    return _payoff_quote(quote)


@router.post("/lines/{line_id}/payoff", response_model=PaymentPublic, status_code=201)
def create_payoff(line_id: LineId, body: PayoffRequest,
                  principal: Annotated[Principal, require("lines:write")], uow: UowDep,
                  settings: SettingsDep, idempotency_key: IdempotencyKeyHeader) -> PaymentPublic:
    """Pay off the line (or one draw) on the business date; nothing falls due on what it
    settles afterwards. Below the day's quote: 422 insufficient_payoff; nothing owed: 409
    nothing_to_pay_off."""
    receipt = payoff.pay_off(uow, line_id=line_id, amount=body.amount,
                             business_today=_today(settings), draw_id=body.draw_id,
                             payment_id=body.payment_id, currency=body.currency,
                             idempotency_key=idempotency_key, client=principal.client)
    return PaymentPublic(**{name: getattr(receipt, name)
                            for name in PaymentPublic.model_fields})


@router.post("/lines/{line_id}/balance-refunds", response_model=BalanceRefundPublic,
             status_code=201)
def create_balance_refund(line_id: LineId, body: BalanceRefundRequest,
                          principal: Annotated[Principal, require("lines:refund")],
                          uow: UowDep, settings: SettingsDep,
                          idempotency_key: IdempotencyKeyHeader) -> BalanceRefundPublic:
    """Pay the borrower's credit balance (an overpayment) back to them, on the business
    date. Above the balance: 409 refund_exceeds_credit_balance."""
    receipt = payoff.refund_balance(uow, line_id=line_id, amount=body.amount,
                                    business_today=_today(settings),
                                    refund_id=body.refund_id, currency=body.currency,
                                    idempotency_key=idempotency_key, client=principal.client)
    return BalanceRefundPublic(**{name: getattr(receipt, name)
                                  for name in BalanceRefundPublic.model_fields})
