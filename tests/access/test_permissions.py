"""The written permission table (access.permissions)."""

from __future__ import annotations

import pytest

from access.permissions import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    UnknownPermission,
    check_permission,
    is_allowed,
    permissions_of,
)
from access.principal import Role

#: The table as the contract writes it; a change to the code must change this too.
WRITTEN_TABLE = {
    Role.MARKETPLACE: {"sellers:write", "orders:write", "decisions:create", "decisions:read",
                       "lines:read", "lines:write", "api:docs"},
    Role.OFFICER: {"decisions:read", "lines:read", "lines:refund", "models:read",
                   "cases:review", "api:docs"},
    Role.RISK: {"decisions:read", "lines:read", "models:read", "models:reload",
                "metrics:read", "book:read", "api:docs"},
}


def test_every_role_holds_exactly_the_written_permissions() -> None:
    for role, written in WRITTEN_TABLE.items():
        assert permissions_of(role) == written
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_admin_holds_every_permission() -> None:
    assert permissions_of(Role.ADMIN) == set(PERMISSIONS)
    assert all(is_allowed(permission, Role.ADMIN) for permission in PERMISSIONS)


def test_every_permission_is_held_by_some_role_other_than_admin() -> None:
    held = set().union(*(permissions_of(role) for role in Role if role is not Role.ADMIN))
    assert held == set(PERMISSIONS)


def test_is_allowed_answers_from_the_table() -> None:
    assert is_allowed("decisions:create", Role.MARKETPLACE)
    assert not is_allowed("decisions:create", Role.OFFICER)
    assert is_allowed("models:reload", Role.RISK)
    assert not is_allowed("models:reload", Role.MARKETPLACE)
    assert is_allowed("cases:review", "officer")  # type: ignore[arg-type]


def test_a_misspelt_permission_raises_instead_of_refusing_quietly() -> None:
    with pytest.raises(UnknownPermission, match="unknown permission 'decision:create'"):
        is_allowed("decision:create", Role.ADMIN)
    with pytest.raises(UnknownPermission):
        check_permission("lines:delete")
    assert check_permission("lines:read") == "lines:read"


def test_every_permission_is_described() -> None:
    assert all(description.strip() for description in PERMISSIONS.values())
