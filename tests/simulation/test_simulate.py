"""A simulated book through the real services, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cli import main
from features import DEFAULT_TIMEZONE as ZONE
from lending.persistence import trial_balance
from lending.persistence.history import line_month_panel
from lending.persistence.unit_of_work import SqlUnitOfWork
from simulation import Simulation, SimulationConfig
from simulation.run import OUTCOME_COLUMNS
from store import make_engine
from tests.simulation.conftest import run_book

SMALL = SimulationConfig(sellers=60, months=3, seed=5, apply_share=0.5)


def _run(url: str, data_dir: Path, config: SimulationConfig = SMALL) -> Simulation:
    return run_book(url, data_dir, config)


@pytest.fixture(scope="module")
def small_book(champion_store: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[str, Simulation]:
    """The SMALL book on SQLite, simulated once for the tests that only read it (its
    store's URL and the run); the same seed gives the same book, which
    test_the_same_seed_gives_the_same_book checks against a run of its own."""
    folder = tmp_path_factory.mktemp("small-book")
    shutil.copy2(champion_store / "mlflow.db", folder / "mlflow.db")
    url = f"sqlite:///{folder / 'book.db'}"
    return url, _run(url, folder)


def test_every_simulated_day_is_closed_with_a_balanced_trial_balance(
        database_url: str, data_dir: Path) -> None:
    result = _run(database_url, data_dir)
    days = (result.last_day - result.first_day).days + 1
    assert result.days_closed == days == 92
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            runs = connection.execute(sa.text(
                "SELECT day, status FROM end_of_day_run ORDER BY day")).all()
            lines = connection.execute(sa.text(
                "SELECT count(*), max(as_of) FROM credit_line")).one()
        assert [str(row.status) for row in runs] == ["closed"] * days
        assert pd.Timestamp(runs[-1].day).date() == result.last_day
        with SqlUnitOfWork(engine).reading() as uow:
            assert trial_balance(uow.session, result.last_day).ok
    finally:
        engine.dispose()
    # the service opened a line for every approval, and only for them
    approved = result.outcomes.loc[result.outcomes["booked"]]
    assert lines[0] == len(approved) == result.decisions["approve"] > 0
    assert int(result.book.frame.set_index("grade").loc["total", "lines"]) == lines[0]
    assert result.draws > 0 and sum(result.payments.values()) > 0


def test_the_month_ends_recorded_are_the_ledgers_line_month_panel(
        small_book: tuple[str, Simulation]) -> None:
    url, result = small_book
    engine = make_engine(url)
    try:
        folded = line_month_panel(engine, through=result.last_day)
    finally:
        engine.dispose()
    keys = ["line_id", "month"]
    recorded = result.panel.sort_values(keys).reset_index(drop=True)
    expected = folded.sort_values(keys).reset_index(drop=True)
    assert len(recorded) > 0
    pd.testing.assert_frame_equal(recorded.astype(expected.dtypes.to_dict()), expected)


def test_declined_sellers_outcomes_are_kept_aside(small_book: tuple[str, Simulation]) -> None:
    _, result = small_book
    outcomes = result.outcomes
    assert tuple(outcomes.columns) == OUTCOME_COLUMNS
    kept = outcomes.loc[outcomes["kept_aside"]]
    assert set(kept["outcome"]) <= {"decline", "refer"} and len(kept) > 0
    assert kept["line_id"].isna().all()
    assert outcomes["true_pd"].between(0, 1).all()
    # a seller defaulting within the year after its decision is one whose default day
    # falls in that year (possibly after the book's last day); ``defaults``: within the
    # book
    decided = pd.to_datetime(outcomes["decided_at"], utc=True).dt.tz_convert(ZONE).dt.date
    horizon = decided.map(lambda day: (pd.Timestamp(day) + pd.DateOffset(months=12)).date())
    day = outcomes["default_day"]
    within = [d is not None and not pd.isna(d) and first <= d <= last
              for d, first, last in zip(day, decided, horizon, strict=True)]
    assert (outcomes["defaults_within_12m"] == within).all()
    assert outcomes["defaults_within_12m"].any()
    # failed by the end of that year: the same, or failed before the decision already
    failed = [d is not None and not pd.isna(d) and d <= last
              for d, last in zip(day, horizon, strict=True)]
    assert (outcomes["failed_within_12m"] == failed).all()
    assert (outcomes["failed_within_12m"] >= outcomes["defaults_within_12m"]).all()
    in_book = [d is not None and not pd.isna(d) and d <= result.last_day for d in day]
    assert (outcomes["defaults"] == in_book).all()
    # a seller past its default day has failed: it never applies again
    applied = ~outcomes["review"]
    assert all(d is None or pd.isna(d) or first < d
               for d, first in zip(day[applied], decided[applied], strict=True))


def test_every_decision_knows_the_sellers_membership_tier_at_its_moment(
        small_book: tuple[str, Simulation]) -> None:
    """The generator stamps the seller records' tier at its as-of date (the end of the
    simulation); the tier history the simulator sends makes it known before."""
    from decisions.labels import decisions_frame

    url, _ = small_book
    engine = make_engine(url)
    try:
        decided = decisions_frame(engine)
    finally:
        engine.dispose()
    assert len(decided) > 0
    assert decided["membership_tier"].notna().all()
    assert set(decided["membership_tier"]) <= {"basic", "silver", "gold", "platinum"}


def test_the_same_seed_gives_the_same_book(small_book: tuple[str, Simulation],
                                          data_dir: Path, tmp_path: Path) -> None:
    _, first = small_book  # simulated in a store and data folder of its own
    second = _run(f"sqlite:///{tmp_path / 'two.db'}", data_dir)
    pd.testing.assert_frame_equal(first.book.frame, second.book.frame)
    columns = [c for c in OUTCOME_COLUMNS if c not in ("decision_id", "line_id")]
    pd.testing.assert_frame_equal(first.outcomes[columns], second.outcomes[columns])
    assert (first.draws, first.payments) == (second.draws, second.payments)
    other = _run(f"sqlite:///{tmp_path / 'three.db'}", data_dir,
                 SimulationConfig(sellers=60, months=3, seed=4, apply_share=0.5))
    assert not other.outcomes["seller_id"].equals(first.outcomes["seller_id"]) \
        or not other.book.frame.equals(first.book.frame)


def test_a_store_with_sellers_is_refused(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'book.db'}"
    _run(url, data_dir, SimulationConfig(sellers=20, months=1, seed=1))
    with pytest.raises(ValueError, match="already holds 2?[0-9] sellers"):
        _run(url, data_dir, SimulationConfig(sellers=20, months=1, seed=1))


def test_labels_and_backtest_run_on_the_simulated_store(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SME_CREDIT_CLOCK", "simulated")
    out = tmp_path / "simulation"
    assert main(["simulate", "--sellers", "80", "--months", "4", "--seed", "5",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "total" in printed and "90+ rate" in printed
    summary = json.loads((out / "simulation.json").read_text())
    assert summary["days_closed"] == 123
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    # the lines opened in the first month are reviewed in the fourth (every 3 months)
    assert summary["review_every_months"] == 3
    reviews = {k: v for k, v in summary["reviews"].items() if k != "limit_cut"}
    assert int(outcomes["review"].sum()) == sum(reviews.values()) > 0
    assert len(outcomes) == sum(summary["decisions"].values()) + sum(reviews.values())

    labels = tmp_path / "labels.parquet"
    assert main(["labels", "--out", str(labels), "--window-months", "1"]) == 0
    table = pd.read_parquet(labels)
    assert len(table) > 0 and set(table["label"]) <= {0, 1}
    # every labelled decision is one the simulation booked
    assert set(table["seller_id"]) <= set(outcomes.loc[outcomes["booked"], "seller_id"])

    assert main(["backtest", "--labels", str(labels), "--out", str(tmp_path / "bt"),
                 "--panel", str(out / "panel.parquet")]) == 0
    report = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert sum(row["n"] for row in report["by_grade"]) == len(table)


def test_a_riskier_marketplace_is_asked_for_and_a_bad_rate_refused_before_anything_runs(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="base_default_rate must be in"):
        SimulationConfig(sellers=20, months=1, base_default_rate=0.5).check()
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SME_CREDIT_CLOCK", "simulated")
    out = tmp_path / "simulation"
    assert main(["simulate", "--sellers", "20", "--months", "1", "--base-default-rate", "0.7",
                 "--out", str(out)]) == 2
    assert "--base-default-rate: base_default_rate must be in (0, 0.5)" in capsys.readouterr().err
    assert not out.exists()
    # the rate reaches the generator: on the same seed more sellers of a riskier
    # marketplace failed before the book, and its applicants (the survivors) have a higher
    # true PD all the same
    safe = _run(f"sqlite:///{tmp_path / 'safe.db'}", data_dir,
                SimulationConfig(sellers=60, months=1, seed=3))
    risky = _run(f"sqlite:///{tmp_path / 'risky.db'}", data_dir,
                 SimulationConfig(sellers=60, months=1, seed=3, base_default_rate=0.3))
    assert risky.failed_before > 2 * safe.failed_before
    assert risky.outcomes["true_pd"].mean() > 1.25 * safe.outcomes["true_pd"].mean()
