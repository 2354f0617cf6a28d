"""A double-entry journal: every money movement is a balanced entry; balances are derived.

Chart of accounts
-----------------
==========================  =========  ====================================================
account                     type       what its balance means
==========================  =========  ====================================================
``loans_receivable``        asset      principal the borrower still owes (due or not)
``interest_receivable``     asset      interest accrued day by day and unpaid (due or not)
``fee_receivable``          asset      service fees fallen due and unpaid
``penalty_receivable``      asset      penalty interest accrued and unpaid
``funding_cash``            asset      the lender's funding account: supplier payouts out
                                       (its balance is minus the money lent out)
``collections_cash``        asset      the lender's collections account: repayments in,
                                       bounced payments and balance refunds out
``settlement_cash``         asset      legacy: the one cash account of books written
                                       before funding and collections were split; no
                                       rule posts to it any more
``supplier_payable``        liability  owed to suppliers for draws not yet paid out
``credit_balance``          liability  the borrower's money not (yet) applied to a debt:
                                       overpayments and payments awaiting reversal
``income_suspense``         liability  interest, fees and penalty accrued on a
                                       non-accrual line: owed by the borrower but not
                                       income until paid (a contra-asset of the
                                       receivables, credit-normal)
``interest_income``         income     interest earned
``fee_income``              income     service fees earned
``penalty_income``          income     penalty interest earned
``recovery_income``         income     money recovered after a write-off
``write_off_expense``       expense    receivables written off
==========================  =========  ====================================================

A :class:`JournalEntry` cannot be built unbalanced: its postings must have positive
amounts exact to the minor unit, at least one debit and one credit, and equal debit and
credit totals, or construction raises :class:`~lending.errors.UnbalancedEntry`. A
:class:`Journal` is an immutable sequence of entries; balances are sums over it, signed
on the account's normal side (debit for assets and expenses, credit for liabilities and
income).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from lending.errors import CurrencyMismatch, UnbalancedEntry
from lending.money import ZERO, minor_unit

__all__ = [
    "Account",
    "AccountType",
    "ACCOUNT_TYPES",
    "EntryKind",
    "Posting",
    "JournalEntry",
    "Journal",
]


class Account(StrEnum):
    """The accounts of a credit line's journal."""

    LOANS_RECEIVABLE = "loans_receivable"
    INTEREST_RECEIVABLE = "interest_receivable"
    FEE_RECEIVABLE = "fee_receivable"
    PENALTY_RECEIVABLE = "penalty_receivable"
    FUNDING_CASH = "funding_cash"
    COLLECTIONS_CASH = "collections_cash"
    SETTLEMENT_CASH = "settlement_cash"
    SUPPLIER_PAYABLE = "supplier_payable"
    CREDIT_BALANCE = "credit_balance"
    INCOME_SUSPENSE = "income_suspense"
    INTEREST_INCOME = "interest_income"
    FEE_INCOME = "fee_income"
    PENALTY_INCOME = "penalty_income"
    RECOVERY_INCOME = "recovery_income"
    WRITE_OFF_EXPENSE = "write_off_expense"


AccountType = Literal["asset", "liability", "income", "expense"]

ACCOUNT_TYPES: dict[Account, AccountType] = {
    Account.LOANS_RECEIVABLE: "asset",
    Account.INTEREST_RECEIVABLE: "asset",
    Account.FEE_RECEIVABLE: "asset",
    Account.PENALTY_RECEIVABLE: "asset",
    Account.FUNDING_CASH: "asset",
    Account.COLLECTIONS_CASH: "asset",
    Account.SETTLEMENT_CASH: "asset",
    Account.SUPPLIER_PAYABLE: "liability",
    Account.CREDIT_BALANCE: "liability",
    Account.INCOME_SUSPENSE: "liability",
    Account.INTEREST_INCOME: "income",
    Account.FEE_INCOME: "income",
    Account.PENALTY_INCOME: "income",
    Account.RECOVERY_INCOME: "income",
    Account.WRITE_OFF_EXPENSE: "expense",
}


class EntryKind(StrEnum):
    """What money movement an entry records."""

    DISBURSEMENT = "disbursement"              # Dr loans_receivable, Cr supplier_payable
    SUPPLIER_PAYOUT = "supplier_payout"        # Dr supplier_payable, Cr funding_cash
    #: Daily, and the interest after maturity: Dr interest_receivable, Cr interest_income
    #: (income_suspense on a non-accrual line); a lowered period interest reverses it.
    INTEREST_ACCRUAL = "interest_accrual"
    FEE_ACCRUAL = "fee_accrual"                # Dr fee_receivable, Cr fee_income (suspense)
    PENALTY_ACCRUAL = "penalty_accrual"        # Dr penalty_receivable, Cr penalty_income (")
    REPAYMENT_RECEIVED = "repayment_received"  # Dr collections_cash, Cr credit_balance
    REPAYMENT_ALLOCATION = "repayment_allocation"  # Dr credit_balance, Cr receivables
    INCOME_RECOGNIZED = "income_recognized"    # Dr income_suspense, Cr income (on payment)
    WRITE_OFF = "write_off"                    # Dr write_off_expense (+ suspense), Cr receivables
    RECOVERY = "recovery"                      # Dr credit_balance, Cr recovery_income
    PAYMENT_REVERSAL = "payment_reversal"      # Dr credit_balance, Cr collections_cash
    BALANCE_REFUND = "balance_refund"          # Dr credit_balance, Cr collections_cash


@dataclass(frozen=True)
class Posting:
    """One line of an entry: an amount debited or credited to an account."""

    account: Account
    side: Literal["debit", "credit"]
    amount: Decimal


@dataclass(frozen=True)
class JournalEntry:
    """A balanced journal entry.

    Parameters
    ----------
    on
        Business date of the movement.
    kind
        What movement it records.
    postings
        At least one debit and one credit; amounts positive and exact to the minor unit.
    reference
        Id of what caused it (a draw or payment id).
    currency
        Currency of every amount in the entry.

    Raises
    ------
    UnbalancedEntry
        If debits differ from credits, an amount is not positive or not exact, or a side
        is missing.
    """

    on: date
    kind: EntryKind
    postings: tuple[Posting, ...]
    reference: str = ""
    currency: str = "CNY"
    amount: Decimal = field(init=False)

    def __post_init__(self) -> None:
        unit = minor_unit(self.currency)
        debits = credits = ZERO
        for posting in self.postings:
            if not isinstance(posting.account, Account):
                raise UnbalancedEntry(f"unknown account {posting.account!r}")
            amount = posting.amount
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
                raise UnbalancedEntry(f"posting amounts must be positive Decimals; got "
                                      f"{amount!r} on {posting.account}")
            if amount.quantize(unit) != amount:
                raise UnbalancedEntry(f"posting amount {amount} is finer than {unit}")
            if posting.side == "debit":
                debits += amount
            elif posting.side == "credit":
                credits += amount
            else:
                raise UnbalancedEntry(f"posting side must be debit or credit; got "
                                      f"{posting.side!r}")
        if debits == 0 or credits == 0:
            raise UnbalancedEntry(f"{self.kind} entry needs at least one debit and one credit")
        if debits != credits:
            raise UnbalancedEntry(f"{self.kind} entry is unbalanced: debits {debits} != "
                                  f"credits {credits}")
        object.__setattr__(self, "amount", debits)

    @classmethod
    def compound(cls, on: date, kind: EntryKind, *, debits: Mapping[Account, Decimal],
                 credits: Mapping[Account, Decimal], reference: str = "",
                 currency: str = "CNY") -> JournalEntry | None:
        """An entry from debit and credit amounts per account, zero amounts left out.

        Returns ``None`` when every amount is zero (nothing moved).
        """
        postings = tuple(
            [Posting(account, "debit", amount) for account, amount in debits.items() if amount]
            + [Posting(account, "credit", amount) for account, amount in credits.items()
               if amount])
        if not postings:
            return None
        return cls(on, kind, postings, reference, currency)

    @classmethod
    def transfer(cls, on: date, kind: EntryKind, debit: Account, credit: Account,
                 amount: Decimal, *, reference: str = "",
                 currency: str = "CNY") -> JournalEntry | None:
        """A two-line entry moving ``amount`` from ``credit`` to ``debit``; ``None`` if zero."""
        if (isinstance(amount, Decimal) and amount.is_finite() and amount > 0
                and isinstance(debit, Account) and isinstance(credit, Account)
                and amount.quantize(minor_unit(currency)) == amount):
            # Balanced by construction and every check of __post_init__ passed: build it
            # without them (a line's fold makes one per instalment and day of interest).
            entry = object.__new__(cls)
            put = object.__setattr__
            put(entry, "on", on)
            put(entry, "kind", kind)
            put(entry, "postings", (Posting(debit, "debit", amount),
                                    Posting(credit, "credit", amount)))
            put(entry, "reference", reference)
            put(entry, "currency", currency)
            put(entry, "amount", amount)
            return entry
        # zero (nothing moved), or a refusal with __post_init__'s own message
        return cls.compound(on, kind, debits={debit: amount}, credits={credit: amount},
                            reference=reference, currency=currency)


@dataclass(frozen=True)
class Journal:
    """An immutable, ordered collection of balanced entries in one currency.

    Raises
    ------
    CurrencyMismatch
        If an entry is in another currency: totals are never added across currencies.
    """

    entries: tuple[JournalEntry, ...] = ()
    currency: str = "CNY"

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.currency != self.currency:
                raise CurrencyMismatch(f"a {self.currency} journal cannot hold a "
                                       f"{entry.currency} entry ({entry.kind} {entry.reference!r})")

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def extended(self, entries: Iterable[JournalEntry | None]) -> Journal:
        """A journal with ``entries`` appended (``None`` items skipped)."""
        return Journal((*self.entries, *(e for e in entries if e is not None)), self.currency)

    def balance(self, account: Account, *, as_of: date | None = None) -> Decimal:
        """Balance of ``account`` on its normal side, optionally up to a date (inclusive)."""
        debit_normal = ACCOUNT_TYPES[account] in ("asset", "expense")
        total = ZERO
        for entry in self.entries:
            if as_of is not None and entry.on > as_of:
                continue
            for posting in entry.postings:
                if posting.account is account:
                    signed = posting.amount if posting.side == "debit" else -posting.amount
                    total += signed if debit_normal else -signed
        return total + ZERO.quantize(minor_unit(self.currency))

    def balances(self, *, as_of: date | None = None) -> dict[Account, Decimal]:
        """Every account's balance on its normal side (one pass over the entries)."""
        totals = dict.fromkeys(Account, ZERO.quantize(minor_unit(self.currency)))
        for entry in self.entries:
            if as_of is not None and entry.on > as_of:
                continue
            for posting in entry.postings:
                debit_normal = ACCOUNT_TYPES[posting.account] in ("asset", "expense")
                signed = posting.amount if posting.side == "debit" else -posting.amount
                totals[posting.account] += signed if debit_normal else -signed
        return totals

    def total_debits(self) -> Decimal:
        """Sum of every debit posting."""
        return sum((p.amount for e in self.entries for p in e.postings if p.side == "debit"),
                   ZERO)

    def total_credits(self) -> Decimal:
        """Sum of every credit posting."""
        return sum((p.amount for e in self.entries for p in e.postings if p.side == "credit"),
                   ZERO)
