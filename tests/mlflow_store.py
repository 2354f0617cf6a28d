"""Empty MLflow stores for tests, copied from one template instead of migrated each time.

Creating an MLflow SQLite store runs MLflow's schema migrations: 7 to 10 s on an idle
two-core machine, several times that on a shared CI machine. A test that only needs *a*
store to register into gets a byte copy of an empty, fully migrated one, made once per
test process: MLflow opens it as it opens any existing store (it checks the schema
version and migrates nothing). The copy is what MLflow itself would have created,
without the run.

Tests whose claim is the creation of a store (``sme-credit train`` into a folder without
one, the migration messages) keep creating theirs; see tests/cli/test_quiet_output.py.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def _template() -> Path:
    """The empty, migrated store of this process (created on first use)."""
    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="sme-credit-mlflow-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    database = folder / "mlflow.db"
    uri = f"sqlite:///{database}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()  # creates every table (tracking and registry)
    client.search_registered_models()
    return database


def empty_store(database: Path) -> str:
    """Copy an empty, migrated MLflow store to ``database`` (a ``.db`` file path, whose
    folder is created); returns its ``sqlite:///`` tracking URI."""
    if database.exists():
        raise FileExistsError(f"{database} exists: an empty store goes to a new path")
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template(), database)
    return f"sqlite:///{database}"
