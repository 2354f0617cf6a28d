"""The risk team's view of the book (decisions.book): exposure by grade and bucket,
vintage curves and roll rates through the last closed day, the score's stability on the
latest decisions, and champion against challenger on shadow-scored decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from decisions import service
from decisions.book import (
    UNGRADED,
    CurvesCache,
    book_by_grade,
    delinquency_curves,
    recent_decision_features,
    score_stability,
    shadow_comparison,
)
from lending import RepaymentPlan
from lending.persistence import (
    SqlUnitOfWork,
    advance_line,
    draw,
    get_line,
    open_line,
    repay,
)
from lending.persistence.business_day import BusinessDayRecord
from lending.persistence.history import line_month_panel
from lending.products import RequestedPlan
from models.backtest import roll_rates, vintage_curves
from records.snapshots import FeatureSnapshot
from tests.decisions.conftest import NOW

GRADES = ("A", "B", "C", "D", "E")
#: Every line is brought to the end of this business date.
THROUGH = date(2026, 11, 30)
SHADOW = sa.table("shadow_score", sa.column("decision_id"), sa.column("model_name"),
                  sa.column("model_version"), sa.column("pd"), sa.column("points"),
                  sa.column("grade"), sa.column("scored_at"))


def _decide(uow, market, policy, seller_id: str, outcome: str, key: str, now=NOW):
    row = market.table.loc[market.seller_for[outcome]].to_dict()
    snapshot = FeatureSnapshot(seller_id, str(row["seller_kind"]), market.as_of, row)
    view = service.make_decision(uow(), snapshot=snapshot, scorer=market.scorer,
                                 policy=policy, idempotency_key=key, actor="key:mkt",
                                 now=now, currency="CNY")
    assert view.outcome == outcome
    return view


@pytest.fixture
def book(uow, market, policy) -> dict[str, str]:
    """Two approved sellers (one repays, one never does), a declined one, a line opened by
    hand with no decision, and a later decision of the paying seller that keeps its line.
    Every line is advanced through THROUGH. Returns line ids by name."""
    lines = {}
    for name in ("good", "bad"):
        made = _decide(uow, market, policy, f"S-{name}", "approve", f"k-{name}")
        assert made.line_id is not None
        lines[name] = made.line_id
    _decide(uow, market, policy, "S-declined", "decline", "k-declined")
    open_line(uow(), line_id="L-hand", seller_id="S-hand", limit="800.00",
              opened_on=date(2026, 8, 3))
    lines["hand"] = "L-hand"
    for name, on in (("good", date(2026, 7, 1)), ("bad", date(2026, 7, 1)),
                     ("hand", date(2026, 8, 3))):
        plan = (RequestedPlan.term_loan("annuity", 6) if name != "hand"
                else RepaymentPlan.instalments(3))
        draw(uow(), line_id=lines[name], amount="1000.00" if name != "hand" else "500.00",
             on=on, plan=plan, supplier_id="SUP", idempotency_key=f"d-{name}")
    repay(uow(), line_id=lines["good"], amount="400.00", on=date(2026, 7, 20),
          idempotency_key="p-good")
    again = _decide(uow, market, policy, "S-good", "approve", "k-good-again",
                    now=NOW + timedelta(days=30))
    assert again.line_id == lines["good"]  # one line per seller: counted once
    for line_id in lines.values():
        advance_line(uow(), line_id=line_id, to=THROUGH)
    return lines


def test_the_book_adds_up_every_line_once_by_its_latest_grade_and_its_bucket(engine, uow,
                                                                            market, book):
    result = book_by_grade(engine, GRADES)
    assert result.lines == 3
    assert result.currencies == ("CNY",)
    assert result.grades[:5] == GRADES and result.grades[-1] == UNGRADED
    views = {name: get_line(uow(), line_id) for name, line_id in book.items()}
    grade = market.scorer.score(market.table.loc[market.seller_for["approve"]].to_dict()).grade
    for name, view in views.items():
        cell = result.cell(UNGRADED if name == "hand" else grade, view.bucket, "CNY")
        assert cell is not None, (name, view.bucket)
        assert cell.exposure >= view.outstanding_principal
    assert views["bad"].bucket == "90+"  # never paid since the first due date, 1 August
    assert result.exposure("CNY") == sum((v.outstanding_principal for v in views.values()),
                                         Decimal(0))
    assert result.exposure("CNY", bucket="90+") == views["bad"].outstanding_principal
    assert result.exposure("CNY", grade=UNGRADED) == views["hand"].outstanding_principal
    assert result.line_count(grade=grade) == 2
    assert result.exposure("CNY").as_tuple().exponent == -2  # Decimal in the minor unit


def test_an_empty_store_has_an_empty_book_and_no_curves(engine):
    result = book_by_grade(engine, GRADES)
    assert (result.lines, result.cells, result.currencies) == (0, (), ())
    assert result.grades == GRADES
    curves = delinquency_curves(engine, timezone="Asia/Shanghai")
    assert (curves.through, curves.lines, curves.month_ends) == (None, 0, 0)
    assert curves.curves.empty and int(curves.roll_rates["lines"].sum()) == 0
    assert recent_decision_features(engine).empty
    assert shadow_comparison(engine, GRADES) is None


def test_vintage_curves_and_roll_rates_run_through_the_last_closed_day(engine, book):
    # No end of day ran: the lines' booked date stands in for the last closed day.
    curves = delinquency_curves(engine, timezone="Asia/Shanghai")
    assert curves.through == THROUGH and curves.lines == 3
    panel = line_month_panel(engine, through=THROUGH)
    assert curves.curves.equals(vintage_curves(panel))
    assert curves.roll_rates.equals(roll_rates(panel))
    july = curves.curves[curves.curves.vintage == "2026-07"].set_index("months_on_book")
    # Two lines opened in July (good and bad); by November (4 months on book) the bad one
    # has been 90+ and the good one, which paid, never 30+.
    assert list(july.index) == [0, 1, 2, 3, 4]
    assert july.loc[0, "ever_30_rate"] == 0.0 and july.loc[4, "ever_90"] == 1
    assert july.loc[4, "ever_90_rate"] == 0.5
    assert curves.month_ends == 5

    # Once end of day closed an earlier day, the figures stop there.
    with Session(engine) as session:
        session.add(BusinessDayRecord(last_closed=date(2026, 9, 30),
                                      updated_at=datetime.now(UTC)))
        session.commit()
    closed = delinquency_curves(engine, timezone="Asia/Shanghai")
    assert closed.through == date(2026, 9, 30) and closed.month_ends == 3
    assert closed.curves["months_on_book"].max() == 2


def test_the_curves_cache_computes_once_per_closed_day_in_the_background(engine, book):
    cache = CurvesCache()
    with Session(engine) as session:
        session.add(BusinessDayRecord(last_closed=date(2026, 9, 30),
                                      updated_at=datetime.now(UTC)))
        session.commit()
    first = cache.figures(engine, timezone="Asia/Shanghai", wait=60)
    assert first.current and not first.computing and first.error is None
    assert first.curves is not None and first.curves.through == date(2026, 9, 30)
    assert cache.figures(engine, timezone="Asia/Shanghai", wait=0).curves is first.curves
    # A line opened since cannot change a closed month end: the same figures.
    open_line(SqlUnitOfWork(engine), line_id="L-new", seller_id="S-new", limit="100.00",
              opened_on=date(2026, 11, 2))
    assert cache.figures(engine, timezone="Asia/Shanghai", wait=0).curves is first.curves
    # End of day closed October: until the new figures are done, the old ones are shown.
    with engine.begin() as connection:
        connection.execute(sa.update(BusinessDayRecord).values(last_closed=date(2026, 10, 31)))
    waiting = cache.figures(engine, timezone="Asia/Shanghai", wait=0)
    assert waiting.curves is first.curves or waiting.current
    done = cache.figures(engine, timezone="Asia/Shanghai", wait=60)
    assert done.current and done.curves is not None
    assert done.curves.through == date(2026, 10, 31) and done.curves.month_ends == 4


def test_a_failed_computation_is_reported_not_raised(engine, book, monkeypatch):
    import decisions.book

    def broken(*args, **kwargs):
        raise RuntimeError("the ledger cannot be read")

    monkeypatch.setattr(decisions.book, "line_month_panel", broken)
    status = CurvesCache().figures(engine, timezone="Asia/Shanghai", wait=60)
    assert status.curves is None and not status.current and not status.computing
    assert status.error == "RuntimeError: the ledger cannot be read"


def test_the_score_is_monitored_on_the_latest_decisions_against_the_training_sample(
        engine, market, book):
    features = recent_decision_features(engine)
    assert len(features) == 4  # good, bad, declined, good again
    assert set(market.scorer.feature_names) <= set(features.columns)
    assert len(recent_decision_features(engine, limit=2)) == 2
    report = score_stability(engine, market.scorer)
    assert report is not None
    assert report.n_current == 4 and report.reference == "training sample"
    assert report.model_version == "7"
    assert report.score.psi > 0 and report.warnings  # four rows: mostly noise, and said
    with pytest.raises(ValueError, match="limit must be > 0"):
        recent_decision_features(engine, limit=0)


def test_no_decision_means_no_stability_report(engine, market):
    assert score_stability(engine, market.scorer) is None


def test_shadow_scores_compare_champion_and_challenger_on_the_same_decisions(
        engine, uow, market, policy, book):
    assert shadow_comparison(engine, GRADES) is None  # the table is there, but empty
    with engine.connect() as connection:
        decisions = connection.execute(sa.text(
            "select id, grade, pd from credit_decision order by created_at")).all()
    assert len(decisions) == 4
    shadow_grades = ["A", "E", "A", "B"]
    with engine.begin() as connection:
        for (decision_id, _, _), grade, pd_ in zip(decisions, shadow_grades,
                                                   (0.01, 0.4, 0.02, 0.05), strict=True):
            connection.execute(sa.insert(SHADOW).values(
                decision_id=decision_id, model_name="market-pd", model_version="8",
                pd=pd_, points=600.0, grade=grade, scored_at=datetime.now(UTC)))
    found = shadow_comparison(engine, GRADES)
    assert found is not None
    assert found.challenger == "market-pd v8" and found.n == 4
    assert found.challenger_mean_pd == pytest.approx((0.01 + 0.4 + 0.02 + 0.05) / 4)
    assert found.champion_mean_pd == pytest.approx(sum(d.pd for d in decisions) / 4)
    assert [found.challenger_count(g) for g in GRADES] == [2, 1, 0, 0, 1]
    assert sum(found.champion_count(g) for g in found.grades) == 4
    assert found.same_grade == sum(1 for d, g in zip(decisions, shadow_grades, strict=True)
                                   if d.grade == g)

