"""The ``sme-credit`` command line.

Each sub-command lives in its own module with a ``register(subparsers)`` function that
adds its parser and sets ``handler``. Errors that a user can fix are printed as one clear
message (naming the file, row and field where there is one) with exit status 2; nothing is
written when the input is rejected.

A command prints what it means: MLflow's own chatter (its INFO log lines, alembic's, its
"Downloading artifacts" progress bars, the run address it prints after a run) is hidden
unless the global ``-v/--verbose`` option is given; the project's own messages and progress
bars stay either way, and warnings still show.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import import_module

from settings import Settings

__all__ = ["main", "CliError", "quiet_mlflow"]

#: MLflow's switches of its own output, as a quiet command sets them. The log level is read
#: when MLflow is imported (child processes too), the others each time they apply.
QUIET_MLFLOW_ENVIRONMENT: dict[str, str] = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
#: Loggers kept at WARNING by a quiet command (MLflow's, and alembic's: store migrations).
QUIET_LOGGERS: tuple[str, ...] = ("mlflow", "alembic")

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "cli.synth",
    "cli.features",
    "cli.models",
    "cli.backtest",
    "cli.scoring",
    "cli.policy",
    "cli.demo",
    "cli.records",
    "cli.keys",
    "cli.eod",
    "cli.ledger",
    "cli.export",
    "cli.labels",
    "cli.simulate",
    "cli.serve",
)


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


@contextlib.contextmanager
def quiet_mlflow(quiet: bool = True) -> Iterator[None]:
    """Hide MLflow's own output for the block (when ``quiet``), then restore it as it was.

    Sets :data:`QUIET_MLFLOW_ENVIRONMENT` (before MLflow is imported, or while it runs)
    and the levels of :data:`QUIET_LOGGERS` to WARNING, so that MLflow's INFO lines,
    alembic's migration lines, the "Downloading artifacts" progress bars and the run
    address are not printed; warnings and errors still are. With ``quiet=False`` nothing
    changes.

    Parameters
    ----------
    quiet : hide the output (``False``: leave MLflow as it is configured).
    """
    if not quiet:
        yield
        return
    environment = {name: os.environ.get(name) for name in QUIET_MLFLOW_ENVIRONMENT}
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    os.environ.update(QUIET_MLFLOW_ENVIRONMENT)
    for logger in loggers:
        logger.setLevel(max(logger.level, logging.WARNING))
    try:
        yield
    finally:
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    """The ``sme-credit`` parser: the global options and every sub-command."""
    parser = argparse.ArgumentParser(
        prog="sme-credit",
        description="SME credit scoring and micro-loan engine built on marketplace records.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show MLflow's own output: its log messages and its "
                        "artifact progress bars (hidden by default)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        register: Callable[[argparse._SubParsersAction], None] = import_module(module_name).register
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sme-credit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        with quiet_mlflow(not args.verbose):
            result = args.handler(args, settings)
    except CliError as exc:
        print(f"sme-credit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"sme-credit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sme-credit {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
