"""Run the synthetic marketplace forward through the service, month by month, day by day.

Each simulated month starts at midnight of its first day in the lender's time zone:

1. **records arrive**: sellers registered during the month before are registered
   (:func:`records.ingest.register_sellers`), and the orders created or changed in it
   arrive as the marketplace knew them then (:func:`records.ingest.ingest_orders`, one
   batch); as a bulk feed, the batches invalidate the snapshots of the sellers they
   touch (``snapshots="invalidate"``) instead of rebuilding them: most of those sellers
   are not decided this month, and those who are get theirs built in step 3;
2. **lines are reviewed**: every ``review_every_months`` months on book, each line not
   written off (of a seller past its default day: only while it owes something) is
   reviewed as a lender does, by a decision on its seller
   (:func:`decisions.service.decide_for_seller`, whose snapshot carries the seller's
   credit history from the ledger): an approval gives the line the review's limit and
   terms (the service re-grants the seller's open line, :func:`lending.persistence.
   services.regrant_line`); a decline cuts the limit to zero
   (:func:`lending.persistence.change_limit`): the line runs off, its draws are repaid
   on their schedules and no new draw is allowed until a later review approves; a
   referral leaves the line as it is (the officer never comes);
3. **sellers ask for decisions**: a seeded share of the sellers still trading without a
   line (and without a decision in the last ``reapply_after_months``) apply; their snapshots (and
   the reviewed sellers') are built as of the moment
   (:func:`records.snapshots.refresh_snapshots`, one builder call, with their credit
   history from the ledger: the snapshots the batches would have rebuilt, since nothing
   is written between) and each is decided by
   :func:`decisions.service.decide_for_seller`, the code behind ``POST /v1/decisions``,
   with the champion loaded once;
4. **every day of the month**: approved sellers draw on their lines
   (:func:`lending.persistence.draw`) and pay their instalments as their hidden health
   says (:mod:`simulation.behaviour`: early, on time, late, partly or never), each
   through the lending services with the day as its date; then end of day closes the day
   (:func:`lending.persistence.run_end_of_day` on a simulated clock), which ends with
   the trial balance.

Nothing in the store comes from anywhere but the services. What the simulator knows and
the store never sees (each seller's hidden health, true default probability and default
day) is returned with every decision in :attr:`Simulation.outcomes`, so the would-be
outcomes of declined sellers can be compared with the booked ones.

The run is deterministic for a seed: the marketplace, the order of the services' calls
and every behavioural draw come from seeded streams (ids made by the services, such as
decision ids, differ between runs; the book does not).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from decisions.errors import DecisionError
from decisions.service import decide_for_seller
from features import DEFAULT_TIMEZONE
from lending.errors import LendingError
from lending.persistence import SqlUnitOfWork, draw, prepay, repay, run_end_of_day
from lending.persistence.services import (
    DrawReceipt,
    PaymentReceipt,
    change_limit,
    finished_lines,
    get_line,
    owing_lines,
)
from lending.policy import CreditPolicy
from lending.products import RequestedPlan
from records.errors import RecordsError
from records.ingest import (
    ingest_orders,
    ingest_tier_history,
    load_records,
    register_sellers,
)
from records.snapshots import refresh_snapshots
from scoring import Scorer
from simulation.behaviour import (
    DISTRESS_WINDOW,
    PaymentAction,
    draw_amount,
    draws_this_month,
    instalment_payments,
)
from simulation.book import Book, month_end_rows, read_book
from simulation.market import orders_changed, orders_known_at, seller_fates, shock_window
from synth.marketplace import generate_marketplace

__all__ = ["SimulationConfig", "Simulation", "simulate", "DEFAULT_START", "ACTOR",
           "OUTCOME_COLUMNS", "relax_durability"]

#: First simulated day when none is given (fixed, so that a seed gives one book).
DEFAULT_START = date(2025, 7, 1)
#: Who asks for the simulated decisions.
ACTOR = "system:simulation"
#: The columns of :attr:`Simulation.outcomes`.
OUTCOME_COLUMNS = ("decision_id", "seller_id", "decided_at", "month", "outcome", "status",
                   "grade", "pd", "line_id", "booked", "kept_aside", "kind", "true_pd",
                   "latent_health", "defaults", "default_day", "defaults_within_12m",
                   "failed_within_12m", "review", "months_on_book")

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    Parameters
    ----------
    sellers : sellers in the marketplace (>= 1).
    months : simulated months (>= 1).
    seed : seed of the marketplace and of every behavioural draw.
    history_months : months of records before the first simulated day.
    start : the first simulated day (the first of a month is usual), in the lender's
        time zone.
    apply_share : share of the sellers who may apply that do so each month.
    reapply_after_months : a seller declined or referred may apply again this many
        months later.
    base_default_rate : the marketplace's mean 12-month probability of default, in
        (0, 0.5) (the generator's default: 0.05); a higher one gives a book with enough
        defaults to measure models on.
    review_every_months : each line is reviewed (a new decision on its seller) every this
        many months on book; ``0``: never (only sellers without a line are decided).
    """

    sellers: int
    months: int
    seed: int = 0
    history_months: int = 12
    start: date = DEFAULT_START
    apply_share: float = 0.2
    reapply_after_months: int = 6
    base_default_rate: float = 0.05
    review_every_months: int = 3

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        for name in ("sellers", "months", "history_months", "reapply_after_months"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1; got {value!r}")
        for name in ("seed", "review_every_months"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0; got {value!r}")
        if not 0.0 < self.apply_share <= 1.0:
            raise ValueError(f"apply_share must be in (0, 1]; got {self.apply_share!r}")
        if not 0.0 < self.base_default_rate < 0.5:
            raise ValueError("base_default_rate must be in (0, 0.5); got "
                             f"{self.base_default_rate!r}")


@dataclass
class Simulation:
    """What a run did.

    Attributes
    ----------
    config : the configuration.
    first_day, last_day : the simulated days (every one closed by end of day).
    decisions : decisions on applications (sellers without a line) by outcome.
    reviews : decisions of the lines' reviews by outcome, and ``limit_cut`` (declined
        reviews that cut a limit to zero).
    draws, draws_refused : draws made, and refused by the line (frozen, over the limit).
    payments : payments by kind (``early``, ``on_time``, ``late``, ``partly``).
    days_closed : business days end of day closed.
    book : the book at the end, by grade.
    panel : every line at every simulated month end, as end of day left it (the columns
        of :data:`lending.persistence.history.PANEL_COLUMNS`: ``sme-credit backtest
        --panel`` reads it for vintage curves and roll rates).
    outcomes : one row per decision (:data:`OUTCOME_COLUMNS`): the decision and what the
        simulator knows of the seller; ``kept_aside`` marks decisions that name no line
        (declined, referred), whose outcomes ``sme-credit labels`` never sees; ``review``
        marks a line's review, ``months_on_book`` the months since its line opened (0
        for an application); ``booked`` marks a decision that opened a line.
    failed_before : sellers whose default day (counted from their registration) fell
        before the book's first day: they had failed before the lender began and never
        apply.
    timings : seconds per phase.
    """

    config: SimulationConfig
    first_day: date
    last_day: date
    decisions: Counter[str]
    draws: int
    draws_refused: int
    payments: Counter[str]
    days_closed: int
    book: Book
    outcomes: pd.DataFrame
    panel: pd.DataFrame
    reviews: Counter[str] = field(default_factory=Counter)
    failed_before: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fate:
    """What the simulator knows of a seller (a row of :func:`seller_fates`)."""

    kind: str
    health: float
    true_pd: float
    defaults: bool
    default_day: date | None
    shock_hit: bool

    def active_on(self, day: date) -> bool:
        return self.default_day is None or day < self.default_day


def _fates(frame: pd.DataFrame) -> dict[str, _Fate]:
    rows = cast(list[dict[str, Any]], frame.to_dict(orient="records"))
    return {str(row["seller_id"]): _Fate(str(row["kind"]), float(row["latent_health"]),
                                         float(row["true_pd"]), bool(row["defaults"]),
                                         row["default_day"], bool(row["shock_hit"]))
            for row in rows}


@dataclass
class _Line:
    line_id: str
    seller_id: str
    kind: str
    available: Decimal
    limit: Decimal
    opened_month: int
    draws: int = 0

    def review_due(self, month: int, every: int) -> bool:
        """Whether the line is reviewed at the start of ``month`` (every ``every`` months
        on book; never with ``every`` 0)."""
        on_book = month - self.opened_month
        return every > 0 and on_book > 0 and on_book % every == 0


def relax_durability(engine: sa.Engine) -> None:
    """Commit without waiting for the disk on the engine's new connections.

    A simulated book is made again by running the simulation again, so its commits need
    not survive a power loss: SQLite runs with ``synchronous = OFF`` (the write-ahead log
    still keeps the file consistent through a crash of the process), PostgreSQL with
    ``synchronous_commit = off`` (a crash may lose the last commits, never consistency).
    Nothing else about the store changes; call it before the engine's first connection.
    """
    backend = engine.dialect.name

    @sa.event.listens_for(engine, "connect")
    def _relaxed(dbapi_connection: Any, _record: Any) -> None:
        if backend == "sqlite":
            dbapi_connection.execute("PRAGMA synchronous = OFF")
        elif backend == "postgresql":
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit = off")
            dbapi_connection.commit()


def _midnight(day: date, zone: ZoneInfo) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, day_time(0), zone).astimezone(UTC))


def _month_start(start: date, months: int) -> date:
    return (pd.Timestamp(start) + pd.DateOffset(months=months)).date()


class _Clock:
    """Seconds spent per phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def phase(self, name: str) -> _Phase:
        return _Phase(self, name)


class _Phase:
    def __init__(self, clock: _Clock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.clock.seconds[self.name] += time.perf_counter() - self.started


def simulate(engine: sa.Engine, config: SimulationConfig, *, scorer: Scorer,
             policy: CreditPolicy, timezone: str = DEFAULT_TIMEZONE,
             snapshot_max_age: timedelta = timedelta(days=1),
             progress: bool = False) -> Simulation:
    """Run the simulation on an empty, migrated store (see the module).

    Parameters
    ----------
    engine : the store; it must hold no seller yet.
    config : what to simulate (checked).
    scorer, policy : the model and the credit policy the decisions use.
    timezone : the lender's time zone.
    snapshot_max_age : the service's ``snapshot_max_age_seconds``.
    progress : a progress bar of the simulated days on stderr.

    Raises
    ------
    ValueError
        A bad configuration, or a store that already holds sellers.
    """
    config.check()
    clock = _Clock()
    zone = ZoneInfo(timezone)
    with engine.connect() as connection:
        held = int(connection.execute(sa.text("SELECT count(*) FROM seller")).scalar_one())
    if held:
        raise ValueError(f"the store already holds {held} sellers; a simulation needs an "
                         "empty store")
    month_days = [_month_start(config.start, k) for k in range(config.months + 1)]
    moments = [_midnight(day, zone) for day in month_days]
    with clock.phase("generate"):
        market = generate_marketplace(config.sellers, config.history_months + config.months,
                                      seed=config.seed, as_of=moments[-1],
                                      base_default_rate=config.base_default_rate)
    fate_frame = seller_fates(market, timezone, start=month_days[0], end=month_days[-1],
                              seed=config.seed)
    fates = _fates(fate_frame)
    shock = shock_window(market, timezone)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x51D]))
    registered_at = market.sellers.set_index("seller_id")["registered_at"]

    with clock.phase("records"):
        first = market.sellers.loc[market.sellers["registered_at"] < moments[0]]
        # a seller's tier is known through its tier history (the seller record's own tier
        # counts only from the generator's as-of date, the end of the simulation)
        tiers = market.tier_history
        loaded = load_records(engine, first, orders_known_at(market.orders, moments[0]),
                              now=moments[0].to_pydatetime(),
                              currencies=(policy.currency,), timezone=timezone,
                              tier_history=tiers.loc[tiers["seller_id"].isin(
                                  first["seller_id"])])
        _all_stored("records", loaded.sellers.rejected_rows + loaded.orders.rejected_rows)

    lines: dict[str, _Line] = {}
    last_applied: dict[str, int] = {}
    decisions: Counter[str] = Counter()
    reviews: Counter[str] = Counter()
    payments: Counter[str] = Counter()
    outcome_rows: list[dict[str, Any]] = []
    month_ends: list[pd.DataFrame] = []
    draws_made = refused = days_closed = 0
    draw_queue: dict[date, list[str]] = defaultdict(list)
    payment_queue: dict[date, list[tuple[str, str, str, PaymentAction]]] = defaultdict(list)
    last_day = month_days[-1] - timedelta(days=1)
    total_days = (month_days[-1] - month_days[0]).days
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_days, desc="simulate", unit="day", leave=True)

    def pay(line: _Line, draw_id: str, key: str, action: PaymentAction, day: date) -> None:
        receipt: PaymentReceipt
        try:
            if action.prepay:
                try:
                    receipt = prepay(SqlUnitOfWork(engine), line_id=line.line_id,
                                     draw_id=draw_id, amount=action.amount, on=day,
                                     idempotency_key=key, payment_id=key)
                except LendingError:  # nothing left to prepay: an ordinary payment
                    receipt = repay(SqlUnitOfWork(engine), line_id=line.line_id,
                                    amount=action.amount, on=day,
                                    idempotency_key=key + "-r", payment_id=key + "-r")
            else:
                receipt = repay(SqlUnitOfWork(engine), line_id=line.line_id,
                                amount=action.amount, on=day, idempotency_key=key,
                                payment_id=key)
        except LendingError:
            payments["refused"] += 1
            return
        line.available = receipt.available_credit
        payments[action.kind] += 1

    def make_draw(line: _Line, day: date) -> None:
        nonlocal draws_made, refused
        amount = draw_amount(rng, line.available)
        if amount is None:
            return
        line.draws += 1
        draw_id = f"{line.line_id}-D{line.draws}"
        plan = (RequestedPlan.interest_free(30) if line.kind == "shop"
                else RequestedPlan.term_loan("annuity", 6))
        try:
            receipt: DrawReceipt = draw(
                SqlUnitOfWork(engine), line_id=line.line_id, amount=amount, on=day,
                plan=plan, supplier_id=f"SUP-{line.seller_id}", draw_id=draw_id,
                idempotency_key=f"sim-draw-{draw_id}")
        except LendingError:
            refused += 1
            return
        draws_made += 1
        line.available = receipt.available_credit
        fate = fates[line.seller_id]
        single = len(receipt.schedule.instalments) == 1 and line.kind == "shop"
        for instalment in receipt.schedule.instalments:
            shocked = bool(shock and fate.shock_hit
                           and shock[0] <= instalment.due_date <= shock[1])
            actions = instalment_payments(
                rng, health=fate.health, due=instalment.due_date, total=instalment.total,
                single_interest_free=single, default_day=fate.default_day, shocked=shocked)
            for number, action in enumerate(actions, start=1):
                if action.day <= last_day:
                    key = f"sim-pay-{draw_id}-{instalment.number}-{number}"
                    payment_queue[max(action.day, day)].append(
                        (line.seller_id, draw_id, key, action))

    def review(line: _Line, month: int, moment: pd.Timestamp, day: date) -> None:
        """Review a line: a decision on its seller, acted on through the ledger."""
        seller = line.seller_id
        try:
            view = decide_for_seller(
                SqlUnitOfWork(engine), seller_id=seller, requested_as_of=None,
                scorer=scorer, policy=policy,
                idempotency_key=f"sim-review-{month}-{seller}", actor=ACTOR,
                now=moment.to_pydatetime(), max_age=snapshot_max_age, timezone=timezone)
        except (DecisionError, RecordsError, LendingError):
            reviews["not_decided"] += 1
            return
        reviews[view.outcome] += 1
        outcome_rows.append(_outcome_row(view, month, fates[seller], moment, timezone,
                                         review=True,
                                         months_on_book=month - line.opened_month))
        if view.outcome == "approve" and view.line_id is not None:
            # the service re-granted the line (or, had the line been closed in between,
            # opened another): it has the review's limit from today
            if view.line_id != line.line_id:
                line = lines[seller] = _Line(view.line_id, seller, line.kind, view.limit,
                                             view.limit, month)
            state = get_line(SqlUnitOfWork(engine), line.line_id)
            line.limit, line.available = state.limit, state.available_credit
        elif view.outcome == "decline" and line.limit > 0:
            receipt = change_limit(
                SqlUnitOfWork(engine), line_id=line.line_id, new_limit=Decimal(0), on=day,
                reason=f"declined at review by decision {view.decision_id}", actor=ACTOR,
                idempotency_key=f"sim-review-cut-{month}-{seller}", not_before_book=True)
            line.limit, line.available = receipt.new_limit, receipt.available_credit
            reviews["limit_cut"] += 1

    for month in range(config.months):
        moment = moments[month]
        now = moment.to_pydatetime()
        if month > 0:
            with clock.phase("records"):
                previous = moments[month - 1]
                new = market.sellers.loc[(market.sellers["registered_at"] >= previous)
                                         & (market.sellers["registered_at"] < moment)]
                if len(new):
                    _all_stored("sellers", register_sellers(
                        engine, new, now=now, timezone=timezone,
                        max_rows=len(new), snapshots="invalidate").rejected_rows)
                    periods = tiers.loc[tiers["seller_id"].isin(new["seller_id"])]
                    if len(periods):
                        _all_stored("tier history", ingest_tier_history(
                            engine, periods, now=now, timezone=timezone,
                            max_rows=len(periods), snapshots="invalidate").rejected_rows)
                arrived = orders_changed(market.orders, previous, moment)
                if len(arrived):
                    _all_stored("orders", ingest_orders(
                        engine, arrived, now=now, currencies=(policy.currency,),
                        timezone=timezone, max_rows=len(arrived),
                        snapshots="invalidate").rejected_rows)

        first_day, next_month = month_days[month], month_days[month + 1]
        # the lines due for review, not written off (the ledger says which are); a
        # seller past its default day has failed and its line is reviewed only while it
        # owes something (a failed seller owing nothing would be a good line for ever)
        reviewed = [seller for seller in sorted(lines)
                    if lines[seller].review_due(month, config.review_every_months)]
        if reviewed:
            written_off = finished_lines(SqlUnitOfWork(engine))
            owing = owing_lines(SqlUnitOfWork(engine))
            reviewed = [seller for seller in reviewed
                        if lines[seller].line_id not in written_off]
            failed = {seller for seller in reviewed
                      if not fates[seller].active_on(first_day)
                      and lines[seller].line_id not in owing}
            reviews["failed_owing_nothing"] += len(failed)
            reviewed = [seller for seller in reviewed if seller not in failed]

        # who applies: registered, still trading, no line, not refused lately; a seeded
        # share of them
        candidates = [seller for seller in fates
                      if registered_at[seller] < moment and seller not in lines
                      and fates[seller].active_on(first_day)
                      and month - last_applied.get(seller, -10**6)
                      >= config.reapply_after_months]
        chosen = rng.random(len(candidates)) < config.apply_share
        applicants = [seller for seller, pick in zip(candidates, chosen, strict=True) if pick]
        with clock.phase("snapshots"):
            deciding = sorted(set(applicants) | set(reviewed))
            if deciding:
                refresh_snapshots(engine, now=now, seller_ids=deciding, timezone=timezone,
                                  progress=False)
        with clock.phase("reviews"):
            for seller in reviewed:
                review(lines[seller], month, moment, first_day)
        with clock.phase("decisions"):
            for seller in applicants:
                last_applied[seller] = month
                try:
                    view = decide_for_seller(
                        SqlUnitOfWork(engine), seller_id=seller, requested_as_of=None,
                        scorer=scorer, policy=policy,
                        idempotency_key=f"sim-decision-{month}-{seller}", actor=ACTOR,
                        now=now, max_age=snapshot_max_age, timezone=timezone)
                except (DecisionError, RecordsError, LendingError):
                    decisions["not_decided"] += 1
                    continue
                decisions[view.outcome] += 1
                fate = fates[seller]
                if view.line_id is not None:
                    lines[seller] = _Line(view.line_id, seller, fate.kind, view.limit,
                                          view.limit, month)
                outcome_rows.append(_outcome_row(view, month, fate, moment, timezone))

        # this month's draws: a seeded day of the month for each seller who draws
        length = (next_month - first_day).days
        for seller in sorted(lines):
            line, fate = lines[seller], fates[seller]
            wants = draws_this_month(rng, line.kind)
            on = first_day + timedelta(days=int(rng.integers(0, length)))
            if fate.default_day is not None \
                    and first_day < fate.default_day <= next_month + DISTRESS_WINDOW:
                # a seller about to stop paying draws what it can first
                wants, on = True, min(on, fate.default_day - timedelta(days=1))
            if wants and fate.active_on(on):
                draw_queue[on].append(seller)

        for offset in range(length):
            day = first_day + timedelta(days=offset)
            with clock.phase("draws"):
                for seller in draw_queue.pop(day, []):
                    make_draw(lines[seller], day)
            with clock.phase("payments"):
                for seller, draw_id, key, action in payment_queue.pop(day, []):
                    pay(lines[seller], draw_id, key, action, day)
            with clock.phase("end of day"):
                closed = run_end_of_day(engine, through=day, today=day, clock="simulated")
                days_closed += len(closed)
            if offset == length - 1:
                with clock.phase("book"):
                    month_ends.append(month_end_rows(engine, day))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(month=month + 1, lines=len(lines), draws=draws_made,
                                refresh=False)
    if bar is not None:
        bar.close()
    with clock.phase("book"):
        book = read_book(engine)
    outcomes = pd.DataFrame(outcome_rows, columns=list(OUTCOME_COLUMNS))
    outcomes["decided_at"] = pd.to_datetime(outcomes["decided_at"], utc=True)
    panel = pd.concat(month_ends, ignore_index=True)
    return Simulation(config=config, first_day=month_days[0], last_day=last_day,
                      decisions=decisions, draws=draws_made, draws_refused=refused,
                      payments=payments, days_closed=days_closed, book=book,
                      outcomes=outcomes, panel=panel, reviews=reviews,
                      failed_before=int(fate_frame["failed_before"].sum()),
                      timings=dict(clock.seconds))


def _all_stored(what: str, rejected: int) -> None:
    """The marketplace's records follow the contract: a rejected row is a simulator bug."""
    if rejected:
        raise RuntimeError(f"the records service rejected {rejected} rows of the simulated "
                           f"{what}; the simulator must only send valid records")


def _outcome_row(view: Any, month: int, fate: _Fate, moment: pd.Timestamp,
                 timezone: str, *, review: bool = False, months_on_book: int = 0
                 ) -> dict[str, Any]:
    decided = moment.tz_convert(timezone).date()
    horizon = (pd.Timestamp(decided) + pd.DateOffset(months=12)).date()
    default_day = fate.default_day
    return {
        "decision_id": view.decision_id, "seller_id": view.seller_id,
        "decided_at": moment, "month": month + 1, "outcome": view.outcome,
        "status": view.status, "grade": view.grade, "pd": float(view.pd),
        "line_id": view.line_id, "booked": view.line_id is not None and not review,
        "kept_aside": view.line_id is None, "kind": fate.kind,
        "true_pd": fate.true_pd, "latent_health": fate.health,
        "defaults": fate.defaults, "default_day": default_day,
        "defaults_within_12m": bool(default_day is not None
                                    and decided <= default_day <= horizon),
        # a review of a seller that has already failed (its line in arrears) is as bad a
        # case as there is, though its default day falls before the decision
        "failed_within_12m": bool(default_day is not None and default_day <= horizon),
        "review": review, "months_on_book": months_on_book,
    }
