"""``sme-credit simulate``: a simulated book, run through the real services.

The synthetic marketplace runs forward month by month on the service's store (the
settings' database, or ``--database``) in simulated time: records arrive, sellers apply
and are decided by the champion, approved sellers draw and repay as their hidden health
says, end of day closes every day (docs/simulation.md). The store must be empty. With no
champion in the registry a first one is trained on a separate synthetic marketplace and
promoted. At the end the book is printed by grade, and ``--out`` receives
``outcomes.parquet`` (every decision with what the simulator knows of the seller; the
declined and referred ones are the outcomes the store never sees) and ``simulation.json``
(the run's figures) and ``panel.parquet`` (every line at every month end, as end of
day left it, for ``sme-credit backtest --panel``). ``sme-credit labels``, ``backtest``
and ``train`` then run on the store; a service on it needs ``SME_CREDIT_CLOCK=simulated``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path

from cli import CliError
from cli.files import write_file, write_table
from settings import Settings
from store import make_engine, upgrade_database

__all__ = ["register", "run_simulate"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate", help="run the synthetic marketplace forward through the service",
        description="Simulate a book on an empty store: monthly order records and credit "
        "decisions, daily draws, repayments and end of day, in simulated time. Prints the "
        "book by grade; writes the decisions with the sellers' hidden outcomes to --out.")
    parser.add_argument("--sellers", type=int, required=True, metavar="N",
                        help="sellers in the marketplace")
    parser.add_argument("--months", type=int, required=True, metavar="M",
                        help="months to simulate")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the marketplace and of every behaviour (default 0)")
    parser.add_argument("--start", metavar="YYYY-MM-DD", default=None,
                        help="first simulated day, in the lender's time zone (default "
                        "2025-07-01)")
    parser.add_argument("--history-months", type=int, default=12, metavar="N",
                        help="months of records before the first day (default 12)")
    parser.add_argument("--base-default-rate", type=float, default=0.05, metavar="RATE",
                        help="the marketplace's mean 12-month probability of default, in "
                        "(0, 0.5) (default 0.05)")
    parser.add_argument("--review-every-months", type=int, default=3, metavar="N",
                        help="review each line every N months on book with a new decision "
                        "(approve: the review's limit; decline: the limit cut to zero); 0: "
                        "no reviews (default 3)")
    parser.add_argument("--database", metavar="URL", default=None,
                        help="the store (default: the settings' database, "
                        "SME_CREDIT_DATABASE_URL or <data_dir>/sme_credit.db); must be "
                        "empty")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for outcomes.parquet and simulation.json (default "
                        "<data_dir>/simulation)")
    parser.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Run the simulation and print the book."""
    from lending.policy import load_policy
    from scoring import Scorer
    from simulation import SimulationConfig, ensure_champion, simulate
    from simulation.run import DEFAULT_START, relax_durability

    start = DEFAULT_START
    if args.start is not None:
        try:
            start = date.fromisoformat(args.start)
        except ValueError:
            raise CliError(f"--start is not a date (YYYY-MM-DD): {args.start!r}") from None
    config = SimulationConfig(sellers=args.sellers, months=args.months, seed=args.seed,
                              history_months=args.history_months, start=start,
                              base_default_rate=args.base_default_rate,
                              review_every_months=args.review_every_months)
    try:
        config.check()
    except ValueError as exc:
        option = str(exc).split(" ", 1)[0].replace("_", "-")
        raise CliError(f"--{option}: {exc}") from None
    if settings.clock != "simulated":
        print("note: the store runs in simulated time; serve it with "
              "SME_CREDIT_CLOCK=simulated", file=sys.stderr)
    out = args.out if args.out is not None else settings.data_dir / "simulation"
    if out.exists() and not out.is_dir():
        raise CliError(f"--out: {out} is a file, not a folder")
    url = args.database or settings.resolved_database_url()
    if not args.database and not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"store: {url}", file=sys.stderr)
    import pandas as pd
    import sqlalchemy as sa

    engine = make_engine(url)
    relax_durability(engine)
    try:
        upgrade_database(engine)
        with engine.connect() as connection:
            held = int(connection.execute(sa.text("SELECT count(*) FROM seller")).scalar_one())
        if held:
            raise CliError(f"the store {url} already holds {held} sellers; a simulation "
                           "needs an empty store (--database, or SME_CREDIT_DATA_DIR / "
                           "SME_CREDIT_DATABASE_URL)")
        print("model: looking for the champion ...", file=sys.stderr, flush=True)
        try:
            version, trained = ensure_champion(
                settings.resolved_tracking_uri(), settings.model_name,
                artifact_location=None if settings.mlflow_tracking_uri
                else settings.artifact_location(),
                as_of=pd.Timestamp(start.isoformat(), tz=settings.timezone).tz_convert("UTC"),
                sellers=min(max(args.sellers, 1000), 3000),
                history_months=args.history_months, seed=args.seed + 1)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        print(f"model: {settings.model_name} version {version} "
              f"({'trained and promoted now' if trained else 'the champion'})",
              file=sys.stderr)
        scorer = Scorer.load(f"models:/{settings.model_name}@{settings.model_alias}",
                             tracking_uri=settings.resolved_tracking_uri())
        policy = load_policy(settings.policy_path)
        try:
            result = simulate(engine, config, scorer=scorer, policy=policy,
                              timezone=settings.timezone,
                              snapshot_max_age=timedelta(
                                  seconds=settings.snapshot_max_age_seconds),
                              progress=True)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    write_table(result.outcomes, out / "outcomes.parquet", index=False)
    write_table(result.panel, out / "panel.parquet", index=False)
    summary = {
        "sellers": config.sellers, "months": config.months, "seed": config.seed,
        "history_months": config.history_months,
        "base_default_rate": config.base_default_rate,
        "review_every_months": config.review_every_months,
        "first_day": result.first_day.isoformat(),
        "last_day": result.last_day.isoformat(), "model_version": version,
        "decisions": dict(result.decisions), "reviews": dict(result.reviews),
        "failed_before_book": result.failed_before, "draws": result.draws,
        "draws_refused": result.draws_refused, "payments": dict(result.payments),
        "days_closed": result.days_closed,
        "book": result.book.frame.to_dict(orient="records"),
        "seconds": {name: round(value, 2) for name, value in result.timings.items()},
    }
    write_file(out / "simulation.json", lambda path: path.write_text(
        json.dumps(summary, indent=2) + "\n"), option="--out")
    decided = ", ".join(f"{name} {count:,}" for name, count in sorted(result.decisions.items()))
    reviewed = ", ".join(f"{name} {count:,}" for name, count in sorted(result.reviews.items()))
    paid = ", ".join(f"{name} {count:,}" for name, count in sorted(result.payments.items()))
    print(f"simulated {result.first_day} to {result.last_day}: {result.days_closed} days "
          f"closed; decisions: {decided}; reviews: {reviewed or 'none'}; draws {result.draws:,} "
          f"({result.draws_refused:,} refused); payments: {paid}; "
          f"{result.failed_before:,} of {config.sellers:,} sellers had failed before the "
          "book (never applied)")
    print(result.book.to_text())
    print("seconds by phase: " + ", ".join(f"{name} {value:.1f}" for name, value
                                           in result.timings.items()), file=sys.stderr)
    kept = int(result.outcomes["kept_aside"].sum())
    print(f"wrote {len(result.outcomes):,} decisions with their hidden outcomes "
          f"({kept:,} kept aside: no line) to {out / 'outcomes.parquet'}; figures in "
          f"{out / 'simulation.json'}; month-end panel (for backtest --panel) in "
          f"{out / 'panel.parquet'}")
    return 0
