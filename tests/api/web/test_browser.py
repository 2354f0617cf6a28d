"""End to end in headless Chromium: an officer reviews a referred case and overrides it.

The real app is served by uvicorn on a free loopback port (SQLite in ``tmp_path``, a
small trained model); Playwright drives Debian's ``chromium`` (installed by
``scripts/ensure-chromium.sh``; Playwright's own browser downloads are not used). Every
console message, page error, failed request and dialog is collected: the pages must
produce none.
"""

from __future__ import annotations

import re

from access.principal import Role
from tests.api.web.browser import BrowserLog, Served, chromium_page, log_in
from tests.api.web.conftest import HOSTILE_SELLER, referable_rows


def test_an_officer_logs_in_reviews_a_referred_case_and_overrides_its_limit(
        served: Served) -> None:
    from playwright.sync_api import expect

    row = referable_rows(served.site.market, served.app.state.policy)[0]
    seller_id = served.site.load_trade(row)
    case = served.site.decide(seller_id, row=row, days_ago=2)
    assert case.outcome == "refer"
    served.site.referred(HOSTILE_SELLER, days_ago=1)
    log = BrowserLog()
    with chromium_page(log) as page:
        # Not logged in: the queue sends the officer to the login form.
        page.goto(f"{served.base_url}/officer/")
        log_in(page, Role.OFFICER, next_path="/officer/")

        # The queue lists both referred cases, oldest first; the hostile id is text.
        queue = page.get_by_test_id("queue")
        expect(queue.locator("tbody tr")).to_have_count(2)
        expect(queue.locator("tbody tr").first).to_contain_text(seller_id)
        expect(queue.locator("tbody tr").nth(1)).to_contain_text(HOSTILE_SELLER)
        queue.locator("tbody tr").first.get_by_test_id("open-case").click()

        # The case: score, reasons and the waterfall chart with one bar per family.
        expect(page).to_have_url(re.compile(re.escape(case.decision_id)))
        expect(page.get_by_test_id("seller-id")).to_have_text(seller_id)
        chart = page.locator("svg#chart-waterfall")
        expect(chart).to_be_visible()
        bars = chart.locator("g.step rect.bar")
        assert bars.count() >= 3
        widths = [float(bars.nth(k).get_attribute("width") or "nan")
                  for k in range(bars.count())]
        assert all(width >= 0 for width in widths) and max(widths) > 0
        expect(chart.locator("title")).to_have_text("Score breakdown")
        # What the applicant is told: the policy's rule first, in English and Chinese.
        told = page.get_by_test_id("principal-reason")
        expect(told).to_have_count(len(case.principal_reasons))
        expect(told.first).to_have_attribute("data-source", "policy")
        expect(told.first).to_contain_text(case.principal_reasons[0].text_en)
        expect(told.first.locator('span[lang="zh-Hans"]')).to_have_text(
            case.principal_reasons[0].text_zh)
        expect(told.first.locator('span[lang="zh-Hans"]')).to_be_visible()
        # The trade history charts are drawn too.
        for chart_id in ("chart-gmv", "chart-refunds", "chart-buyers"):
            expect(page.locator(f"svg#{chart_id}")).to_be_visible()
        assert page.locator("svg#chart-gmv rect.bar").count() == 24

        # Override the limit with a written reason.
        form = page.get_by_test_id("limit-form")
        form.get_by_label(re.compile("New limit")).fill("3000.00")
        form.get_by_label("Reason (required)").fill(
            "Repeat buyers for two years; confirmed by phone.")
        form.get_by_role("button", name="Change the limit").click()

        expect(page.locator(".message.success")).to_have_text("The limit is changed.")
        audit = page.get_by_test_id("audit-line")
        expect(audit).to_have_count(1)
        expect(audit).to_contain_text("user:olga")
        expect(audit).to_contain_text("change limit")
        expect(audit.locator("td").nth(3)).to_contain_text(f"{case.limit:,.2f}")
        expect(audit.locator("td").nth(4)).to_contain_text("3,000.00")
        expect(audit).to_contain_text("Repeat buyers for two years; confirmed by phone.")
        expect(page.get_by_test_id("limit")).to_have_text("3,000.00 CNY")
    assert log.problems() == []
