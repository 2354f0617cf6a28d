"""Output files of the command line: written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cli import CliError

__all__ = ["write_table", "write_file", "refuse_writing_over_inputs"]


def refuse_writing_over_inputs(out: Path, inputs: dict[str, Path | None], *,
                               option: str = "--out") -> None:
    """Refuse an output path that is one of the command's inputs, however it is spelt.

    ``../in/orders.parquet``, a symbolic link or a hard link to an input all name the
    same file: writing there would destroy the input the output is computed from.

    Raises
    ------
    CliError
        Naming ``option``, the path and the input option it would overwrite.
    """
    if not out.exists():
        return
    for input_option, path in inputs.items():
        if path is None or not path.exists():
            continue
        try:
            same = os.path.samefile(out, path)
        except OSError:
            continue
        if same:
            raise CliError(f"{option} {out} is the input {input_option} {path}; write the "
                           "output to another file")


def write_table(frame: pd.DataFrame, out: Path, *, index: bool = True,
                option: str = "--out") -> None:
    """Write ``frame`` to ``out`` (CSV for a ``.csv`` name, Parquet otherwise).

    The table goes to a temporary file in the same folder first and is renamed over ``out``
    only when complete, so a failure (disk full, interruption) never leaves a truncated
    file where a good one was expected. Folders are created when missing.

    Raises
    ------
    CliError
        When the file cannot be written, naming ``option`` and the path.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        os.close(handle)
        try:
            if out.name.lower().endswith(".csv"):
                frame.to_csv(temporary, index=index)
            else:
                frame.to_parquet(temporary, index=index)
            os.replace(temporary, out)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as exc:
        raise CliError(f"{option} {out}: cannot write ({exc})") from None


def write_file(out: Path, write: Callable[[Path], object], *, option: str) -> None:
    """Write ``out`` whole or not at all: ``write`` fills a temporary file in the same
    folder (with the same suffix, for writers that choose the format by it), which is
    renamed over ``out`` only when complete.

    Raises
    ------
    CliError
        When the file cannot be written, naming ``option`` and the path.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix,
                                             dir=out.parent)
        os.close(handle)
        try:
            write(Path(temporary))
            os.replace(temporary, out)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as exc:
        raise CliError(f"{option} {out}: cannot write ({exc})") from None
