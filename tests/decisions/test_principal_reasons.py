"""What the applicant is told: the policy's rules first, then the model's reasons, at most
four, each in English and Chinese."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pytest

from decisions.case import (
    MAX_PRINCIPAL_REASONS,
    SCORE_POLICY_CODES,
    PrincipalReason,
    principal_reasons,
)
from lending.policy import CreditPolicy, PolicyReason, ScoreSummary, SellerProfile, decide

_CHINESE = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class _ModelReason:
    code: str
    text_en: str
    text_zh: str
    feature: str


def _model(feature: str, code: str = "R-QUALITY") -> _ModelReason:
    return _ModelReason(code, f"{feature}: 18 %.", f"{feature}：18 %。", feature)


@pytest.fixture(scope="module")
def every_rule(policy: CreditPolicy) -> tuple[PolicyReason, ...]:
    """Reasons of two decisions that, together, break every rule of the default policy."""
    worst = decide(ScoreSummary(Decimal("0.40"), Decimal("480"), "E"),
                   SellerProfile("S1", "trader", Decimal("1000"), None,
                                 worst_open_days_past_due=45, has_written_off_line=True),
                   policy)
    slow = decide(ScoreSummary(Decimal("0.12"), Decimal("560"), "D"),
                  SellerProfile("S2", "shop", Decimal("90000000"), Decimal("75")), policy)
    return worst.reasons + slow.reasons


def test_every_policy_rule_speaks_english_and_chinese(every_rule) -> None:  # type: ignore[no-untyped-def]
    codes = {rule.code for rule in every_rule}
    assert codes == {"GRADE_DECLINE", "PD_ABOVE_DECLINE_THRESHOLD", "GMV_BELOW_MINIMUM",
                     "EXISTING_LINE_DELINQUENT", "EXISTING_LINE_WRITTEN_OFF",
                     "CASH_CYCLE_UNKNOWN", "NO_PRODUCT_FOR_SELLER_KIND", "LIMIT_BELOW_FLOOR",
                     "GRADE_REFER", "PD_ABOVE_REFER_THRESHOLD", "CASH_CYCLE_LONG",
                     "LIMIT_CAPPED"}
    for rule in every_rule:
        assert rule.message and not _CHINESE.search(rule.message)
        assert _CHINESE.search(rule.message_zh), rule.code
    gmv = next(r for r in every_rule if r.code == "GMV_BELOW_MINIMUM")
    assert gmv.message_zh == "近365天销售额1000元低于最低要求20000.00元"
    late = next(r for r in every_rule if r.code == "EXISTING_LINE_DELINQUENT")
    assert "45天" in late.message_zh and "30天" in late.message_zh


def test_policy_rules_come_first_then_the_models_reasons_at_most_four(every_rule) -> None:  # type: ignore[no-untyped-def]
    rules = tuple(r for r in every_rule if r.code in ("EXISTING_LINE_WRITTEN_OFF",
                                                      "NO_PRODUCT_FOR_SELLER_KIND"))
    told = principal_reasons(rules, [_model("late_shipment_rate_365d"),
                                     _model("dispute_rate_365d"),
                                     _model("refund_rate_365d")])
    assert len(told) == MAX_PRINCIPAL_REASONS == 4
    assert [(r.source, r.code) for r in told] == [
        ("policy", "EXISTING_LINE_WRITTEN_OFF"), ("policy", "NO_PRODUCT_FOR_SELLER_KIND"),
        ("model", "R-QUALITY"), ("model", "R-QUALITY")]
    assert [r.feature for r in told[2:]] == ["late_shipment_rate_365d", "dispute_rate_365d"]
    assert told[0] == PrincipalReason("policy", "EXISTING_LINE_WRITTEN_OFF",
                                      "A credit line of the seller's was written off.",
                                      "商户在本平台有一条授信已核销。")


def test_rules_that_restate_the_score_or_only_inform_are_left_to_the_models_reasons(
        every_rule) -> None:  # type: ignore[no-untyped-def]
    told = principal_reasons(every_rule, [_model("dispute_rate_365d")], limit=20)
    codes = [r.code for r in told]
    assert not set(codes) & SCORE_POLICY_CODES and "LIMIT_CAPPED" not in codes
    assert codes[-1] == "R-QUALITY" and all(r.source == "policy" for r in told[:-1])


def test_a_model_statement_of_a_figure_a_rule_names_is_not_repeated(every_rule) -> None:  # type: ignore[no-untyped-def]
    rules = tuple(r for r in every_rule if r.code in ("GMV_BELOW_MINIMUM", "CASH_CYCLE_LONG"))
    told = principal_reasons(rules, [_model("gmv_365d", "R-SCALE"),
                                     _model("median_payout_delay_days_365d", "R-CASH-CYCLE"),
                                     _model("dispute_rate_365d")])
    assert [r.code for r in told] == ["GMV_BELOW_MINIMUM", "CASH_CYCLE_LONG", "R-QUALITY"]


def test_a_rule_stored_before_rules_were_bilingual_reads_in_english_in_both() -> None:
    told = principal_reasons((PolicyReason("CASH_CYCLE_UNKNOWN", "refer", "no payouts"),), [])
    assert (told[0].text_en, told[0].text_zh) == ("No payouts.", "No payouts.")
    with pytest.raises(ValueError, match="limit"):
        principal_reasons((), [], limit=-1)
