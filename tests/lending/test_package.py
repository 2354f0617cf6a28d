import doctest
import importlib
import subprocess
import sys

import pytest

import lending

MODULES = ["lending.money", "lending.calendar", "lending.interest", "lending.schedules",
           "lending.allocation", "lending.delinquency", "lending.ledger", "lending.lines",
           "lending.policy"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


def test_lending_imports_no_web_orm_tracking_or_dataframe_library():
    code = ("import sys, lending; "
            "print(sorted(m for m in ('fastapi', 'sqlmodel', 'sqlalchemy', 'mlflow', 'pandas', "
            "'numpy', 'numpy_financial') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_every_public_name_is_exported():
    assert all(hasattr(lending, name) for name in lending.__all__)
    assert callable(lending.build_schedule)


def test_the_default_policy_ships_inside_a_package_so_wheels_carry_it():
    # pyproject's package-data ("*" = ["*.toml"]) only reaches files that sit directly in
    # a package, hence lending/policies/__init__.py.
    from importlib import resources

    assert resources.files("lending.policies").joinpath("default.toml").is_file()
