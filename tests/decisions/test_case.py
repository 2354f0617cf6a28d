"""The credit case's rules, without a database, a model or HTTP: who may do what with a
decision, within the policy, once, and on the version the officer saw."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisions.case import (
    REASON_LENGTH,
    REVIEW_PERMISSION,
    ChangeLineLimit,
    CreditCase,
    OfficerRequest,
    OpenLine,
    allowed_actions,
)
from decisions.errors import (
    DecisionAlreadyDecided,
    DecisionChanged,
    DecisionError,
    InvalidAction,
    InvalidDecisionRequest,
    InvalidReason,
    LimitOutOfRange,
    LimitRequired,
    NoProduct,
    ReasonRequired,
    ReasonTooLong,
)
from lending.errors import CurrencyMismatch, InvalidAmount, InvalidIdentifier, LendingError
from lending.policy import load_policy

DECIDED = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
LATER = DECIDED + timedelta(hours=2)
POLICY = load_policy()  # floor 2000.00, cap 100000.00 CNY


def referred(limit: str = "12000.00", product: str | None = "purchase_line") -> CreditCase:
    return CreditCase.opened("DEC-abc", "refer", limit=Decimal(limit), currency="CNY",
                             product=product, requested_by="key:mkt", at=DECIDED)


def approved(limit: str = "12000.00") -> CreditCase:
    return CreditCase.opened("DEC-abc", "approve", limit=Decimal(limit), currency="CNY",
                             product="purchase_line", requested_by="key:mkt", at=DECIDED)


# ------------------------------------------------------------------ opened by the policy


def test_a_referral_waits_for_an_officer_with_the_proposed_limit_and_no_line():
    case = referred()
    assert (case.status, case.limit, case.line_id, case.version) == (
        "referred", Decimal("12000.00"), None, 1)
    assert (case.decided_by, case.decided_at) == (None, None)
    assert allowed_actions(case.status) == {"approve", "decline", "change_limit"}


def test_an_automatic_approval_is_decided_by_the_client_and_has_its_line():
    case = approved()
    assert (case.status, case.line_id) == ("approved", "L-abc")
    assert (case.decided_by, case.decided_at) == ("key:mkt", DECIDED)


def test_an_automatic_decline_is_decided_by_the_client_and_allows_nothing():
    case = CreditCase.opened("DEC-abc", "decline", limit=Decimal("0.00"), currency="CNY",
                             product=None, requested_by="key:mkt", at=DECIDED)
    assert (case.status, case.decided_by, case.line_id) == ("declined", "key:mkt", None)
    assert allowed_actions(case.status) == frozenset()


# ------------------------------------------------------------------ approve


def test_a_referred_case_can_be_approved_once():
    case, acted = referred().approve(reason="Steady trade.", actor="user:alice", at=LATER,
                                     policy=POLICY)

    assert (case.status, case.limit, case.line_id, case.version) == (
        "approved", Decimal("12000.00"), "L-abc", 2)
    assert (case.decided_by, case.decided_at) == ("user:alice", LATER)
    assert acted.line_effect == OpenLine("L-abc", Decimal("12000.00"), "purchase_line")
    assert (acted.action, acted.actor, acted.reason, acted.at, acted.version) == (
        "approve", "user:alice", "Steady trade.", LATER, 2)
    with pytest.raises(DecisionAlreadyDecided, match="already approved by user:alice at "):
        case.approve(reason="again", actor="user:bob", at=LATER, policy=POLICY)


def test_an_approval_may_grant_another_limit_within_the_policy():
    case, acted = referred().approve(reason="Start small.", actor="user:alice", at=LATER,
                                     policy=POLICY, limit="5000")
    assert case.limit == Decimal("5000.00") and str(case.limit) == "5000.00"
    assert isinstance(acted.line_effect, OpenLine) and acted.line_effect.limit == case.limit


def test_a_limit_above_the_policy_maximum_is_refused():
    with pytest.raises(LimitOutOfRange) as refused:
        referred().approve(reason="r", actor="user:alice", at=LATER, policy=POLICY,
                           limit="100000.01")
    assert refused.value.details == {"floor": "2000.00", "cap": "100000.00",
                                     "limit": "100000.01"}
    assert str(refused.value) == ("the limit must be between 2000.00 and 100000.00 CNY "
                                  f"(policy {POLICY.version}); got 100000.01")


def test_a_limit_below_the_policy_minimum_is_refused():
    with pytest.raises(LimitOutOfRange):
        referred().change_limit("1999.99", reason="r", actor="user:alice", at=LATER,
                                policy=POLICY)


@pytest.mark.parametrize("limit", ["0", "-5", "2500.001", 2500.5, "lots"])
def test_a_limit_that_is_not_an_exact_positive_amount_is_refused(limit):
    with pytest.raises(InvalidAmount):
        referred().change_limit(limit, reason="r", actor="user:alice", at=LATER,
                                policy=POLICY)


def test_a_proposal_the_policy_no_longer_allows_cannot_be_approved_as_it_is():
    narrower = replace(POLICY, limit=replace(POLICY.limit, cap=Decimal("10000.00")))
    with pytest.raises(LimitOutOfRange):
        referred("12000.00").approve(reason="r", actor="user:alice", at=LATER,
                                     policy=narrower)


def test_a_case_without_a_product_cannot_be_approved():
    with pytest.raises(NoProduct) as refused:
        referred(product=None).approve(reason="r", actor="user:alice", at=LATER,
                                       policy=POLICY)
    assert refused.value.details == {"decision_id": "DEC-abc"}


# ------------------------------------------------------------------ decline


def test_a_declined_referral_has_no_limit_and_allows_nothing_more():
    case, acted = referred().decline(reason="Cash cycle too long.", actor="user:bob",
                                     at=LATER, policy=POLICY)

    assert (case.status, str(case.limit), case.line_id, case.version) == (
        "declined", "0.00", None, 2)
    assert acted.line_effect is None
    assert acted.after.to_dict() == {"status": "declined", "limit": "0.00", "line_id": None}
    for act in (case.approve, case.decline):
        with pytest.raises(DecisionAlreadyDecided, match="already declined by user:bob"):
            act(reason="x", actor="user:alice", at=LATER, policy=POLICY)
    with pytest.raises(DecisionAlreadyDecided):
        case.change_limit("3000.00", reason="x", actor="user:alice", at=LATER, policy=POLICY)


def test_a_decline_takes_no_limit():
    with pytest.raises(InvalidDecisionRequest, match="a decline takes no limit"):
        OfficerRequest.checked("decline", reason="r", actor="user:bob", policy=POLICY,
                               limit="3000.00")


def test_an_automatic_approval_cannot_be_declined_by_an_officer():
    with pytest.raises(DecisionAlreadyDecided) as refused:
        approved().decline(reason="x", actor="user:bob", at=LATER, policy=POLICY)
    assert str(refused.value) == (f"decision DEC-abc is already approved by key:mkt at "
                                  f"{DECIDED.isoformat()}; it cannot be given 'decline'")
    assert refused.value.details == {"decision_id": "DEC-abc", "status": "approved",
                                     "decided_by": "key:mkt", "version": 1}


# ------------------------------------------------------------------ change the limit


def test_changing_the_limit_of_a_referral_changes_what_an_approval_grants():
    smaller, acted = referred().change_limit("3000.00", reason="Smaller.", actor="user:bob",
                                             at=LATER, policy=POLICY)
    assert acted.line_effect is None and smaller.status == "referred"
    assert (acted.before.limit, acted.after.limit) == (Decimal("12000.00"),
                                                       Decimal("3000.00"))

    case, acted = smaller.approve(reason="At 3000.", actor="user:alice", at=LATER,
                                  policy=POLICY)
    assert acted.line_effect == OpenLine("L-abc", Decimal("3000.00"), "purchase_line")
    assert case.version == 3


def test_changing_the_limit_of_an_approved_case_changes_its_line_as_a_named_operation():
    case, acted = approved().change_limit("4000.00", reason="Seasonal dip.",
                                          actor="user:carol", at=LATER, policy=POLICY)
    assert acted.line_effect == ChangeLineLimit("L-abc", Decimal("4000.00"), "DEC-abc/v2")
    assert (case.status, case.limit, case.decided_by) == (
        "approved", Decimal("4000.00"), "key:mkt")


def test_changing_the_limit_needs_the_new_limit():
    with pytest.raises(LimitRequired):
        OfficerRequest.checked("change_limit", reason="r", actor="user:bob", policy=POLICY)


# ------------------------------------------------------------------ versions and requests


def test_an_action_on_a_stale_version_is_refused():
    case, _ = referred().change_limit("3000.00", reason="r", actor="user:bob", at=LATER,
                                      policy=POLICY, expected_version=1)
    with pytest.raises(DecisionChanged) as refused:
        case.approve(reason="as proposed", actor="user:alice", at=LATER, policy=POLICY,
                     expected_version=1)
    assert refused.value.details == {"decision_id": "DEC-abc", "version": 2,
                                     "status": "referred"}
    assert case.approve(reason="ok", actor="user:alice", at=LATER, policy=POLICY,
                        expected_version=2)[0].status == "approved"


@pytest.mark.parametrize("reason, refusal", [
    ("", ReasonRequired), ("   \n", ReasonRequired), ("ok\x00", InvalidReason),
    ("\x1b[31m red", InvalidReason), ("x" * (REASON_LENGTH + 1), ReasonTooLong)])
def test_every_action_needs_a_written_reason_people_can_read(reason, refusal):
    for action in ("approve", "decline", "change_limit"):
        with pytest.raises(refusal):
            OfficerRequest.checked(action, reason=reason, actor="user:a", policy=POLICY,
                                   limit="3000.00" if action == "change_limit" else None)


def test_a_reason_keeps_its_line_breaks_and_loses_its_surrounding_blanks():
    request = OfficerRequest.checked("approve", reason="  Two lines:\n\tsteady.  ",
                                     actor="user:a", policy=POLICY)
    assert request.reason == "Two lines:\n\tsteady."


def test_an_unknown_action_or_a_nameless_actor_is_refused():
    with pytest.raises(InvalidAction):
        OfficerRequest.checked("escalate", reason="r", actor="user:a", policy=POLICY)
    with pytest.raises(InvalidIdentifier):
        OfficerRequest.checked("approve", reason="r", actor=" ", policy=POLICY)


def test_a_policy_in_another_currency_cannot_act_on_the_case():
    dollars = replace(POLICY, currency="USD")
    request = OfficerRequest.checked("approve", reason="r", actor="user:a", policy=dollars)
    with pytest.raises(CurrencyMismatch):
        referred().act(request, at=LATER, policy=dollars)


def test_officer_actions_need_the_review_permission_which_officers_hold():
    from access.permissions import ROLE_PERMISSIONS
    from access.principal import Role

    assert REVIEW_PERMISSION in ROLE_PERMISSIONS[Role.OFFICER]
    assert REVIEW_PERMISSION not in ROLE_PERMISSIONS[Role.MARKETPLACE]


def test_the_case_is_plain_code_without_a_database_a_model_or_http():
    code = ("import sys, decisions.case; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'sqlmodel', 'sqlalchemy', "
            "'mlflow', 'lightgbm', 'pandas', 'numpy', 'store', 'scoring', 'api') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ properties

_ACTIONS = st.lists(st.tuples(
    st.sampled_from(["approve", "decline", "change_limit"]),
    st.one_of(st.none(), st.integers(1000, 120_000).map(lambda n: f"{n}.00")),
    st.one_of(st.none(), st.integers(0, 4))), max_size=8)


@settings(max_examples=200, deadline=None)
@given(start=st.sampled_from(["approve", "refer", "decline"]), steps=_ACTIONS)
def test_the_version_grows_by_one_with_each_accepted_action_and_never_otherwise(start,
                                                                                 steps):
    case = CreditCase.opened("DEC-abc", start, limit=Decimal("12000.00"), currency="CNY",
                             product="purchase_line", requested_by="key:mkt", at=DECIDED)
    accepted = 0
    for action, limit, expected_version in steps:
        before = case
        try:
            request = OfficerRequest.checked(action, reason="r", actor="user:a",
                                             policy=POLICY, limit=limit)
            case, acted = case.act(request, at=LATER, policy=POLICY,
                                   expected_version=expected_version)
        except (DecisionError, LendingError):
            continue  # refused: the case (immutable) stays as it was
        accepted += 1
        assert case.version == before.version + 1 == acted.version
        assert (acted.before, acted.after) == (before.standing, case.standing)
        # Only a referral is decided by an officer, and once decided it stays decided.
        assert before.status == "referred" or case.status == before.status
        assert POLICY.limit.floor <= case.limit <= POLICY.limit.cap or (
            case.status == "declined" and case.limit == 0)
        assert (case.line_id is not None) == (case.status == "approved")
    assert case.version == 1 + accepted
