"""The labels table carries the challenger's shadow score of each decision beside the
champion's, and training never takes it for a feature."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cli.models import DECISION_COLUMNS
from decisions import service
from decisions.labels import LABEL_COLUMNS, label_decisions
from lending.persistence import advance_line
from models import train
from records.snapshots import FeatureSnapshot
from scoring import Scorer
from tests.decisions.conftest import NOW
from tests.models.conftest import FAST


@pytest.fixture(scope="module")
def challenger(market) -> Scorer:
    rows = np.arange(len(market.table)) % 3 != 0
    return Scorer(train(market.table.iloc[rows], market.label[rows], config=FAST),
                  model_name="market-pd", model_version="8")


def _approve(uow, market, policy, seller_id: str, challenger: Scorer | None):
    row = market.table.loc[market.seller_for["approve"]].to_dict()
    snapshot = FeatureSnapshot(seller_id, str(row["seller_kind"]), market.as_of, row)
    return service.make_decision(uow(), snapshot=snapshot, scorer=market.scorer,
                                 policy=policy, idempotency_key=f"k-{seller_id}",
                                 actor="key:mkt", now=NOW, currency="CNY",
                                 challenger=challenger)


def test_each_labelled_decision_carries_its_shadow_score_when_it_has_one(
        uow, market, policy, challenger):
    shadowed = _approve(uow, market, policy, "S-shadowed", challenger)
    alone = _approve(uow, market, policy, "S-alone", None)
    assert shadowed.line_id is not None and alone.line_id is not None
    advance_line(uow(), line_id=shadowed.line_id, to=date(2027, 2, 1))

    frame = label_decisions(uow().engine, window_months=6).frame.set_index("decision_id")

    assert list(frame.reset_index().columns[:len(LABEL_COLUMNS)]) == list(LABEL_COLUMNS)
    [stored] = service.shadow_scores_of(uow(), shadowed.decision_id)
    row = frame.loc[shadowed.decision_id]
    assert (row["shadow_model_version"], row["shadow_pd"], row["shadow_grade"]) == (
        "8", stored.pd, stored.grade)
    assert row["pd"] == shadowed.pd != row["shadow_pd"]
    empty = frame.loc[alone.decision_id]
    assert pd.isna(empty["shadow_model_version"]) and np.isnan(empty["shadow_pd"])
    assert pd.isna(empty["shadow_grade"])


def test_shadow_columns_are_never_features():
    assert {"shadow_model_version", "shadow_pd", "shadow_grade"} <= set(DECISION_COLUMNS)
