"""API keys: shown once, stored as a hash, refused once revoked."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from access.principal import Principal, Role
from access.security import (
    ApiKeyCache,
    InvalidInput,
    UnknownApiKey,
    authenticate_api_key,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)


def _rows(engine: sa.Engine, table: str) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.exec_driver_sql(f"SELECT * FROM {table}")]


def test_a_new_key_is_returned_once_and_only_its_hash_is_stored(engine: sa.Engine) -> None:
    key, info = create_api_key(engine, Role.MARKETPLACE, name="shop backend")
    assert re.fullmatch(r"smc_k_[0-9a-f]{10}_[0-9a-f]{64}", key)
    assert key.startswith(f"smc_{info.id}_")
    secret = key.rsplit("_", 1)[1]
    (row,) = _rows(engine, "api_key")
    assert row["id"] == info.id and row["role"] == "marketplace" and row["name"] == "shop backend"
    stored = " ".join(str(value) for value in row.values())
    assert secret not in stored and key not in stored
    assert len(str(row["secret_hash"])) == 64
    assert info.revoked_at is None and info.active


def test_a_valid_key_authenticates_as_its_role(engine: sa.Engine) -> None:
    key, info = create_api_key(engine, Role.RISK, name="risk notebook")
    assert authenticate_api_key(engine, key) == Principal(kind="api_key", id=info.id,
                                                          role=Role.RISK)
    (listed,) = list_api_keys(engine)
    assert listed.last_used_at is not None


def test_a_revoked_key_is_refused(engine: sa.Engine) -> None:
    key, info = create_api_key(engine, Role.MARKETPLACE, name="old backend")
    revoked = revoke_api_key(engine, info.id)
    assert revoked.revoked_at is not None
    assert authenticate_api_key(engine, key) is None
    # Revoking again keeps the first moment.
    assert revoke_api_key(engine, info.id).revoked_at == revoked.revoked_at


@pytest.mark.parametrize("tamper", [
    lambda key: key[:-1] + ("0" if key[-1] != "0" else "1"),  # wrong secret
    lambda key: key.replace("smc_k_", "smc_k_0", 1)[:len(key)],  # other id
    lambda key: key.upper(),
    lambda key: key + "0",
    lambda key: "",
    lambda key: "smc_",
    lambda key: "x" * 10_000,
])
def test_anything_but_the_exact_key_is_refused(sqlite_engine: sa.Engine, tamper) -> None:
    key, _ = create_api_key(sqlite_engine, Role.ADMIN, name="admin")
    assert authenticate_api_key(sqlite_engine, tamper(key)) is None


def test_listing_never_shows_secrets(engine: sa.Engine) -> None:
    first, _ = create_api_key(engine, Role.MARKETPLACE, name="a")
    second, second_info = create_api_key(engine, Role.OFFICER, name="b")
    revoke_api_key(engine, second_info.id)
    listed = list_api_keys(engine)
    assert [info.name for info in listed] == ["a", "b"]
    assert [info.name for info in list_api_keys(engine, include_revoked=False)] == ["a"]
    shown = repr(listed)
    for key in (first, second):
        assert key.rsplit("_", 1)[1] not in shown


def test_revoking_an_unknown_key_names_the_problem(sqlite_engine: sa.Engine) -> None:
    with pytest.raises(UnknownApiKey, match="no API key has the id 'k_0000000000'"):
        revoke_api_key(sqlite_engine, "k_0000000000")


@pytest.mark.parametrize(("role", "name", "message"), [
    ("auditor", "x", "unknown role 'auditor'"),
    (Role.RISK, "   ", "needs a name"),
    (Role.RISK, "x" * 101, "at most 100 characters"),
    (Role.RISK, "bad\x00name", "control characters"),
])
def test_a_key_with_a_bad_role_or_name_is_refused(sqlite_engine: sa.Engine, role, name,
                                                  message) -> None:
    with pytest.raises(InvalidInput, match=message):
        create_api_key(sqlite_engine, role, name=name)
    assert list_api_keys(sqlite_engine) == []


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_revoked_elsewhere_stops_working_when_its_cache_entry_expires(
        sqlite_engine: sa.Engine) -> None:
    clock = _Clock()
    cache = ApiKeyCache(5.0, clock=clock)
    key, info = create_api_key(sqlite_engine, Role.MARKETPLACE, name="backend")
    assert authenticate_api_key(sqlite_engine, key, cache=cache) is not None
    # Another process (the CLI) revokes the key: only the database changes here.
    with sqlite_engine.begin() as connection:
        connection.execute(sa.text("UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP"))
    clock.now += 4.9
    assert authenticate_api_key(sqlite_engine, key, cache=cache) is not None
    clock.now += 0.2
    assert authenticate_api_key(sqlite_engine, key, cache=cache) is None


def test_a_key_revoked_in_this_process_stops_working_at_once(sqlite_engine: sa.Engine) -> None:
    cache = ApiKeyCache(60.0)
    key, info = create_api_key(sqlite_engine, Role.MARKETPLACE, name="backend")
    assert authenticate_api_key(sqlite_engine, key, cache=cache) is not None
    revoke_api_key(sqlite_engine, info.id)
    assert authenticate_api_key(sqlite_engine, key, cache=cache) is None


def test_the_cache_serves_a_verified_key_without_reading_the_database(
        sqlite_engine: sa.Engine) -> None:
    cache = ApiKeyCache(60.0)
    key, info = create_api_key(sqlite_engine, Role.RISK, name="risk")
    assert authenticate_api_key(sqlite_engine, key, cache=cache) is not None
    statements: list[str] = []
    sa.event.listen(sqlite_engine, "before_cursor_execute",
                    lambda *args: statements.append(args[2]))
    for _ in range(50):
        assert authenticate_api_key(sqlite_engine, key, cache=cache) == Principal(
            kind="api_key", id=info.id, role=Role.RISK)
    assert statements == []


def test_keys_never_reach_the_logs(sqlite_engine: sa.Engine,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        key, info = create_api_key(sqlite_engine, Role.ADMIN, name="admin")
        authenticate_api_key(sqlite_engine, key)
        authenticate_api_key(sqlite_engine, key[:-1] + "f")
        revoke_api_key(sqlite_engine, info.id)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    secret = key.rsplit("_", 1)[1]
    assert caplog.records  # the SQL was logged, so the check below means something
    assert secret not in caplog.text
