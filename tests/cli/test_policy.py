"""``sme-credit policy simulate`` as a risk team runs it before a policy ships.

The hand-made population is the one of ``tests/lending/test_simulation.py``: with GMV
365,000 a day of cash cycle is worth 1,000 CNY of limit under the shipped policy.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import cli
from cli import main
from lending.policy import SellerProfile, decide, load_policy
from lending.simulation import ScoredSeller

SCORES = pd.DataFrame({
    "seller_id": ["S1", "S2", "S3", "S4", "S5", "S8", "S6", "S7", "S9"],
    "model_name": "sme-credit-pd", "model_version": "3",
    "probability_of_default": [0.005, 0.0123, 0.02, 0.02, 0.04, 0.05, 0.08, 0.30, 0.01],
    "points": [650.0, 630.0, 610.0, 610.0, 590.0, 585.0, 570.0, 520.0, 640.0],
    "grade": ["A", "A", "B", "B", "C", "C", "D", "E", "A"],
}).set_index("seller_id")

FEATURES = pd.DataFrame({
    "seller_id": ["S1", "S2", "S3", "S4", "S5", "S8", "S6", "S7", "S10"],
    "seller_kind": ["shop", "shop", "factory", "shop", "shop", "shop", "shop", "shop", "shop"],
    "gmv_365d": [365000.0, 365000.0, 365000.0, 365000.0, 10000.0, 3650000.0, 365000.0,
                 365000.0, 1e6],
    "median_payout_delay_days_365d": [20.0, 10.0, 30.0, 70.0, 20.0, 40.0, 20.0, 20.0, 5.0],
    "orders_365d": [10, 20, 30, 40, 50, 60, 70, 80, 90],
}).set_index("seller_id")

TOTAL_LINE = ("total         8    50.00%    25.00%    25.00%        182,000.00       "
              "2,733.53         99,000.00")


@pytest.fixture(autouse=True)
def _policy_command_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run through ``cli.main`` whether or not the command list has it yet."""
    if "cli.policy" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES",
                            (*cli.COMMAND_MODULES, "cli.policy"))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    scores, features = tmp_path / "scores.parquet", tmp_path / "features.parquet"
    SCORES.to_parquet(scores)
    FEATURES.to_parquet(features)
    return {"scores": scores, "features": features}


def _policy_file(tmp_path: Path, name: str, replace: dict[str, str], extra: str = "") -> Path:
    text = resources.files("lending").joinpath("policies/default.toml").read_text("utf-8")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text + extra, encoding="utf-8")
    return path


def _rows_by_grade(csv: Path) -> dict[str, dict[str, str]]:
    """The rows of a written CSV as text, exactly as written, by grade."""
    return {str(row["grade"]): {str(k): str(v) for k, v in row.items()}
            for row in pd.read_csv(csv, dtype=str).to_dict(orient="records")}


def simulate(*argv: str | Path) -> int:
    return main(["policy", "simulate", *map(str, argv)])


def test_prints_the_policy_version_and_hand_computed_figures_by_grade(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scores", files["scores"], "--features", files["features"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("policy 2026.11-default.1 (shipped default), LGD 0.45 (default), "
                      "amounts in CNY")
    assert out[2:] == [
        "grade   sellers  approved  referred  declined          exposure  expected loss"
        "   referred limits",
        "A             2   100.00%     0.00%     0.00%         45,000.00         150.53"
        "              0.00",
        "B             2    50.00%    50.00%     0.00%         37,000.00         333.00"
        "         87,000.00",
        "C             2    50.00%     0.00%    50.00%        100,000.00       2,250.00"
        "              0.00",
        "D             1     0.00%   100.00%     0.00%              0.00           0.00"
        "         12,000.00",
        "E             1     0.00%     0.00%   100.00%              0.00           0.00"
        "              0.00",
        TOTAL_LINE,
    ]


def test_sellers_missing_on_either_side_of_the_join_are_counted_and_named(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scores", files["scores"], "--features", files["features"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line == (f"8 of 9 scored sellers simulated ({files['scores']}, scores by "
                    "sme-credit-pd v3); not simulated: 1 scored seller without a feature row "
                    "(S9); 1 feature row without a score (S10)")


def test_writes_exact_amounts_to_csv(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report" / "simulation.csv"
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--out", out) == 0
    rows = _rows_by_grade(out)
    total = rows["total"]
    assert [total[c] for c in ("sellers", "approved", "referred", "declined")] == [
        "8", "4", "2", "2"]
    assert [total[c] for c in ("exposure", "expected_loss", "referred_limit")] == [
        "182000.00", "2733.53", "99000.00"]
    assert rows["A"]["expected_loss"] == "150.53"
    assert {row["policy_version"] for row in rows.values()} == {"2026.11-default.1"}
    assert {row["lgd"] for row in rows.values()} == {"0.45"}


def test_writes_decimal_amounts_to_parquet(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "simulation.parquet"
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--out", out) == 0
    table = pd.read_parquet(out).set_index("grade")
    assert table.loc["total", "exposure"] == Decimal("182000.00")
    assert table.loc["B", "referred_limit"] == Decimal("87000.00")
    assert table.loc["total", "approval_rate"] == 0.5


def test_reads_the_seller_figures_from_the_scores_file_when_it_holds_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "scores.csv"
    SCORES.join(FEATURES, how="inner").reset_index().to_csv(scores, index=False)
    assert simulate("--scores", scores) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"8 of 8 scored sellers simulated ({scores}, scores by sme-credit-pd v3)"
    assert out[-1] == TOTAL_LINE


def test_without_features_the_missing_figures_are_named(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scores", files["scores"]) == 2
    err = capsys.readouterr().err
    assert "lacks columns seller_kind, gmv_365d, median_payout_delay_days_365d" in err
    assert "--features" in err


def test_a_feature_table_without_a_column_the_policy_reads_is_refused_by_name(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    features = tmp_path / "features.csv"
    FEATURES.drop(columns=["gmv_365d"]).to_csv(features)
    assert simulate("--scores", files["scores"], "--features", features) == 2
    assert f"--features {features} lacks column gmv_365d" in capsys.readouterr().err


def test_a_scores_file_without_a_grade_is_refused_by_name(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "no_grade.parquet"
    SCORES.drop(columns=["grade"]).to_parquet(scores)
    assert simulate("--scores", scores, "--features", files["features"]) == 2
    assert f"--scores {scores} lacks column grade" in capsys.readouterr().err


def test_a_missing_pd_is_refused_naming_the_sellers(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "nan.parquet"
    broken = SCORES.copy()
    broken.loc[["S3", "S7"], "probability_of_default"] = float("nan")
    broken.to_parquet(scores)
    assert simulate("--scores", scores, "--features", files["features"]) == 2
    assert ("probability_of_default is missing (NaN) for 2 sellers: S3, S7"
            in capsys.readouterr().err)


def test_a_grade_the_policy_does_not_know_is_refused_with_its_count(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "grade_f.parquet"
    broken = SCORES.copy()
    broken.loc[["S6", "S7"], "grade"] = "F"
    broken.to_parquet(scores)
    assert simulate("--scores", scores, "--features", files["features"]) == 2
    assert ("policy 2026.11-default.1 has no rule for grade 'F' (2 sellers); it knows "
            "A, B, C, D, E") in capsys.readouterr().err


def test_a_missing_gmv_is_refused_but_a_missing_payout_delay_is_an_unknown_cash_cycle(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    features = tmp_path / "features.parquet"
    unknown_cycle = FEATURES.copy()
    unknown_cycle.loc["S1", "median_payout_delay_days_365d"] = float("nan")
    unknown_cycle.to_parquet(features)
    assert simulate("--scores", files["scores"], "--features", features) == 0
    grade_a = capsys.readouterr().out.splitlines()[3]
    assert grade_a.split()[:5] == ["A", "2", "50.00%", "50.00%", "0.00%"]  # S1 referred

    unknown_cycle.loc["S2", "gmv_365d"] = float("nan")
    unknown_cycle.to_parquet(features)
    assert simulate("--scores", files["scores"], "--features", features) == 2
    assert "gmv_365d is missing (NaN) for 1 seller: S2" in capsys.readouterr().err


def test_missing_files_are_named(files: dict[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scores", tmp_path / "nope.parquet") == 2
    assert f"--scores {tmp_path / 'nope.parquet'}: no such file" in capsys.readouterr().err
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--policy", tmp_path / "nope.toml") == 2
    assert f"--policy {tmp_path / 'nope.toml'}: no such file" in capsys.readouterr().err


def test_a_bad_policy_file_names_the_key(files: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    policy = _policy_file(tmp_path, "bad.toml", {'step = "1000.00"\n': ""})
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--policy", policy) == 2
    assert f"--policy {policy}: policy is missing limit.step" in capsys.readouterr().err
    policy = _policy_file(tmp_path, "bad_lgd.toml", {}, "\n[loss]\nlgd = 0.4\n")
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--policy", policy) == 2
    assert "loss.lgd = 0.4: write rates as strings" in capsys.readouterr().err


def test_the_policy_files_lgd_wins_over_the_option_and_says_so(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _policy_file(tmp_path, "lgd.toml", {}, '\n[loss]\nlgd = "0.50"\n')
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--policy", policy, "--lgd", "0.3") == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out[0] == (f"policy 2026.11-default.1 ({policy}), LGD 0.50 (policy file), "
                      "amounts in CNY")
    assert out[-1].split()[6] == "3,037.25"   # 2,733.525 / 0.45 * 0.5
    assert "--policy sets LGD 0.50; --lgd 0.3 is not used for it" in captured.err


def test_the_lgd_option_applies_when_the_policy_sets_none(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--lgd", "0.5") == 0
    out = capsys.readouterr().out.splitlines()
    assert "LGD 0.5 (--lgd)" in out[0]
    assert out[-1].split()[6] == "3,037.25"
    assert simulate("--scores", files["scores"], "--lgd", "1.5") == 2
    assert "--lgd must be a number between 0 and 1; got '1.5'" in capsys.readouterr().err


def test_compare_prints_both_policies_the_changes_and_the_sellers_that_move(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tighter = _policy_file(tmp_path, "tight.toml", {
        'version = "2026.11-default.1"': 'version = "2026.12-tight.1"',
        'refer_pd_above = "0.10"': 'refer_pd_above = "0.01"'}, '\n[loss]\nlgd = "0.40"\n')
    out_file = tmp_path / "both.csv"
    assert simulate("--scores", files["scores"], "--features", files["features"],
                    "--compare", tighter, "--out", out_file) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"compare 2026.12-tight.1 ({tighter}), LGD 0.40 (policy file), " \
                     "amounts in CNY"
    start = next(i for i, line in enumerate(out) if line.startswith("total"))
    total = out[start:start + 7]
    assert total[0].split() == ["total", "sellers", "8", "8"]  # no change: blank
    assert total[1].split() == ["approved", "50.00%", "12.50%", "-37.50", "pp"]
    assert total[4].split() == ["exposure", "182,000.00", "30,000.00", "-152,000.00"]
    assert total[5].split() == ["expected", "loss", "2,733.53", "60.00", "-2,673.53"]
    assert "outcome moves (2026.11-default.1 -> 2026.12-tight.1): 3 of 8 sellers change" \
        in out
    assert out[-4].split() == ["approve", "1", "3", "0"]
    written = pd.read_csv(out_file, dtype=str).to_dict(orient="records")
    assert [(row["policy"], row["policy_version"], row["exposure"]) for row in written
            if row["grade"] == "total"] == [("policy", "2026.11-default.1", "182000.00"),
                                           ("compare", "2026.12-tight.1", "30000.00")]


def test_simulates_what_sme_credit_score_wrote(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import features as feature_registry
    from models import train
    from synth.marketplace import generate_marketplace
    from tests.models.conftest import FAST

    market = generate_marketplace(300, 6, seed=5)
    table = feature_registry.build_features(market.orders, market.sellers, market.as_of)
    label = (market.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    model_folder = train(table, label, config=FAST).save(tmp_path / "tiny-pd")
    features_file, scores_file = tmp_path / "features.parquet", tmp_path / "scores.parquet"
    table.to_parquet(features_file)
    assert main(["score", "--features", str(features_file), "--out", str(scores_file),
                 "--model", str(model_folder)]) == 0
    capsys.readouterr()

    out_file = tmp_path / "simulation.csv"
    assert simulate("--scores", scores_file, "--features", features_file,
                    "--out", out_file) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(
        f"300 of 300 scored sellers simulated ({scores_file}, scores by tiny-pd v")
    # The same figures, seller by seller, straight from lending.policy.decide.
    scored = pd.read_parquet(scores_file).join(table[["seller_kind", "gmv_365d",
                                                      "median_payout_delay_days_365d"]])
    policy = load_policy()
    decisions = [
        decide(ScoredSeller(str(row["seller_id"]), row["probability_of_default"],
                            row["points"], row["grade"]),
               SellerProfile.from_feature_row(str(row["seller_id"]), row), policy)
        for row in ({str(k): v for k, v in record.items()}  # Python floats, not numpy's
                    for record in scored.reset_index().astype(object).to_dict(orient="records"))]
    approved = [d for d in decisions if d.outcome == "approve"]
    total = _rows_by_grade(out_file)["total"]
    assert int(total["sellers"]) == 300
    assert int(total["approved"]) == len(approved)
    assert Decimal(total["exposure"]) == sum((d.limit for d in approved), Decimal(0))


def test_a_pd_outside_zero_to_one_and_duplicate_sellers_are_refused(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "bad_pd.parquet"
    broken = SCORES.copy()
    broken.loc["S4", "probability_of_default"] = 1.5
    broken.to_parquet(scores)
    assert simulate("--scores", scores, "--features", files["features"]) == 2
    assert "probability_of_default is outside [0, 1] for 1 seller: S4" in \
        capsys.readouterr().err
    pd.concat([SCORES, SCORES.loc[["S1"]]]).to_parquet(scores)
    assert simulate("--scores", scores, "--features", files["features"]) == 2
    assert "1 seller_id values appear more than once: S1" in capsys.readouterr().err
