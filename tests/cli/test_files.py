"""CLI output files are written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cli import CliError
from cli.files import write_table


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    write_table(pd.DataFrame({"pd": [0.1, 0.2]}), out)
    unwritable = pd.DataFrame({"pd": [object(), object()]})  # Arrow cannot store it
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises, nothing is left
        write_table(unwritable, out)
    assert pd.read_parquet(out)["pd"].tolist() == [0.1, 0.2]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_csv_name_writes_csv_and_an_impossible_folder_names_the_option(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "summary.csv"
    write_table(pd.DataFrame({"grade": ["A"]}), out, index=False)
    assert out.read_text().splitlines() == ["grade", "A"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CliError, match="--out .*cannot write"):
        write_table(pd.DataFrame({"a": [1]}), blocker / "x.parquet")
