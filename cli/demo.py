"""``sme-credit demo``: the end-to-end pipeline on the synthetic marketplace.

What ``make run`` does until the HTTP service exists. Each step is the same sub-command a
user would run by hand, so the demo exercises exactly the documented paths:

1. ``sme-credit synth``: a synthetic marketplace under ``<data_dir>/demo/market``
   (skipped when it is already there, so a second run is quick);
2. ``sme-credit features``: point-in-time features of every seller as of the marketplace's
   as-of date, loaded through the record contract, written to
   ``<data_dir>/demo/features.parquet``;
3. ``sme-credit train`` and ``sme-credit promote``: when the model registry has no
   ``champion`` yet, a PD model trained on those features and the marketplace's ground
   truth for the sellers its approval policy approved (``observed_default_12m``: the
   declined sellers have no observed outcome and are left out), registered in the
   embedded MLflow store and promoted through the gates;
4. ``sme-credit models``: the registered versions;
5. the service's store (skipped for what is already there): the marketplace's records
   loaded into the database with every seller's feature snapshot, an officer login
   ``officer`` and a ``marketplace`` API key (each printed once: only hashes are kept),
   and credit decisions for a sample of sellers so that the officer queue has referred
   cases.

``make run`` then starts ``sme-credit serve``. The marketplace is generated as of the
start of today in the lender's time zone, so the service's "now" falls right after the
records end.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from cli import CliError
from settings import Settings

__all__ = ["register", "run", "demo_paths"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command to the ``sme-credit`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="run the end-to-end demo pipeline on a synthetic marketplace",
        description="Generate a synthetic marketplace (unless one exists under the data "
        "folder), then build its point-in-time seller features, and say what was written.",
    )
    parser.add_argument("--sellers", type=int, default=5_000, metavar="N",
                        help="sellers in the synthetic marketplace (default 5000)")
    parser.add_argument("--months", type=int, default=24, metavar="M",
                        help="months of trade records (default 24)")
    parser.add_argument("--seed", type=int, default=20261123, metavar="S",
                        help="random seed (default 20261123)")
    parser.add_argument("--fresh", action="store_true",
                        help="generate a new marketplace even when one exists")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="stop after the features (no model training, no service data)")
    parser.add_argument("--decisions", type=int, default=300, metavar="N",
                        help="sellers to decide on when the store has no decision yet, so "
                        "the officer queue has cases (default 300)")
    parser.set_defaults(handler=run)


def demo_paths(settings: Settings) -> dict[str, Path]:
    """Where the demo keeps its files under the data folder."""
    root = settings.data_dir / "demo"
    return {
        "root": root,
        "market": root / "market",
        "sellers": root / "market" / "sellers.parquet",
        "orders": root / "market" / "orders.parquet",
        "truth": root / "market" / "truth.parquet",
        "manifest": root / "market" / "manifest.json",
        "features": root / "features.parquet",
    }


def _start_of_today(settings: Settings) -> datetime:
    """Midnight today in the lender's time zone, in UTC."""
    zone = ZoneInfo(settings.timezone)
    today = datetime.now(zone).date()
    return datetime.combine(today, time(0), zone).astimezone(UTC)


def _step(title: str, argv: list[str], *, verbose: bool = False) -> None:
    from cli import main

    print(f"\n== {title}: sme-credit {' '.join(argv)}", flush=True)
    status = main(["--verbose", *argv] if verbose else argv)
    if status != 0:
        raise CliError(f"step '{title}' failed with exit status {status}")


def _has_champion(settings: Settings) -> bool:
    from models.registry import list_versions

    try:
        versions = list_versions(settings.resolved_tracking_uri(), settings.model_name)
    except LookupError:
        return False
    return bool(versions["aliases"].str.split(",").apply(lambda a: "champion" in a).any())


def _train_champion(settings: Settings, paths: dict[str, Path], *, verbose: bool = False,
                    ) -> None:
    """Train, register and promote a first model unless a champion is already there."""
    if _has_champion(settings):
        print(f"\nmodel {settings.model_name!r} already has a champion at "
              f"{settings.resolved_tracking_uri()}; not retraining")
    else:
        import pyarrow.parquet as pq

        # A marketplace written before generator 2.0 has no approval policy: every label.
        label = "observed_default_12m" if "observed_default_12m" in \
            pq.read_schema(paths["truth"]).names else "defaulted_12m"
        _step("train a PD model", [
            "train", "--features", str(paths["features"]), "--labels", str(paths["truth"]),
            "--label", label], verbose=verbose)
        _step("promote it to champion", ["promote", "--by", "sme-credit demo"],
              verbose=verbose)
    _step("registered models", ["models"], verbose=verbose)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo pipeline; every step is an ordinary sub-command."""
    paths = demo_paths(settings)
    verbose = bool(getattr(args, "verbose", False))  # the global -v, passed to every step
    if args.sellers < 1 or args.months < 1:
        raise CliError("--sellers and --months must be at least 1")
    market_ready = paths["manifest"].exists() and paths["orders"].exists() \
        and paths["sellers"].exists()
    if args.fresh or not market_ready:
        _step("synthetic marketplace", [
            "synth", "--sellers", str(args.sellers), "--months", str(args.months),
            "--seed", str(args.seed), "--out", str(paths["market"]),
            "--as-of", _start_of_today(settings).isoformat()], verbose=verbose)
    else:
        print(f"using the synthetic marketplace in {paths['market']} (--fresh makes a new one)")
    manifest = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    as_of = str(manifest["as_of"])
    _step("point-in-time features", [
        "features", "--orders", str(paths["orders"]), "--sellers", str(paths["sellers"]),
        "--as-of", as_of, "--out", str(paths["features"])], verbose=verbose)
    if args.train:
        _train_champion(settings, paths, verbose=verbose)
        from cli.bootstrap import bootstrap_service

        bootstrap_service(settings, paths["sellers"], paths["orders"],
                          decisions=args.decisions)
    print("\nThe demo wrote:")
    for name in ("sellers", "orders", "truth", "manifest", "features"):
        print(f"  {name:<9} {paths[name]}")
    print(f"Features describe every seller as of {as_of}; the ground truth (true default "
          "probability, default within 12 months) is in the truth file.")
    return 0
