"""People: the password policy, argon2 hashes only, one answer for any wrong login."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from access.principal import Principal, Role
from access.security import (
    InvalidInput,
    UnknownUser,
    UserExists,
    WeakPassword,
    create_user,
    disable_user,
    list_users,
    set_password,
    verify_password,
)
from tests.access.conftest import FAST_HASHER, PASSWORD


def _user_row(engine: sa.Engine, username: str) -> dict[str, object]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.text("SELECT * FROM app_user WHERE username = :u"),
                                       {"u": username}).one()._mapping)


def test_only_an_argon2_hash_of_the_password_is_stored(engine: sa.Engine) -> None:
    info = create_user(engine, "Alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    assert info.username == "alice" and info.role is Role.OFFICER
    row = _user_row(engine, "alice")
    assert str(row["password_hash"]).startswith("$argon2id$")
    assert PASSWORD not in " ".join(str(value) for value in row.values())


def test_the_right_password_gives_the_person_and_a_wrong_one_nothing(engine: sa.Engine) -> None:
    create_user(engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    assert verify_password(engine, "ALICE ", PASSWORD, hasher=FAST_HASHER) == Principal(
        kind="user", id="alice", role=Role.OFFICER)
    assert verify_password(engine, "alice", PASSWORD + "!", hasher=FAST_HASHER) is None
    assert verify_password(engine, "bob", PASSWORD, hasher=FAST_HASHER) is None


@pytest.mark.parametrize(("password", "message"), [
    ("short pass", "at least 12 characters"),
    ("x" * 1025, "at most 1024 characters"),
    (" " * 12, "only spaces"),
    ("alice.smith1", "cannot be the user name"),
])
def test_a_weak_password_is_refused_with_a_reason_that_does_not_repeat_it(
        sqlite_engine: sa.Engine, password: str, message: str) -> None:
    with pytest.raises(WeakPassword, match=message) as refused:
        create_user(sqlite_engine, "alice.smith1", password, Role.OFFICER, hasher=FAST_HASHER)
    if password.strip():
        assert password not in str(refused.value)
    assert list_users(sqlite_engine) == []


@pytest.mark.parametrize("username", ["", "  ", "-alice", "al ice", "a" * 101, "alice;drop"])
def test_a_malformed_user_name_is_refused(sqlite_engine: sa.Engine, username: str) -> None:
    with pytest.raises(InvalidInput, match="user name is 1 to 100 characters"):
        create_user(sqlite_engine, username, PASSWORD, Role.OFFICER, hasher=FAST_HASHER)


def test_a_user_name_is_taken_once_whatever_its_case(sqlite_engine: sa.Engine) -> None:
    create_user(sqlite_engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    with pytest.raises(UserExists, match="'alice' exists already"):
        create_user(sqlite_engine, "Alice", PASSWORD, Role.ADMIN, hasher=FAST_HASHER)
    assert [(user.username, user.role) for user in list_users(sqlite_engine)] == [
        ("alice", Role.OFFICER)]


class CountingHasher(PasswordHasher):
    """argon2 that counts its verifications (to see the work done, not to fake it)."""

    verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        CountingHasher.verifications += 1
        return super().verify(hash, password)


def test_a_wrong_user_name_costs_the_same_argon2_work_as_a_wrong_password(
        sqlite_engine: sa.Engine) -> None:
    hasher = CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    create_user(sqlite_engine, "alice", PASSWORD, Role.OFFICER, hasher=hasher)
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD),
                               ("not a name!", PASSWORD)):
        before = CountingHasher.verifications
        assert verify_password(sqlite_engine, username, password, hasher=hasher) is None
        assert CountingHasher.verifications - before == 1


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_login(
        sqlite_engine: sa.Engine) -> None:
    create_user(sqlite_engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    old = _user_row(sqlite_engine, "alice")["password_hash"]
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    assert verify_password(sqlite_engine, "alice", PASSWORD, hasher=stronger) is not None
    new = str(_user_row(sqlite_engine, "alice")["password_hash"])
    assert new != old and "m=2048,t=2,p=1" in new
    assert not stronger.check_needs_rehash(new)
    assert verify_password(sqlite_engine, "alice", PASSWORD, hasher=stronger) is not None


def test_a_disabled_person_can_no_longer_log_in(sqlite_engine: sa.Engine) -> None:
    create_user(sqlite_engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    assert disable_user(sqlite_engine, "alice").disabled_at is not None
    assert verify_password(sqlite_engine, "alice", PASSWORD, hasher=FAST_HASHER) is None


def test_a_new_password_replaces_the_old_one(sqlite_engine: sa.Engine) -> None:
    create_user(sqlite_engine, "alice", PASSWORD, Role.OFFICER, hasher=FAST_HASHER)
    set_password(sqlite_engine, "alice", "another long passphrase", hasher=FAST_HASHER)
    assert verify_password(sqlite_engine, "alice", PASSWORD, hasher=FAST_HASHER) is None
    assert verify_password(sqlite_engine, "alice", "another long passphrase",
                           hasher=FAST_HASHER) is not None
    with pytest.raises(UnknownUser):
        set_password(sqlite_engine, "bob", "another long passphrase", hasher=FAST_HASHER)
