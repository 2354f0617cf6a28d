"""End to end in headless Chromium: a risk analyst logs in and reads the risk page.

The app is served by uvicorn (the ``served`` fixture; Debian's ``chromium`` through
Playwright, :mod:`tests.api.web.browser`); every console message, page error, failed request and
dialog is collected: the page must produce none.
"""

from __future__ import annotations

import re

from access.principal import Role
from tests.api.web.browser import BrowserLog, Served, chromium_page, log_in

SECTIONS = {"book": "The book by grade and bucket", "vintages": "Vintage curves",
            "roll-rates": "Roll rates", "stability": "The score's stability",
            "models": "Champion and challenger", "backtest": "The last backtest",
            "shadow": "Champion and challenger on the same applicants"}


def test_a_risk_analyst_logs_in_and_sees_every_section_of_the_risk_page(
        served: Served) -> None:
    from playwright.sync_api import expect

    site = served.site
    approved = [made for row in range(40)
                if (made := site.decide(f"S-{row}", row=row, cash_cycle_known=True)).line_id]
    assert approved
    log = BrowserLog()
    with chromium_page(log) as page:
        page.goto(f"{served.base_url}/risk/")
        log_in(page, Role.RISK, next_path="/risk/")

        expect(page).to_have_url(re.compile(r"/risk/$"))
        expect(page.get_by_test_id("current-user")).to_have_text("rick (risk)")
        for test_id, heading in SECTIONS.items():
            part = page.get_by_test_id(test_id)
            expect(part).to_be_visible()
            expect(part.get_by_role("heading", level=2)).to_have_text(heading)

        # The book: every approved decision's line, on the total row.
        totals = page.locator('tr.total td[data-bucket="total"]')
        expect(totals).to_contain_text(f"{len(approved)} line")
        # The score's PSI of those decisions, with its chart.
        expect(page.get_by_test_id("score-psi")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
        expect(page.locator("svg#chart-score-psi")).to_be_visible()
        assert page.locator("svg#chart-score-psi g.series").count() == 2
        # No month end and no registry yet: said, not an error.
        for test_id in ("vintages", "models", "backtest", "shadow"):
            expect(page.get_by_test_id(test_id)).to_contain_text("none yet")
        expect(page.locator(".message.error")).to_have_count(0)

        # (Leaving before the icon has loaded would abort its request.)
        page.wait_for_load_state("networkidle")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/officer/login\?next=/risk/$"))
        page.wait_for_load_state("networkidle")
        page.goto(f"{served.base_url}/risk/")
        expect(page).to_have_url(re.compile(r"/officer/login"))
        page.wait_for_load_state("networkidle")
    assert log.problems() == []
