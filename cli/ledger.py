"""``sme-credit ledger``: the booked journal.

``ledger trial-balance --on DATE`` prints, per currency, every account's posted debits
and credits as the book stood at the close of ``DATE`` (entries posted on or before it),
their totals, and the check that the booked loans receivable equal the sum of the lines'
outstanding principal. For a closed day that is the trial balance end of day stored when
it closed the day (carried from the day before, :func:`lending.persistence.eod.
closing_trial_balance`); for a day not closed, or with ``--full``, it is summed from every
posting of the book now (:func:`lending.persistence.trial_balance`), and ``--full`` says
whether that agrees with what end of day stored. Exit status 1 when the trial balance
does not hold.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from cli.database import store_engine
from cli.eod import lender_today, parse_day
from lending.persistence import SqlUnitOfWork, TrialBalance, trial_balance
from lending.persistence.eod import stored_trial_balance
from settings import Settings

__all__ = ["register", "format_trial_balance"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ledger`` sub-command (``trial-balance``)."""
    parser = subparsers.add_parser("ledger", help="the booked journal: trial balance",
                                   description="Read the booked journal.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    balance = actions.add_parser(
        "trial-balance", help="debits and credits per account and currency on a date",
        description="Every account's debits and credits per currency as the book stood at "
        "the close of --on, their totals, and receivables against the lines' balances.")
    balance.add_argument("--on", metavar="YYYY-MM-DD",
                         help="the day (default: yesterday in the lender's time zone)")
    balance.add_argument("--full", action="store_true",
                         help="sum every posting of the book now instead of reading what "
                         "end of day stored when it closed the day, and compare the two")
    balance.set_defaults(handler=show_trial_balance)


def _amount(value: object) -> str:
    return f"{value:,}"


def format_trial_balance(balance: TrialBalance, source: str = "") -> str:
    """The trial balance as printed (``source`` says where its figures come from)."""
    lines = [f"trial balance on {balance.on} (entries posted on or before it)"
             + (f", {source}" if source else "")]
    if not balance.currencies:
        lines.append("no entries booked")
    for currency in balance.currencies:
        lines.append("")
        lines.append(f"{currency.currency}")
        lines.append(f"  {'account':<22}{'debit':>20}{'credit':>20}")
        for account in currency.accounts:
            lines.append(f"  {account.account:<22}{_amount(account.debit):>20}"
                         f"{_amount(account.credit):>20}")
        lines.append(f"  {'total':<22}{_amount(currency.total_debit):>20}"
                     f"{_amount(currency.total_credit):>20}")
        lines.append(f"  debits equal credits: {'yes' if currency.balanced else 'NO'}")
        lines.append(f"  loans receivable {_amount(currency.loans_receivable)} vs "
                     f"{currency.lines_checked:,} lines' outstanding principal "
                     f"{_amount(currency.lines_outstanding)}: "
                     f"{'agree' if currency.receivables_agree else 'DIFFER'}")
    if balance.lines_not_checked:
        lines.append(f"\n{balance.lines_not_checked:,} line(s) booked past {balance.on} are "
                     f"left out of the receivables check")
    return "\n".join(lines)


def _postings(balance: TrialBalance) -> list[tuple[str, tuple[object, ...]]]:
    return [(currency.currency, currency.accounts) for currency in balance.currencies]


def show_trial_balance(args: argparse.Namespace, settings: Settings) -> int:
    """Print the trial balance; exit 1 if it does not hold."""
    on = (parse_day(args.on, "--on") if args.on
          else lender_today(settings) - timedelta(days=1))
    with store_engine(settings) as engine, SqlUnitOfWork(engine).reading() as uow:
        stored = stored_trial_balance(uow.session, on)
        balance = (trial_balance(uow.session, on) if args.full or stored is None
                   else stored)
    if balance is stored:
        print(format_trial_balance(balance, "as end of day closed the day"))
    else:
        print(format_trial_balance(balance, "summed from every posting of the book now"))
    if args.full and stored is not None:
        # the postings only: lines booked past the day since are left out of a later
        # receivables check, so that part of the check changes as the book moves on
        same = _postings(balance) == _postings(stored)
        print("\n" + ("its postings agree with the trial balance end of day stored when it "
                      "closed the day" if same else
                      "its postings DIFFER from the trial balance end of day stored when it "
                      "closed the day: entries were booked into the day since (run without "
                      "--full to see the stored one)"))
    return 0 if balance.ok else 1
