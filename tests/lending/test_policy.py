import tomllib
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.errors import InvalidPolicy, InvalidScore, UnknownGrade
from lending.policy import (
    ScoreSummary,
    SellerProfile,
    decide,
    load_policy,
    parse_policy,
)

POLICY = load_policy()


def _document() -> dict:
    text = resources.files("lending").joinpath("policies/default.toml").read_text("utf-8")
    return tomllib.loads(text)


def _shop(gmv: str = "600000", cycle: str = "20", kind: str = "shop") -> SellerProfile:
    return SellerProfile("S1", kind, Decimal(gmv), Decimal(cycle))


def _score(grade: str = "B", pd: str = "0.03") -> ScoreSummary:
    return ScoreSummary(Decimal(pd), Decimal("620"), grade)


def test_default_policy_ships_in_the_package_with_a_version():
    assert POLICY.version == "2026.11-default.1"
    assert POLICY.limit.cap == Decimal("100000.00")


def test_every_decision_records_the_policy_version_and_its_inputs():
    decision = decide(_score(), _shop(), POLICY)
    assert decision.policy_version == POLICY.version
    assert (decision.grade, decision.pd, decision.points) == ("B", Decimal("0.03"),
                                                              Decimal("620"))


def test_good_shop_is_approved_for_an_interest_free_purchase_line():
    decision = decide(_score("B"), _shop(), POLICY)
    assert decision.outcome == "approve" and decision.reasons == ()
    assert decision.product == "purchase_line"
    # 600,000 / 365 * 20 days * 1.25 = 41,095.89 -> rounded down to 41,000
    assert decision.limit == Decimal("41000.00")
    assert decision.terms is not None
    assert decision.terms.interest_free_days == (30, 60)  # grade B: up to 60 days


def test_limit_is_rounded_down_to_the_step_never_up():
    decision = decide(_score("C"), _shop(gmv="365999", cycle="10"), POLICY)
    assert decision.sized_limit == Decimal("10000.00")  # 10,027.37 -> 10,000


def test_limit_is_capped_at_100000_by_default():
    decision = decide(_score("A"), _shop(gmv="5000000", cycle="30"), POLICY)
    assert decision.limit == Decimal("100000.00")
    assert decision.sized_limit > decision.limit
    assert [r.code for r in decision.reasons] == ["LIMIT_CAPPED"]
    assert decision.outcome == "approve"


def test_limit_never_exceeds_the_share_of_gmv_however_long_the_cash_cycle():
    decision = decide(_score("A"), _shop(gmv="100000", cycle="90"), POLICY)
    assert decision.limit == Decimal("25000.00")  # 25 % of GMV, not 36,986


def test_limit_below_the_floor_is_declined():
    decision = decide(_score("C"), _shop(gmv="30000", cycle="10"), POLICY)
    assert decision.outcome == "decline" and decision.limit == 0
    assert "LIMIT_BELOW_FLOOR" in [r.code for r in decision.reasons]


def test_grade_e_is_declined_with_no_limit_and_no_terms():
    decision = decide(_score("E", "0.05"), _shop(), POLICY)
    assert (decision.outcome, decision.limit, decision.terms) == ("decline", 0, None)
    assert decision.reasons[0].code == "GRADE_DECLINE"


def test_grade_d_is_referred_to_an_officer_with_the_limit_proposed():
    decision = decide(_score("D", "0.05"), _shop(), POLICY)
    assert decision.outcome == "refer"
    assert decision.limit == Decimal("19000.00")  # 600,000 / 365 * 20 * 0.6 = 19,726


def test_high_pd_declines_even_a_good_grade():
    decision = decide(_score("A", "0.30"), _shop(), POLICY)
    assert decision.outcome == "decline"
    assert [r.code for r in decision.reasons] == ["PD_ABOVE_DECLINE_THRESHOLD"]


def test_pd_between_refer_and_decline_thresholds_is_referred():
    assert decide(_score("A", "0.12"), _shop(), POLICY).outcome == "refer"


def test_small_trailing_gmv_is_declined():
    decision = decide(_score("A"), _shop(gmv="15000"), POLICY)
    assert "GMV_BELOW_MINIMUM" in [r.code for r in decision.reasons]
    assert decision.outcome == "decline"


def test_long_cash_cycle_is_referred():
    decision = decide(_score("A"), _shop(gmv="200000", cycle="75"), POLICY)
    assert (decision.outcome, [r.code for r in decision.reasons]) == ("refer",
                                                                      ["CASH_CYCLE_LONG"])


def test_factory_gets_a_term_loan_at_its_grades_rate():
    decision = decide(_score("C"), _shop(kind="factory"), POLICY)
    assert decision.product == "term_loan"
    assert decision.terms is not None and decision.terms.annual_rate == Decimal("0.14")


def test_unknown_grade_is_a_named_error():
    with pytest.raises(UnknownGrade, match="'Z'"):
        decide(_score("Z"), _shop(), POLICY)


def test_pd_outside_zero_to_one_is_refused():
    with pytest.raises(InvalidScore, match="between 0 and 1"):
        decide(_score("A", "1.5"), _shop(), POLICY)


@dataclass(frozen=True)
class _FloatScore:
    """A score as the scorer returns it: floats."""

    pd: float
    points: float
    grade: str


def test_float_scores_and_features_are_converted_explicitly():
    seller = SellerProfile.from_features("S1", "shop", 600000.0, 20.0)
    decision = decide(_FloatScore(0.03, 620.5, "B"), seller, POLICY)
    assert decision.pd == Decimal("0.03") and decision.limit == Decimal("41000.00")
    with pytest.raises(InvalidScore):
        SellerProfile.from_features("S1", "shop", float("nan"), 20.0)


def test_seller_profile_reads_the_feature_table_names():
    row = {"seller_kind": "shop", "gmv_365d": 600000.0, "median_payout_delay_days_365d": 20.0,
           "refund_rate_365d": 0.01}
    seller = SellerProfile.from_feature_row("S1", row)
    assert (seller.trailing_gmv_365d, seller.cash_cycle_days) == (Decimal("600000.0"),
                                                                  Decimal("20.0"))
    with pytest.raises(InvalidScore, match="gmv_365d"):
        SellerProfile.from_feature_row("S1", {"seller_kind": "shop"})


def test_unknown_cash_cycle_is_referred_and_sized_on_the_shortest_cycle():
    seller = SellerProfile.from_features("S1", "shop", 365000.0, float("nan"))
    decision = decide(_score("C"), seller, POLICY)
    assert decision.outcome == "refer"
    assert [r.code for r in decision.reasons] == ["CASH_CYCLE_UNKNOWN"]
    assert decision.limit == Decimal("7000.00")  # 1,000 a day * 7 days * 1.0


def test_absurd_feature_values_are_refused_with_a_named_error():
    with pytest.raises(InvalidScore):
        SellerProfile.from_features("S1", "shop", 1e300, 20.0)
    with pytest.raises(InvalidScore):
        decide(_FloatScore(float("inf"), 600.0, "A"), _shop(), POLICY)


def test_policy_refuses_money_written_as_a_float():
    document = _document()
    document["limit"]["cap"] = 100000.0
    with pytest.raises(InvalidPolicy, match="write money as a string"):
        parse_policy(document)


def test_policy_refuses_a_floor_above_the_cap():
    document = _document()
    document["limit"]["floor"] = "200000.00"
    with pytest.raises(InvalidPolicy, match="floor must be <= limit.cap"):
        parse_policy(document)


def test_policy_names_a_missing_field():
    document = _document()
    del document["decision"]["refer_pd_above"]
    with pytest.raises(InvalidPolicy, match="decision.refer_pd_above"):
        parse_policy(document)


def test_a_policy_file_is_loaded_with_its_own_version(tmp_path):
    text = resources.files("lending").joinpath("policies/default.toml").read_text("utf-8")
    path = tmp_path / "tight.toml"
    path.write_text(text.replace('version = "2026.11-default.1"', 'version = "tight-2"')
                    .replace('cap = "100000.00"', 'cap = "50000.00"'), "utf-8")
    policy = load_policy(path)
    decision = decide(_score("A"), _shop(gmv="5000000", cycle="30"), policy)
    assert (decision.policy_version, decision.limit) == ("tight-2", Decimal("50000.00"))


def test_malformed_policy_file_is_refused(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("version = ", "utf-8")
    with pytest.raises(InvalidPolicy, match="not valid TOML"):
        load_policy(path)


@settings(max_examples=300, deadline=None)
@given(grade=st.sampled_from("ABCDE"),
       pd=st.decimals(min_value=0, max_value=1, places=4),
       gmv=st.decimals(min_value=0, max_value=Decimal("50000000"), places=2),
       cycle=st.decimals(min_value=0, max_value=400, places=1),
       kind=st.sampled_from(["shop", "factory"]))
def test_limit_is_a_step_multiple_between_floor_and_cap_unless_declined(grade, pd, gmv, cycle,
                                                                       kind):
    decision = decide(ScoreSummary(pd, Decimal(600), grade),
                      SellerProfile("S1", kind, gmv, cycle), POLICY)
    if decision.outcome == "decline":
        assert decision.limit == 0 and decision.terms is None
        assert any(r.effect == "decline" for r in decision.reasons)
    else:
        assert POLICY.limit.floor <= decision.limit <= POLICY.limit.cap
        assert decision.limit % POLICY.limit.step == 0 or decision.limit == POLICY.limit.cap
        assert decision.limit <= gmv * POLICY.limit.max_share_of_gmv
    assert decision == decide(ScoreSummary(pd, Decimal(600), grade),
                              SellerProfile("S1", kind, gmv, cycle), POLICY)


def test_seller_profile_reads_numpy_scalars_from_a_feature_table_row():
    import numpy as np  # the feature table hands numpy scalars; lending itself needs no numpy

    row = {"seller_kind": "shop", "gmv_365d": np.float64(600000.0),
           "median_payout_delay_days_365d": np.float32(20.0)}
    seller = SellerProfile.from_feature_row("S1", row)
    assert (seller.trailing_gmv_365d, seller.cash_cycle_days) == (Decimal("600000.0"),
                                                                  Decimal("20.0"))


# ------------------------------------------------------- credit history with us


def _with_history(days_past_due: int = 0, written_off: bool = False) -> SellerProfile:
    return SellerProfile("S1", "shop", Decimal("600000"), Decimal("20"),
                         worst_open_days_past_due=days_past_due,
                         has_written_off_line=written_off)


def test_a_seller_with_a_line_more_than_30_days_past_due_is_declined():
    decision = decide(_score("A", "0.01"), _with_history(days_past_due=31), POLICY)
    assert decision.outcome == "decline" and decision.limit == 0
    assert [r.code for r in decision.reasons] == ["EXISTING_LINE_DELINQUENT"]
    assert "31 days past due" in decision.reasons[0].message


def test_a_seller_up_to_30_days_past_due_is_not_declined_for_it():
    decision = decide(_score("B"), _with_history(days_past_due=30), POLICY)
    assert decision.outcome == "approve" and decision.reasons == ()


def test_a_seller_whose_line_was_written_off_is_declined():
    decision = decide(_score("A", "0.01"), _with_history(written_off=True), POLICY)
    assert decision.outcome == "decline"
    assert [r.code for r in decision.reasons] == ["EXISTING_LINE_WRITTEN_OFF"]


def test_the_history_thresholds_are_policy_and_optional_in_a_policy_file():
    document = _document()
    assert POLICY.decision.decline_existing_line_days_past_due_above == 30
    assert POLICY.decision.decline_after_written_off_line is True
    del document["decision"]["decline_existing_line_days_past_due_above"]
    del document["decision"]["decline_after_written_off_line"]
    assert parse_policy(document).decision == POLICY.decision
    document["decision"]["decline_existing_line_days_past_due_above"] = 60
    document["decision"]["decline_after_written_off_line"] = False
    lenient = parse_policy(document)
    assert decide(_score("B"), _with_history(45, written_off=True), lenient).outcome \
        == "approve"
    document["decision"]["decline_after_written_off_line"] = "yes"
    with pytest.raises(InvalidPolicy, match="decline_after_written_off_line"):
        parse_policy(document)


def test_the_history_is_read_from_a_decisions_stored_inputs_absent_meaning_none():
    row = {"seller_kind": "shop", "gmv_365d": 600000.0, "median_payout_delay_days_365d": 20.0}
    assert SellerProfile.from_feature_row("S1", row) == _with_history()
    row |= {"own_lines_worst_days_past_due": 45, "own_lines_written_off": True}
    assert SellerProfile.from_feature_row("S1", row) == _with_history(45, written_off=True)
    with pytest.raises(InvalidScore):
        _with_history(days_past_due=-1)
