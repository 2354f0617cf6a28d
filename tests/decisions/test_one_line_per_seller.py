"""One line per seller and product, and the seller's credit history with us as an input
of the policy."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from decisions import service as service
from lending import LimitChanged, RepaymentPlan
from lending.persistence import advance_line, change_limit, draw, lines_of_seller, open_line
from lending.products import RequestedPlan
from tests.decisions.conftest import NOW


def _decide(uow, market, policy, outcome, key, now=NOW):
    return service.make_decision(uow(), snapshot=market.snapshot(market.seller_for[outcome]),
                                 scorer=market.scorer, policy=policy, idempotency_key=key,
                                 actor="key:mkt", now=now, currency="CNY")


def _past_due_line(uow, seller_id: str, product: str, days_past_due: int) -> str:
    """A line of the seller's with a 30-day bullet drawn and unpaid ``days_past_due`` days
    after its due date (its stored summary brought to that day)."""
    drawn = date(2026, 1, 5)
    open_line(uow(), line_id="L-old", seller_id=seller_id, limit="5000.00", opened_on=drawn,
              product=product)
    draw(uow(), line_id="L-old", amount="1000.00", on=drawn, plan=RepaymentPlan.bullet(30),
         supplier_id="SUP", idempotency_key="d-old")
    advance_line(uow(), line_id="L-old", to=drawn + timedelta(days=30 + days_past_due))
    return "L-old"


def test_approving_a_seller_twice_changes_the_open_lines_limit_instead_of_a_second(
        uow, market, policy):
    first = _decide(uow, market, policy, "approve", "k-1")
    change_limit(uow(), line_id=first.line_id, new_limit="1000.00", on=NOW.date(),
                 reason="test", actor="user:carol")

    again = _decide(uow, market, policy, "approve", "k-2", now=NOW + timedelta(days=1))

    assert again.outcome == "approve" and again.decision_id != first.decision_id
    assert again.line_id == first.line_id
    (line,) = lines_of_seller(uow(), first.seller_id)
    assert (line.line_id, line.limit) == (first.line_id, again.limit)
    assert service.get_decision(uow(), again.decision_id).line_id == first.line_id
    with uow() as unit:
        record = unit.lines.get(first.line_id)
        assert record is not None
        changes = [e for e in unit.events.list(record) if isinstance(e, LimitChanged)]
    assert [(c.change_id, c.previous_limit, c.new_limit, c.actor) for c in changes][-1] == (
        again.decision_id, Decimal("1000.00"), again.limit, "key:mkt")
    # The history it was decided with is stored beside the features: one line, current.
    audit = service.get_decision(uow(), again.decision_id)
    assert audit.features["own_lines_worst_days_past_due"] == 0
    assert audit.features["own_lines_written_off"] is False


def test_a_review_approved_again_with_nothing_changed_leaves_the_line_as_it_is(
        uow, market, policy):
    first = _decide(uow, market, policy, "approve", "k-1")
    (before,) = lines_of_seller(uow(), first.seller_id)

    again = _decide(uow, market, policy, "approve", "k-2", now=NOW + timedelta(hours=2))

    assert (again.outcome, again.line_id, again.limit) == ("approve", first.line_id,
                                                          first.limit)
    assert service.get_decision(uow(), again.decision_id).line_id == first.line_id
    assert lines_of_seller(uow(), first.seller_id) == [before]  # same version, same view
    with uow() as unit:
        record = unit.lines.get(first.line_id)
        assert record is not None
        assert not [e for e in unit.events.list(record) if isinstance(e, LimitChanged)]


def test_a_seller_with_a_line_31_days_past_due_is_declined_with_its_own_reason(
        uow, market, policy):
    seller_id = market.seller_for["approve"]
    product = policy.product_by_seller_kind[str(market.table.loc[seller_id, "seller_kind"])]
    _past_due_line(uow, seller_id, product, 31)

    view = _decide(uow, market, policy, "approve", "k-1")

    assert (view.outcome, view.line_id, view.limit) == ("decline", None, Decimal("0.00"))
    assert [r.code for r in view.policy_reasons if r.effect == "decline"] == [
        "EXISTING_LINE_DELINQUENT"]
    assert len(lines_of_seller(uow(), seller_id)) == 1
    # The stored inputs reproduce it exactly (the history is one of them).
    again = service.reproduce_decision(uow(), view.decision_id, lambda n, v: market.scorer,
                                       lambda version: policy)
    assert again.exact, again.differences


def test_a_seller_30_days_past_due_is_approved_on_its_existing_line(uow, market, policy):
    seller_id = market.seller_for["approve"]
    product = policy.product_by_seller_kind[str(market.table.loc[seller_id, "seller_kind"])]
    line_id = _past_due_line(uow, seller_id, product, 30)

    view = _decide(uow, market, policy, "approve", "k-1")

    assert (view.outcome, view.line_id) == ("approve", line_id)


def test_a_seller_whose_line_was_written_off_is_declined(uow, market, policy):
    seller_id = market.seller_for["approve"]
    product = policy.product_by_seller_kind[str(market.table.loc[seller_id, "seller_kind"])]
    _past_due_line(uow, seller_id, product, 200)
    (written_off,) = lines_of_seller(uow(), seller_id)
    assert written_off.status != "open"

    view = _decide(uow, market, policy, "approve", "k-1")

    assert view.outcome == "decline"
    assert "EXISTING_LINE_WRITTEN_OFF" in [r.code for r in view.policy_reasons]


def test_an_officer_approval_for_a_seller_with_an_open_line_changes_that_line(
        uow, market, policy):
    referred = _decide(uow, market, policy, "refer", "k-1")
    open_line(uow(), line_id="L-old", seller_id=referred.seller_id, limit="2000.00",
              opened_on=date(2026, 6, 1), product=referred.product)

    audit = service.approve(uow(), referred.decision_id, limit="5000.00", reason="ok",
                            actor="user:alice", now=NOW + timedelta(hours=1), policy=policy)

    assert audit.line_id == "L-old" and audit.actions[-1].after["line_id"] == "L-old"
    (line,) = lines_of_seller(uow(), referred.seller_id)
    assert (line.line_id, line.limit) == ("L-old", Decimal("5000.00"))


def test_a_line_opens_on_the_business_date_and_can_be_drawn_at_once(uow, market, policy):
    """Before end of day has closed yesterday (e.g. before the cut-off) the business date
    lags the calendar: the approved line opens on the business date, where draws happen."""
    from lending.persistence.business_day import STORE_ROW, BusinessDayRecord
    from store.clock import utc_now

    lagging = NOW.date() - timedelta(days=3)
    with uow() as unit:
        unit.session.add(BusinessDayRecord(id=STORE_ROW, last_closed=lagging,
                                           updated_at=utc_now()))
        unit.commit()
    approved = _decide(uow, market, policy, "approve", "k-lag")
    (line,) = lines_of_seller(uow(), approved.seller_id)
    with uow() as unit:
        record = unit.lines.get(approved.line_id)
        assert record is not None and record.opened_on == lagging + timedelta(days=1)
    receipt = draw(uow(), line_id=line.line_id, amount="100.00", on=None,
                   plan=RequestedPlan.term_loan("annuity", 6), supplier_id="SUP",
                   idempotency_key="d-lag",
                   business_today=NOW.date())
    assert receipt.on == lagging + timedelta(days=1)


def test_approvals_racing_for_one_seller_open_one_line(uow, market, policy):
    """Eight approvals of one seller at once (eight keys, as a marketplace retrying with
    new keys would send): one line is opened, every decision names it."""
    import threading

    barrier = threading.Barrier(8)
    views: list = []
    errors: list[BaseException] = []

    def approve(n: int) -> None:
        try:
            barrier.wait()
            views.append(_decide(uow, market, policy, "approve", f"race-{n}"))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=approve, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    (line,) = lines_of_seller(uow(), market.seller_for["approve"])
    assert {view.line_id for view in views} == {line.line_id}
    assert len({view.decision_id for view in views}) == 8
    for view in views:
        assert service.get_decision(uow(), view.decision_id).line_id == line.line_id
