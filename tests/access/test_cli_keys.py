"""`sme-credit keys` and `sme-credit users`."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import cli
from access.principal import Role
from access.security import authenticate_api_key, verify_password
from cli import main
from settings import Settings
from store import make_engine
from tests.access.conftest import FAST_HASHER, PASSWORD


@pytest.fixture(autouse=True)
def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands on a fresh data folder; registered even before the lead wires them."""
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(tmp_path))
    # Cheap argon2 parameters: the same code paths at a test machine's cost.
    monkeypatch.setattr("access.security.DEFAULT_PASSWORD_HASHER", FAST_HASHER)
    if "cli.keys" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES,
                                                         "cli.keys"))


def _engine():
    return make_engine(Settings().resolved_database_url())


def test_keys_create_prints_the_key_once_alone_on_stdout_with_a_warning(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "marketplace", "--name", "shop backend"]) == 0
    captured = capsys.readouterr()
    key = captured.out.strip()
    assert re.fullmatch(r"smc_k_[0-9a-f]{10}_[0-9a-f]{64}", key)
    assert "shown only this once" in captured.err and key not in captured.err
    engine = _engine()
    principal = authenticate_api_key(engine, key)
    engine.dispose()
    assert principal is not None and principal.role is Role.MARKETPLACE

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert principal.id in listing and "shop backend" in listing and "marketplace" in listing
    assert key.rsplit("_", 1)[1] not in listing


def test_keys_revoke_stops_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "risk"]) == 0
    key = capsys.readouterr().out.strip()
    key_id = key.split("_")[1] + "_" + key.split("_")[2]
    assert main(["keys", "revoke", key_id]) == 0
    assert f"revoked API key {key_id} ('risk key')" in capsys.readouterr().out
    engine = _engine()
    assert authenticate_api_key(engine, key) is None
    engine.dispose()
    assert main(["keys", "list", "--active"]) == 0
    assert key_id not in capsys.readouterr().out


def test_revoking_an_unknown_key_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "revoke", "k_nope"]) == 2
    assert "no API key has the id 'k_nope'" in capsys.readouterr().err


def test_an_unknown_role_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--role", "root"])
    assert exited.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_users_create_reads_the_password_from_stdin(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "--username", "Olga", "--role", "officer",
                 "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "created user olga (role officer)" in out and PASSWORD not in out
    engine = _engine()
    assert verify_password(engine, "olga", PASSWORD) is not None
    engine.dispose()
    assert main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "olga" in listing and "officer" in listing and "argon2" not in listing


def test_a_weak_password_is_refused_and_nothing_is_created(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "--username", "olga", "--role", "officer",
                 "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert "a password needs at least 12 characters" in err and "short" not in err
    assert main(["users", "list"]) == 0
    assert "no users" in capsys.readouterr().out


def test_without_a_terminal_the_password_must_come_from_stdin(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["users", "create", "--username", "olga", "--role", "officer"]) == 2
    assert "--password-stdin" in capsys.readouterr().err


def test_the_password_prompt_asks_twice_and_refuses_a_mismatch(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class _Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([PASSWORD, PASSWORD + "x", PASSWORD, PASSWORD])  # 1st try differs
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "create", "--username", "olga", "--role", "officer"]) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    assert main(["users", "create", "--username", "olga", "--role", "officer"]) == 0
    assert "created user olga" in capsys.readouterr().out


def test_users_disable_and_set_password(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "--username", "olga", "--role", "officer",
                 "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(["users", "set-password", "--username", "olga", "--password-stdin"]) == 0
    assert main(["users", "disable", "--username", "olga"]) == 0
    assert "disabled olga" in capsys.readouterr().out
    engine = _engine()
    assert verify_password(engine, "olga", "a brand new passphrase") is None
    engine.dispose()
