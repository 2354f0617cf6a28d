"""Every domain error reaches the client as a 4xx with its own stable snake-case code.

The domain packages raise errors that know nothing of HTTP; ``api/errors.py`` maps them
in one table and renders them with one handler, installed for the family bases in
``DOMAIN_ERRORS``. These tests walk every error class the domain modules define, so a new
error, or a new family of errors, cannot be forgotten in the table: a class outside every
listed family would reach the client as a 500.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from types import ModuleType

import pytest

from access.security import AuthError
from api.errors import _DOMAIN_STATUS as STATUS_TABLE  # the table under test
from api.errors import DOMAIN_ERRORS, domain_status, error_code
from lending.errors import LendingError
from records.errors import RecordsError
from store.conflicts import ConcurrentUpdate

#: The modules whose errors the API answers, and the family of each (``None``: every
#: exception class the module defines).
DOMAIN_MODULES: dict[str, type[Exception] | None] = {
    "lending.errors": None,
    "lending.persistence.errors": None,
    "store.conflicts": None,
    "records.errors": None,
    "access.security": AuthError,
    "decisions.errors": None,  # when the credit case has its own errors
}

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
PROJECT_PACKAGES = {name.split(".")[0] for name in DOMAIN_MODULES}


def _present(name: str) -> ModuleType | None:
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None
    return None if found is None else importlib.import_module(name)


def _error_classes() -> list[type[Exception]]:
    found = []
    for name, family in DOMAIN_MODULES.items():
        module = _present(name)
        if module is None:
            continue
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if cls.__module__ == module.__name__ and issubclass(cls, Exception)
                  and (family is None or issubclass(cls, family))]
    return found


ERRORS = _error_classes()


def _instance(cls: type[Exception]) -> Exception:
    """An instance without calling ``__init__`` (their arguments differ; the status and
    the code depend on the class only)."""
    return cls.__new__(cls)


def _family(cls: type[Exception]) -> type[Exception]:
    """The outermost base of ``cls`` defined in the project (its family's base)."""
    return [base for base in cls.__mro__
            if base.__module__.split(".")[0] in PROJECT_PACKAGES][-1]


def test_the_walk_finds_the_errors_of_every_domain_module():
    names = {cls.__name__ for cls in ERRORS}
    assert {"CreditLimitExceeded", "UnknownLine", "ConcurrentUpdate", "UnknownSeller",
            "BatchTooLarge", "InvalidCredentials"} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_a_domain_error_answers_a_client_error_the_table_chose(cls):
    # the class or one of its bases is listed: the table decides, not domain_status's
    # fallback for an error nobody listed
    assert any(base in STATUS_TABLE for base in cls.__mro__)
    assert 400 <= domain_status(_instance(cls)) < 500


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_a_domain_error_has_its_own_snake_case_code(cls):
    assert "code" in vars(cls), f"{cls.__name__} inherits its family's code"
    assert SNAKE_CASE.fullmatch(error_code(_instance(cls)))


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_the_family_of_a_domain_error_has_the_one_handler(cls):
    assert _family(cls) in DOMAIN_ERRORS


def test_each_family_base_is_handled():
    assert {LendingError, RecordsError, AuthError, ConcurrentUpdate} <= set(DOMAIN_ERRORS)


@pytest.mark.parametrize(("cls", "status", "code"), [
    ("UnknownSeller", 404, "unknown_seller"),
    ("SellerNotYetRegistered", 409, "seller_not_yet_registered"),
    ("BatchTooLarge", 413, "batch_too_large"),
    ("RecordsError", 422, "records_error"),
])
def test_the_records_errors_keep_their_statuses_and_codes(cls, status, code):
    error = _instance(getattr(importlib.import_module("records.errors"), cls))
    assert (domain_status(error), error_code(error)) == (status, code)
