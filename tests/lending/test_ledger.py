from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lending.errors import UnbalancedEntry
from lending.ledger import Account, EntryKind, Journal, JournalEntry, Posting
from lending.money import MINOR_UNIT_DIGITS

DAY = date(2025, 3, 1)


def test_an_unbalanced_entry_cannot_be_constructed():
    with pytest.raises(UnbalancedEntry, match="unbalanced"):
        JournalEntry(DAY, EntryKind.DISBURSEMENT, (
            Posting(Account.LOANS_RECEIVABLE, "debit", Decimal("100.00")),
            Posting(Account.SUPPLIER_PAYABLE, "credit", Decimal("99.99"))))


def test_an_entry_needs_a_debit_and_a_credit():
    with pytest.raises(UnbalancedEntry, match="at least one debit and one credit"):
        JournalEntry(DAY, EntryKind.DISBURSEMENT, (
            Posting(Account.LOANS_RECEIVABLE, "debit", Decimal("100.00")),))


@pytest.mark.parametrize("amount", [Decimal("-1.00"), Decimal("0.00"), Decimal("1.005"),
                                    Decimal("NaN")])
def test_posting_amounts_must_be_positive_and_exact(amount):
    with pytest.raises(UnbalancedEntry):
        JournalEntry(DAY, EntryKind.FEE_ACCRUAL, (
            Posting(Account.FEE_RECEIVABLE, "debit", amount),
            Posting(Account.FEE_INCOME, "credit", amount)))


def test_zero_transfer_records_nothing():
    assert JournalEntry.transfer(DAY, EntryKind.FEE_ACCRUAL, Account.FEE_RECEIVABLE,
                                 Account.FEE_INCOME, Decimal("0.00")) is None


def test_balances_are_derived_on_each_accounts_normal_side():
    journal = Journal().extended([
        JournalEntry.transfer(DAY, EntryKind.DISBURSEMENT, Account.LOANS_RECEIVABLE,
                              Account.SUPPLIER_PAYABLE, Decimal("1000.00")),
        JournalEntry.transfer(DAY, EntryKind.SUPPLIER_PAYOUT, Account.SUPPLIER_PAYABLE,
                              Account.SETTLEMENT_CASH, Decimal("1000.00")),
        JournalEntry.transfer(date(2025, 4, 1), EntryKind.REPAYMENT_RECEIVED,
                              Account.SETTLEMENT_CASH, Account.CREDIT_BALANCE,
                              Decimal("400.00")),
        JournalEntry.compound(date(2025, 4, 1), EntryKind.REPAYMENT_ALLOCATION,
                              debits={Account.CREDIT_BALANCE: Decimal("300.00")},
                              credits={Account.LOANS_RECEIVABLE: Decimal("300.00")}),
    ])
    balances = journal.balances()
    assert balances[Account.LOANS_RECEIVABLE] == Decimal("700.00")
    assert balances[Account.SETTLEMENT_CASH] == Decimal("-600.00")
    assert balances[Account.CREDIT_BALANCE] == Decimal("100.00")
    assert balances[Account.SUPPLIER_PAYABLE] == Decimal("0.00")
    assert journal.balance(Account.LOANS_RECEIVABLE, as_of=DAY) == Decimal("1000.00")
    assert journal.total_debits() == journal.total_credits() == Decimal("2700.00")


@given(amount=st.one_of(
           st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000000"), places=3),
           st.decimals(allow_nan=True, allow_infinity=True, places=2),
           st.integers(-5, 5), st.floats(-5, 5)),
       currency=st.sampled_from(sorted(MINOR_UNIT_DIGITS)),
       accounts=st.tuples(st.sampled_from(list(Account)), st.sampled_from(list(Account))))
def test_a_transfer_is_the_two_posting_compound_entry_or_its_refusal(amount, currency, accounts):
    """``transfer``'s direct construction gives exactly the entry the checked constructor
    gives, and refuses (with its message) whatever it refuses."""
    debit, credit = accounts

    def made(build):
        try:
            return build()
        except UnbalancedEntry as refusal:
            return ("refused", str(refusal))

    direct = made(lambda: JournalEntry.transfer(DAY, EntryKind.INTEREST_ACCRUAL, debit, credit,
                                                amount, reference="D1", currency=currency))
    checked = made(lambda: JournalEntry.compound(
        DAY, EntryKind.INTEREST_ACCRUAL, debits={debit: amount}, credits={credit: amount},
        reference="D1", currency=currency))
    assert direct == checked
    if isinstance(direct, JournalEntry):
        assert direct.amount == amount and hash(direct) == hash(checked)
        assert direct.postings == (Posting(debit, "debit", amount),
                                   Posting(credit, "credit", amount))
