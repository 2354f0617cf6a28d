"""How the pages word what the services return: terms, family names, case states."""

from __future__ import annotations

from decimal import Decimal

from api.web.backend import family_label, terms_lines
from lending.policy import Terms


def test_a_purchase_line_reads_as_its_interest_free_periods_and_instalments() -> None:
    terms = Terms("purchase_line", interest_free_days=(30, 60, 90),
                  instalment_months=(3, 6, 12),
                  instalment_fee_rate_per_month=Decimal("0.005"))
    assert terms_lines(terms) == (
        "Interest-free purchase line",
        "Interest-free for 30, 60 or 90 days",
        "Or in instalments over 3, 6 or 12 months at 0.50 % a month")


def test_a_term_loan_reads_as_its_durations_methods_and_rate() -> None:
    terms = Terms("term_loan", methods=("annuity", "equal_principal"), months=(6, 12),
                  annual_rate=Decimal("0.14"))
    assert terms_lines(terms) == ("Term micro-loan",
                                  "Repaid over 6 or 12 months (annuity or equal principal) "
                                  "at 14.00 % a year")


def test_a_declined_case_has_no_terms() -> None:
    assert terms_lines(None) == ()


def test_reason_families_are_named_in_plain_words() -> None:
    assert family_label("R-QUALITY") == "Order quality"
    assert family_label("R-CASH-CYCLE") == "Cash cycle"
    # A generic model's feature is its own family, shown by the feature's name.
    assert family_label("R-FEATURE:monthly_income") == "monthly_income"
