"""Policy simulation: what a credit policy does to a scored population, by grade.

A risk team runs a policy over sellers that were already scored, before the policy ships:
each seller's decision comes from :func:`lending.policy.decide` (no rule is repeated
here), and :func:`summarize` folds the decisions into one row per grade of the policy and
a total:

* ``sellers``; ``approved``, ``referred`` and ``declined`` with their rates (share of the
  grade's sellers; ``None`` for a grade without sellers);
* ``exposure``: the sum of the **approved** limits, exact in the policy currency;
* ``expected_loss``: the sum over approved sellers of ``PD x limit x LGD``, computed
  exactly (the PD as the decision recorded it) and rounded half up to the minor unit
  once per row (so the total may differ
  by a cent from the sum of the rounded grade rows);
* ``referred_limit``: the sum of the limits the loan officers would grant if they
  approved every referral (not in the exposure, nor in the expected loss).

:func:`compare` runs two policies over the same sellers at once and also counts how many
sellers moved from one outcome to another.

The loss given default (LGD) is not part of :class:`~lending.policy.CreditPolicy`; a
policy file may set it as ``[loss] lgd = "0.45"`` (read by :func:`load_simulation_policy`),
otherwise the caller's default applies (:data:`DEFAULT_LGD`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from lending.errors import InvalidPolicy, LendingError
from lending.money import ZERO, quantize, to_decimal
from lending.policy import (
    CreditDecision,
    CreditPolicy,
    Outcome,
    parse_policy,
    read_policy_document,
)

__all__ = [
    "DEFAULT_LGD",
    "PROFILE_COLUMNS",
    "TOTAL",
    "SimulationMismatch",
    "SimulationPolicy",
    "ScoredSeller",
    "GradeSummary",
    "PolicySummary",
    "PolicyComparison",
    "load_simulation_policy",
    "parse_lgd",
    "summarize",
    "compare",
]

#: Loss given default used when the policy file sets none (unsecured SME credit; the
#: Basel foundation-IRB figure for senior unsecured claims).
DEFAULT_LGD = Decimal("0.45")

#: The feature-table columns :meth:`lending.policy.SellerProfile.from_feature_row` reads
#: (a test keeps the two in step).
PROFILE_COLUMNS: tuple[str, ...] = ("seller_kind", "gmv_365d", "median_payout_delay_days_365d")

#: Decimal digits the expected loss is accumulated with: PD (a float's shortest repr, up to
#: 17 digits) x limit x LGD summed over millions of sellers stays exact, where the default
#: 28 digits would round.
_EXACT_PRECISION = 80

#: The grade label of the row that sums every grade.
TOTAL = "total"

_OUTCOMES: tuple[Outcome, ...] = ("approve", "refer", "decline")


class SimulationMismatch(LendingError):
    """Decisions given to a simulation do not belong to it (another policy version, a
    grade the policy does not know, two policies deciding different sellers)."""

    code = "simulation_mismatch"


@dataclass(frozen=True)
class ScoredSeller:
    """One row of a score table, as :func:`lending.policy.decide` reads it.

    ``pd`` and ``points`` may be floats from the scorer (converted exactly by ``decide``).
    """

    seller_id: str
    pd: float | Decimal
    points: float | int | Decimal
    grade: str


@dataclass(frozen=True)
class SimulationPolicy:
    """A credit policy with the LGD its file sets (``None`` when it sets none)."""

    policy: CreditPolicy
    lgd: Decimal | None

    def lgd_or(self, default: Decimal) -> Decimal:
        """The file's LGD, else ``default``."""
        return self.lgd if self.lgd is not None else default


def parse_lgd(document: Mapping[str, Any]) -> Decimal | None:
    """The optional ``[loss] lgd`` of a parsed policy document.

    Raises
    ------
    InvalidPolicy
        If ``loss`` is not a table, or ``loss.lgd`` is not a string holding a number
        between 0 and 1.
    """
    loss = document.get("loss")
    if loss is None:
        return None
    if not isinstance(loss, dict):
        raise InvalidPolicy(f"policy.loss must be a table; got {loss!r}")
    if "lgd" not in loss:
        raise InvalidPolicy("policy is missing loss.lgd (the [loss] table is there)")
    value = loss["lgd"]
    if isinstance(value, float):
        raise InvalidPolicy(f"loss.lgd = {value!r}: write rates as strings, e.g. \"{value}\"")
    try:
        lgd = to_decimal(value, what="loss.lgd")
    except LendingError as error:
        raise InvalidPolicy(str(error)) from None
    if not 0 <= lgd <= 1:
        raise InvalidPolicy(f"loss.lgd must be between 0 and 1; got {lgd}")
    return lgd


def load_simulation_policy(path: str | Path | None = None) -> SimulationPolicy:
    """Load a policy file (default: the shipped one) with its optional ``[loss] lgd``.

    The file is read once and parsed by :func:`lending.policy.parse_policy`, so the policy
    is exactly what :func:`lending.policy.load_policy` would load.

    Raises
    ------
    InvalidPolicy
        If the file is not valid TOML, or the policy or its LGD is malformed.
    FileNotFoundError
        If ``path`` does not exist.
    """
    document = read_policy_document(path)
    return SimulationPolicy(parse_policy(document), parse_lgd(document))


# ------------------------------------------------------------------------ summaries


@dataclass(frozen=True)
class GradeSummary:
    """What a policy does to the sellers of one grade (or to all: grade ``"total"``)."""

    grade: str
    sellers: int
    approved: int
    referred: int
    declined: int
    exposure: Decimal
    expected_loss: Decimal
    referred_limit: Decimal

    def _rate(self, count: int) -> Decimal | None:
        return Decimal(count) / Decimal(self.sellers) if self.sellers else None

    @property
    def approval_rate(self) -> Decimal | None:
        """Share of the sellers approved; ``None`` without sellers."""
        return self._rate(self.approved)

    @property
    def referral_rate(self) -> Decimal | None:
        """Share of the sellers referred to a loan officer; ``None`` without sellers."""
        return self._rate(self.referred)

    @property
    def decline_rate(self) -> Decimal | None:
        """Share of the sellers declined; ``None`` without sellers."""
        return self._rate(self.declined)


@dataclass(frozen=True)
class PolicySummary:
    """One policy over a population: a row per grade of the policy, and the total."""

    policy_version: str
    currency: str
    lgd: Decimal
    grades: tuple[GradeSummary, ...]
    total: GradeSummary

    @property
    def rows(self) -> tuple[GradeSummary, ...]:
        """The grade rows followed by the total."""
        return (*self.grades, self.total)

    def grade(self, label: str) -> GradeSummary:
        """The row of one grade (or ``"total"``)."""
        for row in self.rows:
            if row.grade == label:
                return row
        raise KeyError(label)


@dataclass
class _Tally:
    """Running counts and sums of one grade (exact; rounded only in the summary)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    exposure: Decimal = ZERO
    expected_loss: Decimal = ZERO
    referred_limit: Decimal = ZERO

    def add(self, decision: CreditDecision, lgd: Decimal) -> None:
        self.outcomes[decision.outcome] += 1
        if decision.outcome == "approve":
            self.exposure += decision.limit
            with localcontext(prec=_EXACT_PRECISION):
                self.expected_loss += decision.pd * decision.limit * lgd
        elif decision.outcome == "refer":
            self.referred_limit += decision.limit

    def merge(self, other: _Tally) -> None:
        self.outcomes.update(other.outcomes)
        self.exposure += other.exposure
        with localcontext(prec=_EXACT_PRECISION):
            self.expected_loss += other.expected_loss
        self.referred_limit += other.referred_limit

    def summary(self, grade: str, currency: str) -> GradeSummary:
        return GradeSummary(
            grade=grade, sellers=sum(self.outcomes.values()),
            approved=self.outcomes["approve"], referred=self.outcomes["refer"],
            declined=self.outcomes["decline"],
            exposure=quantize(self.exposure, currency),
            expected_loss=quantize(self.expected_loss, currency),
            referred_limit=quantize(self.referred_limit, currency))


class _Simulation:
    """Folds the decisions of one policy, checking that each belongs to it."""

    def __init__(self, policy: CreditPolicy, lgd: Decimal) -> None:
        lgd = to_decimal(lgd, what="lgd")
        if not 0 <= lgd <= 1:
            raise InvalidPolicy(f"lgd must be between 0 and 1; got {lgd}")
        self.policy = policy
        self.lgd = lgd
        self.tallies = {grade: _Tally() for grade in policy.grades}

    def add(self, decision: CreditDecision) -> None:
        if decision.policy_version != self.policy.version:
            raise SimulationMismatch(
                f"seller {decision.seller_id!r} was decided under policy "
                f"{decision.policy_version}, not {self.policy.version}")
        tally = self.tallies.get(decision.grade)
        if tally is None:
            raise SimulationMismatch(
                f"seller {decision.seller_id!r} has grade {decision.grade!r}, which policy "
                f"{self.policy.version} does not know; known: {sorted(self.tallies)}")
        tally.add(decision, self.lgd)

    def summary(self) -> PolicySummary:
        currency = self.policy.currency
        total = _Tally()
        for tally in self.tallies.values():
            total.merge(tally)
        return PolicySummary(
            policy_version=self.policy.version, currency=currency, lgd=self.lgd,
            grades=tuple(tally.summary(grade, currency)
                         for grade, tally in self.tallies.items()),
            total=total.summary(TOTAL, currency))


def summarize(decisions: Iterable[CreditDecision], policy: CreditPolicy,
              lgd: Decimal = DEFAULT_LGD) -> PolicySummary:
    """Fold the decisions of one policy into a row per grade and a total.

    Parameters
    ----------
    decisions
        Decisions made by :func:`lending.policy.decide` under ``policy``; read once, so a
        generator over a large population is fine.
    policy
        The policy that made them; its grades, in file order, are the rows (a grade
        without sellers gets a row of zeros).
    lgd
        Loss given default, between 0 and 1.

    Returns
    -------
    PolicySummary

    Raises
    ------
    SimulationMismatch
        If a decision was made under another policy version or has a grade the policy
        does not know.

    Examples
    --------
    >>> from lending.policy import ScoreSummary, SellerProfile, decide, load_policy
    >>> policy = load_policy()
    >>> decision = decide(ScoreSummary(Decimal("0.02"), Decimal("640"), "A"),
    ...                   SellerProfile("S1", "shop", Decimal("365000"), Decimal("20")),
    ...                   policy)
    >>> total = summarize([decision], policy, Decimal("0.45")).total
    >>> total.approved, total.exposure, total.expected_loss
    (1, Decimal('30000.00'), Decimal('270.00'))
    """
    simulation = _Simulation(policy, lgd)
    for decision in decisions:
        simulation.add(decision)
    return simulation.summary()


@dataclass(frozen=True)
class PolicyComparison:
    """Two policies over the same sellers."""

    base: PolicySummary
    other: PolicySummary
    #: How many sellers went from each outcome under ``base`` to each under ``other``
    #: (every pair of outcomes is present, zero included).
    moves: Mapping[tuple[Outcome, Outcome], int]

    @property
    def changed(self) -> int:
        """Sellers whose outcome differs between the two policies."""
        return sum(n for (before, after), n in self.moves.items() if before != after)


def compare(pairs: Iterable[tuple[CreditDecision, CreditDecision]],
            base: CreditPolicy, other: CreditPolicy, *, base_lgd: Decimal = DEFAULT_LGD,
            other_lgd: Decimal = DEFAULT_LGD) -> PolicyComparison:
    """Summarize two policies at once from the pair of decisions each made for a seller.

    Parameters
    ----------
    pairs
        ``(decision under base, decision under other)`` for each seller; read once.
    base, other
        The two policies.
    base_lgd, other_lgd
        The loss given default of each.

    Raises
    ------
    SimulationMismatch
        If the two decisions of a pair are for different sellers, or a decision does not
        belong to its policy (see :func:`summarize`).
    """
    first, second = _Simulation(base, base_lgd), _Simulation(other, other_lgd)
    moves: Counter[tuple[Outcome, Outcome]] = Counter()
    for before, after in pairs:
        if before.seller_id != after.seller_id:
            raise SimulationMismatch(f"decisions for different sellers paired: "
                                     f"{before.seller_id!r} and {after.seller_id!r}")
        first.add(before)
        second.add(after)
        moves[before.outcome, after.outcome] += 1
    return PolicyComparison(first.summary(), second.summary(),
                            {(a, b): moves[a, b] for a in _OUTCOMES for b in _OUTCOMES})
