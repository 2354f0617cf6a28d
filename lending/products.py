"""Granted terms: the repayment plans a credit decision allows, and nothing else.

A credit decision grants a product and its terms (:class:`lending.policy.Terms`); the
line it opens keeps them, and every draw on it asks for a plan *within* them:

* a **purchase line** is drawn interest-free, either as one payment after one of the
  granted interest-free periods (``RequestedPlan.interest_free(days)``) or as equal
  monthly instalments over one of the granted numbers of months
  (``RequestedPlan.instalments(months)``), which bear the granted service fee
  (``instalment_fee_rate_per_month`` of the drawn principal a month);
* a **term-loan line** is drawn with one of the granted methods and numbers of months
  (``RequestedPlan.term_loan(method, months)``) and bears the granted annual rate: the
  client never states a rate or a fee.

:func:`granted_plan` turns the terms and a request into the :class:`RepaymentPlan` the
draw is booked with, or refuses with :class:`PlanNotGranted`, whose ``details`` name the
allowed values. :func:`plan_request_of` reads a :class:`RepaymentPlan` built by a caller
as the request it stands for, and :func:`check_plan_granted` refuses such a plan unless it
is exactly the one the terms give (so a caller's own rate or fee cannot slip through).

The terms travel as JSON-plain documents (:func:`terms_to_document`,
:func:`terms_from_document`): rates as decimal strings, periods as lists. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast, get_args

from lending.errors import LendingError
from lending.lines import RepaymentPlan
from lending.policy import Terms
from lending.schedules import ScheduleMethod

__all__ = [
    "PlanKind",
    "PLAN_KINDS",
    "TERM_LOAN_METHODS",
    "PlanNotGranted",
    "RequestedPlan",
    "allowed_plans",
    "granted_plan",
    "plan_request_of",
    "check_plan_granted",
    "plan_without_terms",
    "terms_to_document",
    "terms_from_document",
]

PlanKind = Literal["interest_free", "instalments", "term_loan"]
PLAN_KINDS: tuple[str, ...] = get_args(PlanKind)
#: Schedule methods a term loan may be granted with (the interest-bearing ones).
TERM_LOAN_METHODS: tuple[str, ...] = ("annuity", "equal_principal", "interest_only",
                                      "daily_interest")
_PURCHASE_KINDS = ("interest_free", "instalments")


class PlanNotGranted(LendingError):
    """A draw asks for a repayment plan the line's granted terms do not allow.

    ``details`` holds ``requested`` (the plan asked for) and ``allowed`` (per plan kind,
    the granted values; see :func:`allowed_plans`).
    """

    code = "plan_not_granted"

    def __init__(self, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.details = dict(details)


@dataclass(frozen=True)
class RequestedPlan:
    """The repayment plan a draw asks for: a kind and its period, never a rate or fee.

    Use the constructors :meth:`interest_free`, :meth:`instalments` and :meth:`term_loan`.
    """

    kind: PlanKind
    days: int | None = None
    months: int | None = None
    method: str | None = None

    @classmethod
    def interest_free(cls, days: int) -> RequestedPlan:
        """One interest-free payment after ``days`` days."""
        return cls("interest_free", days=days)

    @classmethod
    def instalments(cls, months: int) -> RequestedPlan:
        """Equal monthly interest-free instalments over ``months`` months."""
        return cls("instalments", months=months)

    @classmethod
    def term_loan(cls, method: str, months: int) -> RequestedPlan:
        """An interest-bearing loan repaid by ``method`` over ``months`` months."""
        return cls("term_loan", months=months, method=method)

    def to_document(self) -> dict[str, Any]:
        """The request as JSON-plain values (only the fields its kind uses)."""
        if self.kind == "interest_free":
            return {"kind": self.kind, "days": self.days}
        if self.kind == "instalments":
            return {"kind": self.kind, "months": self.months}
        return {"kind": self.kind, "method": self.method, "months": self.months}


def allowed_plans(terms: Terms) -> dict[str, dict[str, Any]]:
    """What the terms allow, per plan kind (the ``allowed`` of :class:`PlanNotGranted`).

    >>> allowed_plans(Terms("term_loan", methods=("annuity",), months=(6, 12),
    ...                     annual_rate=Decimal("0.08")))
    {'term_loan': {'methods': ['annuity'], 'months': [6, 12], 'annual_rate': '0.08'}}
    """
    allowed: dict[str, dict[str, Any]] = {}
    if terms.product == "purchase_line":
        if terms.interest_free_days:
            allowed["interest_free"] = {"days": list(terms.interest_free_days)}
        if terms.instalment_months:
            allowed["instalments"] = {
                "months": list(terms.instalment_months),
                "fee_rate_per_month": str(terms.instalment_fee_rate_per_month)}
    elif terms.product == "term_loan" and terms.methods and terms.months:
        allowed["term_loan"] = {"methods": list(terms.methods), "months": list(terms.months),
                                "annual_rate": str(terms.annual_rate)}
    return allowed


def _refuse(terms: Terms, requested: RequestedPlan, why: str) -> PlanNotGranted:
    allowed = allowed_plans(terms)
    described = "; ".join(
        f"{kind}: " + ", ".join(f"{name} {value}" for name, value in values.items())
        for kind, values in allowed.items()) or "no plan"
    return PlanNotGranted(f"{why}; this {terms.product} line is granted {described}",
                          {"requested": requested.to_document(), "allowed": allowed})


def granted_plan(terms: Terms, requested: RequestedPlan) -> RepaymentPlan:
    """The plan a draw is booked with: ``requested`` within the granted ``terms``.

    Parameters
    ----------
    terms
        The terms granted by the decision that opened the line.
    requested
        The kind of plan and its period asked for.

    Returns
    -------
    RepaymentPlan
        A bullet after the granted days, instalments over the granted months with the
        granted monthly fee rate, or a term loan by the granted method and months at the
        granted annual rate.

    Raises
    ------
    PlanNotGranted
        The kind does not belong to the line's product, or the days, months or method
        are not among the granted ones.

    Examples
    --------
    >>> terms = Terms("purchase_line", interest_free_days=(30, 60),
    ...               instalment_months=(3, 6, 12),
    ...               instalment_fee_rate_per_month=Decimal("0.005"))
    >>> granted_plan(terms, RequestedPlan.instalments(3)).fee_rate_per_month
    Decimal('0.005')
    """
    if requested.kind not in PLAN_KINDS:
        raise _refuse(terms, requested, f"unknown plan kind {requested.kind!r}")
    product_kinds = _PURCHASE_KINDS if terms.product == "purchase_line" else ("term_loan",)
    if requested.kind not in product_kinds:
        raise _refuse(terms, requested,
                      f"a {requested.kind} plan is not granted on a {terms.product} line")
    if requested.kind == "interest_free":
        if requested.days not in terms.interest_free_days:
            raise _refuse(terms, requested,
                          f"an interest-free period of {requested.days} days is not granted")
        return RepaymentPlan.bullet(cast(int, requested.days))
    if requested.kind == "instalments":
        if requested.months not in terms.instalment_months:
            raise _refuse(terms, requested,
                          f"instalments over {requested.months} months are not granted")
        return RepaymentPlan.instalments(
            cast(int, requested.months),
            fee_rate_per_month=terms.instalment_fee_rate_per_month)
    if requested.method not in terms.methods or requested.method not in TERM_LOAN_METHODS:
        raise _refuse(terms, requested,
                      f"the repayment method {requested.method!r} is not granted")
    if requested.months not in terms.months:
        raise _refuse(terms, requested,
                      f"a term of {requested.months} months is not granted")
    return RepaymentPlan.term_loan(cast(ScheduleMethod, requested.method),
                                   cast(int, requested.months), terms.annual_rate)


def plan_request_of(plan: RepaymentPlan) -> RequestedPlan:
    """The request a caller's :class:`RepaymentPlan` stands for (its kind and period)."""
    if plan.method == "interest_free_bullet":
        return RequestedPlan.interest_free(cast(int, plan.interest_free_days))
    if plan.method == "interest_free_instalments":
        return RequestedPlan.instalments(plan.months)
    return RequestedPlan.term_loan(plan.method, plan.months)


def check_plan_granted(terms: Terms, plan: RepaymentPlan) -> RepaymentPlan:
    """``plan`` itself when it is exactly the plan the terms give for its kind and period.

    Raises
    ------
    PlanNotGranted
        The plan's kind or period is not granted, or it carries another rate, fee, day
        count or interest basis than the granted plan.
    """
    requested = plan_request_of(plan)
    granted = granted_plan(terms, requested)
    if plan != granted:
        raise _refuse(terms, requested,
                      "the plan's rate or fee is not the granted one (the terms set them)")
    return plan


def plan_without_terms(requested: RequestedPlan) -> RepaymentPlan:
    """The plan of a request on a line opened without granted terms (an explicit limit).

    Such a line keeps the plans it always took: an interest-free bullet or interest-free
    instalments without a fee, checked by the schedule rules alone.

    Raises
    ------
    PlanNotGranted
        For a term loan (no rate was granted) or an unknown kind.
    """
    if requested.kind == "interest_free" and requested.days is not None:
        return RepaymentPlan.bullet(requested.days)
    if requested.kind == "instalments" and requested.months is not None:
        return RepaymentPlan.instalments(requested.months)
    raise PlanNotGranted(
        f"a {requested.kind} plan needs granted terms, and this line was opened without "
        f"a decision's terms", {"requested": requested.to_document(),
                                "allowed": {"interest_free": {}, "instalments": {}}})


def terms_to_document(terms: Terms) -> dict[str, Any]:
    """Granted terms as JSON-plain values (rates as decimal strings)."""
    return {"product": terms.product, "interest_free_days": list(terms.interest_free_days),
            "instalment_months": list(terms.instalment_months),
            "instalment_fee_rate_per_month": str(terms.instalment_fee_rate_per_month),
            "methods": list(terms.methods), "months": list(terms.months),
            "annual_rate": str(terms.annual_rate)}


def terms_from_document(document: Mapping[str, Any]) -> Terms:
    """The terms :func:`terms_to_document` wrote."""
    return Terms(str(document["product"]), tuple(document["interest_free_days"]),
                 tuple(document["instalment_months"]),
                 Decimal(document["instalment_fee_rate_per_month"]),
                 tuple(document["methods"]), tuple(document["months"]),
                 Decimal(document["annual_rate"]))
