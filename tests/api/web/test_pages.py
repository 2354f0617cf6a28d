"""The officer pages through FastAPI's TestClient: access, queue, case, actions, search,
escaping. The browser test (``test_browser.py``) covers the same path in Chromium."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from access.principal import Role
from api.web.rendering import PAGE_HEADERS
from decisions.service import DecisionAudit, get_decision
from lending.persistence import SqlUnitOfWork, get_line
from tests.api.web.conftest import HOSTILE_SELLER, PASSWORD, USERS, Site, csrf_of


def audit_of(site: Site, decision_id: str) -> DecisionAudit:
    return get_decision(SqlUnitOfWork(site.engine), decision_id)


def act(site: Site, decision_id: str, token: str, **fields: str) -> tuple[int, str]:
    answer = site.client.post(f"/officer/cases/{decision_id}/actions",
                              data={"csrf_token": token, **fields}, follow_redirects=True)
    return answer.status_code, answer.text


def messages(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="message \w+"[^>]*>(.*?)</p>',
                                                 page, re.S)]


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/officer/", "/officer/decisions?q=x",
                                  "/officer/cases/DEC-1"])
def test_a_visitor_without_a_session_is_sent_to_the_login_page(site: Site, path: str) -> None:
    answer = site.client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/officer/login?next=/officer/")


def test_an_action_posted_without_a_session_changes_nothing(site: Site) -> None:
    case = site.referred("S-1")
    answer = site.client.post(f"/officer/cases/{case.decision_id}/actions",
                              data={"action": "decline", "reason": "no"},
                              follow_redirects=False)
    assert answer.status_code == 303 and "/officer/login" in answer.headers["location"]
    assert audit_of(site, case.decision_id).status == "referred"


def test_the_login_sets_an_httponly_samesite_session_cookie_and_returns_to_the_page(
        site: Site) -> None:
    page = site.client.get("/officer/login?next=/officer/decisions")
    answer = site.client.post("/officer/login", data={
        "username": "olga", "password": PASSWORD, "csrf_token": csrf_of(page.text),
        "next": "/officer/decisions"}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/officer/decisions"
    cookie = next(c for c in answer.headers.get_list("set-cookie")
                  if c.startswith("sme_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert site.client.get("/officer/decisions").status_code == 200


def test_a_wrong_password_is_refused_with_a_message_and_no_session(site: Site) -> None:
    page = site.client.get("/officer/login")
    answer = site.client.post("/officer/login", data={
        "username": "olga", "password": "not the password", "csrf_token": csrf_of(page.text)},
        follow_redirects=False)
    assert answer.status_code == 401
    assert messages(answer.text) == ["Wrong user name or password."]
    assert "sme_session" not in site.client.cookies
    assert site.client.get("/officer/", follow_redirects=False).status_code == 303


def test_a_login_form_without_its_token_is_refused(site: Site) -> None:
    site.client.get("/officer/login")
    answer = site.client.post("/officer/login", data={
        "username": "olga", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False)
    assert answer.status_code == 403
    assert "sme_session" not in site.client.cookies


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/officer/",
                                    "/v1/decisions", "/officer/\\evil"])
def test_the_login_never_sends_the_officer_off_the_officer_pages(site: Site,
                                                                 target: str) -> None:
    page = site.client.get("/officer/login")
    answer = site.client.post("/officer/login", data={
        "username": "olga", "password": PASSWORD, "csrf_token": csrf_of(page.text),
        "next": target}, follow_redirects=False)
    assert answer.headers["location"] == "/officer/"


@pytest.mark.parametrize("role", [Role.RISK, Role.MARKETPLACE])
def test_roles_without_case_review_get_a_403_page(site: Site, role: Role) -> None:
    page = site.client.get("/officer/login")
    site.client.post("/officer/login", data={
        "username": USERS[role], "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    answer = site.client.get("/officer/")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "may not review credit cases" in answer.text
    # They can still log in as someone else.
    assert 'href="/officer/login"' in answer.text
    assert site.client.get("/officer/login").status_code == 200


def test_an_admin_may_use_the_officer_pages(site: Site) -> None:
    site.login(Role.ADMIN)
    assert site.client.get("/officer/").status_code == 200


def test_logging_out_needs_the_token_and_ends_the_session(site: Site) -> None:
    token = site.login()
    refused = site.client.post("/officer/logout", data={"csrf_token": "x" * 64})
    assert refused.status_code == 403
    assert site.client.get("/officer/", follow_redirects=False).status_code == 200
    answer = site.client.post("/officer/logout", data={"csrf_token": token},
                              follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/officer/login"
    assert site.client.get("/officer/", follow_redirects=False).status_code == 303


def test_pages_forbid_scripts_framing_and_caching(site: Site) -> None:
    site.login()
    answer = site.client.get("/officer/")
    for name, value in PAGE_HEADERS.items():
        assert answer.headers[name] == value
    assert "script-src" not in answer.headers["content-security-policy"]  # none at all
    assert "<script" not in answer.text


def test_the_stylesheet_is_served_from_the_app_itself(site: Site) -> None:
    answer = site.client.get("/officer/static/officer.css")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/css")
    assert "http" not in answer.text  # no external resource


# --------------------------------------------------------------------------- queue


def queue_sellers(page: str) -> list[str]:
    body = page.split('data-testid="queue"', 1)[1] if 'data-testid="queue"' in page else ""
    return [html.unescape(s) for s in re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>",
                                                  body)]


def test_the_queue_lists_referred_cases_only_oldest_first(site: Site) -> None:
    site.referred("S-new", days_ago=0.1)
    site.referred("S-old", days_ago=9)
    site.referred("S-mid", days_ago=3)
    site.decide("S-approved", row=int(site.market.table["gmv_365d"].to_numpy().argmax()),
                cash_cycle_known=True)
    site.login()
    page = site.client.get("/officer/").text
    assert queue_sellers(page) == ["S-old", "S-mid", "S-new"]
    assert "9 days" in page and "3 days" in page


def test_the_queue_filters_by_days_waiting_and_grade(site: Site) -> None:
    old = site.referred("S-old", days_ago=9.5)
    site.referred("S-mid", days_ago=3.5)
    site.referred("S-new", days_ago=0.5)
    site.login()
    assert queue_sellers(site.client.get("/officer/?min_days=3").text) == ["S-old", "S-mid"]
    assert queue_sellers(site.client.get("/officer/?max_days=3").text) == ["S-mid", "S-new"]
    assert queue_sellers(site.client.get("/officer/?min_days=3&max_days=3").text) == ["S-mid"]
    grade = old.grade
    other = next(g for g in "ABCDE" if g != grade)
    assert queue_sellers(site.client.get(f"/officer/?grade={grade}").text) == [
        "S-old", "S-mid", "S-new"]
    assert queue_sellers(site.client.get(f"/officer/?grade={other}").text) == []


@pytest.mark.parametrize(("query", "message"), [
    ("grade=Z", "Grade must be one of A, B, C, D, E."),
    ("min_days=-1", "Waiting at least must be a whole number of days from 0 to 3650."),
    ("max_days=soon", "Waiting at most must be a whole number of days from 0 to 3650."),
    ("min_days=5&max_days=2", "'Waiting at least' must not be more than 'at most'."),
])
def test_bad_filters_are_explained_on_the_page(site: Site, query: str, message: str) -> None:
    site.login()
    answer = site.client.get(f"/officer/?{query}")
    assert answer.status_code == 400
    assert messages(answer.text) == [message]


# --------------------------------------------------------------------------- case


def test_the_case_page_shows_score_pd_grade_limit_reasons_and_the_waterfall(
        site: Site) -> None:
    case = site.referred("S-1")
    audit = audit_of(site, case.decision_id)
    site.login()
    page = site.client.get(f"/officer/cases/{case.decision_id}").text
    assert f"{case.points:.0f} points" in page
    assert f">{case.grade}<" in page
    assert f"{case.limit:,.2f} CNY" in page
    assert "the seller has no payout history to measure its cash cycle" in page
    for reason in case.reasons:
        assert html.escape(reason.text_en) in page
    waterfall = page.split('id="chart-waterfall"', 1)[1].split("</svg>", 1)[0]
    assert waterfall.count('class="step ') == len(audit.family_points)
    final = re.search(r'class="total final" data-value="([-\d.]+)"', waterfall)
    baseline = re.search(r'class="total baseline" data-value="([-\d.]+)"', waterfall)
    assert final and baseline
    # The chart runs from the stored baseline to the decision's points.
    assert float(baseline.group(1)) == pytest.approx(audit.baseline_points, abs=0.01)
    assert float(final.group(1)) == pytest.approx(case.points, abs=0.01)


def _items(page: str, testid: str) -> list[str]:
    """The list items of the page's list ``data-testid=testid``, as HTML."""
    found = re.search(rf'data-testid="{testid}">(.*?)</[ou]l>', page, re.S)
    assert found, f"the page has no list {testid!r}"
    return re.findall(r"<li\b[^>]*>(.*?)</li>", found.group(1), re.S)


def test_the_case_page_tells_the_principal_reasons_policy_first_in_english_and_chinese(
        site: Site) -> None:
    from tests.api.web.conftest import referable_rows

    # The best-scoring referral whose model names an adverse factor of its own (the very
    # best scores may have none beyond what the policy already says).
    case = next(made for number, row in enumerate(
        referable_rows(site.market, site.app.state.policy), start=1)
        if (made := site.decide(f"S-{number}", row=row)).outcome == "refer"
        and any(reason.source == "model" for reason in made.principal_reasons))
    told = case.principal_reasons
    assert 1 <= len(told) <= 4 and told[0].code == "CASH_CYCLE_UNKNOWN"
    assert {r.source for r in told} == {"policy", "model"}
    site.login()
    page = site.client.get(f"/officer/cases/{case.decision_id}").text

    items = _items(page, "principal-reasons")
    sources = re.findall(r'data-testid="principal-reason" data-source="(\w+)"', page)
    assert sources == [r.source for r in told]  # the policy's rules first, then the model's
    assert len(items) == len(told)
    for item, reason in zip(items, told, strict=True):
        assert html.escape(reason.text_en) in item and reason.code in item
        assert f'<span lang="zh-Hans">{html.escape(reason.text_zh)}</span>' in item
    assert "The seller has no payout history" in items[0]
    assert "商户尚无回款记录，无法计算资金周转周期" in items[0]

    # Every policy rule, in both languages.
    policy = _items(page, "policy-reasons")
    assert len(policy) == len(case.policy_reasons)
    for item, rule in zip(policy, case.policy_reasons, strict=True):
        assert rule.message_zh and html.escape(rule.message) in item
        assert f'<span lang="zh-Hans">{html.escape(rule.message_zh)}</span>' in item


def test_an_unknown_case_is_a_404_page(site: Site) -> None:
    site.login()
    answer = site.client.get("/officer/cases/DEC-missing")
    assert answer.status_code == 404 and "No such case" in answer.text


# --------------------------------------------------------------------------- actions


def test_an_action_with_a_wrong_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    case = site.referred("S-1")
    site.login()
    status, page = act(site, case.decision_id, "f" * 64, action="approve",
                       reason="looks fine")
    assert status == 403
    assert "security token did not match" in messages(page)[0]
    audit = audit_of(site, case.decision_id)
    assert (audit.status, audit.version, audit.actions) == ("referred", 1, ())


def test_a_csrf_token_of_another_session_is_refused(site: Site) -> None:
    case = site.referred("S-1")
    other = TestClient(site.app)
    foreign_token = site.login(client=other)
    site.login()
    status, _ = act(site, case.decision_id, foreign_token, action="decline", reason="x")
    assert status == 403
    assert audit_of(site, case.decision_id).status == "referred"


@pytest.mark.parametrize("reason", ["", "   \n  "])
def test_a_blank_reason_is_refused_and_changes_nothing(site: Site, reason: str) -> None:
    case = site.referred("S-1")
    token = site.login()
    status, page = act(site, case.decision_id, token, action="change_limit",
                       new_limit="3000.00", reason=reason, version="1")
    assert status == 422
    assert messages(page) == ["An officer action needs a written reason. Nothing was "
                              "changed."]
    audit = audit_of(site, case.decision_id)
    assert (audit.limit, audit.version, audit.actions) == (case.limit, 1, ())
    # The officer's typed limit is kept in the form to correct the reason.
    assert 'name="new_limit" inputmode="decimal" required maxlength="30" value="3000.00"' in page


@pytest.mark.parametrize(("limit", "expected"), [
    ("1000.00", "The limit must be between 2000.00 and 100000.00 CNY"),
    ("250000", "The limit must be between 2000.00 and 100000.00 CNY"),
    ("12.345", "Limit 12.345 is finer than the CNY minor unit 0.01."),
    ("lots", "Limit"),
])
def test_a_limit_out_of_range_or_not_an_amount_is_refused(site: Site, limit: str,
                                                          expected: str) -> None:
    case = site.referred("S-1")
    token = site.login()
    status, page = act(site, case.decision_id, token, action="change_limit",
                       new_limit=limit, reason="seasonal stock", version="1")
    assert status == 422
    assert expected in messages(page)[0] and "Nothing was changed." in messages(page)[0]
    assert audit_of(site, case.decision_id).actions == ()


def test_approving_opens_the_line_and_the_audit_shows_who_before_after_and_why(
        site: Site) -> None:
    case = site.referred("S-1")
    token = site.login()
    status, page = act(site, case.decision_id, token, action="change_limit",
                       new_limit="4,000.00", reason="cap exposure for now", version="1")
    assert status == 200 and messages(page) == ["The limit is changed."]
    status, page = act(site, case.decision_id, token, action="approve",
                       reason="verified trading history", version="2")
    assert status == 200 and messages(page) == ["The case is approved."]
    audit = audit_of(site, case.decision_id)
    assert audit.status == "approved" and audit.limit == Decimal("4000.00")
    assert audit.line_id is not None
    assert get_line(SqlUnitOfWork(site.engine), audit.line_id).limit == Decimal("4000.00")
    rows = re.findall(r'<tr data-testid="audit-line">(.*?)</tr>', page, re.S)
    cells = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
             for row in rows]
    assert [c[1:] for c in cells] == [
        ["user:olga", "change limit", f"referred, limit {case.limit:,.2f} CNY",
         "referred, limit 4,000.00 CNY", "cap exposure for now"],
        ["user:olga", "approve", "referred, limit 4,000.00 CNY",
         f"approved, limit 4,000.00 CNY, line {audit.line_id}", "verified trading history"],
    ]
    # The approved case shows its credit line, and only the limit can still change.
    assert f"{audit.line_id} (open)" in page
    assert 'data-testid="limit-form"' in page and 'data-testid="approve-form"' not in page


def test_a_case_already_decided_cannot_be_decided_again(site: Site) -> None:
    case = site.referred("S-1")
    token = site.login()
    assert act(site, case.decision_id, token, action="decline", reason="thin file",
               version="1")[0] == 200
    # A second officer's page, loaded before the decline, still shows the forms.
    status, page = act(site, case.decision_id, token, action="approve", reason="fine")
    assert status == 409
    assert "already declined by user:olga" in messages(page)[0]
    audit = audit_of(site, case.decision_id)
    assert (audit.status, len(audit.actions)) == ("declined", 1)
    assert "no further action is possible" in page


def test_an_action_from_a_page_that_is_out_of_date_is_refused(site: Site) -> None:
    case = site.referred("S-1")
    token = site.login()
    act(site, case.decision_id, token, action="change_limit", new_limit="3000",
        reason="first look", version="1")
    status, page = act(site, case.decision_id, token, action="approve", reason="ok",
                       version="1")
    assert status == 409 and "changed since version 1" in messages(page)[0]
    assert audit_of(site, case.decision_id).status == "referred"


# --------------------------------------------------------------------------- search


def decision_ids(page: str) -> set[str]:
    return set(re.findall(r'href="/officer/cases/(DEC-[0-9a-f]+)"', page))


def test_past_decisions_are_found_by_seller_decision_id_outcome_and_grade(site: Site) -> None:
    first = site.referred("SHOP-ALPHA")
    second = site.referred("SHOP-BETA")
    approved = site.decide("FACTORY-GAMMA", cash_cycle_known=True,
                           row=int(site.market.table["gmv_365d"].to_numpy().argmax()))
    site.login()
    everyone = {first.decision_id, second.decision_id, approved.decision_id}
    assert decision_ids(site.client.get("/officer/decisions").text) == everyone
    assert decision_ids(site.client.get("/officer/decisions?q=shop-").text) == {
        first.decision_id, second.decision_id}
    assert decision_ids(site.client.get(
        f"/officer/decisions?q={second.decision_id[-8:]}").text) == {second.decision_id}
    assert decision_ids(site.client.get("/officer/decisions?q=referred").text) == {
        first.decision_id, second.decision_id}
    assert decision_ids(site.client.get(
        f"/officer/decisions?q={approved.outcome}").text) == {
        d.decision_id for d in (first, second, approved) if d.outcome == approved.outcome}
    assert decision_ids(site.client.get(
        f"/officer/decisions?q={first.grade.lower()}").text) == {
        d.decision_id for d in (first, second, approved) if d.grade == first.grade}
    assert "No decision matches" in site.client.get("/officer/decisions?q=nobody").text


# --------------------------------------------------------------------------- escaping


def test_a_hostile_seller_id_and_reason_are_shown_as_text_everywhere(site: Site) -> None:
    case = site.referred(HOSTILE_SELLER)
    token = site.login()
    act(site, case.decision_id, token, action="change_limit", new_limit="3000",
        reason='<img src=x onerror="alert(2)">', version="1")
    pages = [site.client.get("/officer/").text,
             site.client.get("/officer/decisions?q=<script>").text,
             site.client.get(f"/officer/cases/{case.decision_id}").text]
    for page in pages:
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in pages[2]
    assert decision_ids(pages[1]) == {case.decision_id}


def test_pages_show_no_secret(site: Site) -> None:
    case = site.referred("S-1")
    site.login()
    session = site.client.cookies.get("sme_session")
    assert session
    for path in ("/officer/", "/officer/decisions", f"/officer/cases/{case.decision_id}"):
        page = site.client.get(path).text
        assert session not in page and "argon2" not in page and PASSWORD not in page


# --------------------------------------------------------------------------- databases


def test_an_officer_overrides_a_case_on_sqlite_and_postgresql(
        site_on_every_database: Site) -> None:
    site = site_on_every_database
    case = site.referred("S-1", days_ago=1)
    token = site.login()
    assert queue_sellers(site.client.get("/officer/").text) == ["S-1"]
    status, page = act(site, case.decision_id, token, action="approve",
                       new_limit="", reason="known seller", version="1")
    assert status == 200 and "known seller" in page
    assert audit_of(site, case.decision_id).status == "approved"
    assert queue_sellers(site.client.get("/officer/").text) == []


# --------------------------------------------------------------------------- credit


def test_the_case_shows_the_sellers_credit_line_with_its_draws_and_days_past_due(
        site: Site) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from lending.lines import RepaymentPlan
    from lending.persistence import draw, open_line

    today = datetime.now(ZoneInfo(site.app.state.settings.timezone)).date()
    open_line(SqlUnitOfWork(site.engine), line_id="L-EARLIER", seller_id="S-9",
              limit="8000.00", opened_on=today - timedelta(days=60))
    draw(SqlUnitOfWork(site.engine), line_id="L-EARLIER", amount="1500.00",
         on=today - timedelta(days=50), plan=RepaymentPlan.bullet(30), supplier_id="SUP-1",
         idempotency_key="d-1", draw_id="D-1")
    case = site.referred("S-9")
    site.login()
    page = site.client.get(f"/officer/cases/{case.decision_id}").text
    credit = page.split('data-testid="credit"', 1)[1].split("</dl>", 1)[0]
    # 50 days since the draw, due after 30: 20 days past due, and the line frozen.
    assert "L-EARLIER (frozen)" in credit
    assert "<dt>Limit</dt><dd>8,000.00 CNY</dd>" in credit
    assert "<dt>Outstanding</dt><dd>1,500.00 CNY</dd>" in credit
    assert "<dt>Days past due</dt><dd>20 (1-30)</dd>" in credit
    draws = re.findall(r"<tr><td class=\"mono\">D-1</td><td>([^<]+)</td>"
                       r"<td class=\"num\">([^<]+)</td><td class=\"num\">([^<]+)</td>"
                       r"<td class=\"num\">(\d+)</td>", page)
    assert draws == [((today - timedelta(days=50)).isoformat(), "1,500.00", "1,500.00", "20")]
    assert 'id="chart-draws"' in page


def test_the_case_shows_each_draws_schedule_with_what_is_unpaid_and_past_due(
        site: Site) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from lending import add_months
    from lending.lines import RepaymentPlan
    from lending.persistence import draw, open_line

    today = datetime.now(ZoneInfo(site.app.state.settings.timezone)).date()
    drawn = today - timedelta(days=45)
    open_line(SqlUnitOfWork(site.engine), line_id="L-SCHED", seller_id="S-8",
              limit="8000.00", opened_on=drawn)
    draw(SqlUnitOfWork(site.engine), line_id="L-SCHED", amount="300.00", on=drawn,
         plan=RepaymentPlan.instalments(3), supplier_id="SUP-1", idempotency_key="d-1",
         draw_id="D-7")
    case = site.referred("S-8")
    site.login()
    page = site.client.get(f"/officer/cases/{case.decision_id}").text

    first_due = add_months(drawn, 1)
    credit = page.split('data-testid="credit"', 1)[1].split("</dl>", 1)[0]
    assert f"<dt>Days past due</dt><dd>{(today - first_due).days} (1-30)</dd>" in credit
    schedule = page.split('data-testid="schedule"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-testid="instalment"><td class="mono">D-7</td>'
                      r'<td class="num">(\d)</td><td>([^<]+)</td>'
                      + r'<td class="num">([^<]+)</td>' * 5 + r"<td>([^<]+)</td>", schedule)
    assert [(number, due, principal, total, state)
            for number, due, principal, _, _, total, _, state in rows] == [
        ("1", first_due.isoformat(), "100.00", "100.00", "past due"),
        ("2", add_months(drawn, 2).isoformat(), "100.00", "100.00", "upcoming"),
        ("3", add_months(drawn, 3).isoformat(), "100.00", "100.00", "upcoming")]
    # The past-due instalment is unpaid with its penalty; the others owe their principal.
    assert Decimal(rows[0][6].replace(",", "")) > Decimal("100.00")
    assert [row[6] for row in rows[1:]] == ["100.00", "100.00"]


def test_a_seller_without_a_line_says_so(site: Site) -> None:
    case = site.referred("S-1")
    site.login()
    assert "The seller has no credit line." in site.client.get(
        f"/officer/cases/{case.decision_id}").text


# --------------------------------------------------------------------------- trade


def test_the_case_charts_the_sellers_trade_as_the_decision_saw_it(site: Site) -> None:
    from records.history import seller_history
    from tests.api.web.conftest import referable_rows

    row = referable_rows(site.market, site.app.state.policy)[0]
    seller_id = site.load_trade(row)
    case = site.decide(seller_id, row=row)
    assert case.outcome == "refer"
    history = seller_history(site.engine, seller_id, as_of=case.snapshot_as_of,
                             timezone=site.app.state.settings.timezone)
    site.login()
    page = site.client.get(f"/officer/cases/{case.decision_id}").text

    def chart(chart_id: str) -> str:
        return page.split(f'id="{chart_id}"', 1)[1].split("</svg>", 1)[0]

    gmv = [float(v) for v in re.findall(r'<rect class="bar"[^>]*data-value="([-\d.]+)"',
                                        chart("chart-gmv"))]
    assert gmv == pytest.approx([float(m.gmv) for m in history.months], abs=0.01)
    assert len(gmv) == 24 and sum(gmv) > 0
    rates = [float(v) for v in re.findall(r'<circle class="dot"[^>]*data-value="([-\d.]+)"',
                                          chart("chart-refunds"))]
    assert rates == pytest.approx([m.refund_rate for m in history.months
                                   if m.refund_rate is not None], abs=0.01)
    buyers = chart("chart-buyers")
    assert f"Buyer {history.top_buyers[0].buyer_id}" in buyers
    shares = [float(v) for v in re.findall(r'data-value="([-\d.]+)"', buyers)]
    assert sum(shares) == pytest.approx(1.0, abs=0.02)  # top buyers and all the others
    assert f"{history.buyer_count} buyers in all" in page
    last = history.months[-1]
    assert (f"<tr><td>{last.month}</td><td class=\"num\">{last.gmv:,.2f}</td>"
            f"<td class=\"num\">{last.orders}</td>") in page


def test_a_seller_without_stored_records_says_so(site: Site) -> None:
    case = site.referred("S-unregistered")
    site.login()
    assert "No trade records of this seller are stored." in site.client.get(
        f"/officer/cases/{case.decision_id}").text


def test_a_reason_longer_than_the_audit_keeps_is_refused_with_the_limit(site: Site) -> None:
    case = site.referred("S-1")
    token = site.login()
    status, page = act(site, case.decision_id, token, action="decline", reason="x" * 2001,
                       version="1")
    assert status == 422
    assert messages(page) == ["The reason must be at most 2000 characters; got 2001. "
                              "Nothing was changed."]
    assert audit_of(site, case.decision_id).actions == ()


def test_an_overlong_search_still_answers_a_page(site: Site) -> None:
    site.login()
    answer = site.client.get("/officer/decisions", params={"q": "S" * 5000})
    assert answer.status_code == 200 and "No decision matches" in answer.text
