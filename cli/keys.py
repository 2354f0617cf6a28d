"""``sme-credit keys`` and ``sme-credit users``: API keys for machines, logins for people.

``keys create`` prints the new key once, alone on standard output (so
``KEY=$(sme-credit keys create --role marketplace --name shop-backend)`` works), and what
it is on standard error; only a hash of it is stored. ``users create`` reads the password
from a prompt, or from standard input with ``--password-stdin``; never from the command
line, where it would land in the shell history and the process list.

Both work on the service's database (settings ``database_url`` / ``data_dir``) and migrate
it first, so they work on a fresh clone before the service ever started.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from access.principal import Role
from access.security import (
    MIN_PASSWORD_LENGTH,
    AuthError,
    check_password_policy,
    create_api_key,
    create_user,
    disable_user,
    list_api_keys,
    list_users,
    normalise_username,
    revoke_api_key,
    set_password,
)
from cli import CliError
from cli.database import store_engine
from settings import Settings

__all__ = ["register"]

_ROLES = [role.value for role in Role]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``keys`` and ``users`` sub-commands to the ``sme-credit`` parser."""
    _register_keys(subparsers)
    _register_users(subparsers)


def _register_keys(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys", help="create, list and revoke API keys of machine clients",
        description="API keys authenticate machine clients ('Authorization: Bearer <key>'). "
        "Each has one role (see docs/security.md). Only a hash of a key is stored: it is "
        "shown once, when created.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it once",
                                description="Create an API key with ROLE and print it "
                                "once on standard output.")
    create.add_argument("--role", required=True, choices=_ROLES, help="what the key may do")
    create.add_argument("--name", default=None,
                        help="who or what uses the key (default: '<role> key')")
    create.set_defaults(handler=_create_key)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--active", action="store_true", help="leave out revoked keys")
    listing.set_defaults(handler=_list_keys)
    revoke = actions.add_parser("revoke", help="revoke a key by its id",
                                description="Revoke the key with public id ID (k_...). "
                                "A running service refuses it within "
                                "api_key_cache_seconds (5 s by default).")
    revoke.add_argument("key_id", metavar="ID", help="the key's public id (k_...)")
    revoke.set_defaults(handler=_revoke_key)


def _register_users(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "users", help="create and list people who log in to the officer pages",
        description="People log in to the officer pages with a user name and password "
        f"(at least {MIN_PASSWORD_LENGTH} characters, stored as an argon2 hash).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a person's login",
        description="Create a login. The password is asked for twice at the terminal, or "
        "read from the first line of standard input with --password-stdin.")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=_ROLES)
    _password_source(create)
    create.set_defaults(handler=_create_user)
    password = actions.add_parser("set-password", help="give a person a new password "
                                  "(ends their sessions)")
    password.add_argument("--username", required=True)
    _password_source(password)
    password.set_defaults(handler=_set_password)
    disable = actions.add_parser("disable", help="stop a person from logging in "
                                 "(ends their sessions)")
    disable.add_argument("--username", required=True)
    disable.set_defaults(handler=_disable_user)
    listing = actions.add_parser("list", help="list people (never their password hashes)")
    listing.set_defaults(handler=_list_users)


def _password_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", dest="password_stdin", action="store_true",
                        help="read the password from the first line of standard input "
                        "instead of asking at the terminal")


@contextmanager
def _engine(settings: Settings) -> Iterator[sa.Engine]:
    """The store, with access-control refusals turned into the command's error."""
    with store_engine(settings) as engine:
        try:
            yield engine
        except AuthError as exc:
            raise CliError(str(exc)) from None


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                        strict=False)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                       strict=True)).rstrip())


def _create_key(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name if args.name is not None else f"{args.role} key"
    with _engine(settings) as engine:
        key, info = create_api_key(engine, Role(args.role), name=name)
    print(f"created API key {info.id} (role {info.role.value}, name {info.name!r}).",
          file=sys.stderr)
    print("Store it now: it is shown only this once (only a hash of it is kept).",
          file=sys.stderr)
    print(key, flush=True)
    return 0


def _list_keys(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings) as engine:
        keys = list_api_keys(engine, include_revoked=not args.active)
    if not keys:
        print("no API keys; create one with: sme-credit keys create --role ROLE")
        return 0
    _print_table(("ID", "ROLE", "NAME", "CREATED", "LAST USED", "REVOKED"),
                 [(key.id, key.role.value, key.name, _when(key.created_at),
                   _when(key.last_used_at), _when(key.revoked_at)) for key in keys])
    return 0


def _revoke_key(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings) as engine:
        info = revoke_api_key(engine, args.key_id)
    print(f"revoked API key {info.id} ({info.name!r}) at {_when(info.revoked_at)}; a "
          f"running service refuses it within {settings.api_key_cache_seconds:g} s")
    return 0


def _read_password(args: argparse.Namespace, username: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise CliError("--password-stdin: standard input had no password line")
        return password
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password; pipe it in with "
                       "--password-stdin")
    password = getpass.getpass(f"password for {username} (at least "
                               f"{MIN_PASSWORD_LENGTH} characters): ")
    try:
        check_password_policy(password, username=username)
    except AuthError as exc:
        raise CliError(str(exc)) from None
    if getpass.getpass("the same password again: ") != password:
        raise CliError("the two passwords differ; nothing was changed")
    return password


def _username(raw: str) -> str:
    try:
        return normalise_username(raw)
    except AuthError as exc:
        raise CliError(f"--username: {exc}") from None


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    username = _username(args.username)
    password = _read_password(args, username)
    with _engine(settings) as engine:
        info = create_user(engine, username, password, Role(args.role))
    print(f"created user {info.username} (role {info.role.value}); they log in at "
          "/officer/")
    return 0


def _set_password(args: argparse.Namespace, settings: Settings) -> int:
    username = _username(args.username)
    password = _read_password(args, username)
    with _engine(settings) as engine:
        info = set_password(engine, username, password)
    print(f"new password set for {info.username}; their sessions have ended")
    return 0


def _disable_user(args: argparse.Namespace, settings: Settings) -> int:
    username = _username(args.username)
    with _engine(settings) as engine:
        info = disable_user(engine, username)
    print(f"disabled {info.username}; they can no longer log in")
    return 0


def _list_users(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings) as engine:
        users = list_users(engine)
    if not users:
        print("no users; create one with: sme-credit users create --username NAME "
              "--role officer")
        return 0
    _print_table(("USERNAME", "ROLE", "CREATED", "DISABLED"),
                 [(user.username, user.role.value, _when(user.created_at),
                   _when(user.disabled_at)) for user in users])
    return 0
