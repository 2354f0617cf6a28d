"""Officer actions on referred and approved cases: audited, append-only, never twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from api.errors import domain_status
from decisions import service as service
from decisions.errors import (
    DecisionAlreadyDecided,
    DecisionChanged,
    DecisionError,
    LimitOutOfRange,
    UnknownDecision,
)
from lending import LimitChanged
from lending.errors import InvalidAmount
from lending.persistence import draw, get_line
from lending.products import RequestedPlan
from tests.decisions.conftest import NOW

LATER = NOW + timedelta(hours=2)


def _decide(uow, market, policy, outcome, key="k-1"):
    return service.make_decision(uow(), snapshot=market.snapshot(market.seller_for[outcome]),
                                 scorer=market.scorer, policy=policy, idempotency_key=key,
                                 actor="key:mkt", now=NOW, currency="CNY")


def _rows(engine, table):
    with engine.connect() as connection:
        return connection.execute(sa.text(f"select count(*) from {table}")).scalar()


def test_an_officer_approval_opens_the_line_and_is_audited(uow, market, policy):
    referred = _decide(uow, market, policy, "refer")

    audit = service.approve(uow(), referred.decision_id, limit="5000.00",
                            reason="Trade history is steady; start small.",
                            actor="user:alice", now=LATER, policy=policy)

    assert (audit.status, audit.limit, audit.version) == ("approved", Decimal("5000.00"), 2)
    assert audit.decided_by == "user:alice" and audit.decided_at == LATER
    line = get_line(uow(), audit.line_id)
    assert (line.limit, line.available_credit, line.seller_id) == (
        Decimal("5000.00"), Decimal("5000.00"), referred.seller_id)
    (action,) = audit.actions
    assert (action.action, action.actor, action.acted_at) == ("approve", "user:alice", LATER)
    assert action.reason == "Trade history is steady; start small."
    assert action.before == {"status": "referred", "limit": str(referred.limit),
                             "line_id": None}
    assert action.after == {"status": "approved", "limit": "5000.00",
                            "line_id": audit.line_id}
    # The decision as the policy made it is unchanged.
    assert service.get_decision(uow(), referred.decision_id).decision == referred


def test_an_approval_without_a_limit_grants_the_proposed_one(uow, market, policy):
    referred = _decide(uow, market, policy, "refer")
    audit = service.approve(uow(), referred.decision_id, reason="ok", actor="user:alice",
                            now=LATER, policy=policy)
    assert audit.limit == referred.limit == get_line(uow(), audit.line_id).limit


def test_an_officer_decline_closes_the_case_without_a_line(uow, market, policy):
    referred = _decide(uow, market, policy, "refer")

    audit = service.decline(uow(), referred.decision_id, reason="Cash cycle too long.",
                            actor="user:bob", now=LATER, policy=policy)

    assert (audit.status, audit.limit, audit.line_id) == ("declined", Decimal("0.00"), None)
    assert audit.actions[0].after["status"] == "declined"
    assert service.list_decisions(uow(), status="referred").items == ()


def test_a_case_decided_by_another_officer_cannot_be_decided_again(uow, market, policy):
    referred = _decide(uow, market, policy, "refer")
    service.decline(uow(), referred.decision_id, reason="no", actor="user:bob", now=LATER,
                    policy=policy)

    with pytest.raises(DecisionAlreadyDecided) as refused:
        service.approve(uow(), referred.decision_id, reason="yes", actor="user:alice",
                        now=LATER, policy=policy)

    assert refused.value.code == "decision_already_decided"
    assert domain_status(refused.value) == 409
    assert "user:bob" in str(refused.value)
    audit = service.get_decision(uow(), referred.decision_id)
    assert audit.status == "declined" and len(audit.actions) == 1


def test_an_automatic_approval_cannot_be_approved_or_declined_again(uow, market, policy):
    approved = _decide(uow, market, policy, "approve")
    for act in (service.approve, service.decline):
        with pytest.raises(DecisionAlreadyDecided, match="already approved by key:mkt") as refused:
            act(uow(), approved.decision_id, reason="x", actor="user:a", now=LATER,
                policy=policy)
        assert refused.value.code == "decision_already_decided"
        assert refused.value.details["status"] == "approved"


def test_acting_on_a_stale_view_of_the_case_is_refused(uow, market, policy):
    referred = _decide(uow, market, policy, "refer")
    service.change_limit(uow(), referred.decision_id, new_limit="3000.00", reason="smaller",
                         actor="user:bob", now=LATER, policy=policy, expected_version=1)

    with pytest.raises(DecisionChanged) as refused:
        service.approve(uow(), referred.decision_id, reason="as proposed", actor="user:alice",
                        now=LATER, policy=policy, expected_version=1)
    assert refused.value.code == "decision_changed"
    assert domain_status(refused.value) == 409


def test_a_blank_or_overlong_reason_is_refused_and_nothing_changes(uow, engine, market,
                                                                   policy):
    referred = _decide(uow, market, policy, "refer")

    for reason, code in (("", "reason_required"), ("   ", "reason_required"),
                         ("x" * 2001, "reason_too_long")):
        for act in (service.approve, service.decline):
            with pytest.raises(DecisionError) as refused:
                act(uow(), referred.decision_id, reason=reason, actor="user:alice",
                    now=LATER, policy=policy)
            assert (domain_status(refused.value), refused.value.code) == (422, code)

    audit = service.get_decision(uow(), referred.decision_id)
    assert (audit.status, audit.version, audit.actions) == ("referred", 1, ())
    assert _rows(engine, "credit_line") == 0


def test_a_limit_outside_the_policy_or_not_exact_is_refused(uow, engine, market, policy):
    referred = _decide(uow, market, policy, "refer")

    for limit in ("1999.99", "100000.01"):
        with pytest.raises(LimitOutOfRange) as refused:
            service.approve(uow(), referred.decision_id, limit=limit, reason="r",
                            actor="user:alice", now=LATER, policy=policy)
        assert refused.value.code == "limit_out_of_range"
        assert domain_status(refused.value) == 422
    for limit in ("0", "-5", "2500.001", 2500.5, "lots"):
        with pytest.raises(InvalidAmount):
            service.change_limit(uow(), referred.decision_id, new_limit=limit, reason="r",
                                 actor="user:alice", now=LATER, policy=policy)
    assert service.get_decision(uow(), referred.decision_id).status == "referred"
    assert _rows(engine, "officer_action") == 0


def test_changing_the_limit_of_an_opened_line_changes_the_line(uow, market, policy):
    approved = _decide(uow, market, policy, "approve")
    draw(uow(), line_id=approved.line_id, amount="1000.00", on=NOW.date(),
         plan=RequestedPlan.term_loan("annuity", 6), supplier_id="SUP",
         idempotency_key="d1")

    audit = service.change_limit(uow(), approved.decision_id, new_limit="4000.00",
                                 reason="Seasonal dip; reduce exposure.", actor="user:carol",
                                 now=LATER, policy=policy)

    line = get_line(uow(), approved.line_id)
    assert (line.limit, line.available_credit) == (Decimal("4000.00"), Decimal("3000.00"))
    assert (audit.status, audit.limit) == ("approved", Decimal("4000.00"))
    (action,) = audit.actions
    assert action.before["limit"] == str(approved.limit) and action.after["limit"] == "4000.00"
    # The line's own log says so: a LimitChanged event with the officer's reason and name.
    with uow() as unit:
        record = unit.lines.get(approved.line_id)
        assert record is not None
        changes = [e for e in unit.events.list(record) if isinstance(e, LimitChanged)]
    assert [(c.previous_limit, c.new_limit, c.reason, c.actor) for c in changes] == [
        (approved.limit, Decimal("4000.00"), "Seasonal dip; reduce exposure.", "user:carol")]


def test_changing_the_limit_of_a_referral_changes_what_an_approval_grants(uow, market, policy):
    referred = _decide(uow, market, policy, "refer")
    service.change_limit(uow(), referred.decision_id, new_limit="2000.00", reason="floor",
                         actor="user:bob", now=LATER, policy=policy)
    audit = service.approve(uow(), referred.decision_id, reason="ok at the floor",
                            actor="user:alice", now=LATER, policy=policy)

    assert get_line(uow(), audit.line_id).limit == Decimal("2000.00")
    assert [a.action for a in audit.actions] == ["change_limit", "approve"]
    assert [a.actor for a in audit.actions] == ["user:bob", "user:alice"]


def test_an_unknown_decision_is_a_404(uow, policy):
    with pytest.raises(UnknownDecision) as missing:
        service.approve(uow(), "DEC-nope", reason="r", actor="user:a", now=LATER,
                        policy=policy)
    assert (domain_status(missing.value), missing.value.code) == (404, "unknown_decision")
    with pytest.raises(UnknownDecision):
        service.get_decision(uow(), "DEC-nope")


def test_the_audit_trail_cannot_be_updated_or_deleted(uow, engine, market, policy):
    referred = _decide(uow, market, policy, "refer")
    service.approve(uow(), referred.decision_id, reason="ok", actor="user:alice", now=LATER,
                    policy=policy)
    for statement in ("UPDATE officer_action SET reason = 'changed'",
                      "DELETE FROM officer_action",
                      "DELETE FROM credit_decision",
                      "UPDATE credit_decision SET pd = 0.5",
                      "UPDATE credit_decision SET features = '{}'",
                      "UPDATE credit_decision SET outcome = 'approve', actor = 'x'"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    audit = service.get_decision(uow(), referred.decision_id)
    assert audit.actions[0].reason == "ok" and audit.decision == referred


def test_two_officers_deciding_at_once_one_wins_and_the_other_gets_409(uow, market, policy):
    import threading

    referred = _decide(uow, market, policy, "refer")
    barrier = threading.Barrier(2)
    done, refused, failures = [], [], []

    def officer(name, act):
        barrier.wait()
        try:
            done.append(act(uow(), referred.decision_id, reason=f"by {name}",
                            actor=f"user:{name}", now=LATER, policy=policy))
        except DecisionError as error:
            refused.append(error)
        except Exception as error:  # collected and asserted below
            failures.append(error)

    workers = [threading.Thread(target=officer, args=("alice", service.approve)),
               threading.Thread(target=officer, args=("bob", service.decline))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert failures == [] and len(done) == 1 and len(refused) == 1
    assert refused[0].code == "decision_already_decided"
    audit = service.get_decision(uow(), referred.decision_id)
    assert len(audit.actions) == 1 and audit.status == done[0].status
