"""Officer sessions: hashed tokens, logout, idle and absolute expiry, CSRF, login limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from access.principal import Principal, Role
from access.security import (
    InvalidCredentials,
    LoginThrottled,
    create_user,
    disable_user,
    load_session,
    login,
    logout,
    set_password,
    verify_csrf,
)
from api.security import session_cookie_settings
from settings import Settings
from tests.access.conftest import FAST_HASHER, PASSWORD

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
#: 30 idle minutes, 12 hours at most, 5 failures per 15 minutes (the defaults, pinned).
SETTINGS = Settings(session_idle_minutes=30, session_max_hours=12, login_max_failures=5,
                    login_window_minutes=15)


@pytest.fixture
def alice(engine: sa.Engine) -> str:
    create_user(engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    return "alice"


@pytest.fixture
def officer(sqlite_engine: sa.Engine) -> str:
    create_user(sqlite_engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    return "alice"


def _login(engine: sa.Engine, password: str = PASSWORD, *, at: datetime = T0,
           ip: str = "10.0.0.1", username: str = "alice"):
    return login(engine, username, password, client_ip=ip, settings=SETTINGS, now=at,
                 hasher=FAST_HASHER)


def test_a_login_opens_a_session_whose_token_is_stored_only_as_a_hash(
        engine: sa.Engine, alice: str) -> None:
    tokens = _login(engine)
    assert tokens.expires_at == T0 + timedelta(hours=12)
    assert tokens.session_token != tokens.csrf_token
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in
                connection.exec_driver_sql("SELECT * FROM user_session")]
    (row,) = rows
    stored = " ".join(str(value) for value in row.values())
    assert tokens.session_token not in stored and tokens.csrf_token not in stored
    assert row["username"] == "alice"
    session = load_session(engine, tokens.session_token, settings=SETTINGS,
                           now=T0 + timedelta(minutes=1))
    assert session is not None
    assert session.principal == Principal(kind="user", id="alice", role=Role.OFFICER)
    assert tokens.session_token not in repr(tokens) and tokens.csrf_token not in repr(session)


def test_the_cookie_is_useless_after_logout(engine: sa.Engine, alice: str) -> None:
    tokens = _login(engine)
    logout(engine, tokens.session_token)
    assert load_session(engine, tokens.session_token, settings=SETTINGS, now=T0) is None
    logout(engine, tokens.session_token)  # a second logout is harmless


def test_a_session_ends_after_the_idle_time_without_requests(officer: str,
                                                              sqlite_engine: sa.Engine) -> None:
    tokens = _login(sqlite_engine)
    seen = T0
    for _ in range(3):  # each request within 30 minutes keeps it alive
        seen += timedelta(minutes=29)
        assert load_session(sqlite_engine, tokens.session_token, settings=SETTINGS,
                            now=seen) is not None
    assert load_session(sqlite_engine, tokens.session_token, settings=SETTINGS,
                        now=seen + timedelta(minutes=30)) is None
    # Ended for good, even if a clock went back.
    assert load_session(sqlite_engine, tokens.session_token, settings=SETTINGS,
                        now=seen) is None


def test_a_session_ends_at_its_absolute_expiry_however_active(officer: str,
                                                               sqlite_engine: sa.Engine) -> None:
    tokens = _login(sqlite_engine)
    moment = T0
    while moment + timedelta(minutes=20) < tokens.expires_at:
        moment += timedelta(minutes=20)
        assert load_session(sqlite_engine, tokens.session_token, settings=SETTINGS,
                            now=moment) is not None
    assert load_session(sqlite_engine, tokens.session_token, settings=SETTINGS,
                        now=tokens.expires_at) is None


def test_a_new_password_or_a_disabled_account_ends_every_session(
        officer: str, sqlite_engine: sa.Engine) -> None:
    first = _login(sqlite_engine)
    set_password(sqlite_engine, "alice", "a brand new passphrase", hasher=FAST_HASHER)
    assert load_session(sqlite_engine, first.session_token, settings=SETTINGS, now=T0) is None
    second = _login(sqlite_engine, "a brand new passphrase")
    disable_user(sqlite_engine, "alice")
    assert load_session(sqlite_engine, second.session_token, settings=SETTINGS, now=T0) is None


def test_a_form_is_accepted_only_with_the_sessions_csrf_token(officer: str,
                                                               sqlite_engine: sa.Engine) -> None:
    tokens = _login(sqlite_engine)
    other = _login(sqlite_engine)
    session = load_session(sqlite_engine, tokens.session_token, settings=SETTINGS, now=T0)
    assert session is not None and session.csrf_token == tokens.csrf_token
    assert verify_csrf(session, tokens.csrf_token)
    for submitted in (other.csrf_token, tokens.csrf_token[:-1], "", None, "é" * 64,
                      tokens.session_token):
        assert not verify_csrf(session, submitted)


def test_a_wrong_user_name_and_a_wrong_password_get_the_same_answer(
        officer: str, sqlite_engine: sa.Engine) -> None:
    with pytest.raises(InvalidCredentials) as wrong_password:
        _login(sqlite_engine, "not the password")
    with pytest.raises(InvalidCredentials) as wrong_name:
        _login(sqlite_engine, username="mallory")
    assert str(wrong_password.value) == str(wrong_name.value) == "wrong user name or password"


def test_logins_for_a_user_name_are_refused_after_five_failures_until_the_window_passes(
        engine: sa.Engine, alice: str) -> None:
    for minute in range(5):  # from different addresses: the user-name limit counts
        with pytest.raises(InvalidCredentials):
            _login(engine, "guess number one", at=T0 + timedelta(minutes=minute),
                   ip=f"10.0.1.{minute}")
    with pytest.raises(LoginThrottled) as throttled:  # even the right password
        _login(engine, at=T0 + timedelta(minutes=5), ip="10.0.2.1")
    # The first failure (at T0) leaves the 15-minute window at T0 + 15 min.
    assert throttled.value.retry_after_seconds == 10 * 60
    assert throttled.value.code == "too_many_login_attempts"
    assert str(throttled.value) == "too many failed logins; try again in 10 minutes"
    assert _login(engine, at=T0 + timedelta(minutes=15, seconds=1)).session_token


def test_logins_from_one_address_are_refused_after_five_failures_across_user_names(
        officer: str, sqlite_engine: sa.Engine) -> None:
    for number in range(5):
        with pytest.raises(InvalidCredentials):
            _login(sqlite_engine, username=f"user{number}", at=T0, ip="192.0.2.7")
    with pytest.raises(LoginThrottled):
        _login(sqlite_engine, at=T0, ip="192.0.2.7")
    assert _login(sqlite_engine, at=T0, ip="192.0.2.8").session_token  # another address


def test_a_successful_login_clears_the_user_names_failures(officer: str,
                                                          sqlite_engine: sa.Engine) -> None:
    for round_ in range(2):
        for number in range(4):
            with pytest.raises(InvalidCredentials):
                _login(sqlite_engine, "typo typo typo", at=T0, ip=f"10.{round_}.0.{number}")
        assert _login(sqlite_engine, at=T0, ip=f"10.{round_}.9.9").session_token


def test_refused_attempts_do_not_prolong_the_lockout(officer: str,
                                                     sqlite_engine: sa.Engine) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            _login(sqlite_engine, "guess guess guess", at=T0)
    for minute in range(1, 15):
        with pytest.raises(LoginThrottled):
            _login(sqlite_engine, "guess guess guess", at=T0 + timedelta(minutes=minute))
    assert _login(sqlite_engine, at=T0 + timedelta(minutes=15, seconds=1)).session_token


def test_the_cookie_is_http_only_same_site_and_secure_outside_development(
        tmp_path: Path) -> None:
    development = session_cookie_settings(Settings(data_dir=tmp_path))
    assert (development.name, development.httponly, development.samesite, development.secure,
            development.path) == ("sme_session", True, "lax", False, "/")
    production = session_cookie_settings(Settings(data_dir=tmp_path, environment="production",
                                                  session_max_hours=8))
    assert production.secure and production.httponly and production.path == "/"
    assert production.name.startswith("__Host-")
    assert production.max_age == 8 * 3600
    assert production.as_kwargs()["samesite"] == "lax"


@pytest.mark.parametrize("username", ["ali\x00ce", "\ud800alice", "a" * 5000, "ä" * 200])
def test_any_typed_user_name_gets_the_usual_answer_and_counts_towards_the_limit(
        engine: sa.Engine, alice: str, username: str) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            _login(engine, username=username)
    with pytest.raises(LoginThrottled):
        _login(engine, username=username, ip="10.9.9.9")
