"""Reproducing a stored decision exactly, and the officer queue and list of decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from api.errors import domain_status
from decisions import service as service
from decisions.errors import (
    DecisionError,
    InvalidCursor,
    InvalidFilter,
    ModelVersionUnavailable,
)
from tests.decisions.conftest import NOW


def _decide(uow, market, policy, outcome, key, now=NOW):
    return service.make_decision(uow(), snapshot=market.snapshot(market.seller_for[outcome]),
                                 scorer=market.scorer, policy=policy, idempotency_key=key,
                                 actor="key:mkt", now=now, currency="CNY")


@pytest.mark.parametrize("outcome", ["approve", "refer", "decline"])
def test_a_stored_decision_reproduces_exactly_from_its_versions(uow, market, policy, outcome):
    view = _decide(uow, market, policy, outcome, "k")
    asked = []

    def scorer_for(name, version):
        asked.append((name, version))
        return market.scorer

    result = service.reproduce_decision(uow(), view.decision_id, scorer_for,
                                        lambda version: policy)

    assert asked == [("market-pd", "7")]
    assert result.exact and result.differences == ()
    assert result.reproduced == result.stored
    assert (result.stored.pd, result.stored.points, result.stored.grade,
            result.stored.outcome, result.stored.reasons) == (
        view.pd, view.points, view.grade, view.outcome, view.reasons)


def test_a_different_policy_shows_what_would_differ(uow, market, policy):
    view = _decide(uow, market, policy, "approve", "k")
    stricter = replace(policy, version="stricter", decision=replace(
        policy.decision, refer_pd_above=Decimal(0), decline_pd_above=Decimal(0)))

    result = service.reproduce_decision(uow(), view.decision_id, lambda n, v: market.scorer,
                                        lambda version: stricter)

    assert not result.exact
    assert {"policy_version", "outcome", "limit"} <= set(result.differences)
    assert "pd" not in result.differences and result.reproduced.outcome == "decline"


def test_a_model_version_that_cannot_be_loaded_is_a_409(uow, market, policy):
    view = _decide(uow, market, policy, "approve", "k")

    def missing(name, version):
        raise LookupError("not in the registry")

    with pytest.raises(ModelVersionUnavailable) as refused:
        service.reproduce_decision(uow(), view.decision_id, missing, lambda v: policy)
    assert refused.value.code == "model_version_unavailable"
    assert domain_status(refused.value) == 409


def test_the_queue_filters_referred_cases_by_grade_and_age(uow, market, policy):
    old = _decide(uow, market, policy, "refer", "a", now=NOW - timedelta(days=3))
    new = _decide(uow, market, policy, "refer", "b", now=NOW)
    _decide(uow, market, policy, "approve", "c", now=NOW - timedelta(days=5))

    queue = service.list_decisions(uow(), status="referred", oldest_first=True)
    assert [i.decision_id for i in queue.items] == [old.decision_id, new.decision_id]
    aged = service.list_decisions(uow(), status="referred",
                                  older_than=NOW - timedelta(days=1))
    assert [i.decision_id for i in aged.items] == [old.decision_id]
    fresh = service.list_decisions(uow(), newer_than=NOW - timedelta(days=1))
    assert [i.decision_id for i in fresh.items] == [new.decision_id]
    assert service.list_decisions(uow(), status="referred", grade=old.grade).items
    assert service.list_decisions(uow(), status="referred", grade="Z").items == ()
    item = queue.items[0]
    assert (item.pd, item.points, item.limit, item.reason_codes) == (
        old.pd, old.points, old.limit, tuple(r.code for r in old.reasons))


def test_the_list_pages_newest_first_and_searches_by_seller(uow, market, policy):
    made = [_decide(uow, market, policy, outcome, f"k{n}", now=NOW + timedelta(minutes=n))
            for n, outcome in enumerate(["approve", "refer", "decline", "refer", "approve"])]

    first = service.list_decisions(uow(), limit=2)
    second = service.list_decisions(uow(), limit=2, cursor=first.next_cursor)
    third = service.list_decisions(uow(), limit=2, cursor=second.next_cursor)
    listed = [i.decision_id for page in (first, second, third) for i in page.items]
    assert listed == [d.decision_id for d in reversed(made)]
    assert third.next_cursor is None

    seller = market.seller_for["refer"]
    found = service.list_decisions(uow(), query=seller[-6:].upper())
    assert {i.seller_id for i in found.items} == {seller} and len(found.items) == 2
    assert len(service.list_decisions(uow(), seller_id=seller).items) == 2
    by_id = service.list_decisions(uow(), query=made[2].decision_id)
    assert [i.decision_id for i in by_id.items] == [made[2].decision_id]
    assert service.list_decisions(uow(), query="%").items == ()


def test_bad_filters_and_cursors_are_422(uow):
    for kwargs, refusal in (({"status": "pending"}, InvalidFilter), ({"limit": 0}, InvalidFilter),
                            ({"cursor": "garbage!"}, InvalidCursor)):
        with pytest.raises(DecisionError) as refused:
            service.list_decisions(uow(), **kwargs)
        assert type(refused.value) is refusal
        assert refused.value.code in ("invalid_filter", "invalid_cursor")
        assert domain_status(refused.value) == 422
