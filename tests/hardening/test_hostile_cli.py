"""Hostile command-line input: malformed CSV and Parquet, odd paths, outputs aimed at inputs.

Each case ends with exit status 2 and one message naming the file (and the row and field
where there is one), no traceback, and nothing written: no output file, no temporary
file beside it, no database row. What "path traversal" means for a command line is in
docs/guarantees.md: the commands write where they are told (``--out ../x.parquet`` is a
path like any other), but never a partial file, never over one of their own inputs, and
never by following a path that is not a regular file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import features
from cli import main
from store import make_engine, upgrade_database
from tests.hardening.conftest import SmallMarket, counts

AS_OF = "2026-07-01T00:00:00Z"


@dataclass
class Files:
    """Good inputs of every command, written once per test."""

    folder: Path
    sellers_csv: Path
    orders_csv: Path
    sellers_parquet: Path
    orders_parquet: Path
    features: Path
    model: Path


@pytest.fixture(scope="module")
def good_files(tmp_path_factory: pytest.TempPathFactory, small_market: SmallMarket) -> Files:
    folder = tmp_path_factory.mktemp("inputs")
    chosen = sorted(small_market.seller_for.values())
    sellers = small_market.sellers[small_market.sellers["seller_id"].isin(chosen)]
    orders = small_market.orders[small_market.orders["seller_id"].isin(chosen)]
    files = Files(folder, folder / "sellers.csv", folder / "orders.csv",
                  folder / "sellers.parquet", folder / "orders.parquet",
                  folder / "features.parquet", folder / "model")
    sellers.to_csv(files.sellers_csv, index=False)
    orders.to_csv(files.orders_csv, index=False)
    sellers.to_parquet(files.sellers_parquet, index=False)
    orders.to_parquet(files.orders_parquet, index=False)
    table = features.build_features(orders, sellers, small_market.as_of)
    table.to_parquet(files.features)
    small_market.scorer.model.save(files.model)
    return files


def _bad_file(kind: str, folder: Path, good: Files) -> Path:
    """Write one malformed input of ``kind`` into ``folder``."""
    header = good.orders_csv.read_text(encoding="utf-8").splitlines()[0]
    first = good.orders_csv.read_text(encoding="utf-8").splitlines()[1]
    makers: dict[str, Callable[[], tuple[str, bytes]]] = {
        "ragged": lambda: ("ragged.csv", f"{header}\n{first}\n{first},extra,fields\n"
                           f"{first.split(',')[0]}\n".encode()),
        "latin1": lambda: ("latin1.csv", f"{header}\n{first}\n".replace(
            first.split(",")[0], "O-é").encode("latin-1")),
        "utf16": lambda: ("utf16.csv", f"{header}\n{first}\n".encode("utf-16")),
        "garbage": lambda: ("garbage.csv", os.urandom(4096) + b"\x00" * 64),
        "empty": lambda: ("empty.csv", b""),
        "blank_lines": lambda: ("blank.csv", b"\n\n\n"),
        "header_only": lambda: ("header_only.csv", f"{header}\n".encode()),
        "truncated_parquet": lambda: ("truncated.parquet",
                                      good.orders_parquet.read_bytes()[:2000]),
        "text_parquet": lambda: ("text.parquet", good.orders_csv.read_bytes()),
        "wrong_schema_parquet": lambda: ("wrong.parquet", _parquet_bytes(
            pd.DataFrame({"colour": ["red", "blue"], "size": [1, 2]}))),
        "no_rows_parquet": lambda: ("no_rows.parquet", _parquet_bytes(
            pd.read_parquet(good.orders_parquet).iloc[:0])),
    }
    name, content = makers[kind]()
    path = folder / name
    path.write_bytes(content)
    return path


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


BAD_KINDS = ["ragged", "latin1", "utf16", "garbage", "empty", "blank_lines", "header_only",
             "truncated_parquet", "text_parquet", "wrong_schema_parquet", "no_rows_parquet"]


def _digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its content (to see what changed)."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], *names: str) -> str:
    """Run ``sme-credit argv``: exit 2, one clear message naming each of ``names``."""
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, (status, out[-1500:], err[-1500:])
    assert "Traceback" not in err and "Traceback" not in out, err
    assert err.startswith(f"sme-credit {argv[0]}"), err
    assert ": error: " in err, err
    for name in names:
        assert name in err, f"{name!r} is not named in: {err}"
    return err


# ------------------------------------------------------------------------- features
@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("which", ["orders", "sellers"])
def test_features_refuses_a_malformed_input_and_writes_nothing(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str], kind: str,
        which: str):
    bad = _bad_file(kind, tmp_path, good_files)
    out = tmp_path / "out" / "features.parquet"
    inputs = {"orders": good_files.orders_csv, "sellers": good_files.sellers_csv, which: bad}
    before = _digest(tmp_path)
    argv = ["features", "--orders", str(inputs["orders"]), "--sellers",
            str(inputs["sellers"]), "--as-of", AS_OF, "--out", str(out), "--strict"]
    if which == "orders" and kind in ("header_only", "no_rows_parquet"):
        # No orders at all is a valid input: every seller gets its no-trade features.
        assert main(argv) == 0
        assert len(pd.read_parquet(out)) == len(pd.read_csv(good_files.sellers_csv))
        return

    refused(capsys, argv, bad.name)

    assert not out.exists()
    assert _digest(tmp_path) == before  # no temporary file left either


def test_features_names_the_row_and_field_of_a_bad_value(tmp_path: Path, good_files: Files,
                                                         capsys: pytest.CaptureFixture[str]):
    frame = pd.read_csv(good_files.orders_csv, dtype=str)
    frame.loc[2, "amount"] = "NaN"
    bad = tmp_path / "orders.csv"
    frame.to_csv(bad, index=False)
    err = refused(capsys, ["features", "--orders", str(bad), "--sellers",
                           str(good_files.sellers_csv), "--as-of", AS_OF, "--out",
                           str(tmp_path / "f.parquet"), "--strict"], bad.name, "amount")
    assert "row 3" in err or "row 4" in err, err
    assert not (tmp_path / "f.parquet").exists()


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_an_output_is_never_written_over_an_input(tmp_path: Path, good_files: Files,
                                                  capsys: pytest.CaptureFixture[str],
                                                  spelling: str):
    orders = tmp_path / "in" / "orders.parquet"
    orders.parent.mkdir()
    orders.write_bytes(good_files.orders_parquet.read_bytes())
    features_in = tmp_path / "in" / "features.parquet"
    features_in.write_bytes(good_files.features.read_bytes())
    alias = {"same": lambda p: p, "dotdot": lambda p: p.parent / ".." / "in" / p.name,
             "symlink": _symlink, "hardlink": _hardlink}[spelling]
    before = _digest(tmp_path / "in")

    refused(capsys, ["features", "--orders", str(orders), "--sellers",
                     str(good_files.sellers_parquet), "--as-of", AS_OF, "--out",
                     str(alias(orders))], "--out", "input")
    features_alias = alias(features_in)
    refused(capsys, ["score", "--features", str(features_in), "--model",
                     str(good_files.model), "--out", str(features_alias)],
            "--out", "input")
    for option in ("--out-json", "--out-png"):
        refused(capsys, ["monitor", "--current", str(features_in), "--model",
                         str(good_files.model), option, str(features_alias)],
                option, "input")

    assert _digest(tmp_path / "in") == before


def _symlink(path: Path) -> Path:
    link = path.parent.parent / f"link-{path.name}"
    link.symlink_to(path)
    return link


def _hardlink(path: Path) -> Path:
    link = path.parent.parent / f"hard-{path.name}"
    os.link(path, link)
    return link


@pytest.mark.parametrize("case", ["missing", "missing_folder", "directory", "dev_null",
                                  "fifo", "no_suffix"])
def test_an_input_that_is_not_a_readable_table_file_is_refused_at_once(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str], case: str):
    path = _odd_input(case, tmp_path)
    out = tmp_path / "out.parquet"
    runs = [
        ["features", "--orders", str(path), "--sellers", str(good_files.sellers_csv),
         "--as-of", AS_OF, "--out", str(out)],
        ["features", "--orders", str(good_files.orders_csv), "--sellers", str(path),
         "--as-of", AS_OF, "--out", str(out)],
        ["score", "--features", str(path), "--model", str(good_files.model), "--out",
         str(out)],
    ]
    for argv in runs:
        _with_fifo_guard(path, lambda argv=argv: refused(capsys, argv, str(path)))
        assert not out.exists()


def _odd_input(case: str, folder: Path) -> Path:
    if case == "missing":
        return folder / "nothing.csv"
    if case == "missing_folder":
        return folder / "no" / "such" / "folder" / "orders.csv"
    if case == "directory":
        (folder / "a-folder.csv").mkdir()
        return folder / "a-folder.csv"
    if case == "dev_null":
        return Path("/dev/null")
    if case == "fifo":
        os.mkfifo(folder / "pipe.csv")
        return folder / "pipe.csv"
    (folder / "orders").write_text("order_id\nO-1\n")
    return folder / "orders"


def _with_fifo_guard(path: Path, run: Callable[[], object], seconds: float = 5.0) -> None:
    """Run ``run``; if it blocks reading a FIFO, unblock it (EOF) and fail the test."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    blocked = worker.is_alive()
    if blocked and path.is_fifo():
        with open(path, "wb"):  # a writer that closes at once: the reader sees EOF
            pass
        worker.join(seconds)
    assert not blocked, f"the command blocked reading {path}"
    if errors:
        raise errors[0]


def test_a_failed_run_with_a_traversing_out_path_writes_nothing_anywhere(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    bad = _bad_file("ragged", work, good_files)
    before = _digest(tmp_path)
    refused(capsys, ["features", "--orders", str(bad), "--sellers",
                     str(good_files.sellers_csv), "--as-of", AS_OF, "--out",
                     "../../escaped/features.parquet", "--strict"], bad.name)
    assert _digest(tmp_path) == before
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("out", ["a-folder", "not-parquet.txt", "file-as-folder/x.parquet"])
def test_an_impossible_out_path_is_refused_before_any_work(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str], out: str):
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "file-as-folder").write_text("I am a file")
    target = tmp_path / out
    before = _digest(tmp_path)
    for argv in (["features", "--orders", str(good_files.orders_csv), "--sellers",
                  str(good_files.sellers_csv), "--as-of", AS_OF, "--out", str(target)],
                 ["score", "--features", str(good_files.features), "--model",
                  str(good_files.model), "--out", str(target)]):
        refused(capsys, argv, out.split("/")[0])
    assert _digest(tmp_path) == before


# ---------------------------------------------------------------------------- score
@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated_parquet", "text_parquet",
                                  "wrong_schema_parquet", "utf16", "ragged"])
def test_score_refuses_a_malformed_feature_table_and_writes_nothing(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str], kind: str):
    bad = _bad_file(kind, tmp_path, good_files)
    out = tmp_path / "scores.parquet"
    before = _digest(tmp_path)
    refused(capsys, ["score", "--features", str(bad), "--model", str(good_files.model),
                     "--out", str(out)], bad.name)
    assert _digest(tmp_path) == before


def test_score_names_the_feature_columns_a_table_lacks(tmp_path: Path, good_files: Files,
                                                       capsys: pytest.CaptureFixture[str]):
    table = pd.read_parquet(good_files.features)
    thin = tmp_path / "thin.parquet"
    table.drop(columns=[table.columns[3]]).to_parquet(thin)
    err = refused(capsys, ["score", "--features", str(thin), "--model",
                           str(good_files.model), "--out", str(tmp_path / "s.parquet")],
                  thin.name, table.columns[3])
    assert "lacks" in err
    assert not (tmp_path / "s.parquet").exists()


def test_score_refuses_a_feature_value_that_is_not_a_number(tmp_path: Path,
                                                            good_files: Files,
                                                            capsys: pytest.CaptureFixture[str]):
    table = pd.read_parquet(good_files.features)
    column = next(name for name in table.columns
                  if pd.api.types.is_float_dtype(table[name]))
    table[column] = table[column].astype(str)
    table.iloc[0, table.columns.get_loc(column)] = "'; DROP TABLE x; --"
    odd = tmp_path / "odd.parquet"
    table.to_parquet(odd)
    refused(capsys, ["score", "--features", str(odd), "--model", str(good_files.model),
                     "--out", str(tmp_path / "s.parquet")], odd.name)
    assert not (tmp_path / "s.parquet").exists()


# -------------------------------------------------------------------- records load
@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> sa.Engine:
    """The database ``sme-credit records load`` writes to (SQLite and PostgreSQL)."""
    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", database_url)
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("kind", ["ragged", "latin1", "utf16", "garbage", "empty",
                                  "truncated_parquet", "text_parquet",
                                  "wrong_schema_parquet"])
def test_records_load_refuses_a_malformed_file_and_stores_nothing(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str],
        store: sa.Engine, kind: str):
    bad = _bad_file(kind, tmp_path, good_files)
    before = counts(store)
    for argv in (["records", "load", "--sellers", str(good_files.sellers_csv), "--orders",
                  str(bad), "--strict"],
                 ["records", "load", "--sellers", str(bad), "--orders",
                  str(good_files.orders_csv), "--strict"]):
        refused(capsys, argv, bad.name)
        assert counts(store) == before


@pytest.mark.parametrize("case", ["missing", "directory", "dev_null", "fifo"])
def test_records_load_refuses_an_input_that_is_not_a_regular_file(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, case: str):
    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    path = _odd_input(case, tmp_path)
    _with_fifo_guard(path, lambda: refused(
        capsys, ["records", "load", "--sellers", str(good_files.sellers_csv), "--orders",
                 str(path)], str(path)))


# ---------------------------------------------------------------------------- synth
@pytest.mark.parametrize("case", ["existing_file", "dev_null", "under_a_file"])
def test_synth_refuses_an_out_folder_that_is_a_file_and_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str):
    existing = tmp_path / "orders.csv"
    existing.write_text("precious input\n")
    out = {"existing_file": existing, "dev_null": Path("/dev/null"),
           "under_a_file": existing / "market"}[case]
    before = _digest(tmp_path)
    refused(capsys, ["synth", "--sellers", "5", "--months", "2", "--out", str(out),
                     "--no-progress"], str(out))
    assert _digest(tmp_path) == before


@pytest.mark.parametrize("argv, option", [
    (["--sellers", "0"], "--sellers"), (["--sellers", "-5"], "--sellers"),
    (["--sellers", "5", "--months", "0"], "--months"),
    (["--sellers", "5", "--as-of", "'; DROP TABLE x; --"], "--as-of"),
    (["--sellers", "5", "--as-of", "2026-02-30"], "--as-of"),
    (["--sellers", "5", "--default-rate", "nan"], "--default-rate"),
    (["--sellers", "5", "--default-rate", "inf"], "--default-rate"),
    (["--sellers", "5", "--orders-per-month", "nan"], "--orders-per-month"),
    (["--sellers", "5", "--hidden-risk-share", "nan"], "--hidden-risk-share"),
])
def test_synth_refuses_impossible_arguments_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str):
    out = tmp_path / "market"
    refused(capsys, ["synth", *argv, "--out", str(out), "--no-progress"], option)
    assert not out.exists()


@pytest.mark.parametrize("text", ["B-\x00-1", "B-\ud800", "'; DROP TABLE seller; --"],
                         ids=["nul", "surrogate", "sql"])
def test_records_load_survives_odd_text_in_a_field(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str],
        store: sa.Engine, text: str):
    # PostgreSQL cannot store a NUL; a lone surrogate is not text; SQL stays data.
    frame = pd.read_csv(good_files.orders_csv, dtype=str)
    frame.loc[0, "buyer_id"] = "__ODD__"
    odd = tmp_path / "odd-orders.csv"
    odd.write_bytes(frame.to_csv(index=False).replace("__ODD__", f'"{text}"', 1)
                    .encode("utf-8", "surrogatepass"))
    before = counts(store)
    status = main(["records", "load", "--sellers", str(good_files.sellers_csv), "--orders",
                   str(odd), "--strict"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert status in (0, 2), (status, err)
    if status == 2:
        assert odd.name in err and counts(store) == before, err
    elif text != "'; DROP TABLE seller; --":
        pytest.fail(f"odd text was stored: {out}")


def test_a_utf8_byte_order_mark_is_read_like_plain_utf8(tmp_path: Path, good_files: Files,
                                                        capsys: pytest.CaptureFixture[str]):
    # Spreadsheet programs write CSV with a BOM; it must not hide the first column.
    bom = tmp_path / "bom-orders.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + good_files.orders_csv.read_bytes())
    outs = []
    for name, orders in (("plain", good_files.orders_csv), ("bom", bom)):
        out = tmp_path / f"{name}.parquet"
        assert main(["features", "--orders", str(orders), "--sellers",
                     str(good_files.sellers_csv), "--as-of", AS_OF, "--out", str(out),
                     "--strict"]) == 0, capsys.readouterr()
        outs.append(pd.read_parquet(out))
    pd.testing.assert_frame_equal(outs[0], outs[1])


def test_monitor_writes_its_report_and_chart_whole_or_not_at_all(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "file-as-folder").write_text("I am a file")
    before = _digest(tmp_path)
    for option, name in (("--out-json", "r.json"), ("--out-png", "c.png")):
        refused(capsys, ["monitor", "--current", str(good_files.features), "--model",
                         str(good_files.model), option,
                         str(tmp_path / "file-as-folder" / name)], option)
    assert _digest(tmp_path) == before
    assert main(["monitor", "--current", str(good_files.features), "--model",
                 str(good_files.model), "--out-json", str(tmp_path / "r.json"),
                 "--out-png", str(tmp_path / "c.png")]) == 0, capsys.readouterr()
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["c.png", "file-as-folder", "r.json"]  # no temporary file left


def test_policy_simulate_never_writes_its_table_over_an_input(
        tmp_path: Path, good_files: Files, capsys: pytest.CaptureFixture[str]):
    scores = tmp_path / "scores.parquet"
    assert main(["score", "--features", str(good_files.features), "--model",
                 str(good_files.model), "--out", str(scores)]) == 0
    capsys.readouterr()
    before = _digest(tmp_path)
    for target in (scores, tmp_path / "." / "scores.parquet"):
        refused(capsys, ["policy", "simulate", "--scores", str(scores), "--features",
                         str(good_files.features), "--out", str(target)], "--out", "input")
    assert _digest(tmp_path) == before
