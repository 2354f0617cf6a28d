"""Backtest figures: intervals, discrimination, grades, vintage curves and roll rates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from models.backtest import (
    BUCKETS,
    backtest,
    by_grade,
    grades_of,
    jeffreys_interval,
    roll_rate_counts,
    roll_rates,
    vintage_curves,
)


class ColumnModel:
    """A fake model whose PD is a column of the table (no booster needed)."""

    feature_names_in_ = np.array(["score"], dtype=object)

    def predict_pd(self, table: pd.DataFrame) -> np.ndarray:
        if "score" not in table.columns:
            raise ValueError("X lacks feature column(s) the model needs: score")
        return table["score"].to_numpy(dtype=float)


# ---------------------------------------------------------------- intervals
@pytest.mark.parametrize(("bads", "n"), [(3, 50), (1, 2), (7, 400), (49, 50)])
def test_jeffreys_interval_is_the_beta_half_half_posterior_quantiles(bads: int, n: int) -> None:
    lower, upper = jeffreys_interval(bads, n)
    assert lower == pytest.approx(beta.ppf(0.025, bads + 0.5, n - bads + 0.5), rel=1e-12)
    assert upper == pytest.approx(beta.ppf(0.975, bads + 0.5, n - bads + 0.5), rel=1e-12)
    assert lower < bads / n < upper


def test_jeffreys_interval_of_3_bads_in_50_is_pinned() -> None:
    lower, upper = jeffreys_interval(3, 50)
    assert (round(lower, 4), round(upper, 4)) == (0.0172, 0.1515)


def test_no_bad_gives_a_lower_bound_of_zero_and_all_bad_an_upper_bound_of_one() -> None:
    lower, upper = jeffreys_interval(0, 20)
    assert lower == 0.0
    assert upper == pytest.approx(beta.ppf(0.975, 0.5, 20.5))
    assert round(upper, 4) == 0.1166
    lower, upper = jeffreys_interval(20, 20)
    assert upper == 1.0
    assert lower == pytest.approx(beta.ppf(0.025, 20.5, 0.5))
    assert jeffreys_interval(0, 0) == (0.0, 1.0)


def test_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="bads <= n"):
        jeffreys_interval(5, 4)
    with pytest.raises(ValueError, match="level"):
        jeffreys_interval(1, 4, level=1.0)


# ------------------------------------------------------- discrimination, grades
def _four_decisions() -> pd.DataFrame:
    return pd.DataFrame({"score": [0.1, 0.2, 0.3, 0.4], "label": [0, 1, 0, 1],
                         "pd": [0.05, 0.3, 0.2, 0.6], "grade": ["A", "B", "A", "C"]})


def test_auc_ks_and_brier_of_a_constructed_example() -> None:
    result = backtest(ColumnModel(), _four_decisions(), upper_pd=(0.25, 0.5),
                      grade_labels=("A", "B", "C"))
    # bads at 0.2 and 0.4, goods at 0.1 and 0.3: three of four pairs ranked right
    assert result.metrics["auc"] == pytest.approx(0.75)
    assert result.metrics["gini"] == pytest.approx(0.5)
    # above 0.35: half the bads, no good; above 0.15: all bads, half the goods
    assert result.metrics["ks"] == pytest.approx(0.5)
    assert result.metrics["brier"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.36) / 4)
    assert result.metrics["n"] == 4
    assert result.metrics["bad_rate"] == pytest.approx(0.5)


def test_grades_follow_the_scorer_bands_a_pd_on_a_bound_takes_the_better_grade() -> None:
    grades = grades_of([0.01, 0.0100001, 0.025, 0.2], (0.01, 0.025, 0.05, 0.10),
                       ("A", "B", "C", "D", "E"))
    assert grades.tolist() == ["A", "B", "B", "E"]


def test_by_grade_compares_mean_pd_with_the_observed_rate_and_its_interval() -> None:
    result = backtest(ColumnModel(), _four_decisions(), upper_pd=(0.25, 0.5),
                      grade_labels=("A", "B", "C"))
    table = result.grades.set_index("grade")
    assert table.loc["A", "n"] == 2
    assert table.loc["A", "bads"] == 1
    assert table.loc["A", "predicted_pd"] == pytest.approx(0.15)
    assert table.loc["A", "observed_rate"] == pytest.approx(0.5)
    assert (table.loc["A", "lower"], table.loc["A", "upper"]) == pytest.approx(
        jeffreys_interval(1, 2))
    assert table.loc["B", "predicted_pd"] == pytest.approx(0.35)
    # an empty grade is reported, with the widest interval and no rates
    assert table.loc["C", "n"] == 0
    assert table["observed_rate"].isna().tolist() == [False, False, True]
    assert (table.loc["C", "lower"], table.loc["C", "upper"]) == (0.0, 1.0)
    document = json.loads(json.dumps(result.to_dict()))
    assert document["by_grade"][2] == {"grade": "C", "n": 0, "bads": 0,
                                       "predicted_pd": None, "observed_rate": None,
                                       "lower": 0.0, "upper": 1.0}
    assert {"auc", "ks", "brier", "n", "bad_rate", "by_grade"} <= set(document)


def test_the_pd_and_grade_given_at_the_decision_are_backtested_beside_the_model() -> None:
    result = backtest(ColumnModel(), _four_decisions(), upper_pd=(0.25, 0.5),
                      grade_labels=("A", "B", "C"))
    assert result.as_decided_metrics is not None
    assert result.as_decided_grades is not None
    assert result.as_decided_metrics["auc"] == pytest.approx(1.0)
    decided = result.as_decided_grades.set_index("grade")
    assert decided.loc["A", "n"] == 2
    assert decided.loc["A", "observed_rate"] == 0.0
    assert decided.loc["C", "observed_rate"] == 1.0
    assert decided.loc["C", "upper"] == 1.0


def test_by_grade_adds_grades_outside_the_bands_after_them() -> None:
    table = by_grade([1, 0, 0], [0.2, 0.1, 0.1], ["B", "A", "Z"], ["A", "B"])
    assert table["grade"].tolist() == ["A", "B", "Z"]


def test_refuses_a_table_without_label_or_with_labels_that_are_not_binary() -> None:
    table = _four_decisions()
    with pytest.raises(ValueError, match="no label column 'defaulted'"):
        backtest(ColumnModel(), table, label="defaulted", upper_pd=(0.5,),
                 grade_labels=("A", "B"))
    with pytest.raises(ValueError, match="0 or 1"):
        backtest(ColumnModel(), table.assign(label=[0, 2, 0, 1]), upper_pd=(0.5,),
                 grade_labels=("A", "B"))


# ------------------------------------------------------------------- the book
def _line(line_id: str, opened: str, buckets: list[str]) -> list[dict[str, object]]:
    opened_on = pd.Timestamp(opened)
    return [{"line_id": line_id, "seller_id": f"S-{line_id}", "opened_on": opened_on,
             "month": (opened_on + pd.offsets.MonthEnd(0)) + pd.offsets.MonthEnd(mob),
             "months_on_book": mob, "days_past_due": 0, "bucket": bucket,
             "status": "written_off" if bucket == "written_off" else "open"}
            for mob, bucket in enumerate(buckets)]


def hand_made_panel() -> pd.DataFrame:
    """Seven lines in two vintages (January and February 2025)."""
    rows = (
        _line("L1", "2025-01-10", ["current", "1-30", "31-60", "61-90", "90+"])
        + _line("L2", "2025-01-02", ["current"] * 5)
        + _line("L3", "2025-01-20", ["current", "1-30", "current", "current"])  # closed
        + _line("L4", "2025-01-31", ["current", "1-30", "31-60", "current", "current"])
        + _line("L5", "2025-02-03", ["current", "1-30", "31-60", "61-90"])
        + _line("L6", "2025-02-14", ["current"] * 4)
        + _line("L7", "2025-02-28", ["current", "1-30", "written_off"])
    )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # order must not matter


def test_vintage_curves_count_lines_ever_30_and_90_plus_by_months_on_book() -> None:
    curves = vintage_curves(hand_made_panel()).set_index(["vintage", "months_on_book"])
    january = curves.loc["2025-01"]
    assert january["lines"].unique().tolist() == [4]
    assert january["ever_30"].tolist() == [0, 0, 2, 2, 2]      # L1 and L4 at month 2
    assert january["ever_90"].tolist() == [0, 0, 0, 0, 1]      # L1 at month 4
    assert january["ever_30_rate"].tolist() == pytest.approx([0, 0, 0.5, 0.5, 0.5])
    assert january["ever_90_rate"].tolist() == pytest.approx([0, 0, 0, 0, 0.25])
    february = curves.loc["2025-02"]
    assert february.index.tolist() == [0, 1, 2, 3]            # observed to month 3
    assert february["lines"].unique().tolist() == [3]
    # L7, written off at month 2, stays bad after its last row; L5 is 30+ at month 2
    assert february["ever_30"].tolist() == [0, 0, 2, 2]
    assert february["ever_90"].tolist() == [0, 0, 1, 1]
    assert february.loc[3, "ever_90_rate"] == pytest.approx(1 / 3)


def test_roll_rates_share_each_bucket_s_lines_by_their_next_month_bucket() -> None:
    matrix = roll_rates(hand_made_panel())
    assert matrix.index.tolist() == list(BUCKETS)
    assert matrix.loc["current", "lines"] == 14
    assert matrix.loc["current", "1-30"] == pytest.approx(5 / 14)
    assert matrix.loc["current", "current"] == pytest.approx(9 / 14)
    assert matrix.loc["1-30", "lines"] == 5
    assert matrix.loc["1-30", "31-60"] == pytest.approx(3 / 5)
    assert matrix.loc["1-30", "current"] == pytest.approx(1 / 5)       # L3 cured
    assert matrix.loc["1-30", "written_off"] == pytest.approx(1 / 5)   # L7
    assert matrix.loc["31-60", "61-90"] == pytest.approx(2 / 3)
    assert matrix.loc["31-60", "current"] == pytest.approx(1 / 3)
    assert matrix.loc["61-90", "90+"] == 1.0
    assert matrix.loc["90+", "lines"] == 0
    assert matrix.loc["90+"][list(BUCKETS)].isna().all()
    shares = matrix[list(BUCKETS)].loc[matrix["lines"] > 0].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(np.ones(4))


def test_roll_rates_pair_only_consecutive_month_ends_of_the_same_line() -> None:
    panel = pd.DataFrame(_line("L9", "2025-03-05", ["current", "1-30", "31-60"]))
    panel = panel[panel["months_on_book"] != 1]  # a month missing: no move is invented
    assert roll_rates(panel)["lines"].sum() == 0


def test_roll_rates_by_month_sum_to_one_per_bucket_and_month() -> None:
    counts = roll_rate_counts(hand_made_panel())
    assert counts["lines"].sum() == 14 + 5 + 3 + 1
    totals = counts.groupby(["month", "from_bucket"])["share"].sum()
    assert totals.to_numpy() == pytest.approx(np.ones(len(totals)))
    march = counts[counts["month"] == pd.Timestamp("2025-03-31")].set_index(
        ["from_bucket", "to_bucket"])
    # at the end of March: L1 and L4 1-30 -> 31-60, L3 1-30 -> current (January lines);
    # L5 and L7 current -> 1-30, L6 and L2 current -> current
    assert march.loc[("1-30", "31-60"), "lines"] == 2
    assert march.loc[("1-30", "31-60"), "share"] == pytest.approx(2 / 3)
    assert march.loc[("1-30", "current"), "share"] == pytest.approx(1 / 3)
    assert march.loc[("current", "1-30"), "share"] == pytest.approx(2 / 4)


def test_a_panel_with_unknown_buckets_or_columns_is_refused() -> None:
    panel = hand_made_panel()
    with pytest.raises(ValueError, match="unknown bucket"):
        vintage_curves(panel.assign(bucket="late"))
    with pytest.raises(ValueError, match="months_on_book"):
        roll_rates(panel.drop(columns=["months_on_book"]))
