"""Shared fixtures for the whole suite."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test write into the developer's ./data folder."""
    monkeypatch.setenv("SME_CREDIT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
