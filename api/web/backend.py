"""What the officer pages ask of the services, as view models.

The pages' one layer between routes and services: each function calls the decisions
service (:mod:`decisions.service`), the records history
(:mod:`records.history`) or the lending store (:mod:`lending.persistence`) and turns
their results into the frozen view models of :mod:`api.web.views`. No rule lives here:
what an officer may do, and every check on it, is the credit case's
(:mod:`decisions.case`), applied by the decisions service; this module only translates
their refusals into sentences for the page (:class:`ActionRefused`), with the status and
code of the API's one error table (:mod:`api.errors`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from access.principal import Principal
from api.errors import domain_status, error_code
from api.web.views import (
    ActionLine,
    CaseView,
    Contribution,
    CreditHistoryView,
    DecisionRow,
    DrawLine,
    InstalmentLine,
    MonthFigures,
    PrincipalReasonLine,
    QueueItem,
    ReasonLine,
    SellerHistoryView,
)
from decisions import service as decision_service
from decisions.case import CaseStatus, OfficerActionName, allowed_actions
from decisions.errors import DecisionError, UnknownDecision
from decisions.service import DecisionAudit, DecisionSummary, OfficerAction
from features.registry import FAMILIES
from lending.errors import LendingError
from lending.lines import InstalmentStatus
from lending.persistence import SqlUnitOfWork, get_line, get_schedule, lines_of_seller
from lending.persistence.errors import UnknownLine
from lending.policy import CreditPolicy, Terms
from records.history import seller_history
from records.snapshots import UnknownSeller
from scoring.config import GradeBands
from scoring.reasons import REASON_CODES
from settings import Settings
from store.clock import utc_now

__all__ = ["ActionRefused", "GRADES", "QUEUE_LIMIT", "SEARCH_LIMIT", "referred_cases",
           "past_decisions", "case_view", "act", "family_label", "terms_lines"]

#: Most referred cases one queue page lists (oldest first, so none is starved).
QUEUE_LIMIT = 200
#: Most past decisions one search shows.
SEARCH_LIMIT = 100

#: Search words that name where a case stands.
_STATUS_OF_WORD = {"approve": "approved", "approved": "approved", "refer": "referred",
                   "referred": "referred", "decline": "declined", "declined": "declined"}
#: The grades a score can have (the scorer's default bands: A best to E worst).
GRADES: tuple[str, ...] = tuple(GradeBands().labels)
_FAMILY_TITLES = {code: FAMILIES[name].title_en for name, code in REASON_CODES.items()
                  if name in FAMILIES}
_PRODUCTS = {"purchase_line": "Interest-free purchase line", "term_loan": "Term micro-loan"}


class ActionRefused(Exception):
    """An officer action the service refused; ``message`` is a sentence for the page."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- lists


def _decimal(value: float) -> Decimal:
    """A stored float figure (PD, points) as the shortest exact decimal of its repr."""
    return Decimal(repr(float(value)))


def _days_between(earlier: datetime, later: datetime) -> int:
    return max(0, (later - earlier).days)


def _queue_item(summary: DecisionSummary, now: datetime) -> QueueItem:
    return QueueItem(decision_id=summary.decision_id, seller_id=summary.seller_id,
                     grade=summary.grade, points=_decimal(summary.points),
                     probability_of_default=_decimal(summary.pd),
                     proposed_limit=summary.limit, currency=summary.currency,
                     created_at=summary.created_at,
                     days_waiting=_days_between(summary.created_at, now))


def _waiting_bound(now: datetime, days: int) -> datetime:
    """The creation time of a case that has waited exactly ``days`` whole days, nudged by
    a microsecond so that the service's strict ``created_at < older_than`` and inclusive
    ``created_at >= newer_than`` give whole-day ages: waiting at least N days is
    ``older_than = bound(N)``, at most M days ``newer_than = bound(M + 1)``."""
    return now - timedelta(days=days) + timedelta(microseconds=1)


def referred_cases(engine: sa.Engine, *, grade: str | None, min_days: int | None,
                   max_days: int | None, now: datetime) -> list[QueueItem]:
    """Referred cases still waiting, oldest first, filtered by grade and days waiting.

    Parameters
    ----------
    engine : the service's database.
    grade : only this grade (``None``: every grade).
    min_days, max_days : only cases waiting at least / at most this many whole days.
    now : the moment ages are measured at.
    """
    page = decision_service.list_decisions(
        SqlUnitOfWork(engine), status="referred", grade=grade,
        older_than=None if min_days is None else _waiting_bound(now, min_days),
        newer_than=None if max_days is None else _waiting_bound(now, max_days + 1),
        limit=QUEUE_LIMIT, oldest_first=True)
    return [_queue_item(summary, now) for summary in page.items]


def _row(summary: DecisionSummary) -> DecisionRow:
    return DecisionRow(decision_id=summary.decision_id, seller_id=summary.seller_id,
                       outcome=summary.outcome, status=summary.status, grade=summary.grade,
                       points=_decimal(summary.points), limit=summary.limit,
                       currency=summary.currency, created_at=summary.created_at)


def past_decisions(engine: sa.Engine, query: str) -> tuple[list[DecisionRow], bool]:
    """Decisions, newest first, matching ``query``; and whether more exist than shown.

    A query that is an outcome or status word (``approve``/``approved``, ``refer``/
    ``referred``, ``decline``/``declined``) lists the cases standing there now; a grade
    (``A`` to ``E``) the decisions of that grade; anything else is searched in seller
    ids, decision ids and line ids (any part, any case; the decisions service's search).
    """
    text = query.strip()
    folded = text.lower()
    uow = SqlUnitOfWork(engine)
    if folded in _STATUS_OF_WORD:
        page = decision_service.list_decisions(uow, status=_STATUS_OF_WORD[folded],
                                               limit=SEARCH_LIMIT)
    elif text.upper() in GRADES:
        page = decision_service.list_decisions(uow, grade=text.upper(), limit=SEARCH_LIMIT)
    else:
        page = decision_service.list_decisions(uow, query=text or None, limit=SEARCH_LIMIT)
    return [_row(s) for s in page.items], page.next_cursor is not None


# --------------------------------------------------------------------------- case


def family_label(code: str) -> str:
    """A reason family's title (``R-QUALITY`` -> ``Order quality``); a generic model's
    feature family (``R-FEATURE:income``) shows the feature name."""
    if code in _FAMILY_TITLES:
        return _FAMILY_TITLES[code]
    if code.startswith("R-FEATURE:"):
        return code.removeprefix("R-FEATURE:")
    return code


def _joined(values: Iterable[object]) -> str:
    items = [str(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def terms_lines(terms: Terms | None) -> tuple[str, ...]:
    """The offered product's terms as short sentences."""
    if terms is None:
        return ()
    lines = [_PRODUCTS.get(terms.product, terms.product.replace("_", " "))]
    if terms.interest_free_days:
        lines.append(f"Interest-free for {_joined(terms.interest_free_days)} days")
    if terms.instalment_months:
        lines.append(f"Or in instalments over {_joined(terms.instalment_months)} months at "
                     f"{terms.instalment_fee_rate_per_month * 100:.2f} % a month")
    if terms.months:
        methods = _joined(m.replace("_", " ") for m in terms.methods)
        lines.append(f"Repaid over {_joined(terms.months)} months"
                     + (f" ({methods})" if methods else "")
                     + f" at {terms.annual_rate * 100:.2f} % a year")
    return tuple(lines)


def _case_state(state: Mapping[str, Any], currency: str) -> str:
    """``{"status": "referred", "limit": "12000.00", "line_id": null}`` as a phrase."""
    parts = [str(state.get("status", "?"))]
    limit = state.get("limit")
    if limit is not None:
        parts.append(f"limit {Decimal(str(limit)):,.2f} {currency}")
    if state.get("line_id"):
        parts.append(f"line {state['line_id']}")
    return ", ".join(parts)


def _action_line(action: OfficerAction, currency: str) -> ActionLine:
    return ActionLine(actor=action.actor, at=action.acted_at, action=action.action,
                      before=_case_state(action.before, currency),
                      after=_case_state(action.after, currency), reason=action.reason)


def _business_date(settings: Settings) -> date:
    return utc_now().astimezone(ZoneInfo(settings.timezone)).date()


def _latest_line_of(engine: sa.Engine, seller_id: str) -> str | None:
    """The id of the seller's most recently opened credit line, if any (a line opened
    from a decision or loaded by the demo), as the lending store lists them."""
    lines = lines_of_seller(SqlUnitOfWork(engine), seller_id, limit=1)
    return lines[0].line_id if lines else None


def _credit_history(engine: sa.Engine, audit: DecisionAudit, settings: Settings
                    ) -> CreditHistoryView | None:
    """The case's credit line, or else the seller's latest one, with its draws as of
    today (the lender's business date); ``None`` when the seller has no line."""
    line_id = audit.line_id or _latest_line_of(engine, audit.decision.seller_id)
    if line_id is None:
        return None
    try:
        stored = get_line(SqlUnitOfWork(engine), line_id)
        as_of = max(_business_date(settings), stored.as_of)
        line = get_line(SqlUnitOfWork(engine), line_id, as_of)
        draws = get_schedule(SqlUnitOfWork(engine), line_id, as_of)
    except UnknownLine:
        return None
    return CreditHistoryView(
        line_id=line.line_id, status=line.status, limit=line.limit,
        available=line.available_credit, outstanding=line.outstanding_principal,
        days_past_due=line.days_past_due, bucket=line.bucket, currency=line.currency,
        as_of=as_of,
        draws=tuple(DrawLine(draw_id=d.draw_id, drawn_on=d.drawn_on, amount=d.amount,
                             outstanding=d.outstanding_principal,
                             days_past_due=d.days_past_due, status=d.status,
                             instalments=tuple(_instalment_line(i, as_of)
                                               for i in d.instalments))
                    for d in draws))


def _instalment_line(instalment: InstalmentStatus, as_of: date) -> InstalmentLine:
    """An instalment of a draw's schedule as the case page shows it on ``as_of``."""
    unpaid = instalment.unpaid
    state = ("paid" if unpaid == 0 else "past due" if instalment.due_date < as_of
             else "due" if instalment.due_date == as_of else "upcoming")
    return InstalmentLine(
        number=instalment.number, due_date=instalment.due_date,
        principal=instalment.principal, interest=instalment.interest, fee=instalment.fee,
        total=instalment.principal + instalment.interest + instalment.fee, unpaid=unpaid,
        state=state)


def _seller_history(engine: sa.Engine, seller_id: str, as_of: datetime,
                    settings: Settings) -> SellerHistoryView | None:
    """The seller's trade history as of the decision's snapshot, so the charts show
    what the decision saw (records service); ``None`` for a seller never registered."""
    try:
        history = seller_history(engine, seller_id, as_of=as_of, timezone=settings.timezone)
    except UnknownSeller:
        return None
    shares = tuple((f"Buyer {buyer.buyer_id}", buyer.share) for buyer in history.top_buyers)
    if history.other_buyers_share:
        shares += (("All other buyers", history.other_buyers_share),)
    return SellerHistoryView(
        months=tuple(MonthFigures(m.month, m.gmv, m.orders, m.refund_rate)
                     for m in history.months),
        top_buyer_shares=shares, buyer_count=history.buyer_count,
        buyer_hhi=history.buyer_hhi, currency=history.currency)


def case_view(state: Any, decision_id: str) -> CaseView | None:
    """Everything the case page shows; ``None`` when there is no such decision.

    Parameters
    ----------
    state : the app's ``request.app.state`` (engine, settings, policy).
    decision_id : the case.
    """
    engine: sa.Engine = state.engine
    settings: Settings = state.settings
    policy: CreditPolicy = state.policy
    try:
        audit = decision_service.get_decision(SqlUnitOfWork(engine), decision_id)
    except UnknownDecision:
        return None
    decision = audit.decision
    status = cast(CaseStatus, audit.status)
    contributions = sorted(((family_label(code), float(points))
                            for code, points in audit.family_points.items()),
                           key=lambda item: (-abs(item[1]), item[0]))
    return CaseView(
        decision_id=decision.decision_id, seller_id=decision.seller_id,
        seller_kind=decision.seller_kind, outcome=decision.outcome, status=audit.status,
        grade=decision.grade, points=_decimal(decision.points),
        probability_of_default=_decimal(decision.pd), limit=audit.limit,
        proposed_limit=decision.limit, currency=decision.currency,
        terms=terms_lines(decision.terms),
        reasons=tuple(ReasonLine(r.code, r.text_en, r.points) for r in decision.reasons),
        positive_factors=tuple(ReasonLine(r.code, r.text_en, r.points)
                               for r in audit.positive_factors),
        policy_reasons=tuple(ReasonLine(r.code, r.message, text_zh=r.message_zh)
                             for r in decision.policy_reasons),
        principal_reasons=tuple(PrincipalReasonLine(r.source, r.code, r.text_en, r.text_zh)
                                for r in decision.principal_reasons),
        baseline_points=audit.baseline_points,
        contributions=tuple(Contribution(label, points) for label, points in contributions),
        model_name=decision.model_name, model_version=decision.model_version,
        policy_version=decision.policy_version, created_at=decision.created_at,
        features_as_of=decision.snapshot_as_of,
        min_limit=policy.limit.floor if policy.currency == decision.currency else None,
        max_limit=policy.limit.cap if policy.currency == decision.currency else None,
        version=audit.version, decided_by=audit.decided_by, decided_at=audit.decided_at,
        actions=tuple(_action_line(a, decision.currency) for a in audit.actions),
        history=_seller_history(engine, decision.seller_id, decision.snapshot_as_of,
                                settings),
        credit=_credit_history(engine, audit, settings),
        can_decide="approve" in allowed_actions(status),
        can_change_limit="change_limit" in allowed_actions(status))


# --------------------------------------------------------------------------- actions


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def act(state: Any, decision_id: str, *, action: str, principal: Principal, reason: str,
        new_limit: str | None, expected_version: int | None) -> None:
    """Apply an officer action through the decisions service, audited as ``principal``.

    Raises
    ------
    ActionRefused
        The service refused (blank reason, limit out of range or not an amount, case
        already decided or changed since the page was loaded, unknown case); nothing was
        changed.
    """
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in reason):
        # A NUL cannot be stored by PostgreSQL and no control character belongs in an
        # audit trail read by people; the API refuses them as well (api.errors).
        raise ActionRefused(422, "invalid_reason", "The reason may contain line breaks but "
                            "no other control characters.")
    settings: Settings = state.settings
    try:
        decision_service.act_on_decision(
            SqlUnitOfWork(state.engine), decision_id,
            action=cast(OfficerActionName, action), reason=reason, actor=principal.actor,
            now=utc_now(), policy=state.policy, limit=new_limit,
            expected_version=expected_version, timezone=settings.timezone)
    except (DecisionError, LendingError) as error:
        raise ActionRefused(domain_status(error), error_code(error),
                            _sentence(str(error))) from None
