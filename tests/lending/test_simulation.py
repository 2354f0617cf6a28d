"""Policy simulation: the figures a risk team reads before a policy ships.

The population below is decided by the shipped default policy; every figure is worked out
by hand from its rules (limit = GMV / 365 x cash cycle x grade multiplier, rounded down to
1,000, capped at 100,000; with GMV 365,000 a day of cash cycle is 1,000 CNY).
"""

from __future__ import annotations

import doctest
import subprocess
import sys
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lending.errors import InvalidPolicy, InvalidScore
from lending.policy import (
    CreditDecision,
    ScoreSummary,
    SellerProfile,
    decide,
    load_policy,
    parse_policy,
)
from lending.simulation import (
    DEFAULT_LGD,
    PROFILE_COLUMNS,
    ScoredSeller,
    SimulationMismatch,
    compare,
    load_simulation_policy,
    parse_lgd,
    summarize,
)

POLICY = load_policy()

#: seller id, grade, PD, seller kind, GMV, cash cycle -> outcome and limit by hand
POPULATION: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("S1", "A", "0.005", "shop", "365000", "20"),      # approve 1000*20*1.5 = 30,000
    ("S2", "A", "0.0123", "shop", "365000", "10"),     # approve 1000*10*1.5 = 15,000
    ("S3", "B", "0.02", "factory", "365000", "30"),    # approve 37,500 -> 37,000
    ("S4", "B", "0.02", "shop", "365000", "70"),       # refer: cycle > 60; 87,000
    ("S5", "C", "0.04", "shop", "10000", "20"),        # decline: GMV < 20,000
    ("S8", "C", "0.05", "shop", "3650000", "40"),      # approve 400,000 capped 100,000
    ("S6", "D", "0.08", "shop", "365000", "20"),       # refer: grade D; 12,000
    ("S7", "E", "0.30", "shop", "365000", "20"),       # decline: grade E
)


def _decisions(policy: Any = POLICY) -> list[CreditDecision]:
    return [decide(ScoreSummary(Decimal(pd), Decimal("600"), grade),
                   SellerProfile(seller_id, kind, Decimal(gmv), Decimal(cycle)), policy)
            for seller_id, grade, pd, kind, gmv, cycle in POPULATION]


def _default_document() -> dict[str, Any]:
    text = resources.files("lending").joinpath("policies/default.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_counts_and_rates_by_grade_and_in_total():
    summary = summarize(_decisions(), POLICY, DEFAULT_LGD)
    counts = {row.grade: (row.sellers, row.approved, row.referred, row.declined)
              for row in summary.rows}
    assert counts == {"A": (2, 2, 0, 0), "B": (2, 1, 1, 0), "C": (2, 1, 0, 1),
                      "D": (1, 0, 1, 0), "E": (1, 0, 0, 1), "total": (8, 4, 2, 2)}
    total = summary.total
    assert (total.approval_rate, total.referral_rate, total.decline_rate) == (
        Decimal("0.5"), Decimal("0.25"), Decimal("0.25"))
    assert summary.grade("B").approval_rate == Decimal("0.5")


def test_exposure_is_the_exact_sum_of_approved_limits_only():
    summary = summarize(_decisions(), POLICY)
    assert summary.grade("A").exposure == Decimal("45000.00")   # 30,000 + 15,000
    assert summary.grade("B").exposure == Decimal("37000.00")   # the referred 87,000 is not
    assert summary.grade("C").exposure == Decimal("100000.00")  # capped; decline adds 0
    assert summary.grade("D").exposure == Decimal("0.00")
    assert summary.total.exposure == Decimal("182000.00")


def test_referred_limits_are_what_officers_would_grant_and_stay_out_of_exposure():
    summary = summarize(_decisions(), POLICY)
    assert summary.grade("B").referred_limit == Decimal("87000.00")
    assert summary.grade("D").referred_limit == Decimal("12000.00")
    assert summary.total.referred_limit == Decimal("99000.00")


def test_expected_loss_is_pd_times_approved_limit_times_lgd_rounded_once_per_row():
    summary = summarize(_decisions(), POLICY, Decimal("0.45"))
    # A: 0.005*30,000*0.45 + 0.0123*15,000*0.45 = 67.5 + 83.025 = 150.525 -> 150.53
    assert summary.grade("A").expected_loss == Decimal("150.53")
    assert summary.grade("B").expected_loss == Decimal("333.00")    # 0.02*37,000*0.45
    assert summary.grade("C").expected_loss == Decimal("2250.00")   # 0.05*100,000*0.45
    assert summary.grade("D").expected_loss == Decimal("0.00")      # referred: no exposure
    # 67.5 + 83.025 + 333 + 2,250 = 2,733.525 -> 2,733.53
    assert summary.total.expected_loss == Decimal("2733.53")
    assert summary.lgd == Decimal("0.45")


def test_expected_loss_scales_with_the_lgd():
    summary = summarize(_decisions(), POLICY, Decimal("0.5"))
    assert summary.total.expected_loss == Decimal("3037.25")  # 2,733.525 / 0.45 * 0.5


def test_expected_loss_sums_exactly_before_rounding_not_per_seller():
    # Two sellers with 0.225 each: rounded per seller 0.23 + 0.23 = 0.46; exactly 0.45.
    decisions = [decide(ScoreSummary(Decimal("0.0001"), Decimal("600"), "A"),
                        SellerProfile(f"S{i}", "shop", Decimal("365000"), Decimal("7")),
                        POLICY) for i in range(2)]
    assert decisions[0].limit == Decimal("10000.00")   # 1000 * 7 * 1.5 = 10,500 -> 10,000
    summary = summarize(decisions, POLICY, Decimal("0.225"))
    assert summary.total.expected_loss == Decimal("0.45")


def test_a_float_pd_from_the_scorer_counts_as_its_shortest_decimal():
    document = _default_document()
    lenient = parse_policy({**document, "decision": {**document["decision"],
                                                     "refer_pd_above": "0.5",
                                                     "decline_pd_above": "0.6"}})
    decision = decide(ScoredSeller("S1", 0.1 + 0.2, 600.0, "A"),
                      SellerProfile("S1", "shop", Decimal("365000"), Decimal("20")), lenient)
    assert decision.outcome == "approve" and decision.pd == Decimal("0.30000000000000004")
    # 0.30000000000000004 * 30,000 * 1 = 9,000.0000000000012 -> 9,000.00
    assert summarize([decision], lenient, Decimal("1")).total.expected_loss == Decimal(
        "9000.00")


def test_a_grade_without_sellers_still_gets_a_row_with_no_rates():
    only_a = [d for d in _decisions() if d.grade == "A"]
    summary = summarize(only_a, POLICY)
    assert [row.grade for row in summary.rows] == ["A", "B", "C", "D", "E", "total"]
    empty = summary.grade("E")
    assert (empty.sellers, empty.exposure, empty.expected_loss) == (0, Decimal("0.00"),
                                                                    Decimal("0.00"))
    assert empty.approval_rate is None and empty.decline_rate is None


def test_an_empty_population_sums_to_zero():
    summary = summarize([], POLICY)
    assert summary.total.sellers == 0 and summary.total.exposure == Decimal("0.00")
    assert summary.total.approval_rate is None


def test_decisions_of_another_policy_version_are_refused():
    other = parse_policy({**_default_document(), "version": "2026.12-other.1"})
    with pytest.raises(SimulationMismatch, match="2026.12-other.1"):
        summarize(_decisions(other), POLICY)


def test_lgd_outside_zero_to_one_is_refused():
    with pytest.raises(InvalidPolicy, match="lgd must be between 0 and 1"):
        summarize(_decisions(), POLICY, Decimal("1.2"))


def test_comparison_counts_sellers_moving_between_outcomes():
    document = _default_document()
    tighter = parse_policy({**document, "version": "2026.12-tight.1",
                            "decision": {**document["decision"], "refer_pd_above": "0.01"}})
    comparison = compare(zip(_decisions(), _decisions(tighter), strict=True), POLICY,
                         tighter, base_lgd=Decimal("0.45"), other_lgd=Decimal("0.40"))
    # PD above 0.01 is referred now: S2 (A), S3 (B) and S8 (C) move from approve to refer.
    assert comparison.moves["approve", "refer"] == 3
    assert comparison.moves["approve", "approve"] == 1
    assert comparison.moves["refer", "refer"] == 2
    assert comparison.moves["decline", "decline"] == 2
    assert comparison.changed == 3
    assert sum(comparison.moves.values()) == 8
    assert comparison.base.total.exposure == Decimal("182000.00")
    assert comparison.other.total.exposure == Decimal("30000.00")       # S1 alone
    assert comparison.other.total.expected_loss == Decimal("60.00")     # 0.005*30,000*0.4
    assert comparison.other.total.referred_limit == Decimal("251000.00")  # 99,000 + 152,000


def test_comparison_refuses_decisions_for_different_sellers():
    decisions = _decisions()
    with pytest.raises(SimulationMismatch, match="different sellers"):
        compare([(decisions[0], decisions[1])], POLICY, POLICY)


def test_policy_file_may_set_the_lgd_as_a_string(tmp_path: Path):
    text = resources.files("lending").joinpath("policies/default.toml").read_text("utf-8")
    path = tmp_path / "with_lgd.toml"
    path.write_text(text + '\n[loss]\nlgd = "0.40"\n', encoding="utf-8")
    loaded = load_simulation_policy(path)
    assert loaded.lgd == Decimal("0.40") and loaded.lgd_or(DEFAULT_LGD) == Decimal("0.40")
    assert loaded.policy == load_policy(path)


def test_shipped_policy_sets_no_lgd_so_the_default_applies():
    loaded = load_simulation_policy()
    assert loaded.lgd is None and loaded.lgd_or(DEFAULT_LGD) == Decimal("0.45")
    assert loaded.policy == POLICY


@pytest.mark.parametrize(("loss", "message"), [
    ({"lgd": 0.4}, "loss.lgd = 0.4: write rates as strings"),
    ({"lgd": "1.5"}, "loss.lgd must be between 0 and 1"),
    ({"lgd": "-0.1"}, "loss.lgd must be between 0 and 1"),
    ({"lgd": "forty"}, "loss.lgd"),
    ({}, "policy is missing loss.lgd"),
    ("0.4", "policy.loss must be a table"),
])
def test_a_malformed_lgd_names_its_key(loss: Any, message: str):
    with pytest.raises(InvalidPolicy, match=message):
        parse_lgd({"loss": loss})


def test_a_broken_policy_file_names_the_missing_key(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text('version = "x"\ncurrency = "CNY"\n[limit]\nfloor = "1.00"\n',
                    encoding="utf-8")
    with pytest.raises(InvalidPolicy, match="limit.cap"):
        load_simulation_policy(path)
    path.write_text("version = ", encoding="utf-8")
    with pytest.raises(InvalidPolicy, match="not valid TOML"):
        load_simulation_policy(path)


def test_profile_columns_are_exactly_what_the_policy_reads_from_a_feature_row():
    row = {"seller_kind": "shop", "gmv_365d": 365000.0, "median_payout_delay_days_365d": 20.0}
    assert set(row) == set(PROFILE_COLUMNS)
    assert SellerProfile.from_feature_row("S1", row).trailing_gmv_365d == Decimal("365000.0")
    for column in PROFILE_COLUMNS:
        with pytest.raises(InvalidScore, match=column):
            SellerProfile.from_feature_row("S1", {k: v for k, v in row.items()
                                                  if k != column})


def test_simulation_stays_pure_domain_code_without_dataframes():
    # tests/lending/test_package.py imports only `lending`, which does not import this
    # module; check it on its own.
    code = ("import sys, lending.simulation; "
            "print(sorted(m for m in ('fastapi', 'sqlmodel', 'sqlalchemy', 'mlflow', 'pandas', "
            "'numpy', 'tqdm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_docstring_examples_hold():
    import lending.simulation

    failures, tried = doctest.testmod(lending.simulation)
    assert failures == 0 and tried > 0
