"""Deciding: one transaction stores the audit record, opens the approved line, keeps the
answer under its idempotency key."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from decisions import service as service
from lending.persistence import IdempotencyKeyReused, SqlUnitOfWork, get_line
from store import GroupCommit
from tests.decisions.conftest import NOW
from tests.store.parking import Calls, wait_for, writer_parked


def _decide(uow, market, policy, outcome, key="k-1", **extra):
    return service.make_decision(uow(), snapshot=market.snapshot(market.seller_for[outcome]),
                                 scorer=market.scorer, policy=policy, idempotency_key=key,
                                 actor="key:mkt", now=NOW, currency="CNY", **extra)


def test_an_approval_opens_a_line_with_the_decided_limit(uow, market, policy):
    view = _decide(uow, market, policy, "approve")

    assert (view.outcome, view.status) == ("approve", "approved")
    assert view.line_id is not None and view.limit > 0
    line = get_line(uow(), view.line_id)
    assert line.limit == view.limit == line.available_credit
    assert line.seller_id == view.seller_id
    assert line.policy_version == view.policy_version == policy.version
    assert line.opened_on.isoformat() == "2026-07-01"  # 17:30 in Shanghai
    assert (view.model_name, view.model_version) == ("market-pd", "7")
    assert view.snapshot_as_of == market.as_of and view.created_at == NOW
    assert view.terms is not None and view.terms.product == line.product


def test_a_referral_is_queued_for_officers_without_a_line(uow, market, policy):
    view = _decide(uow, market, policy, "refer")

    assert (view.outcome, view.status, view.line_id) == ("refer", "referred", None)
    assert view.limit >= policy.limit.floor
    queue = service.list_decisions(uow(), status="referred")
    assert [item.decision_id for item in queue.items] == [view.decision_id]
    with uow() as unit:
        assert unit.session.execute(sa.text("select count(*) from credit_line")).scalar() == 0


def test_a_decline_has_no_limit_and_no_line(uow, market, policy):
    view = _decide(uow, market, policy, "decline")

    assert (view.outcome, view.status, view.line_id, view.limit) == (
        "decline", "declined", None, Decimal("0.00"))
    assert view.terms is None
    assert any(reason.effect == "decline" for reason in view.policy_reasons)


def test_a_decline_is_written_with_its_key_in_one_statement_on_postgresql(
        engine, uow, market, policy):
    """The claim of the key and the decision's row: one statement on PostgreSQL (a round
    trip fewer on every decision that opens no line), the claim then the insert on
    SQLite."""
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        view = _decide(uow, market, policy, "decline", lines=[])
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    assert statements == (["WITH"] if engine.dialect.name == "postgresql"
                          else ["INSERT", "INSERT"])
    again = _decide(uow, market, policy, "decline", lines=[])
    assert (again.decision_id, again.replayed) == (view.decision_id, True)
    assert again.model_dump() == {**view.model_dump(), "replayed": True}


def test_the_answer_carries_at_most_four_reasons_in_english_and_chinese(uow, market, policy):
    view = _decide(uow, market, policy, "decline")

    # what the applicant is told: the policy's rules first, then the model's reasons
    assert 1 <= len(view.principal_reasons) <= 4
    assert view.principal_reasons[0].source == "policy"
    assert all(r.text_en and r.text_zh for r in view.principal_reasons)
    assert len(view.reasons) <= 4
    for reason in view.reasons:
        assert reason.code.startswith("R-") and reason.direction == "adverse"
        assert reason.text_en and reason.text_zh and reason.points < 0
    assert [r.points for r in view.reasons] == sorted(r.points for r in view.reasons)


def test_the_audit_record_keeps_features_contributions_and_versions(uow, market, policy):
    view = _decide(uow, market, policy, "approve")
    audit = service.get_decision(uow(), view.decision_id)

    assert audit.decision == view
    assert audit.features["gmv_365d"] == market.table.loc[view.seller_id, "gmv_365d"]
    assert set(audit.features) == set(market.table.columns)
    assert set(audit.contributions) == set(market.scorer.feature_names)
    # The waterfall adds up: baseline plus every feature's points is the score.
    assert audit.baseline_points + sum(audit.contributions.values()) == pytest.approx(
        view.points, abs=1e-6)
    assert (audit.status, audit.limit, audit.line_id) == ("approved", view.limit, view.line_id)
    assert audit.decided_by == "key:mkt" and audit.actions == ()


@pytest.mark.parametrize("outcome", ["approve", "refer", "decline"])
def test_a_repeated_request_replays_the_stored_decision_and_opens_no_second_line(
        uow, market, policy, outcome):
    """The first answer is built from the reasons scored, a replay's from the stored row:
    the two are equal, reasons and policy reasons included."""
    first = _decide(uow, market, policy, outcome, key="same")
    again = _decide(uow, market, policy, outcome, key="same")

    assert again.replayed and not first.replayed
    assert first.reasons or first.policy_reasons
    assert again == type(first)(**{**first.__dict__, "replayed": True})
    with uow() as unit:
        count = unit.session.execute(sa.text(
            "select (select count(*) from credit_line), (select count(*) from credit_decision)"
        )).one()
    assert tuple(count) == (int(outcome == "approve"), 1)


def test_a_key_reused_for_another_seller_is_refused_and_changes_nothing(uow, market, policy):
    _decide(uow, market, policy, "approve", key="reused")

    with pytest.raises(IdempotencyKeyReused):
        _decide(uow, market, policy, "refer", key="reused")
    with pytest.raises(IdempotencyKeyReused):  # same seller, another as-of time asked for
        _decide(uow, market, policy, "approve", key="reused", requested_as_of=NOW)
    assert len(service.list_decisions(uow()).items) == 1


@pytest.mark.parametrize("outcome", ["approve", "decline"])
def test_requests_racing_with_one_key_make_one_decision(uow, market, policy, outcome):
    """An approval claims its key, then opens its line; a decline is written with its key
    (on PostgreSQL in one statement): either way one decision, the rest replay it."""
    barrier = threading.Barrier(6)
    answers, failures = [], []

    def request():
        barrier.wait()
        try:
            answers.append(_decide(uow, market, policy, outcome, key="race"))
        except Exception as error:  # collected and asserted below
            failures.append(error)

    workers = [threading.Thread(target=request) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert failures == []
    assert len({a.decision_id for a in answers}) == 1 and len(answers) == 6
    assert sum(not a.replayed for a in answers) == 1
    with uow() as unit:
        counts = unit.session.execute(sa.text(
            "select (select count(*) from credit_line), (select count(*) from credit_decision)"
        )).one()
    assert tuple(counts) == ((1 if outcome == "approve" else 0), 1)


def test_decisions_committed_together_are_each_stored_once_with_their_own_answer(
        engine, uow, market, policy):
    """A group commit stores concurrent decisions in one transaction: a key used twice in
    the group makes one decision (the second replays it), a key reused for another seller
    is refused without taking the group's other decisions with it."""
    calls: dict[str, object]
    with GroupCommit(engine, unit_of_work=SqlUnitOfWork) as commits:
        group = Calls(commits)
        with writer_parked(commits):
            for n, (name, outcome, key) in enumerate((
                    ("a1", "approve", "k-a"), ("a2", "approve", "k-a"), ("r", "refer", "k-r"),
                    ("d", "decline", "k-d"), ("clash", "refer", "k-a")), start=1):
                group.spawn(name, lambda outcome=outcome, key=key: _decide(
                    uow, market, policy, outcome, key=key, commits=commits))
                # queued in this order: the clash comes after the key's first use
                wait_for(lambda n=n: commits.waiting == n, f"{n} decisions waiting")
        calls = group.join()
        assert commits.stats.reruns == 1  # the five were one group, then ran one by one

    assert isinstance(calls["clash"], IdempotencyKeyReused)
    first, second = calls["a1"], calls["a2"]
    assert isinstance(first, service.DecisionView) and isinstance(second, service.DecisionView)
    assert first.decision_id == second.decision_id and first.replayed != second.replayed
    assert [calls[name].outcome for name in ("r", "d")] == ["refer", "decline"]  # type: ignore[union-attr]
    with uow() as unit:
        count = unit.session.execute(sa.text(
            "select (select count(*) from credit_line), (select count(*) from credit_decision)"
        )).one()
    assert tuple(count) == (1, 3)
    assert get_line(uow(), first.line_id).limit == first.limit


def test_a_key_used_twice_in_one_group_makes_one_decision_and_one_commit(
        engine, uow, market, policy):
    with GroupCommit(engine, unit_of_work=SqlUnitOfWork) as commits:
        group = Calls(commits)
        with writer_parked(commits):
            for name, outcome, key in (("a1", "approve", "k-a"), ("a2", "approve", "k-a"),
                                       ("r", "refer", "k-r"), ("d", "decline", "k-d")):
                group.spawn(name, lambda outcome=outcome, key=key: _decide(
                    uow, market, policy, outcome, key=key, commits=commits))
            wait_for(lambda: commits.waiting == 4, "four decisions waiting")
        calls = group.join()
        assert (commits.stats.largest, commits.stats.reruns) == (4, 0)

    assert calls["a1"].decision_id == calls["a2"].decision_id  # type: ignore[attr-defined]
    assert sorted(calls[n].replayed for n in ("a1", "a2")) == [False, True]  # type: ignore[attr-defined]
    assert {view.decision_id for view in service.list_decisions(uow()).items} == {
        calls[name].decision_id for name in ("a1", "r", "d")}  # type: ignore[attr-defined]
