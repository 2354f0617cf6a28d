"""Labels from outcomes: each decision's line over the window after it, by definition;
decisions not yet observed and those without a line left out and counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from decisions import service
from decisions.labels import LABEL_COLUMNS, decisions_frame, label_decisions
from lending.persistence import advance_line, draw, repay
from lending.products import RequestedPlan
from records.snapshots import FeatureSnapshot
from tests.decisions.conftest import NOW

ROOT = Path(__file__).resolve().parents[2]
#: Every line is observed through this business date.
THROUGH = date(2027, 2, 1)


@dataclass(frozen=True)
class Book:
    decision_of: dict[str, str]


def _decide(uow, market, policy, seller_id: str, outcome: str, key: str, now=NOW) -> str:
    """A decision on ``seller_id`` with the features of the market's seller of ``outcome``."""
    row = market.table.loc[market.seller_for[outcome]].to_dict()
    snapshot = FeatureSnapshot(seller_id, str(row["seller_kind"]), market.as_of, row)
    view = service.make_decision(uow(), snapshot=snapshot, scorer=market.scorer,
                                 policy=policy, idempotency_key=key, actor="key:mkt",
                                 now=now, currency="CNY")
    assert view.outcome == outcome
    return view.decision_id


def _line(uow, decision_id: str) -> str:
    line_id = service.get_decision(uow(), decision_id).line_id
    assert line_id is not None
    return line_id


@pytest.fixture
def book(uow, market, policy) -> Book:
    """Four approved sellers (good, 70 days late then cured, never paying, decided too
    recently), one declined, one referred. The good line is booked through THROUGH, so
    the book is observed through it (labels fold every line's events to that day)."""
    decision_of = {name: _decide(uow, market, policy, f"S-{name}", "approve", f"k-{name}")
                   for name in ("good", "late", "bad")}
    decision_of["young"] = _decide(uow, market, policy, "S-young", "approve", "k-young",
                                   now=NOW + timedelta(days=123))
    decision_of["declined"] = _decide(uow, market, policy, "S-declined", "decline", "k-d")
    decision_of["referred"] = _decide(uow, market, policy, "S-referred", "refer", "k-r")
    payments = {"good": (date(2026, 7, 15), "1200.00"), "late": (date(2026, 10, 10), "1200.00")}
    for name in ("good", "late", "bad", "young"):
        line_id = _line(uow, decision_of[name])
        draw(uow(), line_id=line_id, amount="1000.00", on=date(2026, 7, 1),
             plan=RequestedPlan.term_loan("annuity", 6), supplier_id="SUP",
             idempotency_key=f"d-{name}")
        if name in payments:
            on, amount = payments[name]
            repay(uow(), line_id=line_id, amount=amount, on=on, idempotency_key=f"p-{name}")
        if name == "good":
            advance_line(uow(), line_id=line_id, to=THROUGH)
    return Book(decision_of)


def _labels(frame: pd.DataFrame) -> dict[str, int]:
    return {str(seller)[2:]: int(label) for seller, label in zip(frame.seller_id, frame.label,
                                                                 strict=True)}


#: Labels of the good, late and bad sellers' decisions over a 6-month window.
EXPECTED = {
    "default": {"good": 0, "late": 0, "bad": 1},
    "ever-90": {"good": 0, "late": 0, "bad": 1},
    "ever-60": {"good": 0, "late": 1, "bad": 1},
    # written off 180 days past due, at the end of January: after the 6-month window
    "written-off": {"good": 0, "late": 0, "bad": 0},
}


def test_each_definition_labels_the_decisions_observed_for_the_whole_window(engine, book):
    for definition, expected in EXPECTED.items():
        labels = label_decisions(engine, window_months=6, definition=definition)
        assert _labels(labels.frame) == expected, definition
        counts = labels.counts
        assert (counts.decisions, counts.labelled, counts.bad) == (
            6, 3, sum(expected.values()))
        assert (counts.not_yet_observed, counts.declined,
                counts.referred_without_line) == (1, 1, 1)
        assert (counts.as_of, counts.definition) == (THROUGH.isoformat(), definition)


def test_a_labelled_row_and_the_export_carry_the_decision_and_its_features(engine, book,
                                                                           market):
    frame = label_decisions(engine, window_months=6).frame
    assert list(frame.columns[:len(LABEL_COLUMNS)]) == list(LABEL_COLUMNS)
    assert str(frame["decided_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["label"].dtype == "int64"
    row = frame.set_index("seller_id").loc["S-bad"]
    stored = service.get_decision(_uow_of(engine), book.decision_of["bad"])
    assert (row["decision_id"], row["grade"], row["pd"], row["line_id"]) == (
        stored.decision_id, stored.decision.grade, stored.decision.pd, stored.line_id)
    for name in market.table.columns:
        value = stored.features[name]
        assert row[name] == value or (value is None and pd.isna(row[name])), name
    # The decisions export: every decision, its stored fields and features.
    frame = decisions_frame(engine)
    assert len(frame) == 6 and frame["decision_id"].is_unique
    assert set(market.table.columns) <= set(frame.columns)
    declined = frame.set_index("decision_id").loc[book.decision_of["declined"]]
    assert declined["status"] == "declined" and pd.isna(declined["line_id"])
    assert declined["limit"] == "0.00"


def _uow_of(engine):
    from lending.persistence import SqlUnitOfWork

    return SqlUnitOfWork(engine)


def test_a_window_not_yet_over_leaves_a_decision_out_even_when_it_went_bad(engine, book):
    # Observed through the end of December: the 6-month windows (to 1 January) are open.
    labels = label_decisions(engine, window_months=6, as_of=date(2026, 12, 31))
    assert labels.frame.empty
    assert labels.counts.not_yet_observed == 4
    # A 3-month window ends on 1 October: "bad" reached 90+ at the end of October, after
    # it; "young", decided on 1 November, was 90+ already when its window began.
    three = label_decisions(engine, window_months=3)
    assert _labels(three.frame) == {"good": 0, "late": 0, "bad": 0, "young": 1}


def test_a_decision_granting_no_line_is_labelled_from_the_sellers_open_line(
        engine, book, uow, market, policy):
    """A declined review of a seller with a line: its outcome is that line's, unless the
    line was bad already when the decision was made (then it has none of its own)."""
    reviews = {
        # 31 July: the good and the bad line are both current (first instalment 1 August)
        "good": _decide(uow, market, policy, "S-good", "decline", "k-rg",
                        now=NOW + timedelta(days=30)),
        "bad": _decide(uow, market, policy, "S-bad", "decline", "k-rb",
                       now=NOW + timedelta(days=30)),
        # 3 November: the bad line is more than 60 days past due since 1 October
        "bad-again": _decide(uow, market, policy, "S-bad", "refer", "k-rb2",
                             now=NOW + timedelta(days=125)),
    }
    # 60 days past due within three months of 31 July: the bad line, not the good one
    labels = label_decisions(engine, window_months=3, definition="ever-60")
    frame = labels.frame.set_index("decision_id")
    assert frame.loc[reviews["good"], "label"] == 0
    assert frame.loc[reviews["bad"], "label"] == 1
    assert frame.loc[reviews["good"], "line_id"] == _line(uow, book.decision_of["good"])
    assert frame.loc[reviews["bad"], "outcome"] == "decline"
    assert reviews["bad-again"] not in frame.index
    counts = labels.counts
    assert counts.on_open_line == 2
    assert (counts.declined, counts.referred_without_line) == (1, 2)
    # without: only the decisions with a line of their own
    own = label_decisions(engine, window_months=3, definition="ever-60", open_lines=False)
    assert not set(reviews.values()) & set(own.frame["decision_id"])
    assert own.counts.on_open_line == 0
    assert (own.counts.declined, own.counts.referred_without_line) == (3, 2)
    assert len(own.frame) == len(frame) - 2


def test_an_unknown_definition_or_window_is_refused(engine):
    with pytest.raises(ValueError, match="unknown label definition 'ever-30'"):
        label_decisions(engine, definition="ever-30")
    with pytest.raises(ValueError, match="window_months must be"):
        label_decisions(engine, window_months=0)


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SME_CREDIT_DATABASE_URL": url,
                   "SME_CREDIT_CLOCK": "simulated", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())", *args],
        env=environment, capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_the_labels_command_writes_the_table_and_its_counts(database_url, engine, book,
                                                            tmp_path):
    out = tmp_path / "labels.parquet"
    done = _cli(database_url, "labels", "--out", str(out), "--window-months", "6",
                "--definition", "ever-60")
    assert done.returncode == 0, done.stderr
    assert "wrote 3 labelled decisions (2 bad, definition ever-60" in done.stdout
    assert "1 not yet observed for the whole window, 1 declined, 1 referred" in done.stdout
    table = pd.read_parquet(out)
    assert _labels(table) == {"good": 0, "late": 1, "bad": 1}
    pd.testing.assert_frame_equal(
        table, label_decisions(engine, window_months=6, definition="ever-60").frame)
    counts = json.loads(out.with_suffix(".json").read_text())
    assert (counts["definition"], counts["window_months"], counts["labelled"],
            counts["not_yet_observed"], counts["declined"]) == ("ever-60", 6, 3, 1, 1)



@pytest.mark.parametrize(("args", "message"), [
    (["--out", "labels.csv"], "use a name ending in .parquet"),
    (["--as-of", "1 July"], "--as-of is not a date (YYYY-MM-DD): '1 July'"),
    (["--window-months", "0"], "--window-months must be at least 1; got 0"),
])
def test_the_labels_command_names_a_bad_option(tmp_path, monkeypatch, capsys, args,
                                               message):
    from cli import main

    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.chdir(tmp_path)
    assert main(["labels", "--out", "labels.parquet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sme-credit labels: error: ") and message in err
    assert not (tmp_path / "labels.parquet").exists()


def test_a_model_trained_without_credit_history_scores_a_snapshot_with_it(uow, market,
                                                                          policy):
    seller_id = market.seller_for["approve"]
    plain = market.table.loc[seller_id].to_dict()
    with_history = {**plain, "credit_draw_count": 3, "credit_months_on_book": 7.0,
                    "credit_worst_days_past_due_360d": 12.0, "credit_cures_360d": 1}
    assert "credit_draw_count" not in market.scorer.feature_names
    scored = [service.make_decision(
        uow(), snapshot=FeatureSnapshot(seller_id, str(plain["seller_kind"]), market.as_of,
                                        values),
        scorer=market.scorer, policy=policy, idempotency_key=key, actor="key:mkt", now=NOW,
        currency="CNY") for key, values in (("k-plain", plain), ("k-history", with_history))]
    assert scored[0].pd == scored[1].pd and scored[0].grade == scored[1].grade
    stored = service.get_decision(uow(), scored[1].decision_id)
    assert stored.features["credit_months_on_book"] == 7.0


def test_the_latest_applicants_are_each_sellers_latest_decision_read_in_the_database(
        engine, book, uow, market, policy):
    # a second decision on S-good, later than every other: it replaces the first
    again = _decide(uow, market, policy, "S-good", "approve", "k-good-2",
                    now=NOW + timedelta(days=200))
    every = decisions_frame(engine)
    expected = (every.sort_values("created_at", kind="stable")
                .drop_duplicates("seller_id", keep="last"))
    for limit in (1, 3, 100):
        latest = decisions_frame(engine, latest_per_seller=limit)
        assert list(latest["decision_id"]) == list(expected["decision_id"].tail(limit))
        # the same columns (features: those the picked decisions were scored with)
        assert set(latest.columns) <= set(every.columns)
        assert list(latest.columns[:len(LABEL_COLUMNS)]) == list(every.columns[
            :len(LABEL_COLUMNS)])
    assert decisions_frame(engine, latest_per_seller=1)["decision_id"].tolist() == [again]
    with pytest.raises(ValueError, match="at least 1"):
        decisions_frame(engine, latest_per_seller=0)
