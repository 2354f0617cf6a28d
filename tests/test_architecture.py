"""The layers of docs/architecture.md, checked on every run of the suite.

The import contracts themselves are in pyproject.toml (``[tool.importlinter]``) and checked
by import-linter; these tests run it and add what it cannot see: private names taken
across modules, and the share of the product code that the HTTP layer holds.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from importlinter import api as importlinter_api
from importlinter.application import use_cases

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("features", "models", "scoring", "lending", "store", "records",
                    "decisions", "access", "settings", "synth", "cli", "api", "simulation")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append((".".join(parts), path))
    return found


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PRODUCT_PACKAGES


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _private_names_taken(module: str, path: Path) -> list[str]:
    """``from other import _name`` and ``other_module._name``, where ``other`` is another
    module of the project (a module's own names, and dunders, are its to use)."""
    tree = ast.parse(path.read_text("utf-8"))
    problems = []
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not _is_project(node.module) or node.module == module:
                continue
            for alias in node.names:
                name = alias.name
                submodule = f"{node.module}.{name}"
                if _is_module(submodule):
                    # a package's private module (``from features import _kernels``) is
                    # the package's to share among its own modules
                    if name.startswith("_") and node.module.split(".")[0] != module.split(".")[0]:
                        problems.append(f"{module}:{node.lineno} takes {submodule}")
                    module_aliases[alias.asname or name] = submodule
                elif name.startswith("_") and not name.startswith("__"):
                    problems.append(f"{module}:{node.lineno} takes {node.module}.{name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_project(alias.name) and alias.asname:
                    module_aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and module_aliases[node.value.id] != module):
            target = module_aliases[node.value.id]
            if not _is_module(f"{target}.{node.attr}"):
                problems.append(f"{module}:{node.lineno} takes {target}.{node.attr}")
    return problems


def test_the_import_contracts_of_pyproject_hold():
    """Layers point down, domain code imports no web framework, pure rules no ORM, and
    nothing but ``cli.serve`` imports ``api`` (pyproject.toml ``[tool.importlinter]``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
    assert len(config["contracts"]) >= 4
    passed = use_cases.lint_imports(config_filename=str(ROOT / "pyproject.toml"),
                                    cache_dir=None)
    assert passed, "import-linter found a broken contract: run `.venv/bin/lint-imports`"


def test_the_contracts_name_every_product_package():
    config = importlinter_api.read_configuration(str(ROOT / "pyproject.toml"))
    assert set(config["session_options"]["root_packages"]) == set(PRODUCT_PACKAGES)


def test_no_module_takes_a_private_name_from_another_module():
    problems = [problem for module, path in _modules()
                for problem in _private_names_taken(module, path)]
    assert problems == []


@pytest.mark.parametrize("package, most", [("api", 0.25)])
def test_the_http_layer_is_at_most_a_quarter_of_the_product_code(package, most):
    def lines(paths: list[Path]) -> int:
        return sum(len(path.read_text("utf-8").splitlines()) for path in paths)

    every = [path for _module, path in _modules()]
    in_package = [path for path in every if path.relative_to(ROOT).parts[0] == package]
    assert lines(in_package) / lines(every) <= most
