"""Shadow scoring: a challenger scores every decision beside the champion, its score is
stored in the decision's transaction and never acted on, and a failing challenger never
fails a decision."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa

from decisions import service as service
from decisions.errors import UnknownDecision
from decisions.tables import ShadowScore
from lending.persistence import SqlUnitOfWork
from models import train
from scoring import Scorer
from store import GroupCommit
from store.clock import as_utc
from tests.decisions.conftest import NOW
from tests.models.conftest import FAST
from tests.store.parking import Calls, wait_for, writer_parked


@pytest.fixture(scope="module")
def challenger(market) -> Scorer:
    """Another model of the same market (trained on two thirds of it): version 8."""
    rows = np.arange(len(market.table)) % 3 != 0
    model = train(market.table.iloc[rows], market.label[rows], config=FAST)
    return Scorer(model, model_name="market-pd", model_version="8")


@pytest.fixture(scope="module")
def needs_a_new_feature(market) -> Scorer:
    """A challenger trained with a feature the service does not build: it cannot score a
    live applicant (the failure a challenger meets when its features ship later)."""
    table = market.table.assign(supplier_audit_score=np.linspace(0.0, 1.0, len(market.table)))
    return Scorer(train(table, market.label, config=FAST), model_name="market-pd",
                  model_version="9")


def _decide(uow, market, policy, outcome, key="k-1", **extra):
    return service.make_decision(uow(), snapshot=market.snapshot(market.seller_for[outcome]),
                                 scorer=market.scorer, policy=policy, idempotency_key=key,
                                 actor="key:mkt", now=NOW, currency="CNY", **extra)


def _shadow_rows(engine: sa.Engine) -> list[ShadowScore]:
    with engine.connect() as connection:
        return [ShadowScore.model_validate(dict(row._mapping)) for row in connection.execute(
            sa.select(ShadowScore.__table__).order_by(  # type: ignore[attr-defined]
                sa.text("decision_id")))]


def _stored_features(engine: sa.Engine, decision_id: str) -> dict[str, object]:
    with engine.connect() as connection:
        text = connection.execute(sa.text("select features from credit_decision where id = "
                                          ":id"), {"id": decision_id}).scalar_one()
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("outcome", ["approve", "refer", "decline"])
def test_the_challenger_scores_every_decision_beside_the_champion_who_decides(
        engine, uow, market, policy, challenger, outcome):
    alone = _decide(uow, market, policy, outcome, key="k-alone")
    view = _decide(uow, market, policy, outcome, key="k-shadow", challenger=challenger)

    # The decision is the champion's, exactly as without a challenger.
    assert (view.model_version, view.pd, view.grade, view.outcome, view.limit) == (
        "7", alone.pd, alone.grade, alone.outcome, alone.limit)
    [row] = [r for r in _shadow_rows(engine) if r.decision_id == view.decision_id]
    # The challenger's score of exactly the features the champion scored.
    said = challenger.score(_stored_features(engine, view.decision_id))
    assert (row.model_name, row.model_version) == ("market-pd", "8")
    assert (row.pd, row.points, row.grade) == (said.probability_of_default, said.points,
                                               said.grade)
    assert row.pd != view.pd  # another model: another opinion
    assert as_utc(row.scored_at) == NOW
    assert service.shadow_scores_of(uow(), view.decision_id)[0].pd == row.pd
    assert service.shadow_scores_of(uow(), alone.decision_id) == ()


def test_an_idempotent_replay_writes_no_second_shadow_score(engine, uow, market, policy,
                                                            challenger):
    first = _decide(uow, market, policy, "approve", challenger=challenger)
    again = _decide(uow, market, policy, "approve", challenger=challenger)

    assert again.replayed and again.decision_id == first.decision_id
    assert [row.decision_id for row in _shadow_rows(engine)] == [first.decision_id]


def test_a_failing_challenger_never_fails_the_decision_and_is_reported(
        engine, uow, market, policy, needs_a_new_feature):
    failures: list[tuple[str, Exception]] = []
    view = _decide(uow, market, policy, "approve", challenger=needs_a_new_feature,
                   on_shadow_failure=lambda scorer, error: failures.append(
                       (scorer.model_version, error)))

    assert view.outcome == "approve" and view.line_id is not None
    assert service.get_decision(uow(), view.decision_id).decision == view
    assert _shadow_rows(engine) == []
    [(version, error)] = failures
    assert version == "9" and "supplier_audit_score" in str(error)


def test_a_failing_report_of_a_failure_does_not_fail_the_decision_either(
        engine, uow, market, policy, needs_a_new_feature):
    def broken(scorer: Scorer, error: Exception) -> None:
        raise RuntimeError("metrics are down")

    view = _decide(uow, market, policy, "refer", challenger=needs_a_new_feature,
                   on_shadow_failure=broken)
    assert view.status == "referred" and _shadow_rows(engine) == []


def test_no_challenger_or_the_champion_itself_scores_nothing_in_the_shadow(
        engine, uow, market, policy):
    _decide(uow, market, policy, "approve", key="k-none")
    _decide(uow, market, policy, "refer", key="k-self", challenger=market.scorer)
    assert _shadow_rows(engine) == []


def test_decisions_committed_together_each_keep_their_one_shadow_score(
        engine, uow, market, policy, challenger):
    with GroupCommit(engine, unit_of_work=SqlUnitOfWork) as commits:
        group = Calls(commits)
        with writer_parked(commits):
            for name, outcome, key in (("a1", "approve", "k-a"), ("a2", "approve", "k-a"),
                                       ("r", "refer", "k-r"), ("d", "decline", "k-d")):
                group.spawn(name, lambda outcome=outcome, key=key: _decide(
                    uow, market, policy, outcome, key=key, commits=commits,
                    challenger=challenger))
            wait_for(lambda: commits.waiting == 4, "four decisions waiting")
        calls = group.join()
        assert commits.stats.largest == 4

    made = {calls[name].decision_id for name in ("a1", "r", "d")}  # type: ignore[attr-defined]
    assert calls["a2"].decision_id in made  # type: ignore[attr-defined]
    assert sorted(row.decision_id for row in _shadow_rows(engine)) == sorted(made)


def test_a_shadow_score_never_changes(engine, uow, market, policy, challenger):
    view = _decide(uow, market, policy, "decline", challenger=challenger)
    for statement in ("update shadow_score set pd = 0.5", "delete from shadow_score"):
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as connection:
            connection.execute(sa.text(statement))
    assert service.shadow_scores_of(uow(), view.decision_id)[0].model_version == "8"


def test_the_shadow_scores_of_an_unknown_decision_are_refused(uow):
    with pytest.raises(UnknownDecision):
        service.shadow_scores_of(uow(), "DEC-nope")
