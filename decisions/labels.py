"""Default labels from outcomes: each credit decision and what its line did afterwards.

A risk team retrains on what really happened to the sellers it lent to. For every stored
decision (``credit_decision``) whose case has a line, the line's delinquency (folded from
its events by the lending rules, :func:`lending.persistence.history.delinquency_frame`)
over the *window* after the decision gives the label:

``default`` (the default definition)
    1 when the line was more than 90 days past due (the ``90+`` bucket) or written off
    at the end of any business day of the window; 0 otherwise.
``ever-90``
    1 when it was in the ``90+`` bucket (more than 90 days past due).
``ever-60``
    1 when it was more than 60 days past due (``61-90`` or worse, a write-off included).
``written-off``
    1 when it was written off.

The window runs from the decision's business date (its ``created_at`` in the lender's
time zone) through the same day ``window_months`` calendar months later. A decision is
labelled only when the book has been observed for its whole window (its window ends on
or before ``as_of``, by default the last day any line is booked to); the others are left
out and counted (``not_yet_observed``), labels of the bad ones included, so a recent
cohort is not made of defaults only.

A decision that granted no line (declined, or referred and never approved) is labelled
too when its seller already had a line, opened before the decision's business date and
not yet bad by the definition when the window starts: a line review that declined, say.
That line's outcome over the window is the decision's (its ``line_id`` names it;
``on_open_line`` counts them), so a declined review of a weakening seller is not lost from
the labels the way a new applicant's decline is (``open_lines=False`` leaves them out).
The other decisions without a line have no outcome: left out and counted separately.

Each row also carries what the challenger said of the decision in the shadow, when one
did (``shadow_score``; see :mod:`decisions.service`): ``shadow_model_version``,
``shadow_pd`` and ``shadow_grade``, empty otherwise. A decision scored by more than one
challenger version keeps the latest. They describe the decision, not the seller, so
training never takes them for features; ``sme-credit backtest --compare-shadow`` compares
champion (``pd``) and challenger (``shadow_pd``) on the rows that have both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from decisions.tables import CreditDecisionRecord, ShadowScore
from features import DEFAULT_TIMEZONE
from lending.persistence.history import booked_through, delinquency_frame
from lending.persistence.tables import CreditLineRecord, from_minor
from lending.persistence.unit_of_work import SqlUnitOfWork

__all__ = [
    "LABEL_DEFINITIONS",
    "LabelDefinition",
    "LabelCounts",
    "Labels",
    "LABEL_COLUMNS",
    "label_decisions",
    "decisions_frame",
]

LabelDefinition = Literal["default", "ever-90", "ever-60", "written-off"]
#: Each definition and the states of the line that make a decision bad.
LABEL_DEFINITIONS: dict[str, frozenset[str]] = {
    "default": frozenset({"90+", "written_off"}),
    "ever-90": frozenset({"90+"}),
    "ever-60": frozenset({"61-90", "90+", "written_off"}),
    "written-off": frozenset({"written_off"}),
}
#: The columns before the features, in order.
LABEL_COLUMNS: tuple[str, ...] = ("decision_id", "seller_id", "decided_at", "outcome",
                                  "grade", "pd", "points", "model_version",
                                  "shadow_model_version", "shadow_pd", "shadow_grade",
                                  "line_id", "label")

_DECISION = cast(sa.Table, CreditDecisionRecord.__table__)  # type: ignore[attr-defined]
_SHADOW = cast(sa.Table, ShadowScore.__table__)  # type: ignore[attr-defined]
_LINE = cast(sa.Table, CreditLineRecord.__table__)  # type: ignore[attr-defined]
Source = sa.Engine | SqlUnitOfWork


@dataclass(frozen=True)
class LabelCounts:
    """How many decisions were read, labelled and left out, and why."""

    decisions: int
    labelled: int
    bad: int
    not_yet_observed: int
    declined: int
    referred_without_line: int
    definition: str
    window_months: int
    as_of: str | None
    #: Referred or approved cases whose line is gone from the store (should be 0).
    line_missing: int = 0
    #: Declined or referred decisions labelled from the seller's line open at the decision.
    on_open_line: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready document (the sidecar file)."""
        document = asdict(self)
        document["notes"] = list(self.notes)
        return document


@dataclass(frozen=True)
class Labels:
    """The labelled decisions (one row each, :data:`LABEL_COLUMNS` then every feature as
    scored) and the counts."""

    frame: pd.DataFrame
    counts: LabelCounts


def _read_decisions(source: Source, latest: int | None = None,
                    between: tuple[datetime, datetime] | None = None) -> list[Any]:
    statement = sa.select(_DECISION).order_by(_DECISION.c.created_at, _DECISION.c.id)
    if between is not None:
        statement = statement.where(_DECISION.c.created_at.between(*between))
    if latest is not None:
        # each seller's latest decision, then the ``latest`` most recent of those, read
        # by the database (a window function) rather than every decision into memory
        newest_first = sa.func.row_number().over(
            partition_by=_DECISION.c.seller_id,
            order_by=(_DECISION.c.created_at.desc(), _DECISION.c.id.desc()))
        ranked = sa.select(_DECISION, newest_first.label("seller_rank")).subquery()
        picked = (sa.select(*(ranked.c[column.name] for column in _DECISION.c))
                  .where(ranked.c.seller_rank == 1)
                  .order_by(ranked.c.created_at.desc(), ranked.c.id.desc())
                  .limit(latest).subquery())
        statement = sa.select(picked).order_by(picked.c.created_at, picked.c.id)
    if isinstance(source, sa.Engine):
        with source.connect() as connection:
            return list(connection.execute(statement))
    with source.reading():
        return list(source.session.connection().execute(statement))


def _read_shadow_scores(source: Source) -> dict[str, Any]:
    """Each decision's latest shadow score (by ``scored_at``, then version), by id."""
    statement = sa.select(_SHADOW).order_by(_SHADOW.c.scored_at, _SHADOW.c.model_version)
    if isinstance(source, sa.Engine):
        with source.connect() as connection:
            rows = list(connection.execute(statement))
    else:
        with source.reading():
            rows = list(source.session.connection().execute(statement))
    return {row.decision_id: row for row in rows}  # the last one read wins


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _features(rows: Iterable[Any]) -> pd.DataFrame:
    """The stored feature values, one column each (the union over the decisions, in the
    order first seen); a value is as scored (``None`` is missing)."""
    documents = [json.loads(row.features) for row in rows]
    names: dict[str, None] = {}
    for document in documents:
        names.update(dict.fromkeys(document))
    return pd.DataFrame.from_records(
        [[document.get(name) for name in names] for document in documents],
        columns=list(names))


def _bad_at_start(changes: pd.DataFrame, bad: frozenset[str], start: date) -> bool:
    """Whether the line was in a bad state when a window starting on ``start`` begins (at
    the end of the day before)."""
    before = changes[changes["on"] < start]
    return bool(len(before)) and str(before["to_bucket"].iloc[-1]) in bad


def _bad_within(changes: pd.DataFrame, bad: frozenset[str], start: date, end: date) -> bool:
    """Whether the line was in a bad state at the end of any day of ``[start, end]``:
    in one when the window starts, or moving into one within it."""
    if _bad_at_start(changes, bad, start):
        return True
    within = changes[(changes["on"] >= start) & (changes["on"] <= end)]
    return bool(within["to_bucket"].isin(sorted(bad)).any())


def _seller_lines(engine: sa.Engine) -> dict[str, list[tuple[date, str]]]:
    """Each seller's lines as ``(opened_on, line_id)``, oldest first (one read of the
    line table, which is far smaller than the decisions, with no list of sellers)."""
    statement = (sa.select(_LINE.c.seller_id, _LINE.c.opened_on, _LINE.c.id)
                 .order_by(_LINE.c.opened_on, _LINE.c.created_at, _LINE.c.id))
    with engine.connect() as connection:
        rows = list(connection.execute(statement))
    lines: dict[str, list[tuple[date, str]]] = {}
    for row in rows:
        lines.setdefault(str(row.seller_id), []).append((row.opened_on, str(row.id)))
    return lines


def _open_line_at(lines: list[tuple[date, str]], day: date) -> str | None:
    """The seller's latest line opened before the business date ``day`` (``None``: none)."""
    before = [line_id for opened, line_id in lines if opened < day]
    return before[-1] if before else None


def label_decisions(source: Source, *, window_months: int = 12,
                    definition: str = "default", as_of: date | None = None,
                    timezone: str = DEFAULT_TIMEZONE, open_lines: bool = True) -> Labels:
    """Label every decision from what its line did in the window after it.

    Parameters
    ----------
    source : an engine or a unit of work on the service's store (read only).
    window_months : the length of the outcome window, in calendar months (at least 1).
    definition : one of :data:`LABEL_DEFINITIONS` (see the module notes).
    as_of : the last business date observed (default: the last day any line is booked
        to); nothing dated after it is read.
    timezone : the lender's time zone (a decision's business date).
    open_lines : label a decision that granted no line from the seller's line open at the
        decision (see the module notes); ``False``: leave every such decision out.

    Returns
    -------
    Labels
        The labelled rows (``decided_at`` in UTC, ``label`` int 0/1, ``line_id`` the
        case's line) and the counts of those left out.

    Raises
    ------
    ValueError
        An unknown definition or a window shorter than a month.
    """
    if definition not in LABEL_DEFINITIONS:
        raise ValueError(f"unknown label definition {definition!r}; choose one of "
                         f"{', '.join(LABEL_DEFINITIONS)}")
    if isinstance(window_months, bool) or not isinstance(window_months, int) \
            or window_months < 1:
        raise ValueError(f"window_months must be a whole number of months >= 1; got "
                         f"{window_months!r}")
    bad = LABEL_DEFINITIONS[definition]
    decisions = _read_decisions(source)
    shadows = _read_shadow_scores(source)
    observed = as_of if as_of is not None else booked_through(source)
    engine = source if isinstance(source, sa.Engine) else source.engine
    zone = ZoneInfo(timezone)
    # each decision's line: its own, or (open_lines) the seller's line open at it
    line_of: dict[str, str] = {row.id: row.line_id for row in decisions
                               if row.line_id is not None}
    borrowed: set[str] = set()
    if open_lines:
        lines = _seller_lines(engine)
        for row in decisions:
            if row.line_id is None:
                line_id = _open_line_at(lines.get(row.seller_id, []),
                                        _utc(row.created_at).tz_convert(zone).date())
                if line_id is not None:
                    line_of[row.id] = line_id
                    borrowed.add(row.id)
    with_line = [row for row in decisions if row.id in line_of]
    changes = (delinquency_frame(engine, line_ids=set(line_of.values()), through=observed)
               if with_line and observed is not None else None)
    by_line = ({str(key): group for key, group in changes.groupby("line_id")}
               if changes is not None and len(changes) else {})
    empty = pd.DataFrame({"on": pd.Series([], dtype=object),
                          "to_bucket": pd.Series([], dtype=str)})
    kept: list[Any] = []
    labels: list[int] = []
    not_observed = on_open_line = 0
    unlabelled = {row.id for row in decisions if row.line_id is None}
    for row in with_line:
        decided = _utc(row.created_at)
        start = decided.tz_convert(zone).date()
        end = (pd.Timestamp(start) + pd.DateOffset(months=window_months)).date()
        line_changes = by_line.get(line_of[row.id], empty)
        if row.id in borrowed and _bad_at_start(line_changes, bad, start):
            continue  # the seller's line was bad already: no outcome of this decision
        unlabelled.discard(row.id)
        if observed is None or end > observed:
            not_observed += 1
            continue
        kept.append(row)
        on_open_line += row.id in borrowed
        labels.append(int(_bad_within(line_changes, bad, start, end)))
    declined = sum(1 for row in decisions if row.id in unlabelled and row.status == "declined")
    referred = len(unlabelled) - declined
    counts = LabelCounts(
        decisions=len(decisions), labelled=len(kept), bad=sum(labels),
        not_yet_observed=not_observed, declined=declined,
        referred_without_line=referred, on_open_line=on_open_line,
        definition=definition, window_months=window_months,
        as_of=None if observed is None else observed.isoformat(),
        notes=(("declined decisions and referred cases without a line of their own are "
                "labelled from the seller's line open at the decision when it was not "
                "already bad; the others have no outcome and are left out")
               if open_lines else
               "declined decisions and referred cases without a line have no outcome and "
               "are left out",))
    head = pd.DataFrame({
        "decision_id": pd.Series([row.id for row in kept], dtype="str"),
        "seller_id": pd.Series([row.seller_id for row in kept], dtype="str"),
        "decided_at": pd.Series([_utc(row.created_at) for row in kept],
                                dtype="datetime64[ns, UTC]"),
        "outcome": pd.Series([row.outcome for row in kept], dtype="str"),
        "grade": pd.Series([row.grade for row in kept], dtype="str"),
        "pd": pd.Series([row.pd for row in kept], dtype="float64"),
        "points": pd.Series([row.points for row in kept], dtype="float64"),
        "model_version": pd.Series([row.model_version for row in kept], dtype="str"),
        "shadow_model_version": pd.Series([_shadow_of(shadows, row, "model_version")
                                           for row in kept], dtype="string"),
        "shadow_pd": pd.Series([_shadow_of(shadows, row, "pd") for row in kept],
                               dtype="float64"),
        "shadow_grade": pd.Series([_shadow_of(shadows, row, "grade") for row in kept],
                                  dtype="string"),
        "line_id": pd.Series([line_of[row.id] for row in kept], dtype="string"),
        "label": pd.Series(labels, dtype="int64"),
    })
    features = _features(kept)
    features = features.drop(columns=[c for c in features.columns if c in head.columns])
    return Labels(pd.concat([head, features], axis=1), counts)


def _shadow_of(shadows: dict[str, Any], decision: Any, name: str) -> Any:
    """A field of the decision's shadow score (``None`` without one)."""
    shadow = shadows.get(decision.id)
    return None if shadow is None else getattr(shadow, name)


_TEXT_COLUMNS = ("reasons", "positive_factors", "policy_reasons", "terms", "contributions",
                 "family_points")


def decisions_frame(source: Source, *, latest_per_seller: int | None = None,
                    between: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    """Every stored decision, one row each: its stored fields, then every feature value
    as scored (one column each).

    With ``latest_per_seller=N``: only each seller's latest decision, and of those the
    ``N`` most recent (the latest applicants; oldest first), selected in the database.
    With ``between=(first, last)`` (aware times): only the decisions made from ``first``
    to ``last``, both included, selected in the database.

    Money is exact decimal text in the major unit (``proposed_limit``, ``limit``) with
    ``currency``; times are UTC; the JSON documents (reasons, terms, contributions, ...)
    are kept as their stored JSON text.
    """
    if latest_per_seller is not None and latest_per_seller < 1:
        raise ValueError(f"latest_per_seller must be at least 1; got {latest_per_seller}")
    rows = _read_decisions(source, latest_per_seller, between)
    head = pd.DataFrame({
        "decision_id": pd.Series([r.id for r in rows], dtype="str"),
        "seller_id": pd.Series([r.seller_id for r in rows], dtype="str"),
        "seller_kind": pd.Series([r.seller_kind for r in rows], dtype="str"),
        "created_at": pd.Series([_utc(r.created_at) for r in rows],
                                dtype="datetime64[ns, UTC]"),
        "snapshot_as_of": pd.Series([_utc(r.snapshot_as_of) for r in rows],
                                    dtype="datetime64[ns, UTC]"),
        "outcome": pd.Series([r.outcome for r in rows], dtype="str"),
        "status": pd.Series([r.status for r in rows], dtype="str"),
        "pd": pd.Series([r.pd for r in rows], dtype="float64"),
        "points": pd.Series([r.points for r in rows], dtype="float64"),
        "grade": pd.Series([r.grade for r in rows], dtype="str"),
        "raw_score": pd.Series([r.raw_score for r in rows], dtype="float64"),
        "baseline_points": pd.Series([r.baseline_points for r in rows], dtype="float64"),
        "model_name": pd.Series([r.model_name for r in rows], dtype="str"),
        "model_version": pd.Series([r.model_version for r in rows], dtype="str"),
        "policy_version": pd.Series([r.policy_version for r in rows], dtype="str"),
        "currency": pd.Series([r.currency for r in rows], dtype="str"),
        "product": pd.Series([r.product for r in rows], dtype="string"),
        "proposed_limit": pd.Series([str(from_minor(r.proposed_limit_minor, r.currency))
                                     for r in rows], dtype="str"),
        "limit": pd.Series([str(from_minor(r.limit_minor, r.currency)) for r in rows],
                           dtype="str"),
        "line_id": pd.Series([r.line_id for r in rows], dtype="string"),
        "actor": pd.Series([r.actor for r in rows], dtype="str"),
        "decided_by": pd.Series([r.decided_by for r in rows], dtype="string"),
        "decided_at": pd.Series([None if r.decided_at is None else _utc(r.decided_at)
                                 for r in rows], dtype="datetime64[ns, UTC]"),
        "version": pd.Series([r.version for r in rows], dtype="int64"),
        **{name: pd.Series([getattr(r, name) for r in rows], dtype="string")
           for name in _TEXT_COLUMNS},
    })
    features = _features(rows)
    clash = sorted(set(features.columns) & set(head.columns))
    if clash:
        features = features.rename(columns={name: f"feature_{name}" for name in clash})
    return pd.concat([head, features], axis=1)
