"""Credit policy: from a score and a seller's trading figures to a decision, limit and terms.

The policy is versioned configuration, a TOML file (``lending/policies/default.toml``
ships with the package) loaded into a frozen :class:`CreditPolicy`; every
:class:`CreditDecision` records the policy version and the inputs it was made from, so
it can be reproduced exactly.

Decision rules (each failed rule adds a :class:`PolicyReason`):

* **decline** when the grade's rule says decline, PD is above ``decline_pd_above``,
  trailing 365-day GMV is below ``min_trailing_gmv``, the limit comes out below the
  floor, or the seller's own credit history with us says so: an open line more than
  ``decline_existing_line_days_past_due_above`` days past due (``EXISTING_LINE_DELINQUENT``)
  or, with ``decline_after_written_off_line``, a line written off
  (``EXISTING_LINE_WRITTEN_OFF``);
* **refer** (to a loan officer) when the grade's rule says refer, PD is above
  ``refer_pd_above``, the cash cycle is unknown or longer than
  ``refer_cash_cycle_days_above``, or no product is configured for the seller kind;
* **approve** otherwise. Decline wins over refer.

Every :class:`PolicyReason` carries its message in English and in Chinese; what an applicant
is told (policy rules first, then the model's reasons) is put together in
:func:`decisions.case.principal_reasons`.

Limit: ``GMV / 365 * clamp(cash cycle, min, max) * grade multiplier``, at most
``max_share_of_gmv * GMV``, rounded *down* to ``step``, then capped at ``cap`` (default
100,000 CNY). A declined application gets a zero limit; a referred one carries the limit
the officer would grant.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

from lending.errors import InvalidPolicy, InvalidScore, LendingError, UnknownGrade
from lending.money import ZERO, parse_amount, quantize, to_decimal

__all__ = [
    "Outcome",
    "ScoreLike",
    "ScoreSummary",
    "SellerProfile",
    "GradeRule",
    "LimitRule",
    "DecisionRule",
    "PurchaseLineProduct",
    "TermLoanProduct",
    "CreditPolicy",
    "PolicyReason",
    "Terms",
    "CreditDecision",
    "DEFAULT_POLICY_PATH",
    "OWN_LINES_WORST_DAYS_PAST_DUE",
    "OWN_LINES_WRITTEN_OFF",
    "load_policy",
    "parse_policy",
    "decide",
]

Outcome = Literal["approve", "refer", "decline"]
_OUTCOMES: tuple[str, ...] = ("approve", "refer", "decline")
DEFAULT_POLICY_PATH = "policies/default.toml"
#: Keys of a decision's stored inputs (beside the feature values) that carry the seller's
#: credit history with us: :meth:`SellerProfile.from_feature_row` reads them, absent = none.
OWN_LINES_WORST_DAYS_PAST_DUE = "own_lines_worst_days_past_due"
OWN_LINES_WRITTEN_OFF = "own_lines_written_off"
_DAYS_PER_YEAR = Decimal(365)
#: Policy outcomes and currencies as the Chinese policy messages name them.
_OUTCOME_ZH: dict[str, str] = {"approve": "批准", "refer": "转人工审核", "decline": "拒绝"}
_CURRENCY_ZH: dict[str, str] = {"CNY": "元"}


class ScoreLike(Protocol):
    """What the policy reads from a score result (``scoring``'s result satisfies it)."""

    @property
    def pd(self) -> float | Decimal: ...

    @property
    def points(self) -> float | int | Decimal: ...

    @property
    def grade(self) -> str: ...


@dataclass(frozen=True)
class ScoreSummary:
    """A minimal score result: probability of default, points and grade."""

    pd: Decimal
    points: Decimal
    grade: str
    model_name: str = ""
    model_version: str = ""


def _analytic_decimal(value: object, what: str) -> Decimal:
    """A float analytics value (PD, points, GMV from features) as an exact Decimal of its
    shortest repr; Decimal/int/str pass through. Refuses NaN and infinities."""
    if isinstance(value, float) or (hasattr(value, "dtype") and hasattr(value, "__float__")
                                    and not hasattr(value, "__index__")):
        # numpy scalars too (np.float64 subclasses float; its repr is 'np.float64(3.0)')
        value = repr(float(value))
    try:
        return to_decimal(value, what=what)
    except LendingError as error:
        raise InvalidScore(str(error)) from None


@dataclass(frozen=True)
class SellerProfile:
    """The seller's figures the policy reads.

    Parameters
    ----------
    seller_id
        Identifier of the seller.
    seller_kind
        ``"shop"`` or ``"factory"``; picks the product.
    trailing_gmv_365d
        Gross merchandise value over the last 365 days, in the policy currency.
    cash_cycle_days
        Days from paying for stock to being paid (median payout delay when that is all
        that is known); ``None`` when unknown (the application is then referred and the
        limit sized on the shortest cash cycle).
    worst_open_days_past_due
        The most days past due of the seller's open lines with us (0: none, or none
        past due).
    has_written_off_line
        Whether a line of the seller's with us was written off.
    """

    seller_id: str
    seller_kind: str
    trailing_gmv_365d: Decimal
    cash_cycle_days: Decimal | None
    worst_open_days_past_due: int = 0
    has_written_off_line: bool = False

    def __post_init__(self) -> None:
        gmv = _analytic_decimal(self.trailing_gmv_365d, "trailing_gmv_365d")
        if gmv < 0:
            raise InvalidScore(f"trailing_gmv_365d must not be negative; got {gmv}")
        object.__setattr__(self, "trailing_gmv_365d", gmv)
        if self.cash_cycle_days is not None:
            cycle = _analytic_decimal(self.cash_cycle_days, "cash_cycle_days")
            if cycle < 0:
                raise InvalidScore(f"cash_cycle_days must not be negative; got {cycle}")
            object.__setattr__(self, "cash_cycle_days", cycle)
        days = self.worst_open_days_past_due
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise InvalidScore(f"worst_open_days_past_due must be a non-negative integer; "
                               f"got {days!r}")
        if not isinstance(self.has_written_off_line, bool):
            raise InvalidScore(f"has_written_off_line must be true or false; "
                               f"got {self.has_written_off_line!r}")

    @classmethod
    def from_features(cls, seller_id: str, seller_kind: str, trailing_gmv_365d: float,
                      cash_cycle_days: float | None, *, worst_open_days_past_due: int = 0,
                      has_written_off_line: bool = False) -> SellerProfile:
        """Build from float feature values (analytics side), converted explicitly.

        A NaN cash cycle (a seller with no payout yet) becomes ``None`` (unknown).
        """
        cycle = (None if cash_cycle_days is None or cash_cycle_days != cash_cycle_days
                 else _analytic_decimal(cash_cycle_days, "cash_cycle_days"))
        return cls(seller_id, seller_kind,
                   _analytic_decimal(trailing_gmv_365d, "trailing_gmv_365d"), cycle,
                   worst_open_days_past_due, has_written_off_line)

    @classmethod
    def from_feature_row(cls, seller_id: str, row: Mapping[str, Any]) -> SellerProfile:
        """Build from a row of the feature table (``features.build_features``): reads
        ``seller_kind``, ``gmv_365d`` and ``median_payout_delay_days_365d``, and the
        seller's credit history with us when the row carries it
        (:data:`OWN_LINES_WORST_DAYS_PAST_DUE`, :data:`OWN_LINES_WRITTEN_OFF`; absent:
        no line with us)."""
        try:
            return cls.from_features(
                seller_id, str(row["seller_kind"]), row["gmv_365d"],
                row["median_payout_delay_days_365d"],
                worst_open_days_past_due=row.get(OWN_LINES_WORST_DAYS_PAST_DUE, 0),
                has_written_off_line=row.get(OWN_LINES_WRITTEN_OFF, False))
        except KeyError as missing:
            raise InvalidScore(f"feature row of seller {seller_id!r} lacks {missing}") from None


@dataclass(frozen=True)
class GradeRule:
    """What the policy does with one grade."""

    decision: Outcome
    limit_multiplier: Decimal
    max_interest_free_days: int


@dataclass(frozen=True)
class LimitRule:
    """How a limit is sized (see the module docstring)."""

    floor: Decimal
    cap: Decimal
    step: Decimal
    min_cash_cycle_days: int
    max_cash_cycle_days: int
    max_share_of_gmv: Decimal


@dataclass(frozen=True)
class DecisionRule:
    """Thresholds that decline or refer whatever the grade.

    ``decline_existing_line_days_past_due_above`` and ``decline_after_written_off_line``
    read the seller's credit history with us (optional in a policy file: absent, they
    take these defaults).
    """

    min_trailing_gmv: Decimal
    decline_pd_above: Decimal
    refer_pd_above: Decimal
    refer_cash_cycle_days_above: int
    decline_existing_line_days_past_due_above: int = 30
    decline_after_written_off_line: bool = True


@dataclass(frozen=True)
class PurchaseLineProduct:
    """Terms of the interest-free revolving purchase line."""

    interest_free_days: tuple[int, ...]
    instalment_months: tuple[int, ...]
    instalment_fee_rate_per_month: Decimal


@dataclass(frozen=True)
class TermLoanProduct:
    """Terms of the term micro-loan."""

    methods: tuple[str, ...]
    months: tuple[int, ...]
    annual_rate: Mapping[str, Decimal]


@dataclass(frozen=True)
class CreditPolicy:
    """A versioned credit policy (see :func:`load_policy`)."""

    version: str
    currency: str
    limit: LimitRule
    decision: DecisionRule
    grades: Mapping[str, GradeRule]
    product_by_seller_kind: Mapping[str, str]
    purchase_line: PurchaseLineProduct
    term_loan: TermLoanProduct


@dataclass(frozen=True)
class PolicyReason:
    """Why a decision came out as it did: a stable code, its effect and a plain message
    in English (``message``) and in Chinese (``message_zh``).

    ``message_zh`` is empty only for a reason read back from a decision stored before
    policy reasons were bilingual.
    """

    code: str
    effect: Literal["decline", "refer", "info"]
    message: str
    message_zh: str = ""


@dataclass(frozen=True)
class Terms:
    """The product offered and its terms."""

    product: str
    interest_free_days: tuple[int, ...] = ()
    instalment_months: tuple[int, ...] = ()
    instalment_fee_rate_per_month: Decimal = ZERO
    methods: tuple[str, ...] = ()
    months: tuple[int, ...] = ()
    annual_rate: Decimal = ZERO


@dataclass(frozen=True)
class CreditDecision:
    """The outcome of :func:`decide`, with everything needed to reproduce it."""

    seller_id: str
    outcome: Outcome
    limit: Decimal
    terms: Terms | None
    reasons: tuple[PolicyReason, ...]
    policy_version: str
    grade: str
    pd: Decimal
    points: Decimal
    #: The limit before the floor and cap were applied (after rounding down to the step).
    sized_limit: Decimal

    @property
    def product(self) -> str | None:
        """Product offered, or ``None`` when declined."""
        return self.terms.product if self.terms else None


# ------------------------------------------------------------------------ loading


def _field(table: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return table[key]
    except (KeyError, TypeError):
        raise InvalidPolicy(f"policy is missing {where}.{key}") from None


def _money(table: Mapping[str, Any], key: str, where: str, currency: str) -> Decimal:
    value = _field(table, key, where)
    if isinstance(value, float):
        raise InvalidPolicy(f"{where}.{key} = {value!r}: write money as a string, e.g. "
                            f"\"{value:.2f}\"")
    try:
        return parse_amount(value, currency, allow_zero=True, what=f"{where}.{key}")
    except LendingError as error:
        raise InvalidPolicy(str(error)) from None


def _fraction(table: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _field(table, key, where)
    if isinstance(value, float):
        raise InvalidPolicy(f"{where}.{key} = {value!r}: write rates as strings")
    try:
        number = to_decimal(value, what=f"{where}.{key}")
    except LendingError as error:
        raise InvalidPolicy(str(error)) from None
    if number < 0:
        raise InvalidPolicy(f"{where}.{key} must not be negative; got {number}")
    return number


def _int(table: Mapping[str, Any], key: str, where: str) -> int:
    value = _field(table, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidPolicy(f"{where}.{key} must be a non-negative integer; got {value!r}")
    return value


def _bool(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = _field(table, key, where)
    if not isinstance(value, bool):
        raise InvalidPolicy(f"{where}.{key} must be true or false; got {value!r}")
    return value


def _ints(table: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = _field(table, key, where)
    if not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise InvalidPolicy(f"{where}.{key} must be a non-empty list of positive integers; "
                            f"got {value!r}")
    return tuple(value)


def parse_policy(document: Mapping[str, Any]) -> CreditPolicy:
    """Check a parsed policy document and build the :class:`CreditPolicy`.

    Raises
    ------
    InvalidPolicy
        With the path of the first missing or malformed field.
    """
    version = _field(document, "version", "policy")
    if not isinstance(version, str) or not version.strip():
        raise InvalidPolicy(f"policy.version must be a non-empty string; got {version!r}")
    currency = _field(document, "currency", "policy")
    try:
        parse_amount(0, currency, allow_zero=True)
    except LendingError as error:
        raise InvalidPolicy(str(error)) from None
    limit_table = _field(document, "limit", "policy")
    limit = LimitRule(
        floor=_money(limit_table, "floor", "limit", currency),
        cap=_money(limit_table, "cap", "limit", currency),
        step=_money(limit_table, "step", "limit", currency),
        min_cash_cycle_days=_int(limit_table, "min_cash_cycle_days", "limit"),
        max_cash_cycle_days=_int(limit_table, "max_cash_cycle_days", "limit"),
        max_share_of_gmv=_fraction(limit_table, "max_share_of_gmv", "limit"),
    )
    if limit.step <= 0:
        raise InvalidPolicy(f"limit.step must be positive; got {limit.step}")
    if limit.floor > limit.cap:
        raise InvalidPolicy(f"limit.floor must be <= limit.cap; got {limit.floor} > {limit.cap}")
    if limit.min_cash_cycle_days > limit.max_cash_cycle_days:
        raise InvalidPolicy("limit.min_cash_cycle_days must be <= limit.max_cash_cycle_days")
    decision_table = _field(document, "decision", "policy")
    decision = DecisionRule(
        min_trailing_gmv=_money(decision_table, "min_trailing_gmv", "decision", currency),
        decline_pd_above=_fraction(decision_table, "decline_pd_above", "decision"),
        refer_pd_above=_fraction(decision_table, "refer_pd_above", "decision"),
        refer_cash_cycle_days_above=_int(decision_table, "refer_cash_cycle_days_above",
                                         "decision"),
        decline_existing_line_days_past_due_above=_int(
            {"decline_existing_line_days_past_due_above": 30} | dict(decision_table),
            "decline_existing_line_days_past_due_above", "decision"),
        decline_after_written_off_line=_bool(
            {"decline_after_written_off_line": True} | dict(decision_table),
            "decline_after_written_off_line", "decision"),
    )
    if not decision.refer_pd_above <= decision.decline_pd_above <= 1:
        raise InvalidPolicy("decision.refer_pd_above must be <= decision.decline_pd_above <= 1")
    grades_table = _field(document, "grades", "policy")
    if not isinstance(grades_table, dict) or not grades_table:
        raise InvalidPolicy("policy.grades must list at least one grade")
    grades: dict[str, GradeRule] = {}
    for grade, rule in grades_table.items():
        where = f"grades.{grade}"
        outcome = _field(rule, "decision", where)
        if outcome not in _OUTCOMES:
            raise InvalidPolicy(f"{where}.decision must be one of {_OUTCOMES}; got {outcome!r}")
        grades[grade] = GradeRule(outcome, _fraction(rule, "limit_multiplier", where),
                                  _int(rule, "max_interest_free_days", where))
    products = _field(document, "products", "policy")
    line_table = _field(products, "purchase_line", "products")
    loan_table = _field(products, "term_loan", "products")
    rates = _field(loan_table, "annual_rate", "products.term_loan")
    term_loan = TermLoanProduct(
        methods=tuple(_field(loan_table, "methods", "products.term_loan")),
        months=_ints(loan_table, "months", "products.term_loan"),
        annual_rate={grade: _fraction(rates, grade, "products.term_loan.annual_rate")
                     for grade in grades},
    )
    by_kind = {kind: value for kind, value in products.items() if isinstance(value, str)}
    for kind, product in by_kind.items():
        if product not in ("purchase_line", "term_loan"):
            raise InvalidPolicy(f"products.{kind} must be purchase_line or term_loan; "
                                f"got {product!r}")
    return CreditPolicy(
        version=version.strip(),
        currency=currency,
        limit=limit,
        decision=decision,
        grades=grades,
        product_by_seller_kind=by_kind,
        purchase_line=PurchaseLineProduct(
            interest_free_days=_ints(line_table, "interest_free_days",
                                     "products.purchase_line"),
            instalment_months=_ints(line_table, "instalment_months", "products.purchase_line"),
            instalment_fee_rate_per_month=_fraction(
                line_table, "instalment_fee_rate_per_month", "products.purchase_line"),
        ),
        term_loan=term_loan,
    )


def load_policy(path: str | Path | None = None) -> CreditPolicy:
    """Load a credit policy from a TOML file (default: the one shipped in the package).

    Parameters
    ----------
    path
        A TOML policy file; ``None`` loads ``lending/policies/default.toml``.

    Raises
    ------
    InvalidPolicy
        If the file is not valid TOML or the policy is malformed.
    """
    return parse_policy(read_policy_document(path))


def read_policy_document(path: str | Path | None = None) -> dict[str, Any]:
    """The TOML document of a policy file (default: the one shipped in the package).

    Raises
    ------
    InvalidPolicy
        If the file is not UTF-8 text or not valid TOML.
    FileNotFoundError
        If ``path`` does not exist.
    """
    try:
        if path is None:
            text = resources.files("lending").joinpath(DEFAULT_POLICY_PATH).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicy(f"policy file is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise InvalidPolicy(f"policy file is not UTF-8 text: {error}") from None


# ------------------------------------------------------------------------ deciding


def _size_limit(seller: SellerProfile, rule: GradeRule, policy: CreditPolicy) -> Decimal:
    limit_rule = policy.limit
    shortest = Decimal(limit_rule.min_cash_cycle_days)
    known = seller.cash_cycle_days if seller.cash_cycle_days is not None else shortest
    cycle = min(max(known, shortest), Decimal(limit_rule.max_cash_cycle_days))
    gmv = seller.trailing_gmv_365d
    need = gmv / _DAYS_PER_YEAR * cycle * rule.limit_multiplier
    need = min(need, gmv * limit_rule.max_share_of_gmv)
    steps = (need / limit_rule.step).to_integral_value(rounding=ROUND_FLOOR)
    return quantize(steps * limit_rule.step, policy.currency)


def decide(score: ScoreLike, seller: SellerProfile, policy: CreditPolicy) -> CreditDecision:
    """Apply the credit policy to a score and a seller's figures.

    Parameters
    ----------
    score
        PD (0 to 1), points and grade from the scorer.
    seller
        Trailing 365-day GMV, cash cycle, seller kind and credit history with us.
    policy
        The policy to apply (see :func:`load_policy`).

    Returns
    -------
    CreditDecision
        Outcome, limit, product and terms, reasons and the policy version.

    Raises
    ------
    UnknownGrade
        If the policy has no rule for the score's grade.
    InvalidScore
        If PD is outside [0, 1] or a figure is not a number.

    Examples
    --------
    >>> policy = load_policy()
    >>> decision = decide(ScoreSummary(Decimal("0.02"), Decimal("640"), "A"),
    ...                   SellerProfile("S1", "shop", Decimal("1200000"), Decimal("20")),
    ...                   policy)
    >>> decision.outcome, decision.limit, decision.product
    ('approve', Decimal('98000.00'), 'purchase_line')
    """
    pd = _analytic_decimal(score.pd, "pd")
    points = _analytic_decimal(score.points, "points")
    if not 0 <= pd <= 1:
        raise InvalidScore(f"pd must be between 0 and 1; got {pd}")
    rule = policy.grades.get(score.grade)
    if rule is None:
        raise UnknownGrade(f"policy {policy.version} has no rule for grade {score.grade!r}; "
                           f"known: {sorted(policy.grades)}")
    thresholds = policy.decision
    reasons: list[PolicyReason] = []
    currency = policy.currency
    if rule.decision != "approve":
        reasons.append(PolicyReason(
            f"GRADE_{rule.decision.upper()}", rule.decision,
            f"grade {score.grade} is set to {rule.decision}",
            f"{score.grade}级的处理规则为{_OUTCOME_ZH[rule.decision]}"))
    if pd > thresholds.decline_pd_above:
        reasons.append(PolicyReason(
            "PD_ABOVE_DECLINE_THRESHOLD", "decline",
            f"PD {pd} is above {thresholds.decline_pd_above}",
            f"违约概率{pd}高于拒绝线{thresholds.decline_pd_above}"))
    elif pd > thresholds.refer_pd_above:
        reasons.append(PolicyReason(
            "PD_ABOVE_REFER_THRESHOLD", "refer",
            f"PD {pd} is above {thresholds.refer_pd_above}",
            f"违约概率{pd}高于转人工审核线{thresholds.refer_pd_above}"))
    if seller.trailing_gmv_365d < thresholds.min_trailing_gmv:
        reasons.append(PolicyReason(
            "GMV_BELOW_MINIMUM", "decline",
            f"trailing 365-day GMV {seller.trailing_gmv_365d} is below "
            f"{thresholds.min_trailing_gmv}",
            f"近365天销售额{seller.trailing_gmv_365d}{_CURRENCY_ZH.get(currency, currency)}"
            f"低于最低要求{thresholds.min_trailing_gmv}{_CURRENCY_ZH.get(currency, currency)}"))
    if seller.worst_open_days_past_due > thresholds.decline_existing_line_days_past_due_above:
        reasons.append(PolicyReason(
            "EXISTING_LINE_DELINQUENT", "decline",
            f"an open credit line of the seller's is {seller.worst_open_days_past_due} days "
            f"past due, more than {thresholds.decline_existing_line_days_past_due_above}",
            f"商户在本平台的一条未结清授信已逾期{seller.worst_open_days_past_due}天，超过"
            f"{thresholds.decline_existing_line_days_past_due_above}天"))
    if seller.has_written_off_line and thresholds.decline_after_written_off_line:
        reasons.append(PolicyReason("EXISTING_LINE_WRITTEN_OFF", "decline",
                                    "a credit line of the seller's was written off",
                                    "商户在本平台有一条授信已核销"))
    if seller.cash_cycle_days is None:
        reasons.append(PolicyReason("CASH_CYCLE_UNKNOWN", "refer",
                                    "the seller has no payout history to measure its cash "
                                    "cycle", "商户尚无回款记录，无法计算资金周转周期"))
    elif seller.cash_cycle_days > thresholds.refer_cash_cycle_days_above:
        reasons.append(PolicyReason(
            "CASH_CYCLE_LONG", "refer",
            f"cash cycle of {seller.cash_cycle_days} days is longer than "
            f"{thresholds.refer_cash_cycle_days_above}",
            f"资金周转周期{seller.cash_cycle_days}天，长于"
            f"{thresholds.refer_cash_cycle_days_above}天"))
    product = policy.product_by_seller_kind.get(seller.seller_kind)
    if product is None:
        reasons.append(PolicyReason(
            "NO_PRODUCT_FOR_SELLER_KIND", "refer",
            f"no product is configured for {seller.seller_kind!r}",
            f"尚未为“{seller.seller_kind}”类商户配置信贷产品"))
    sized = _size_limit(seller, rule, policy)
    limit = sized
    if limit > policy.limit.cap:
        limit = policy.limit.cap
        reasons.append(PolicyReason(
            "LIMIT_CAPPED", "info", f"limit {sized} capped at {policy.limit.cap}",
            f"额度{sized}{_CURRENCY_ZH.get(currency, currency)}按上限"
            f"{policy.limit.cap}{_CURRENCY_ZH.get(currency, currency)}封顶"))
    if limit < policy.limit.floor:
        reasons.append(PolicyReason(
            "LIMIT_BELOW_FLOOR", "decline",
            f"limit {limit} is below the floor {policy.limit.floor}",
            f"额度{limit}{_CURRENCY_ZH.get(currency, currency)}低于最低额度"
            f"{policy.limit.floor}{_CURRENCY_ZH.get(currency, currency)}"))
    effects = {reason.effect for reason in reasons}
    outcome: Outcome = ("decline" if "decline" in effects
                        else "refer" if "refer" in effects else "approve")
    terms = None
    if outcome == "decline":
        limit = quantize(ZERO, policy.currency)
    elif product == "purchase_line":
        line = policy.purchase_line
        terms = Terms(product,
                      interest_free_days=tuple(d for d in line.interest_free_days
                                               if d <= rule.max_interest_free_days),
                      instalment_months=line.instalment_months,
                      instalment_fee_rate_per_month=line.instalment_fee_rate_per_month)
    elif product == "term_loan":
        loan = policy.term_loan
        terms = Terms(product, methods=loan.methods, months=loan.months,
                      annual_rate=loan.annual_rate[score.grade])
    return CreditDecision(seller_id=seller.seller_id, outcome=outcome, limit=limit, terms=terms,
                          reasons=tuple(reasons), policy_version=policy.version,
                          grade=score.grade, pd=pd, points=points, sized_limit=sized)

