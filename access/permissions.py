"""The written permission table: which role may do what.

Every route but the health checks declares exactly one permission (through
``api.deps.require``); a caller's role either grants it or the request is refused with
403. The table is the single source of truth: ``docs/security.md`` prints it and
``tests/access/test_role_table.py`` walks it against every route.

=================  ===========  =======  ====  =====
permission         marketplace  officer  risk  admin
=================  ===========  =======  ====  =====
sellers:write      yes                         yes
orders:write       yes                         yes
decisions:create   yes                         yes
decisions:read     yes          yes      yes   yes
lines:read         yes          yes      yes   yes
lines:write        yes                         yes
lines:refund                    yes            yes
models:read                     yes      yes   yes
models:reload                            yes   yes
metrics:read                             yes   yes
cases:review                    yes            yes
book:read                                yes   yes
api:docs           yes          yes      yes   yes
=================  ===========  =======  ====  =====
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from access.principal import Role

__all__ = ["PERMISSIONS", "ROLE_PERMISSIONS", "UnknownPermission", "check_permission",
           "is_allowed", "permissions_of"]

#: Every permission a route can require, with what it lets a caller do.
PERMISSIONS: Mapping[str, str] = MappingProxyType({
    "sellers:write": "register and update sellers",
    "orders:write": "ingest orders",
    "decisions:create": "ask for a credit decision",
    "decisions:read": "read decisions and their audit records",
    "lines:read": "read credit lines, schedules and statements",
    "lines:write": "draw on a credit line, post repayments and pay a line off",
    "lines:refund": "pay a borrower's credit balance back to them",
    "models:read": "see which model versions are champion and challenger",
    "models:reload": "make the service load the current champion",
    "metrics:read": "read the Prometheus metrics",
    "cases:review": "use the officer pages and act on referred decisions",
    "book:read": "use the risk page: the book, vintages, roll rates, stability, models",
    "api:docs": "read the API's OpenAPI description and interactive documentation",
})


class UnknownPermission(KeyError):
    """A permission name that is not in :data:`PERMISSIONS` (a typo in code)."""

    def __str__(self) -> str:
        return (f"unknown permission {self.args[0]!r}; the permissions are: "
                f"{', '.join(PERMISSIONS)}")


def _checked(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, refusing any that is not a known permission."""
    names = frozenset(names)
    for name in sorted(names):
        if name not in PERMISSIONS:
            raise UnknownPermission(name)
    return names


#: Role -> the permissions it holds. Admin holds every permission, including ones added
#: later, by construction.
ROLE_PERMISSIONS: Mapping[Role, frozenset[str]] = MappingProxyType({
    Role.MARKETPLACE: _checked({"sellers:write", "orders:write", "decisions:create",
                                "decisions:read", "lines:read", "lines:write", "api:docs"}),
    Role.OFFICER: _checked({"decisions:read", "lines:read", "lines:refund", "models:read",
                            "cases:review", "api:docs"}),
    Role.RISK: _checked({"decisions:read", "lines:read", "models:read", "models:reload",
                         "metrics:read", "book:read", "api:docs"}),
    Role.ADMIN: frozenset(PERMISSIONS),
})


def check_permission(permission: str) -> str:
    """``permission`` itself when it is a known permission name.

    ``api.deps.require`` calls this when a route is defined, so a misspelt permission
    fails at import time instead of silently refusing (or allowing) every caller.

    Raises
    ------
    UnknownPermission
        If ``permission`` is not in :data:`PERMISSIONS`.
    """
    if permission not in PERMISSIONS:
        raise UnknownPermission(permission)
    return permission


def is_allowed(permission: str, role: Role) -> bool:
    """Whether ``role`` holds ``permission``.

    Parameters
    ----------
    permission
        A name from :data:`PERMISSIONS` (``"decisions:create"``).
    role
        The caller's role.

    Raises
    ------
    UnknownPermission
        If ``permission`` is not a known name: a typo must never read as "not allowed"
        for some roles and go unnoticed.
    """
    return check_permission(permission) in ROLE_PERMISSIONS[Role(role)]


def permissions_of(role: Role) -> frozenset[str]:
    """Every permission ``role`` holds."""
    return ROLE_PERMISSIONS[Role(role)]
