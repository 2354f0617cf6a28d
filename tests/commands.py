"""Running ``sme-credit`` commands inside a test's own process."""

from __future__ import annotations

from settings import Settings


def run_command(argv: list[str], settings: Settings) -> int:
    """Runs one ``sme-credit`` command (``argv`` without the program name) with
    ``settings`` and returns its exit status, through the one parser the console script
    uses (:func:`cli.build_parser`)."""
    from cli import build_parser

    args = build_parser().parse_args(argv)
    return int(args.handler(args, settings))
