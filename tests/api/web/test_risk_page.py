"""The risk team's page (``/risk/``) through FastAPI's TestClient: who may see it, its
CSRF and no-script rules, "none yet" on an empty store, the book, curves and stability on
a real book, and the champion, challenger and last backtest from a real MLflow store.
The browser test (``test_risk_browser.py``) opens it in headless Chromium."""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from access.principal import Role
from api.web import charts
from api.web.rendering import PAGE_HEADERS
from lending.persistence import SqlUnitOfWork, advance_line, draw, get_line
from lending.products import RequestedPlan
from settings import Settings
from tests.api.web.conftest import PASSWORD, USERS, Market, Site, csrf_of, start_site
from tests.commands import run_command as _run
from tests.mlflow_store import empty_store

SECTIONS = ("book", "vintages", "roll-rates", "stability", "models", "backtest", "shadow")
MODEL_NAME = "risk-page-pd"


def login(client: TestClient, role: Role) -> None:
    """Log in through the (officer) login form, asking to go on to the risk page."""
    page = client.get("/officer/login?next=/risk/")
    answer = client.post("/officer/login", data={
        "username": USERS[role], "password": PASSWORD, "csrf_token": csrf_of(page.text),
        "next": "/risk/"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/risk/"


def section(page: str, name: str) -> str:
    found = re.search(rf'<section class="card" id="{name}".*?</section>', page, re.S)
    assert found, f"no section {name}"
    return found.group(0)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# --------------------------------------------------------------------------- access


def test_a_visitor_without_a_session_is_sent_to_the_login_and_back(site: Site) -> None:
    answer = site.client.get("/risk/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/officer/login?next=/risk/"
    login(site.client, Role.RISK)
    assert site.client.get("/risk/").status_code == 200


@pytest.mark.parametrize("role", [Role.RISK, Role.ADMIN])
def test_risk_and_admin_see_every_section_and_none_yet_on_an_empty_store(
        site: Site, role: Role) -> None:
    login(site.client, role)
    answer = site.client.get("/risk/")
    assert answer.status_code == 200
    for name in SECTIONS:
        part = section(answer.text, name)
        assert "none yet" in text_of(part), name
        assert 'class="message error"' not in part, name
    assert f"{USERS[role]} ({role.value})" in answer.text


@pytest.mark.parametrize("role", [Role.OFFICER, Role.MARKETPLACE])
def test_officers_and_the_marketplace_get_a_403_page(site: Site, role: Role) -> None:
    login(site.client, role)
    answer = site.client.get("/risk/")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "may not see the risk page" in answer.text
    assert 'id="book"' not in answer.text


def test_the_page_forbids_scripts_framing_and_caching(site: Site) -> None:
    login(site.client, Role.RISK)
    answer = site.client.get("/risk/")
    for name, value in PAGE_HEADERS.items():
        assert answer.headers[name] == value
    assert "script-src" not in answer.headers["content-security-policy"]
    assert "<script" not in answer.text and " style=" not in answer.text


def test_logging_out_of_the_risk_page_needs_the_token_and_ends_the_session(site: Site
                                                                           ) -> None:
    login(site.client, Role.RISK)
    page = site.client.get("/risk/").text
    assert 'action="/risk/logout"' in page
    refused = site.client.post("/risk/logout", data={"csrf_token": "x" * 64})
    assert refused.status_code == 403
    assert site.client.get("/risk/", follow_redirects=False).status_code == 200
    answer = site.client.post("/risk/logout", data={"csrf_token": csrf_of(page)},
                              follow_redirects=False)
    assert answer.status_code == 303
    assert site.client.get("/risk/", follow_redirects=False).status_code == 303


def test_a_logout_posted_from_another_site_without_the_token_changes_nothing(
        site: Site) -> None:
    login(site.client, Role.RISK)
    answer = site.client.post("/risk/logout", data={}, follow_redirects=False)
    assert answer.status_code == 403
    assert site.client.get("/risk/", follow_redirects=False).status_code == 200


# --------------------------------------------------------------------------- a book


def _book(site: Site) -> list[str]:
    """Three approved decisions whose lines each draw up to 1,000 on their opening day
    (interest-free for 30 days, or a 6-month term loan), never repaid. Returns the line
    ids."""
    from tests.api.web.conftest import referable_rows

    lines: list[str] = []
    skip = set(referable_rows(site.market, site.app.state.policy))
    for row in range(len(site.market.table)):
        if row in skip:
            continue
        made = site.decide(f"S-{row}", row=row, cash_cycle_known=True)
        if made.outcome == "approve" and made.line_id is not None:
            lines.append(made.line_id)
        if len(lines) == 3:
            break
    assert len(lines) == 3
    uow = lambda: SqlUnitOfWork(site.engine)  # noqa: E731
    for number, line_id in enumerate(lines):
        line = get_line(uow(), line_id)
        draw(uow(), line_id=line_id, amount=min(Decimal("1000.00"), line.available_credit),
             on=line.opened_on, plan=(RequestedPlan.interest_free(30)
                                      if line.product == "purchase_line"
                                      else RequestedPlan.term_loan("annuity", 6)),
             supplier_id="SUP",
             idempotency_key=f"draw-{number}")
    return lines


def test_the_page_shows_the_book_curves_roll_rates_and_the_scores_psi(
        site_on_every_database: Site) -> None:
    site = site_on_every_database
    lines = _book(site)
    uow = lambda: SqlUnitOfWork(site.engine)  # noqa: E731
    last = max(get_line(uow(), line_id).as_of for line_id in lines)
    through = date(last.year + (last.month + 3) // 12, (last.month + 3) % 12 + 1, 1)
    for line_id in lines:
        advance_line(uow(), line_id=line_id, to=through)
    views = [get_line(uow(), line_id) for line_id in lines]
    login(site.client, Role.RISK)
    page = site.client.get("/risk/").text

    book = section(page, "book")
    total = sum((v.outstanding_principal for v in views), Decimal(0))
    assert f"{len(lines)} lines on book, exposure {total:,.2f} CNY" in text_of(book)
    overdue = [v for v in views if v.bucket != "current"]
    assert overdue  # nothing was ever repaid
    totals_row = re.search(r'<tr class="total" data-grade="all grades">.*?</tr>', book, re.S)
    assert totals_row
    for bucket in {v.bucket for v in views}:
        cell = re.search(rf'data-bucket="{re.escape(bucket)}">(.*?)</td>', totals_row.group(0),
                         re.S)
        assert cell
        amount = sum((v.outstanding_principal for v in views if v.bucket == bucket),
                     Decimal(0))
        assert f"{amount:,.2f}" in cell.group(1)

    vintages = section(page, "vintages")
    assert 'id="chart-vintage-30"' in vintages and 'id="chart-vintage-90"' in vintages
    assert "none yet" not in text_of(vintages)
    roll = section(page, "roll-rates")
    assert 'data-from="current"' in roll

    stability = section(page, "stability")
    psi = re.search(r'data-testid="score-psi">([0-9.]+)<', stability)
    assert psi and float(psi.group(1)) >= 0
    assert 'id="chart-score-psi"' in stability
    assert f"{site.market.scorer.model_name} v{site.market.scorer.model_version}" in stability
    assert "<script" not in page


def test_a_big_book_answers_at_once_while_its_curves_are_computed(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import api.web.risk
    import decisions.book
    from decisions.book import CurvesCache

    _book(site)
    released = threading.Event()
    panel_of = decisions.book.line_month_panel

    def slow_panel(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        assert released.wait(timeout=60)  # folding a hundred thousand lines
        return panel_of(*args, **kwargs)

    monkeypatch.setattr(decisions.book, "line_month_panel", slow_panel)
    monkeypatch.setattr(api.web.risk, "CURVES", CurvesCache())
    monkeypatch.setattr(api.web.risk, "CURVES_WAIT_SECONDS", 0.0)
    login(site.client, Role.RISK)
    first = site.client.get("/risk/")
    assert first.status_code == 200
    vintages = section(first.text, "vintages")
    assert 'data-testid="curves-computing"' in vintages
    assert "being computed" in text_of(vintages) and "none yet" not in text_of(vintages)
    assert "none yet" not in text_of(section(first.text, "roll-rates"))
    assert 'data-testid="score-psi"' in first.text  # the rest of the page is there
    released.set()
    monkeypatch.setattr(api.web.risk, "CURVES_WAIT_SECONDS", 30.0)
    later = section(site.client.get("/risk/").text, "vintages")
    assert "curves-computing" not in later


# --------------------------------------------------------------------------- MLflow


@dataclass
class Registry:
    data_dir: Path
    backtest: dict[str, Any]
    run_id: str




@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A real MLflow store: v1 trained and promoted (champion) and backtested, v2 trained
    (challenger), all from the command line."""
    from tests.models.test_out_of_time import make_labels_table

    folder = tmp_path_factory.mktemp("registry")
    data_dir = folder / "data"
    labels = folder / "labels.parquet"
    make_labels_table(n_sellers=300, seed=2).to_parquet(labels)
    settings = Settings(data_dir=data_dir, model_name=MODEL_NAME)
    empty_store(data_dir / "mlflow.db")
    fast = ["--max-candidates", "1", "--cv-folds", "3", "--n-jobs", "1"]
    out = folder / "backtest"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train = ["train", "--features", str(labels), "--label", "label", "--time-column",
                 "decided_at", *fast]
        assert _run(train, settings) == 0
        assert _run(["promote", "--max-calibration-error", "0.5", "--max-psi", "10",
                     "--by", "risk"], settings) == 0
        assert _run(["backtest", "--labels", str(labels), "--out", str(out)], settings) == 0
        assert _run(train, settings) == 0
    client = MlflowClient(settings.resolved_tracking_uri())
    run_id = client.get_model_version(MODEL_NAME, "1").tags["backtest.last_run_id"]
    return Registry(data_dir, json.loads((out / "backtest.json").read_text()), run_id)


@pytest.fixture
def site_with_registry(market: Market, registry: Registry, tmp_path: Path) -> Iterator[Site]:
    yield from start_site(market, f"sqlite:///{tmp_path / 'web.db'}", tmp_path,
                          mlflow_tracking_uri=f"sqlite:///{registry.data_dir / 'mlflow.db'}",
                          model_name=MODEL_NAME)


def test_champion_and_challenger_side_by_side_and_the_last_backtest(
        site_with_registry: Site, registry: Registry) -> None:
    site = site_with_registry
    login(site.client, Role.RISK)
    page = site.client.get("/risk/").text
    models = section(page, "models")
    assert 'data-testid="alias-champion">champion: v1<' in models
    assert 'data-testid="alias-challenger">challenger: v2<' in models
    words = text_of(models)
    assert "promoted" in words and "never put to the gates" in words
    assert "PASS AUC against champion" not in words  # v1 was the first: no comparison
    assert "PASS score PSI" in words  # the gates recorded on v1, one line each

    backtest = section(page, "backtest")
    assert registry.run_id in backtest
    assert f"{MODEL_NAME} v1" in backtest
    auc = re.search(r'data-testid="backtest-auc">([0-9.]+)<', backtest)
    assert auc and float(auc.group(1)) == pytest.approx(float(registry.backtest["auc"]),
                                                        abs=5e-5)
    n = re.search(r'data-testid="backtest-n">([0-9,]+)<', backtest)
    assert n and int(n.group(1).replace(",", "")) == registry.backtest["n"]
    shown = re.findall(r'<tr data-grade="([A-E])">', backtest)
    expected = [row["grade"] for row in registry.backtest["by_grade"] if row["n"]]
    assert shown == expected and shown
    assert "none yet" not in text_of(backtest)


def test_a_registered_model_that_is_not_there_reads_as_none_yet(market: Market,
                                                                 registry: Registry,
                                                                 tmp_path: Path) -> None:
    for site in start_site(market, f"sqlite:///{tmp_path / 'web.db'}", tmp_path,
                           mlflow_tracking_uri=f"sqlite:///{registry.data_dir / 'mlflow.db'}",
                           model_name="no-such-model"):
        login(site.client, Role.RISK)
        page = site.client.get("/risk/").text
        for name in ("models", "backtest"):
            assert "none yet" in text_of(section(page, name))


# --------------------------------------------------------------------------- charts


def test_the_multi_line_chart_draws_one_escaped_series_each_and_breaks_on_gaps() -> None:
    svg = charts.multi_line_chart_svg(
        ["0", "1", "2"], [charts.Series("2026-07", [0.0, 0.5, None]),
                          charts.Series("<b>", [0.1, None, 0.3])],
        chart_id="c", title="t", y_label="share")
    assert svg.count('<g class="series ') == 2
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert svg.count("<polyline") == 1  # the second series has no two adjacent points
    assert svg.count('<circle class="dot"') == 4
    with pytest.raises(ValueError, match="has 1 values for 3 x labels"):
        charts.multi_line_chart_svg(["0", "1", "2"], [charts.Series("x", [1.0])],
                                    chart_id="c", title="t", y_label="y")
    empty = charts.multi_line_chart_svg([], [], chart_id="c", title="t", y_label="y",
                                        empty_message="Nothing here.")
    assert "Nothing here." in empty

