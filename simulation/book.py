"""The book of a store by grade: lines, limits, exposure and delinquency rates.

Read from the lines' stored summaries (``credit_line``, as end of day last booked them)
and the grade of the decision that opened each line (the first that names it). ``30+``
counts the lines more than 30 days past due or written off, ``90+`` more than 90 days
past due or written off; each rate is over the lines of the grade (a line counts once,
however many draws it holds). Exposure is the outstanding principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlalchemy as sa

from lending.delinquency import bucket_for
from lending.persistence.history import PANEL_COLUMNS
from lending.persistence.tables import from_minor

__all__ = ["Book", "read_book", "BOOK_COLUMNS", "month_end_rows"]

BOOK_COLUMNS = ("grade", "lines", "limit", "exposure", "dpd30_lines", "dpd30_rate",
                "dpd90_lines", "dpd90_rate", "written_off")

_LINES = sa.text("SELECT id AS line_id, currency, limit_minor, outstanding_minor, "
                 "days_past_due, status FROM credit_line")
_DECISIONS = sa.text("SELECT line_id, grade, created_at, id FROM credit_decision "
                     "WHERE line_id IS NOT NULL")


@dataclass(frozen=True)
class Book:
    """The book by grade (:data:`BOOK_COLUMNS`, one row per grade and a ``total`` row)."""

    frame: pd.DataFrame
    currency: str

    def to_text(self) -> str:
        """The book as an aligned table, money in the currency's units."""
        if self.frame.empty:
            return "no credit line was opened"
        lines = [f"{'grade':<6}{'lines':>7}{'limit':>16}{'exposure':>16}"
                 f"{'30+':>7}{'30+ rate':>10}{'90+':>7}{'90+ rate':>10}{'w/o':>6}"]
        for row in self.frame.itertuples(index=False):
            lines.append(f"{row.grade:<6}{row.lines:>7,}{row.limit:>16,.2f}"
                         f"{row.exposure:>16,.2f}{row.dpd30_lines:>7,}"
                         f"{row.dpd30_rate:>10.2%}{row.dpd90_lines:>7,}"
                         f"{row.dpd90_rate:>10.2%}{row.written_off:>6,}")
        return "\n".join(lines) + f"\n(money in {self.currency})"


def read_book(engine: sa.Engine) -> Book:
    """The book of the store as end of day last left it."""
    with engine.connect() as connection:
        rows = pd.DataFrame(connection.execute(_LINES).mappings().all(),
                            columns=["line_id", "currency", "limit_minor", "outstanding_minor",
                                     "days_past_due", "status"])
        decided = pd.DataFrame(connection.execute(_DECISIONS).mappings().all(),
                               columns=["line_id", "grade", "created_at", "id"])
    # the grade of the decision that opened the line (its first)
    first = (decided.sort_values(["created_at", "id"]).drop_duplicates("line_id")
             .set_index("line_id")["grade"])
    rows["grade"] = rows["line_id"].map(first)
    currency = str(rows["currency"].iloc[0]) if len(rows) else "CNY"
    if rows.empty:
        return Book(pd.DataFrame(columns=list(BOOK_COLUMNS)), currency)
    rows["grade"] = rows["grade"].fillna("?")
    written_off = rows["status"] == "written_off"
    rows["dpd30"] = (rows["days_past_due"] > 30) | written_off
    rows["dpd90"] = (rows["days_past_due"] > 90) | written_off
    rows["written_off"] = written_off

    def money(units: pd.Series) -> float:
        return float(from_minor(int(units.sum()), currency))

    def summary(name: str, group: pd.DataFrame) -> dict[str, object]:
        count = len(group)
        return {"grade": name, "lines": count, "limit": money(group["limit_minor"]),
                "exposure": money(group["outstanding_minor"]),
                "dpd30_lines": int(group["dpd30"].sum()),
                "dpd30_rate": float(group["dpd30"].mean()) if count else 0.0,
                "dpd90_lines": int(group["dpd90"].sum()),
                "dpd90_rate": float(group["dpd90"].mean()) if count else 0.0,
                "written_off": int(group["written_off"].sum())}

    table = [summary(str(grade), group) for grade, group in rows.groupby("grade", sort=True)]
    table.append(summary("total", rows))
    return Book(pd.DataFrame(table, columns=list(BOOK_COLUMNS)), currency)


_MONTH_END = sa.text("SELECT id, seller_id, opened_on, days_past_due, status, "
                     "freeze_after_days FROM credit_line WHERE opened_on <= :day "
                     "ORDER BY id")


def month_end_rows(engine: sa.Engine, month_end: date) -> pd.DataFrame:
    """The rows of the line-month panel for ``month_end``, read from the lines' summaries
    right after end of day closed that day (then every line not written off is booked to
    it, and a written-off line keeps its write-off's figures, as
    :func:`lending.persistence.history.line_month_panel` gives them).

    Columns :data:`lending.persistence.history.PANEL_COLUMNS`, so that ``sme-credit
    backtest --panel`` reads the month ends the simulation recorded instead of folding
    every line again.
    """
    with engine.connect() as connection:
        rows = connection.execute(_MONTH_END, {"day": month_end}).all()
    month = pd.Timestamp(month_end)
    records = []
    for row in rows:
        opened = pd.Timestamp(row.opened_on)
        late = int(row.days_past_due)
        written_off = row.status == "written_off"
        records.append((
            str(row.id), str(row.seller_id), opened, month,
            (month.year - opened.year) * 12 + month.month - opened.month, late,
            "written_off" if written_off else bucket_for(late),
            "written_off" if written_off
            else "frozen" if late > row.freeze_after_days else "open"))
    return pd.DataFrame.from_records(records, columns=list(PANEL_COLUMNS))
