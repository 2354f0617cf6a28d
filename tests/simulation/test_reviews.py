"""Lines reviewed by repeat decisions: the credit history reaches the decision, the
limit follows the review's outcome through the ledger."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from decisions.labels import decisions_frame, label_decisions
from lending.persistence import trial_balance
from lending.persistence.unit_of_work import SqlUnitOfWork
from simulation import Simulation, SimulationConfig
from simulation.run import OUTCOME_COLUMNS
from store import make_engine
from tests.simulation.conftest import run_book

#: A small, risky book whose lines are reviewed every month.
REVIEWED = SimulationConfig(sellers=60, months=5, seed=4, apply_share=0.5,
                            base_default_rate=0.45, review_every_months=1)


def _run(url: str, data_dir: Path, config: SimulationConfig = REVIEWED) -> Simulation:
    return run_book(url, data_dir, config)


@pytest.fixture(scope="module")
def reviewed_book(champion_store: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[str, Path, Simulation]:
    """The reviewed book, simulated once for the module: its store's URL, its data
    folder and the run."""
    folder = tmp_path_factory.mktemp("reviewed")
    shutil.copy2(champion_store / "mlflow.db", folder / "mlflow.db")
    url = f"sqlite:///{folder / 'book.db'}"
    return url, folder, _run(url, folder)


def test_every_line_not_written_off_is_reviewed_each_period(
        reviewed_book: tuple[str, Path, Simulation]) -> None:
    _, _, result = reviewed_book
    outcomes = result.outcomes
    assert tuple(outcomes.columns) == OUTCOME_COLUMNS
    reviews = outcomes.loc[outcomes["review"]]
    applications = outcomes.loc[~outcomes["review"]]
    assert len(reviews) == sum(count for name, count in result.reviews.items()
                               if name in ("approve", "decline", "refer")) > 0
    assert (applications["months_on_book"] == 0).all()
    assert (reviews["months_on_book"] > 0).all()
    # a review is of a seller whose application was approved earlier, and a review
    # never opens a line
    opened = applications.loc[applications["booked"]].set_index("seller_id")["month"]
    assert set(reviews["seller_id"]) <= set(opened.index)
    assert (reviews["month"] - reviews["seller_id"].map(opened)
            == reviews["months_on_book"]).all()
    assert not reviews["booked"].any()
    # every line opened by month m is reviewed at the start of every later month, unless
    # written off (here: none within five months) or its seller failed and owes nothing
    expected = sum(result.config.months - month for month in opened)
    assert len(reviews) + result.reviews["not_decided"] \
        + result.reviews["failed_owing_nothing"] == expected


def test_a_review_decision_reads_the_sellers_credit_history_from_the_ledger(
        reviewed_book: tuple[str, Path, Simulation]) -> None:
    url, _, result = reviewed_book
    engine = make_engine(url)
    try:
        stored = decisions_frame(engine).set_index("decision_id")
        with engine.connect() as connection:
            draws = pd.DataFrame(connection.execute(sa.text(
                "SELECT l.seller_id, e.\"on\" FROM line_event e JOIN credit_line l "
                "ON l.id = e.line_id WHERE e.kind = 'draw'")).mappings().all())
    finally:
        engine.dispose()
    draws["on"] = pd.to_datetime(draws["on"]).dt.date
    reviews = result.outcomes.loc[result.outcomes["review"]]
    features = stored.loc[reviews["decision_id"]]
    # the snapshot of a seller with a line carries its history: the draws it made before
    # the decision's day, as the ledger holds them
    decided = reviews["decided_at"].dt.tz_convert("Asia/Shanghai").dt.date.to_numpy()
    made = [int(((draws["seller_id"] == seller) & (draws["on"] < day)).sum())
            for seller, day in zip(reviews["seller_id"], decided, strict=True)]
    assert features["credit_draw_count"].astype(int).tolist() == made
    assert max(made) > 0
    with_draws = features.loc[features["credit_draw_count"] > 0]
    assert (with_draws["credit_months_on_book"] >= 0).all()
    assert features["credit_utilisation"].nunique() > 1
    # and the policy reads the seller's own lines
    assert features["own_lines_worst_days_past_due"].notna().all()
    # an application has no history yet
    applications = stored.loc[result.outcomes.loc[~result.outcomes["review"], "decision_id"]]
    assert (applications["credit_draw_count"].fillna(0) == 0).all()


def test_the_limit_follows_the_reviews_outcome_through_the_ledger(
        reviewed_book: tuple[str, Path, Simulation]) -> None:
    url, _, result = reviewed_book
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            changes = pd.DataFrame(connection.execute(sa.text(
                "SELECT e.line_id, l.seller_id, e.\"on\", e.operation_id, e.payload "
                "FROM line_event e JOIN credit_line l ON l.id = e.line_id "
                "WHERE e.kind = 'limit_change' ORDER BY e.line_id, e.sequence"
            )).mappings().all())
            limits: dict[str, int] = {str(row.id): int(row.limit_minor) for row in
                                      connection.execute(sa.text(
                                          "SELECT id, limit_minor FROM credit_line"))}
        with SqlUnitOfWork(engine).reading() as uow:
            assert trial_balance(uow.session, result.last_day).ok
    finally:
        engine.dispose()
    assert len(changes) > 0
    documents = [json.loads(payload) for payload in changes["payload"]]
    changes["new_limit"] = pd.Series([Decimal(d["new_limit"]) for d in documents],
                                     index=changes.index, dtype=object)
    changes["reason"] = pd.Series([d.get("reason", "") for d in documents],
                                  index=changes.index, dtype=str)
    reviews = result.outcomes.loc[result.outcomes["review"]]
    opened = result.outcomes.loc[result.outcomes["booked"]]
    line_of = dict(zip(opened["seller_id"].astype(str), opened["line_id"], strict=True))
    approved = reviews.loc[reviews["outcome"] == "approve"]
    declined = reviews.loc[reviews["outcome"] == "decline"]
    assert len(approved) > 0 and len(declined) > 0
    for row in approved.itertuples():
        # the service re-granted the seller's line with the review's limit
        assert row.line_id == line_of[str(row.seller_id)]
        change = changes.loc[changes["operation_id"] == row.decision_id]
        assert len(change) == 1 and change["line_id"].iloc[0] == row.line_id
    cuts = changes.loc[changes["reason"].str.startswith("declined at review")]
    cut_decisions = {reason.rsplit(" ", 1)[-1] for reason in cuts["reason"]}
    # every decline cut the line to zero, unless it already stood at zero
    assert cut_decisions <= set(declined["decision_id"])
    assert (cuts["new_limit"] == 0).all() and len(cuts) == result.reviews["limit_cut"] > 0
    # each line ends at the limit of its last change (the last review's outcome)
    last = changes.groupby("line_id")["new_limit"].last()
    for line_id, limit in last.items():
        assert Decimal(limits[str(line_id)]) / 100 == limit


def test_the_ledgers_labels_have_decisions_with_credit_history(
        reviewed_book: tuple[str, Path, Simulation]) -> None:
    url, _, result = reviewed_book
    engine = make_engine(url)
    try:
        labels = label_decisions(engine, window_months=1).frame
    finally:
        engine.dispose()
    reviewed = labels.loc[labels["decision_id"].isin(
        result.outcomes.loc[result.outcomes["review"], "decision_id"])]
    assert len(reviewed) > 0
    assert (reviewed["credit_draw_count"] > 0).any()
    assert reviewed["credit_outstanding_amount"].nunique() > 1


def test_the_same_seed_gives_the_same_reviews(
        reviewed_book: tuple[str, Path, Simulation], tmp_path: Path) -> None:
    _, folder, first = reviewed_book
    second = _run(f"sqlite:///{tmp_path / 'again.db'}", folder)
    columns = [c for c in OUTCOME_COLUMNS if c not in ("decision_id", "line_id")]
    pd.testing.assert_frame_equal(first.outcomes[columns], second.outcomes[columns])
    pd.testing.assert_frame_equal(first.book.frame, second.book.frame)
    assert (first.reviews, first.draws, first.payments) == (
        second.reviews, second.draws, second.payments)


def test_the_applicants_of_a_training_window_are_every_decision_made_in_it(
        reviewed_book: tuple[str, Path, Simulation]) -> None:
    from cli.models import applicants_between

    url, _, result = reviewed_book
    decided = result.outcomes["decided_at"]
    first, last = decided.min(), decided.min() + pd.DateOffset(months=1)
    window = applicants_between(url, first, last)
    expected = result.outcomes.loc[(decided >= first) & (decided <= last)]
    assert sorted(window["decision_id"]) == sorted(expected["decision_id"])
    # the declined and referred applicants are in it, with their features
    assert set(window["outcome"]) >= {"approve", "decline"}
    assert "credit_draw_count" in window.columns
    assert applicants_between(url, last + pd.Timedelta(days=400),
                              last + pd.Timedelta(days=500)).empty
