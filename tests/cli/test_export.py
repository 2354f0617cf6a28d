"""``sme-credit export``: the risk team's Parquet files of the credit history, the
decisions and the journal, and clear errors for a bad path or option."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features import build_features
from features.credit_history import validate_credit_history
from lending import RepaymentPlan
from lending.persistence import SqlUnitOfWork, advance_line, draw, open_line, repay
from lending.persistence.history import HISTORY_COLUMNS, JOURNAL_COLUMNS, credit_history_frame
from store import make_engine, upgrade_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(database_url: str) -> sa.Engine:
    """Two lines: three instalments, the first paid on time; a bullet past due."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    u = lambda: SqlUnitOfWork(engine)  # noqa: E731
    open_line(u(), line_id="L1", seller_id="S1", limit="5000.00", opened_on=date(2026, 1, 5))
    draw(u(), line_id="L1", amount="3000.00", on=date(2026, 1, 5),
         plan=RepaymentPlan.instalments(3), supplier_id="SUP", idempotency_key="d1")
    repay(u(), line_id="L1", amount="1000.00", on=date(2026, 2, 5), idempotency_key="p1")
    open_line(u(), line_id="L2", seller_id="S2", limit="1000.00", opened_on=date(2026, 1, 5))
    draw(u(), line_id="L2", amount="800.00", on=date(2026, 1, 6), plan=RepaymentPlan.bullet(30),
         supplier_id="SUP", idempotency_key="d2")
    advance_line(u(), line_id="L2", to=date(2026, 3, 31))
    return engine


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SME_CREDIT_DATABASE_URL": url,
                   "SME_CREDIT_CLOCK": "simulated", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())", *args],
        env=environment, capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_the_credit_history_export_is_what_the_feature_builder_reads(database_url, store,
                                                                     tmp_path):
    out = tmp_path / "credit.parquet"
    done = _run(database_url, "export", "credit-history", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote 4 rows x {len(HISTORY_COLUMNS)} columns of credit-history to {out}" \
        in done.stdout
    exported = pd.read_parquet(out)
    pd.testing.assert_frame_equal(exported, credit_history_frame(store), check_dtype=False)
    loaded = validate_credit_history(exported, ["S1", "S2"], strict=True).frame
    assert list(loaded["instalment_id"].str.slice(-2)) == [".1", ".2", ".3", ".1"]
    # The builder reads it as a user's file: S2's bullet is past due at the end of March.
    sellers = pd.DataFrame({"seller_id": ["S1", "S2"], "kind": ["shop", "shop"],
                            "registered_at": pd.to_datetime(["2025-01-01"] * 2, utc=True),
                            "membership_tier": ["gold", "gold"]})
    orders = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in (
        ("seller_id", "string"), ("buyer_id", "string"),
        ("created_at", "datetime64[ns, UTC]"), ("amount", "float64"),
        ("status", "string"), ("refunded_amount", "float64"),
        ("refunded_at", "datetime64[ns, UTC]"), ("disputed", "bool"),
        ("channel", "string"), ("buyer_country", "string"),
        ("shipped_at", "datetime64[ns, UTC]"), ("paid_out_at", "datetime64[ns, UTC]"))})
    table = build_features(orders, sellers, "2026-04-01", loaded)
    assert table.loc["S2", "credit_current_days_past_due"] == (
        date(2026, 3, 31) - date(2026, 2, 5)).days
    # S1's draw is outstanding until its last instalment is paid; its second instalment,
    # due on 5 March and unpaid, is 26 days past due at the end of March.
    assert table.loc["S1", "credit_outstanding_amount"] == 3000.0
    assert table.loc["S1", "credit_worst_days_past_due_90d"] == 26
    assert loaded["instalment_paid_at"].notna().tolist() == [True, False, False, False]


def test_the_ledger_and_decisions_exports_write_every_posting_and_decision(
        database_url, store, tmp_path, monkeypatch, capsys):
    from cli import main

    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", database_url)
    monkeypatch.setenv("SME_CREDIT_CLOCK", "simulated")
    assert main(["export", "ledger", "--out", str(tmp_path / "ledger.parquet")]) == 0
    ledger = pd.read_parquet(tmp_path / "ledger.parquet")
    assert list(ledger.columns) == list(JOURNAL_COLUMNS)
    # Every entry balances, in minor units and in its decimal text.
    signed = ledger["amount_minor"].where(ledger["side"] == "debit", -ledger["amount_minor"])
    assert (signed.groupby(ledger["entry_id"]).sum() == 0).all()
    assert (ledger["amount"].map(Decimal) * 100 == ledger["amount_minor"].map(Decimal)).all()
    assert {"disbursement", "repayment_received", "penalty_accrual"} <= set(ledger["kind"])
    assert main(["export", "decisions", "--out", str(tmp_path / "decisions.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "decisions.parquet").empty
    assert "wrote 0 rows" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["credit-history", "--out", "credit.csv"], "use a name ending in .parquet"),
    (["credit-history", "--out", "folder.parquet"], "is a folder"),
    (["ledger", "--out", "ledger.parquet", "--as-of", "2026-01-01"],
     "--as-of applies to credit-history only"),
    (["credit-history", "--out", "credit.parquet", "--as-of", "yesterday"],
     "--as-of is not a date or time"),
])
def test_a_bad_path_or_option_is_refused_with_exit_2(tmp_path, monkeypatch, capsys, args,
                                                     message):
    from cli import main

    (tmp_path / "folder.parquet").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SME_CREDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sme-credit export: error: ") and message in err
    assert not (tmp_path / "credit.parquet").exists()
