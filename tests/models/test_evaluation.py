"""Evaluation figures, pinned on samples small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation import (
    ScoreReference,
    auc,
    auc_by_segment,
    calibration_by_decile,
    calibration_error,
    classification_metrics,
    cutoff_table,
    ks_statistic,
    population_stability_index,
)

Y = np.array([0, 0, 1, 0, 1, 1, 0, 0, 1, 0])
PD = np.array([0.1, 0.2, 0.3, 0.15, 0.8, 0.6, 0.4, 0.05, 0.7, 0.25])


def test_auc_counts_correctly_ordered_bad_good_pairs() -> None:
    # bads 0.3, 0.8, 0.6, 0.7 against goods 0.1, 0.2, 0.15, 0.4, 0.05, 0.25:
    # 0.3 beats 5 of 6 goods, the other three beat all 6 -> 23 of 24 pairs
    assert auc(Y, PD) == pytest.approx(23 / 24)
    assert classification_metrics(Y, PD)["gini"] == pytest.approx(2 * 23 / 24 - 1)


def test_ks_is_the_largest_gap_between_bad_and_good_distributions() -> None:
    # above 0.4: 3 of 4 bads and 0 of 6 goods are flagged; at 0.3: 4/4 bads, 1/6 goods
    assert ks_statistic(Y, PD) == pytest.approx(5 / 6)


def test_brier_and_log_loss_of_a_known_sample() -> None:
    metrics = classification_metrics(Y, PD)
    expected_brier = np.mean((PD - Y) ** 2)
    expected_log_loss = -np.mean(Y * np.log(PD) + (1 - Y) * np.log(1 - PD))
    assert metrics["brier"] == pytest.approx(expected_brier)
    assert metrics["log_loss"] == pytest.approx(expected_log_loss)
    assert metrics["bad_rate"] == pytest.approx(0.4)
    assert metrics["n"] == 10


def test_calibration_by_decile_compares_mean_pd_and_bad_rate() -> None:
    table = calibration_by_decile(Y, PD, n_bins=2)
    # safest half: PDs 0.05, 0.1, 0.15, 0.2, 0.25 (all goods); riskiest: 0.3..0.8
    assert table["n"].tolist() == [5, 5]
    assert table["mean_pd"].tolist() == pytest.approx([0.15, 0.56])
    assert table["bad_rate"].tolist() == pytest.approx([0.0, 0.8])
    assert calibration_error(Y, PD, n_bins=2) == pytest.approx(0.5 * 0.15 + 0.5 * 0.24)


def test_cutoff_table_trades_approval_rate_against_bad_rate() -> None:
    table = cutoff_table(Y, PD, approval_rates=(0.5, 1.0))
    half, everyone = table.iloc[0], table.iloc[1]
    assert half["cutoff_pd"] == pytest.approx(0.25)
    assert half["approval_rate"] == pytest.approx(0.5)
    assert half["approved_bad_rate"] == pytest.approx(0.0)
    assert half["bads_rejected_share"] == pytest.approx(1.0)
    assert everyone["approval_rate"] == 1.0
    assert everyone["approved_bad_rate"] == pytest.approx(0.4)
    assert np.isnan(table["rejected_bad_rate"].to_numpy()[1])


def test_auc_is_reported_per_segment_and_missing_is_its_own_segment() -> None:
    kind = np.array(["shop"] * 6 + ["factory"] * 3 + [None])
    table = auc_by_segment(Y, PD, kind).set_index("segment")
    assert table.loc["shop", "n"] == 6
    # shop: bads 0.3, 0.8, 0.6 against goods 0.1, 0.2, 0.15 -> perfect
    assert table.loc["shop", "auc"] == pytest.approx(1.0)
    # factory: bad 0.7 against goods 0.4, 0.05 -> perfect
    assert table.loc["factory", "auc"] == pytest.approx(1.0)
    assert table["auc"].isna().tolist() == [True, False, False]  # (missing), factory, shop


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift() -> None:
    assert population_stability_index([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert population_stability_index([0.5, 0.5], [0.6, 0.4]) == pytest.approx(
        0.1 * np.log(0.6 / 0.5) - 0.1 * np.log(0.4 / 0.5))
    rng = np.random.default_rng(0)
    reference = ScoreReference.fit(rng.normal(size=20_000))
    assert len(reference.shares) == 11  # ten deciles and the missing share
    assert reference.psi(rng.normal(size=20_000)) < 0.01
    assert reference.psi(rng.normal(loc=1.0, size=20_000)) > 0.25


def test_labels_must_be_binary_and_scores_finite() -> None:
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        auc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="differ in length"):
        auc([0, 1], [0.1, 0.2, 0.3])
