"""The score PSI of a challenger trained on approved applicants only: against the
applicants of its training window, through the door, not against its training scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import CreditModel, train
from models.gates import (
    MIN_WINDOW_APPLICANTS,
    RecentApplicants,
    applicants_of_training_window,
    judge,
    training_window,
)
from tests.models.conftest import FAST, make_credit_table


@pytest.fixture(scope="module")
def book() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, CreditModel]:
    """Applicants through the door (features with ``created_at``), their labels, which
    were approved (the safer half by true PD), and a model trained on the approved ones
    only, out of time."""
    table = make_credit_table(n=6000, seed=7)
    decisions = table.features.rename(columns={"applied_at": "created_at"})
    approved = table.true_pd < np.quantile(table.true_pd, 0.5)
    model = train(decisions.loc[approved], table.label[approved], time="created_at",
                  config=FAST)
    return decisions, table.label, approved, model


def test_the_training_window_holds_every_decision_of_the_training_rows_time_span(
        book: tuple[pd.DataFrame, np.ndarray, np.ndarray, CreditModel]) -> None:
    decisions, _, approved, model = book
    first, last = (pd.Timestamp(t) for t in model.metadata_["training"]["windows"]["train"])
    window = applicants_of_training_window(decisions, model)
    assert window is not None
    times = decisions["created_at"]
    expected = decisions.loc[(times >= first) & (times <= last)]
    assert window.index.equals(expected.index)
    # the declined applicants of the window are in it, not only the approved ones
    assert (~approved[decisions.index.isin(window.index)]).sum() > 1000
    # without a time column, or with no decision in the window: nothing
    assert applicants_of_training_window(decisions.drop(columns="created_at"), model) is None
    assert applicants_of_training_window(decisions.loc[times > last], model) is None


def test_the_score_psi_of_a_challenger_trained_on_approved_sellers_compares_like_with_like(
        book: tuple[pd.DataFrame, np.ndarray, np.ndarray, CreditModel]) -> None:
    decisions, label, _, model = book
    latest = decisions.iloc[-2000:]
    features = decisions.drop(columns="created_at")
    sample = features.iloc[-1000:]
    y = label[-1000:]
    # against its training scores (approved applicants only) the same population that
    # came through the door looks shifted ...
    plain = judge(model, sample, y, recent=RecentApplicants(
        latest.drop(columns="created_at"), "the test's decisions"))
    against_training = next(g for g in plain.gates if g.name == "score PSI")
    assert not against_training.passed and against_training.value is not None
    # ... against the applicants of its training window, approved and declined, it is not
    reference = applicants_of_training_window(decisions, model)
    assert reference is not None
    fair = judge(model, sample, y, recent=RecentApplicants(
        latest.drop(columns="created_at"), "the test's decisions",
        reference.drop(columns="created_at")))
    gate = next(g for g in fair.gates if g.name == "score PSI")
    assert gate.passed and gate.value is not None and gate.value < 0.1
    assert "applicants of its training window (approved and declined)" in gate.detail
    assert fair.figures["challenger"]["psi"] == gate.value
    assert fair.figures["challenger"]["psi_training_scores"] == pytest.approx(
        against_training.value)
    # a shifted population still fails against the training window
    shifted = latest.drop(columns="created_at").assign(
        debt_ratio=lambda frame: frame["debt_ratio"] + 0.4)
    moved = judge(model, sample, y, recent=RecentApplicants(
        shifted, "the test's decisions", reference.drop(columns="created_at")))
    assert not next(g for g in moved.gates if g.name == "score PSI").passed


def test_the_applicants_of_the_window_may_be_read_for_the_challenger_being_judged(
        book: tuple[pd.DataFrame, np.ndarray, np.ndarray, CreditModel]) -> None:
    decisions, label, _, model = book
    latest = decisions.iloc[-2000:].drop(columns="created_at")
    asked: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def read_window(first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
        asked.append((first, last))
        times = decisions["created_at"]
        return decisions.loc[(times >= first) & (times <= last)].drop(columns="created_at")

    sample, y = decisions.iloc[-1000:].drop(columns="created_at"), label[-1000:]
    lazy = judge(model, sample, y, recent=RecentApplicants(latest, "db",
                                                           read_window=read_window))
    reference = applicants_of_training_window(decisions, model)
    assert reference is not None
    given = judge(model, sample, y, recent=RecentApplicants(
        latest, "db", reference.drop(columns="created_at")))
    assert asked == [training_window(model)]
    assert lazy.figures["challenger"]["psi"] == given.figures["challenger"]["psi"]
    # too few applicants in the window: the training scores stay the base, with a note
    few = judge(model, sample, y, recent=RecentApplicants(
        latest, "db", reference.drop(columns="created_at").iloc[:MIN_WINDOW_APPLICANTS - 1]))
    assert "against the challenger's training scores" in next(
        g for g in few.gates if g.name == "score PSI").detail
    assert any(f"only {MIN_WINDOW_APPLICANTS - 1} applicants" in note for note in few.notes)
