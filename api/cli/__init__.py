"""The ``sme-credit`` command line.

Each sub-command lives in its own module with a ``register(subparsers)`` function that
adds its parser and sets ``handler``. Errors that a user can fix are printed as one clear
message (naming the file, row and field where there is one) with exit status 2; nothing is
written when the input is rejected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from api.settings import Settings

__all__ = ["main", "CliError"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "api.cli.synth",
    "api.cli.features",
    "api.cli.models",
    "api.cli.scoring",
    "api.cli.policy",
    "api.cli.demo",
    "api.cli.records",
    "api.cli.keys",
    "api.cli.serve",
)


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sme-credit",
        description="SME credit scoring and micro-loan engine built on marketplace records.",
    )
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
