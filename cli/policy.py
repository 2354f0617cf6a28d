"""``sme-credit policy simulate``: what a credit policy does to a scored population.

Loads the scores written by ``sme-credit score`` and the sellers' figures the policy reads
(from ``--features`` or from the scores file itself), decides every seller with
:func:`lending.policy.decide`, folds the decisions with :func:`lending.simulation.summarize`
(or :func:`lending.simulation.compare` for two policies) and prints the table. Only
loading, looping and printing live here; every rule is in :mod:`lending`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from cli import CliError
from cli.files import refuse_writing_over_inputs, write_table
from lending.errors import LendingError
from lending.policy import CreditDecision, CreditPolicy, Outcome, SellerProfile, decide
from lending.simulation import (
    DEFAULT_LGD,
    PROFILE_COLUMNS,
    PolicyComparison,
    PolicySummary,
    ScoredSeller,
    SimulationPolicy,
    compare,
    load_simulation_policy,
    summarize,
)
from settings import Settings

__all__ = ["register", "simulate_command", "summary_frame"]

#: PD columns of a score table, in order of preference (``sme-credit score`` writes the
#: first; ``pd`` is what the policy calls it).
PD_COLUMNS: tuple[str, ...] = ("probability_of_default", "pd")
SCORE_COLUMNS: tuple[str, ...] = ("points", "grade")
MODEL_COLUMNS: tuple[str, ...] = ("model_name", "model_version")
#: How many seller ids an error or note names before "...".
SHOWN_IDS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``policy`` command and its ``simulate`` sub-command."""
    policy = subparsers.add_parser(
        "policy", help="credit-policy tools: simulate a policy on a scored population",
        description="Credit-policy tools.")
    commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND",
                                     required=True)
    simulate = commands.add_parser(
        "simulate", help="approval, referral and decline rates, exposure and expected loss "
        "of a policy on scored sellers, by grade",
        description="Decide every scored seller with a credit policy and print, by grade "
        "and in total: sellers, approval, referral and decline rates, exposure (sum of the "
        "approved limits), expected loss (PD x approved limit x LGD) and the limits of the "
        "referred sellers. The LGD is the policy file's [loss] lgd when it sets one, else "
        "--lgd. Nothing is changed anywhere; use it before a policy ships.")
    simulate.add_argument("--scores", required=True, type=Path, metavar="PATH",
                          help="scores written by `sme-credit score` (.parquet, .csv or "
                          ".csv.gz): probability_of_default (or pd), points, grade, indexed "
                          "by seller id")
    simulate.add_argument("--features", type=Path, metavar="PATH",
                          help="feature table with " + ", ".join(PROFILE_COLUMNS) + ", "
                          "joined on the seller id (default: these columns of --scores)")
    simulate.add_argument("--policy", type=Path, metavar="PATH.toml",
                          help="policy file (default: the shipped lending/policies/"
                          "default.toml)")
    simulate.add_argument("--compare", type=Path, metavar="PATH.toml",
                          help="a second policy file: print both side by side with the "
                          "differences and the sellers whose outcome changes")
    simulate.add_argument("--lgd", metavar="FRACTION",
                          help="loss given default, 0 to 1, for a policy file that sets no "
                          f"[loss] lgd (default: {DEFAULT_LGD})")
    simulate.add_argument("--out", type=Path, metavar="PATH",
                          help="also write the table (.csv or .parquet; amounts exact)")
    simulate.add_argument("--id-column", default="seller_id", metavar="COLUMN",
                          help="seller id column or index name, the join key (default: "
                          "%(default)s)")
    simulate.set_defaults(handler=simulate_command)


# ------------------------------------------------------------------ loading
def _load_policy(path: Path | None, option: str) -> SimulationPolicy:
    if path is not None and not path.is_file():
        raise CliError(f"{option} {path}: no such file")
    try:
        return load_simulation_policy(path)
    except LendingError as exc:
        raise CliError(f"{option} {path or '(default policy)'}: {exc}") from None


def _parse_lgd(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        lgd = Decimal(text.strip())
    except InvalidOperation:
        raise CliError(f"--lgd must be a number between 0 and 1; got {text!r}") from None
    if not lgd.is_finite() or not 0 <= lgd <= 1:
        raise CliError(f"--lgd must be a number between 0 and 1; got {text!r}")
    return lgd


def _read(path: Path, option: str, wanted: Sequence[str], id_column: str) -> pd.DataFrame:
    """Read the columns of ``wanted`` that the table has (a score file's reasons JSON can
    be large), indexed by ``id_column`` as text."""
    if not path.is_file():
        raise CliError(f"{option} {path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            present = set(pq.read_schema(path).names)
            frame = pd.read_parquet(path, columns=[c for c in (id_column, *wanted)
                                                   if c in present])
        elif name.endswith((".csv", ".csv.gz")):
            keep = {id_column, *wanted}
            frame = pd.read_csv(path, usecols=lambda column: column in keep,
                                dtype={id_column: str})
        else:
            raise CliError(f"{option} {path}: unsupported file type (use .parquet, .csv or "
                           ".csv.gz)")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"{option} {path}: cannot read the table ({exc})") from None
    if id_column in frame.columns:
        frame = frame.set_index(id_column)
    if frame.index.name != id_column:
        raise CliError(f"{option} {path}: no seller id: neither a column nor an index named "
                       f"{id_column!r} (use --id-column)")
    frame.index = frame.index.astype(str)
    duplicated = frame.index[frame.index.duplicated()].unique()
    if len(duplicated):
        raise CliError(f"{option} {path}: {len(duplicated):,} {id_column} values appear more "
                       f"than once: {_ids(duplicated)}")
    return frame


def _ids(values: Sequence[Any] | pd.Index) -> str:
    shown = ", ".join(str(v) for v in list(values[:SHOWN_IDS]))
    return shown + (", ..." if len(values) > SHOWN_IDS else "")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _require(frame: pd.DataFrame, columns: Sequence[str], where: str, hint: str = "") -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CliError(f"{where} lacks column{'s' if len(missing) > 1 else ''} "
                       + ", ".join(missing) + hint)


def _refuse_missing_values(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    for column in columns:
        empty = frame.index[frame[column].isna().to_numpy()]
        if len(empty):
            raise CliError(f"{where}: {column} is missing (NaN) for "
                           f"{_count(len(empty), 'seller')}: {_ids(empty)}")


@dataclass(frozen=True)
class Population:
    """The scored sellers to simulate and what the join of scores and features left out."""

    #: ``pd``, ``points``, ``grade`` and :data:`PROFILE_COLUMNS`, indexed by seller id.
    frame: pd.DataFrame
    scored: int
    #: Scored sellers without a feature row, and feature rows without a score.
    without_features: pd.Index
    without_score: pd.Index
    models: str

    def describe(self, scores: Path) -> str:
        """One line: how many sellers are simulated, from what, and who is left out."""
        line = f"{len(self.frame):,} of {self.scored:,} scored sellers simulated ({scores}"
        line += f", scores by {self.models})" if self.models else ")"
        left_out = []
        if len(self.without_features):
            left_out.append(f"{_count(len(self.without_features), 'scored seller')} "
                            f"without a feature row ({_ids(self.without_features)})")
        if len(self.without_score):
            left_out.append(f"{_count(len(self.without_score), 'feature row')} without a "
                            f"score ({_ids(self.without_score)})")
        return line + ("; not simulated: " + "; ".join(left_out) if left_out else "")


def load_population(args: argparse.Namespace) -> Population:
    """Join the scores with the figures the policy reads (see :class:`Population`).

    Sellers present on one side of the join only are not simulated; they are counted and
    named in :meth:`Population.describe`, never dropped silently.
    """
    wanted = [*PD_COLUMNS, *SCORE_COLUMNS, *MODEL_COLUMNS]
    if args.features is None:
        wanted += PROFILE_COLUMNS
    scores = _read(args.scores, "--scores", wanted, args.id_column)
    where = f"--scores {args.scores}"
    pd_column = next((c for c in PD_COLUMNS if c in scores.columns), None)
    if pd_column is None:
        raise CliError(f"{where} lacks column probability_of_default (or pd): is it the "
                       "output of `sme-credit score`?")
    _require(scores, SCORE_COLUMNS, where)
    _refuse_missing_values(scores, [pd_column, *SCORE_COLUMNS], where)
    if not pd.api.types.is_numeric_dtype(scores[pd_column]):
        raise CliError(f"{where}: {pd_column} is not numeric")
    outside = scores.index[~scores[pd_column].between(0, 1).to_numpy()]
    if len(outside):
        raise CliError(f"{where}: {pd_column} is outside [0, 1] for "
                       f"{_count(len(outside), 'seller')}: {_ids(outside)}")
    if scores.empty:
        raise CliError(f"{where} holds no sellers")
    population = pd.DataFrame({"pd": scores[pd_column], "points": scores["points"],
                               "grade": scores["grade"].astype(str)}, index=scores.index)
    if args.features is None:
        _require(scores, PROFILE_COLUMNS, where,
                 " (the seller figures the policy reads): give the feature table with "
                 "--features")
        profile = scores[list(PROFILE_COLUMNS)]
        profile_where = where
    else:
        profile = _read(args.features, "--features", PROFILE_COLUMNS, args.id_column)
        profile_where = f"--features {args.features}"
        _require(profile, PROFILE_COLUMNS, profile_where)
    joined = population.join(profile, how="inner")
    if joined.empty:
        raise CliError("no seller has both a score and the figures the policy reads "
                       f"(check --id-column {args.id_column})")
    # A missing payout delay is an unknown cash cycle, which the policy refers; a missing
    # GMV or seller kind is a broken feature row.
    _refuse_missing_values(joined, ["gmv_365d", "seller_kind"], profile_where)
    return Population(joined, len(population),
                      without_features=population.index.difference(profile.index),
                      without_score=profile.index.difference(population.index),
                      models=_models(scores))


def _models(scores: pd.DataFrame) -> str:
    if not all(c in scores.columns for c in MODEL_COLUMNS):
        return ""
    pairs = scores[list(MODEL_COLUMNS)].astype(str).drop_duplicates()
    return "; ".join(f"{name} v{version}" for name, version in pairs.itertuples(index=False))


def _refuse_unknown_grades(population: pd.DataFrame, policy: CreditPolicy,
                           option: str) -> None:
    counts = population["grade"].value_counts()
    unknown = [g for g in counts.index if g not in policy.grades]
    if unknown:
        raise CliError(f"{option}: policy {policy.version} has no rule for grade"
                       f"{'s' if len(unknown) > 1 else ''} "
                       + ", ".join(f"{g!r} ({counts[g]:,} sellers)" for g in unknown)
                       + f"; it knows {', '.join(policy.grades)}")


# ------------------------------------------------------------------ deciding
def _applications(population: pd.DataFrame) -> Iterator[tuple[ScoredSeller, SellerProfile]]:
    # Column lists hold Python floats (numpy scalars would not convert exactly).
    columns = {c: population[c].tolist() for c in ("pd", "points", "grade", *PROFILE_COLUMNS)}
    for i, seller_id in enumerate(population.index.tolist()):
        try:
            seller = SellerProfile.from_feature_row(
                seller_id, {c: columns[c][i] for c in PROFILE_COLUMNS})
        except LendingError as exc:
            raise CliError(f"seller {seller_id}: {exc}") from None
        yield (ScoredSeller(seller_id, columns["pd"][i], columns["points"][i],
                            columns["grade"][i]), seller)


def _decide(score: ScoredSeller, seller: SellerProfile, policy: CreditPolicy,
            ) -> CreditDecision:
    try:
        return decide(score, seller, policy)
    except LendingError as exc:
        raise CliError(f"seller {score.seller_id} under policy {policy.version}: "
                       f"{exc}") from None


def _progress(population: pd.DataFrame) -> tqdm:
    return tqdm(_applications(population), total=len(population), desc="simulate",
                unit="seller", file=sys.stderr, disable=None, leave=False)


# ------------------------------------------------------------------ handler
def simulate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Decide every seller, print the table (or the comparison), write it when asked."""
    if args.out is not None and not args.out.name.lower().endswith(
            (".csv", ".parquet", ".pq")):
        raise CliError(f"--out {args.out}: write .csv or .parquet")
    if args.out is not None:
        refuse_writing_over_inputs(args.out, {"--scores": args.scores,
                                              "--features": args.features,
                                              "--policy": args.policy,
                                              "--compare": args.compare})
    lgd_option = _parse_lgd(args.lgd)
    default_lgd = lgd_option if lgd_option is not None else DEFAULT_LGD
    base = _load_policy(args.policy, "--policy")
    other = None if args.compare is None else _load_policy(args.compare, "--compare")
    loaded = load_population(args)
    population = loaded.frame
    _refuse_unknown_grades(population, base.policy, f"--policy {args.policy or '(default)'}")
    if other is not None:
        _refuse_unknown_grades(population, other.policy, f"--compare {args.compare}")
    notes = []
    for label, chosen in (("--policy", base), ("--compare", other)):
        if chosen is not None and chosen.lgd is not None and lgd_option is not None \
                and chosen.lgd != lgd_option:
            notes.append(f"{label} sets LGD {chosen.lgd}; --lgd {lgd_option} is not used "
                         "for it")
    if other is not None and other.policy.version == base.policy.version:
        notes.append(f"both policies carry version {base.policy.version}: change the "
                     "version with any change of a policy file")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)

    # Decide everyone first: an error half-way prints no half of a report.
    lines = [_policy_line("policy", base, args.policy, lgd_option, default_lgd)]
    if other is None:
        summary = summarize((_decide(score, seller, base.policy)
                             for score, seller in _progress(population)),
                            base.policy, base.lgd_or(default_lgd))
        lines += [loaded.describe(args.scores), render_summary(summary)]
        frame = summary_frame(summary)
    else:
        comparison = compare(((_decide(score, seller, base.policy),
                               _decide(score, seller, other.policy))
                              for score, seller in _progress(population)),
                             base.policy, other.policy, base_lgd=base.lgd_or(default_lgd),
                             other_lgd=other.lgd_or(default_lgd))
        lines += [_policy_line("compare", other, args.compare, lgd_option, default_lgd),
                  loaded.describe(args.scores), render_comparison(comparison)]
        frame = pd.concat([summary_frame(comparison.base, "policy"),
                           summary_frame(comparison.other, "compare")], ignore_index=True)
    print("\n".join(lines))
    if args.out is not None:
        write_table(frame, args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def _policy_line(label: str, chosen: SimulationPolicy, path: Path | None,
                 lgd_option: Decimal | None, default_lgd: Decimal) -> str:
    source = str(path) if path is not None else "shipped default"
    if chosen.lgd is not None:
        lgd = f"LGD {chosen.lgd} (policy file)"
    elif lgd_option is not None:
        lgd = f"LGD {lgd_option} (--lgd)"
    else:
        lgd = f"LGD {default_lgd} (default)"
    return f"{label} {chosen.policy.version} ({source}), {lgd}, amounts in " \
           f"{chosen.policy.currency}"


# ------------------------------------------------------------------ rendering
def _percent(rate: Decimal | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _amount(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def render_summary(summary: PolicySummary) -> str:
    """The summary as a fixed-width table, one line per grade and the total."""
    header = (f"{'grade':<6}{'sellers':>9}{'approved':>10}{'referred':>10}{'declined':>10}"
              f"{'exposure':>18}{'expected loss':>15}{'referred limits':>18}")
    lines = [header]
    for row in summary.rows:
        lines.append(f"{row.grade:<6}{row.sellers:>9,}{_percent(row.approval_rate):>10}"
                     f"{_percent(row.referral_rate):>10}{_percent(row.decline_rate):>10}"
                     f"{_amount(row.exposure):>18}{_amount(row.expected_loss):>15}"
                     f"{_amount(row.referred_limit):>18}")
    return "\n".join(lines)


_METRICS: tuple[tuple[str, str], ...] = (
    ("sellers", "sellers"), ("approval_rate", "approved"), ("referral_rate", "referred"),
    ("decline_rate", "declined"), ("exposure", "exposure"),
    ("expected_loss", "expected loss"), ("referred_limit", "referred limits"))


def _cell(metric: str, value: Any) -> str:
    if metric == "sellers":
        return f"{value:,}"
    if metric.endswith("_rate"):
        return _percent(value)
    return _amount(value)


def _change(metric: str, before: Any, after: Any) -> str:
    if metric.endswith("_rate"):
        if before is None or after is None or before == after:
            return ""
        return f"{(after - before) * 100:+.2f} pp"
    if before == after:
        return ""
    return f"{after - before:+,}" if metric == "sellers" else f"{after - before:+,.2f}"


def render_comparison(comparison: PolicyComparison) -> str:
    """Both policies side by side, metric by metric for every grade, with the changes
    (blank where nothing changes), then the sellers that move between outcomes."""
    base, other = comparison.base, comparison.other
    table = [("grade", "", base.policy_version, other.policy_version, "change")]
    for before, after in zip(base.rows, other.rows, strict=True):
        for i, (metric, label) in enumerate(_METRICS):
            first, second = getattr(before, metric), getattr(after, metric)
            table.append((before.grade if i == 0 else "", label, _cell(metric, first),
                          _cell(metric, second), _change(metric, first, second)))
    widths = [max(len(row[k]) for row in table) for k in range(5)]
    lines = [f"{grade:<{widths[0]}} {label:<{widths[1]}}  {first:>{widths[2]}}  "
             f"{second:>{widths[3]}}  {change:>{widths[4]}}".rstrip()
             for grade, label, first, second, change in table]
    outcomes: tuple[Outcome, ...] = ("approve", "refer", "decline")
    lines += ["", f"outcome moves ({base.policy_version} -> {other.policy_version}): "
              f"{comparison.changed:,} of {base.total.sellers:,} sellers change",
              f"{'':<10}" + "".join(f"{'-> ' + o:>13}" for o in outcomes)]
    for before_outcome in outcomes:
        lines.append(f"{before_outcome:<10}" + "".join(
            f"{comparison.moves[before_outcome, o]:>13,}" for o in outcomes))
    return "\n".join(lines)


def summary_frame(summary: PolicySummary, label: str | None = None) -> pd.DataFrame:
    """The summary as a table: counts, rates (floats), amounts as exact ``Decimal``."""
    records = []
    for row in summary.rows:
        records.append({
            **({"policy": label} if label is not None else {}),
            "policy_version": summary.policy_version, "currency": summary.currency,
            "lgd": str(summary.lgd), "grade": row.grade, "sellers": row.sellers,
            "approved": row.approved, "referred": row.referred, "declined": row.declined,
            **{name: None if rate is None else float(rate) for name, rate in (
                ("approval_rate", row.approval_rate), ("referral_rate", row.referral_rate),
                ("decline_rate", row.decline_rate))},
            "exposure": row.exposure, "expected_loss": row.expected_loss,
            "referred_limit": row.referred_limit})
    return pd.DataFrame.from_records(records)
