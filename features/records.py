"""The transaction-record contract: sellers and orders, their validation and loading.

Two record types feed the engine. Each field is documented in :data:`SELLER_FIELDS` and
:data:`ORDER_FIELDS` (and in the README). Records load from CSV, Parquet or a pandas
DataFrame; validation finds *every* problem with its row number, field and reason, sets the
bad rows aside, keeps the good ones and says how many of each. In strict mode any problem
rejects the whole input.

Row numbers are 1-based positions of the record in its input (for a CSV file, the record
on line ``row + 1``, the header being line 1). Column-level problems (a missing or an extra
column) carry ``row = 0``.

Money amounts in records are analytics inputs, held as ``float64`` in the currency's major
unit (yuan for CNY); the lending side converts to ``Decimal`` minor units itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "FieldSpec",
    "SELLER_FIELDS",
    "ORDER_FIELDS",
    "TIER_HISTORY_FIELDS",
    "SELLER_KINDS",
    "MEMBERSHIP_TIERS",
    "ORDER_STATUSES",
    "ORDER_CHANNELS",
    "DEFAULT_CURRENCIES",
    "EARLIEST_TIME",
    "LATEST_TIME",
    "TIME_RANGE_TEXT",
    "ID_PATTERN",
    "ID_RULE_TEXT",
    "MAX_ID_LENGTH",
    "time_in_range",
    "valid_id",
    "shown_id",
    "ValidationReport",
    "RecordValidationError",
    "LoadedRecords",
    "validate_sellers",
    "validate_orders",
    "validate_tier_history",
    "load_sellers",
    "load_orders",
    "load_tier_history",
    "read_table",
]

FieldKind = Literal["id", "enum", "text", "timestamp", "money", "bool", "country", "currency"]

SELLER_KINDS: tuple[str, ...] = ("shop", "factory")
MEMBERSHIP_TIERS: tuple[str, ...] = ("basic", "silver", "gold", "platinum")
ORDER_STATUSES: tuple[str, ...] = ("pending", "shipped", "completed", "cancelled")
ORDER_CHANNELS: tuple[str, ...] = ("wholesale", "dropship", "custom", "sample")
#: Currencies accepted when no other list is configured. Features are computed per seller
#: in the order currency, so a marketplace that settles in one currency lists only that one.
DEFAULT_CURRENCIES: tuple[str, ...] = ("CNY",)

#: The plausible range of every date and time the service accepts (records, decision
#: requests, list filters, lending dates), both ends included, compared in UTC. A lender
#: has no business before the Unix epoch or after this century, and every library on
#: the way (pandas' nanoseconds until 2262, Python's years 1 to 9999, the databases) can
#: hold these moments and a few centuries around them, so no arithmetic overflows.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
#: How messages state the range.
TIME_RANGE_TEXT = "1970-01-01T00:00:00Z to 2099-12-31T23:59:59.999999Z"

#: Longest id of a record.
MAX_ID_LENGTH = 128
#: The one pattern of record ids (``seller_id``, ``order_id``, ``buyer_id``) and of the
#: ids the API takes in paths and bodies: 1 to 128 ASCII letters, digits, ``.``, ``_``,
#: ``:`` and ``-``, starting with a letter or a digit. ASCII only, so that two different
#: ids never display alike (no fullwidth or Cyrillic letters, combining accents,
#: invisible or bidirectional characters, other digits); case-sensitive, as the
#: marketplace's own ids are (``S1`` and ``s1`` are two ids, and they look different).
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: How messages state the id rule.
ID_RULE_TEXT = ("not an id: 1 to 128 ASCII letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or a digit")
#: A run of 32 or more characters of the base64url alphabet looks like a secret (a
#: session token, the hex secret of an API key): such an id is valid but never quoted.
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,}")


def time_in_range(moment: datetime) -> bool:
    """Whether an aware ``moment`` lies in ``EARLIEST_TIME .. LATEST_TIME``.

    Parameters
    ----------
    moment : a timezone-aware datetime (any offset; years 1 and 9999 with an offset,
        which have no UTC equivalent in Python, are simply out of range).

    Returns
    -------
    bool
        ``False`` for a naive ``moment`` too.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        return False
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return EARLIEST_TIME <= utc <= LATEST_TIME


def valid_id(value: object) -> bool:
    """Whether ``value`` is a text matching :data:`ID_PATTERN`."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def shown_id(value: object) -> str | None:
    """``value`` when it may be quoted back in a message: a valid id that does not look
    like a secret; else ``None`` (say "the given id")."""
    if not valid_id(value):
        return None
    assert isinstance(value, str)
    return None if _SECRET_SHAPE.search(value) else value


@dataclass(frozen=True)
class FieldSpec:
    """One field of a record type.

    Parameters
    ----------
    name : column name.
    kind : how the value is parsed and checked.
    description : what the field means, for people.
    nullable : whether an empty value is allowed.
    choices : allowed values for ``enum`` fields.
    optional : whether the whole column may be left out (a field added to the contract
        later: inputs written before it stay valid, every value of the missing column
        being empty). Only nullable fields are optional.
    """

    name: str
    kind: FieldKind
    description: str
    nullable: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False


SELLER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("seller_id", "id", "Stable marketplace identifier of the seller."),
    FieldSpec("kind", "enum", "`shop` (resells, many small buyers) or `factory` (makes goods, "
              "fewer and larger buyers).", choices=SELLER_KINDS),
    FieldSpec("registered_at", "timestamp", "When the seller joined the marketplace "
              "(timezone-aware)."),
    FieldSpec("region", "text", "Province or region of the seller's registered address."),
    FieldSpec("industry", "text", "Main industry category the seller trades in."),
    FieldSpec("membership_tier", "enum", "Marketplace membership tier when the record was "
              "extracted (at `membership_tier_at`).", choices=MEMBERSHIP_TIERS),
    FieldSpec("membership_tier_at", "timestamp", "When the marketplace showed "
              "`membership_tier` (normally the extraction time); features use that tier "
              "only as of this moment or later. Empty or left out: the moment is not known, "
              "so features read the tier only from the tier history.", nullable=True,
              optional=True),
)

ORDER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("order_id", "id", "Unique identifier of the order."),
    FieldSpec("seller_id", "id", "The seller that received the order (must be a known seller)."),
    FieldSpec("buyer_id", "id", "Pseudonymous identifier of the buyer."),
    FieldSpec("created_at", "timestamp", "When the order was placed (timezone-aware)."),
    FieldSpec("amount", "money", "Order value in the currency's major unit, finite and >= 0."),
    FieldSpec("currency", "currency", "ISO 4217 code; must be one of the supported currencies."),
    FieldSpec("status", "enum", "State at extraction: `pending`, `shipped`, `completed` or "
              "`cancelled`. Features never read it: a cancellation counts from "
              "`cancelled_at`.", choices=ORDER_STATUSES),
    FieldSpec("refunded_amount", "money", "Total refunded on the order, 0 when none; not above "
              "`amount`."),
    FieldSpec("refunded_at", "timestamp", "When the refund was made; required when "
              "`refunded_amount` > 0, not before `created_at`.", nullable=True),
    FieldSpec("disputed", "bool", "Whether the buyer opened a dispute on the order (by "
              "extraction). Features count a dispute from `disputed_at`."),
    FieldSpec("channel", "enum", "`wholesale`, `dropship`, `custom` or `sample`.",
              choices=ORDER_CHANNELS),
    FieldSpec("buyer_country", "country", "ISO 3166-1 alpha-2 country of the buyer."),
    FieldSpec("shipped_at", "timestamp", "When the goods shipped; empty if not (yet) shipped; "
              "not before `created_at`.", nullable=True),
    FieldSpec("paid_out_at", "timestamp", "When the seller received the money; empty if not "
              "(yet) paid out; not before `created_at`.", nullable=True),
    FieldSpec("cancelled_at", "timestamp", "When the order was cancelled; only with status "
              "`cancelled`, not before `created_at`. Empty (or the column left out) for a "
              "cancelled order: the cancellation's time is not known, so no feature counts "
              "it at any as-of date.", nullable=True, optional=True),
    FieldSpec("disputed_at", "timestamp", "When the buyer opened the dispute; only with "
              "`disputed` true, not before `created_at`. Empty (or the column left out) for "
              "a disputed order: the dispute's time is not known, so no feature counts it "
              "at any as-of date.", nullable=True, optional=True),
)

TIER_HISTORY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("seller_id", "id", "The seller (must be a known seller)."),
    FieldSpec("membership_tier", "enum", "The tier held in the period.",
              choices=MEMBERSHIP_TIERS),
    FieldSpec("valid_from", "timestamp", "When the seller got the tier (timezone-aware)."),
    FieldSpec("valid_to", "timestamp", "When the tier ended, after `valid_from`; empty (or "
              "the column left out) while it lasts or until the next period of the seller.",
              nullable=True, optional=True),
)

_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


@dataclass
class ValidationReport:
    """Every problem found in one input, and what was kept.

    Attributes
    ----------
    record_type : ``"sellers"`` or ``"orders"``.
    n_rows : records read.
    problems : one row per problem, columns ``row`` (1-based, 0 for the whole column),
        ``field``, ``value`` (as read, truncated) and ``reason``.
    bad_rows : 1-based row numbers that were set aside.
    """

    record_type: str
    n_rows: int
    problems: pd.DataFrame
    bad_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def n_bad(self) -> int:
        return len(self.bad_rows)

    @property
    def n_good(self) -> int:
        return self.n_rows - self.n_bad

    @property
    def ok(self) -> bool:
        return self.problems.empty

    def summary(self, limit: int = 20) -> str:
        """Counts of kept and set-aside rows, then the first ``limit`` problems."""
        lines = [
            f"{self.record_type}: {self.n_rows} rows read, {self.n_good} kept, "
            f"{self.n_bad} set aside, {len(self.problems)} problems"
        ]
        for problem in self.problems.head(limit).itertuples(index=False):
            where = "column" if problem.row == 0 else f"row {problem.row}"
            value = f" (value {problem.value!r})" if problem.value not in ("", None) else ""
            lines.append(f"  {where}, field {problem.field}: {problem.reason}{value}")
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


class RecordValidationError(ValueError):
    """Raised in strict mode (or when no row can be kept) with the full report."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())


@dataclass
class LoadedRecords:
    """Validated records in canonical dtypes, plus the report of what was set aside."""

    frame: pd.DataFrame
    report: ValidationReport
    rejected: pd.DataFrame


class Problems:
    """Collects problems as column arrays, so millions of rows stay cheap."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.fields: list[str] = []
        self.values: list[np.ndarray] = []
        self.reasons: list[str | np.ndarray] = []
        self.sizes: list[int] = []

    def add(self, mask: np.ndarray, field_name: str, raw: pd.Series | None,
            reason: str | np.ndarray) -> None:
        """Record a problem on every row of ``mask``; ``reason`` is one text or one per row."""
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return
        self.rows.append(positions + 1)
        self.fields.append(field_name)
        if raw is None:
            values = np.full(len(positions), "", dtype=object)
        else:
            values = np.array([_short(v) for v in raw.to_numpy()[positions]], dtype=object)
        self.values.append(values)
        self.reasons.append(reason)
        self.sizes.append(len(positions))

    def add_column(self, field_name: str, reason: str) -> None:
        self.rows.append(np.array([0], dtype=np.int64))
        self.fields.append(field_name)
        self.values.append(np.array([""], dtype=object))
        self.reasons.append(reason)
        self.sizes.append(1)

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(
                {"row": pd.Series([], dtype="int64"), "field": pd.Series([], dtype=object),
                 "value": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object)}
            )
        out = pd.DataFrame(
            {
                "row": np.concatenate(self.rows).astype(np.int64),
                "field": np.repeat(np.array(self.fields, dtype=object), self.sizes),
                "value": np.concatenate(self.values),
                "reason": np.concatenate([
                    np.full(size, reason, dtype=object) if isinstance(reason, str)
                    else np.asarray(reason, dtype=object)
                    for reason, size in zip(self.reasons, self.sizes, strict=True)]),
            }
        )
        return out.sort_values(["row", "field"], kind="stable").reset_index(drop=True)


def _short(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_textual(series: pd.Series) -> bool:
    return (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
            or isinstance(series.dtype, pd.CategoricalDtype))


def _is_blank(series: pd.Series, text: pd.Series | None = None) -> np.ndarray:
    """Missing or empty after trimming; ``text`` is ``_as_text(series)`` when already made."""
    if _is_textual(series):
        return _empty(_as_text(series) if text is None else text)
    return series.isna().to_numpy()


def _empty(text: pd.Series) -> np.ndarray:
    """Missing or empty, for text that is already trimmed (a parsed id column)."""
    return (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)


def _as_text(series: pd.Series) -> pd.Series:
    """The values as trimmed text (nullable ``string`` dtype)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = pd.Series(series.cat.categories).astype("string").str.strip()
        codes = series.cat.codes.to_numpy()
        text = categories.take(np.maximum(codes, 0)).set_axis(series.index)
        return text.mask(codes < 0).astype("string")
    return series.astype("string").str.strip()


def _duplicates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Mask of repeated non-missing values (all but the first) and each row's first position.

    ``pd.factorize`` numbers values in order of first appearance, so a row is a first
    occurrence exactly when its code exceeds every earlier code: one linear pass.
    """
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    previous_max = np.maximum.accumulate(np.concatenate(([-1], codes[:-1]))) if len(codes) \
        else codes
    repeated = (codes >= 0) & (codes <= previous_max)
    first_positions = np.flatnonzero((codes >= 0) & (codes > previous_max))
    first_of_row = np.where(codes >= 0, first_positions[np.maximum(codes, 0)]
                            if len(first_positions) else 0, -1)
    return repeated, first_of_row


_OUT_OF_RANGE_REASON = f"out of range: a time from {TIME_RANGE_TEXT}"


def _outside_range(parsed: pd.Series) -> np.ndarray:
    """Parsed UTC moments outside ``EARLIEST_TIME .. LATEST_TIME`` (missing ones: no)."""
    earliest, latest = pd.Timestamp(EARLIEST_TIME), pd.Timestamp(LATEST_TIME)
    return ((parsed < earliest) | (parsed > latest)).to_numpy(dtype=bool, na_value=False)


def _iso_out_of_range(text: str) -> bool:
    """Whether ``text`` is an aware ISO 8601 time that pandas' nanoseconds cannot hold
    (years before 1677 or after 2262): it is a time, but outside the range."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    return moment.tzinfo is not None and not time_in_range(moment)


def _parse_timestamp(series: pd.Series, name: str, problems: Problems, blank: np.ndarray,
                     text: pd.Series | None) -> tuple[pd.Series, np.ndarray]:
    """Parse to UTC; naive values, unparseable strings and times outside the range
    (:data:`EARLIEST_TIME` .. :data:`LATEST_TIME`) are problems."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        # Parquet columns may hold any unit (seconds to nanoseconds): compare before the
        # conversion to nanoseconds, which could not hold year 1500.
        converted = series.dt.tz_convert("UTC")
        outside = ~blank & _outside_range(converted)
        problems.add(outside, name, series, _OUT_OF_RANGE_REASON)
        return converted.where(~outside).astype("datetime64[ns, UTC]"), outside
    if pd.api.types.is_datetime64_dtype(series.dtype):
        naive = ~blank
        problems.add(naive, name, series, "naive timestamp: a time zone offset is required")
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]"), naive
    text = _as_text(series) if text is None else text
    has_zone = text.str.contains(_TZ_SUFFIX, regex=True).to_numpy(dtype=bool, na_value=False)
    naive = ~blank & ~has_zone
    problems.add(naive, name, series, "naive timestamp: a time zone offset is required")
    parsed = pd.to_datetime(text.where(~naive & ~blank), utc=True, errors="coerce",
                            format="ISO8601")
    missing = ~blank & ~naive & parsed.isna().to_numpy()
    # pandas gives NaT for a time its unit cannot hold: name those as out of range
    outside = ~blank & _outside_range(parsed)
    for position in np.flatnonzero(missing):
        if _iso_out_of_range(str(text.iloc[position])):
            outside[position] = True
    unparseable = missing & ~outside
    problems.add(unparseable, name, series, "not an ISO 8601 timestamp")
    problems.add(outside, name, series, _OUT_OF_RANGE_REASON)
    parsed = parsed.where(~outside)
    return parsed.astype("datetime64[ns, UTC]"), naive | unparseable | outside


def _parse_money(series: pd.Series, name: str, problems: Problems, blank: np.ndarray,
                 text: pd.Series | None) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(series.dtype):
        values = pd.Series(np.nan, index=series.index)
        wrong = ~blank
        problems.add(wrong, name, series, "not a number")
        return values, wrong
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
        wrong = np.zeros(len(series), dtype=bool)
    else:
        values = pd.to_numeric(_as_text(series) if text is None else text,
                               errors="coerce").astype("float64")
        wrong = ~blank & values.isna().to_numpy()
        problems.add(wrong, name, series, "not a number")
    array = values.to_numpy()
    with np.errstate(invalid="ignore"):
        non_finite = ~blank & ~wrong & ~np.isfinite(array)
        negative = ~blank & ~wrong & ~non_finite & (array < 0)
    problems.add(non_finite, name, series, "not a finite number")
    problems.add(negative, name, series, "negative amount")
    return values, wrong | non_finite | negative


def _parse_bool(series: pd.Series, name: str, problems: Problems, blank: np.ndarray,
                text: pd.Series | None) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.fillna(False).astype(bool), np.zeros(len(series), dtype=bool)
    text = (_as_text(series) if text is None else text).str.lower()
    is_true = text.isin(_TRUE).to_numpy(dtype=bool, na_value=False)
    is_false = text.isin(_FALSE).to_numpy(dtype=bool, na_value=False)
    wrong = ~blank & ~is_true & ~is_false
    problems.add(wrong, name, series, "not a boolean (true/false)")
    return pd.Series(is_true, index=series.index), wrong


def check_fields(frame: pd.DataFrame, specs: Iterable[FieldSpec], problems: Problems,
                  currencies: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse every field into its canonical dtype; return the frame and the bad-row mask."""
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    out: dict[str, pd.Series] = {}
    for spec in specs:
        raw = frame[spec.name]
        raw_text = _as_text(raw) if _is_textual(raw) else None  # trimmed once per column
        blank = _is_blank(raw, raw_text)
        if not spec.nullable:
            problems.add(blank, spec.name, None, "missing value")
            bad |= blank
        if spec.kind == "timestamp":
            out[spec.name], wrong = _parse_timestamp(raw, spec.name, problems, blank, raw_text)
        elif spec.kind == "money":
            out[spec.name], wrong = _parse_money(raw, spec.name, problems, blank, raw_text)
        elif spec.kind == "bool":
            out[spec.name], wrong = _parse_bool(raw, spec.name, problems, blank, raw_text)
        else:
            text = _as_text(raw) if raw_text is None else raw_text
            if spec.kind == "enum":
                valid = text.str.lower().isin(spec.choices).to_numpy(dtype=bool, na_value=False)
                wrong = ~blank & ~valid
                problems.add(wrong, spec.name, raw,
                             f"must be one of {', '.join(spec.choices)}")
                text = text.str.lower()
            elif spec.kind == "currency":
                text = text.str.upper()
                valid = text.isin(currencies).to_numpy(dtype=bool, na_value=False)
                wrong = ~blank & ~valid
                problems.add(wrong, spec.name, raw,
                             f"unsupported currency (supported: {', '.join(currencies)})")
            elif spec.kind == "country":
                text = text.str.upper()
                valid = text.str.fullmatch(r"[A-Z]{2}").to_numpy(dtype=bool, na_value=False)
                wrong = ~blank & ~valid
                problems.add(wrong, spec.name, raw, "not an ISO 3166-1 alpha-2 country code")
            else:  # id, text
                control = text.str.contains(r"[\x00-\x1f\x7f]", regex=True).to_numpy(
                    dtype=bool, na_value=False)
                too_long = (text.str.len() > MAX_ID_LENGTH).to_numpy(dtype=bool,
                                                                    na_value=False)
                wrong = ~blank & (control | too_long)
                problems.add(~blank & control, spec.name, raw, "contains control characters")
                problems.add(~blank & too_long & ~control, spec.name, raw,
                             f"longer than {MAX_ID_LENGTH} characters")
                if spec.kind == "id":
                    # one pattern, so that no two ids display alike (docs/records.md)
                    malformed = ~blank & ~wrong & ~text.str.fullmatch(
                        ID_PATTERN.pattern).to_numpy(dtype=bool, na_value=False)
                    problems.add(malformed, spec.name, None, ID_RULE_TEXT)
                    wrong |= malformed
            out[spec.name] = text.astype(str).where(~blank, None) if spec.nullable else text
        bad |= wrong
    return pd.DataFrame(out, index=frame.index), bad


def check_unique(frame: pd.DataFrame, parsed: pd.DataFrame, field_name: str,
                  problems: Problems) -> np.ndarray:
    """Report every repeat of an id (naming the row of its first occurrence); the mask."""
    ids = parsed[field_name]
    dup, first_of_row = _duplicates(ids.where(~_empty(ids)))
    if dup.any():
        reasons = np.array([f"duplicate {field_name} (first seen on row {row})"
                            for row in first_of_row[dup] + 1], dtype=object)
        problems.add(dup, field_name, frame[field_name], reasons)
    return dup


def check_known_sellers(frame: pd.DataFrame, parsed: pd.DataFrame,
                         seller_ids: Iterable[str] | pd.Series, problems: Problems,
                         reason: str) -> np.ndarray:
    """Report rows whose ``seller_id`` is not among ``seller_ids``; the mask."""
    known = pd.Index(pd.Series(list(seller_ids) if not isinstance(seller_ids, pd.Series)
                               else seller_ids, dtype="string").str.strip())
    unknown = ~parsed["seller_id"].isin(known).to_numpy(dtype=bool, na_value=False) \
        & ~_empty(parsed["seller_id"])
    problems.add(unknown, "seller_id", frame["seller_id"], reason)
    return unknown


def check_columns(frame: pd.DataFrame, specs: tuple[FieldSpec, ...], problems: Problems,
                   ) -> bool:
    """Report missing and extra columns; return whether every required column is present
    (an optional column may be left out: :func:`with_optional_columns` adds it)."""
    expected = [spec.name for spec in specs]
    missing = [spec.name for spec in specs
               if spec.name not in frame.columns and not spec.optional]
    extra = [str(name) for name in frame.columns if name not in expected]
    for name in missing:
        problems.add_column(name, "missing column")
    for name in extra:
        problems.add_column(name, "extra column (not part of the contract)")
    return not missing


def with_optional_columns(frame: pd.DataFrame, specs: tuple[FieldSpec, ...]
                          ) -> pd.DataFrame:
    """``frame`` with every optional column it leaves out added, all values empty, in
    the contract's column order."""
    absent = [spec.name for spec in specs if spec.optional and spec.name not in frame.columns]
    if not absent:
        return frame
    added = frame.assign(**{name: pd.Series(None, index=frame.index, dtype=object)
                            for name in absent})
    order = [spec.name for spec in specs if spec.name in added.columns]
    return added[order + [name for name in added.columns if name not in order]]


def finish_validation(record_type: str, source: pd.DataFrame, parsed: pd.DataFrame | None,
            bad: np.ndarray, problems: Problems, strict: bool) -> LoadedRecords:
    problem_frame = problems.frame()
    bad_rows = np.flatnonzero(bad) + 1
    report = ValidationReport(record_type, len(source), problem_frame, bad_rows)
    if parsed is None:  # a required column is missing: nothing can be kept
        report.bad_rows = np.arange(1, len(source) + 1)
        raise RecordValidationError(report)
    if strict and not report.ok:
        raise RecordValidationError(report)
    rejected = source.iloc[np.flatnonzero(bad)].copy()
    rejected.insert(0, "row", bad_rows)
    reasons = problem_frame[problem_frame["row"] > 0].groupby("row")["reason"].agg("; ".join)
    rejected.insert(1, "reasons", rejected["row"].map(reasons))
    kept = parsed.loc[~bad].reset_index(drop=True)
    return LoadedRecords(kept, report, rejected.reset_index(drop=True))


def validate_sellers(frame: pd.DataFrame, *, strict: bool = False) -> LoadedRecords:
    """Validate seller records and convert them to canonical dtypes.

    Parameters
    ----------
    frame : raw seller records (any dtypes; strings are parsed).
    strict : reject the whole input on any problem.

    Returns
    -------
    LoadedRecords
        ``frame`` holds the good rows; ``rejected`` the bad ones with their reasons.

    Raises
    ------
    RecordValidationError
        In strict mode on any problem, or when a required column is missing.
    """
    problems = Problems()
    if not check_columns(frame, SELLER_FIELDS, problems):
        return finish_validation("sellers", frame, None, np.ones(len(frame), bool), problems,
                                 strict)
    frame = with_optional_columns(frame, SELLER_FIELDS)
    parsed, bad = check_fields(frame, SELLER_FIELDS, problems, DEFAULT_CURRENCIES)
    bad |= check_unique(frame, parsed, "seller_id", problems)
    return finish_validation("sellers", frame, parsed, bad, problems, strict)


def validate_orders(frame: pd.DataFrame, seller_ids: Iterable[str] | pd.Series | None = None,
                    *, currencies: Iterable[str] = DEFAULT_CURRENCIES,
                    strict: bool = False) -> LoadedRecords:
    """Validate order records and convert them to canonical dtypes.

    Parameters
    ----------
    frame : raw order records.
    seller_ids : the known sellers; orders of any other seller are problems. ``None`` skips
        that check (for loading orders on their own).
    currencies : supported ISO 4217 codes.
    strict : reject the whole input on any problem.
    """
    problems = Problems()
    currency_list = tuple(code.upper() for code in currencies)
    if not check_columns(frame, ORDER_FIELDS, problems):
        return finish_validation("orders", frame, None, np.ones(len(frame), bool), problems, strict)
    frame = with_optional_columns(frame, ORDER_FIELDS)
    parsed, bad = check_fields(frame, ORDER_FIELDS, problems, currency_list)

    amount = parsed["amount"].to_numpy()
    refunded = parsed["refunded_amount"].to_numpy()
    with np.errstate(invalid="ignore"):
        # only comparable when both amounts are valid (a bad amount is reported already)
        over = (refunded > amount + 1e-9) & (amount >= 0) & np.isfinite(amount)
    problems.add(over, "refunded_amount", frame["refunded_amount"],
                 "refunded_amount above amount")
    bad |= over

    created = parsed["created_at"]
    for name in ("refunded_at", "shipped_at", "paid_out_at", "cancelled_at", "disputed_at"):
        before = (parsed[name] < created).to_numpy(dtype=bool, na_value=False)
        problems.add(before, name, frame[name], f"{name} before created_at")
        bad |= before
    # an event's time without the event: the record contradicts itself
    not_cancelled = (parsed["status"] != "cancelled").to_numpy(dtype=bool, na_value=True) \
        & parsed["cancelled_at"].notna().to_numpy()
    problems.add(not_cancelled, "cancelled_at", frame["cancelled_at"],
                 "given while status is not cancelled")
    bad |= not_cancelled
    not_disputed = ~parsed["disputed"].to_numpy(dtype=bool) \
        & parsed["disputed_at"].notna().to_numpy()
    problems.add(not_disputed, "disputed_at", frame["disputed_at"],
                 "given while disputed is false")
    bad |= not_disputed
    refund_time_missing = (refunded > 0) & parsed["refunded_at"].isna().to_numpy() \
        & ~_is_blank(frame["refunded_amount"]) & _is_blank(frame["refunded_at"])
    problems.add(refund_time_missing, "refunded_at", None,
                 "missing while refunded_amount is above 0")
    bad |= refund_time_missing
    refund_without_amount = (refunded == 0) & parsed["refunded_at"].notna().to_numpy()
    problems.add(refund_without_amount, "refunded_at", frame["refunded_at"],
                 "given while refunded_amount is 0")
    bad |= refund_without_amount

    bad |= check_unique(frame, parsed, "order_id", problems)
    if seller_ids is not None:
        bad |= check_known_sellers(frame, parsed, seller_ids, problems,
                                    "order for an unknown seller")

    for name, choices in (("status", ORDER_STATUSES), ("channel", ORDER_CHANNELS)):
        column = parsed[name]
        parsed[name] = pd.Categorical(column.where(column.isin(choices)), categories=choices)
    parsed["disputed"] = parsed["disputed"].astype(bool)
    return finish_validation("orders", frame, parsed, bad, problems, strict)


def validate_tier_history(frame: pd.DataFrame,
                          seller_ids: Iterable[str] | pd.Series | None = None, *,
                          strict: bool = False) -> LoadedRecords:
    """Validate a membership-tier history and convert it to canonical dtypes.

    One row per period a seller held a tier: ``seller_id``, ``membership_tier``,
    ``valid_from`` and, optionally, ``valid_to``. A period counts from ``valid_from``
    (included) to ``valid_to`` (excluded) or, without one, until the seller's next
    period. A seller has at most one period starting at a given moment.

    Parameters
    ----------
    frame : raw tier-history records.
    seller_ids : the known sellers; rows of any other seller are problems. ``None`` skips
        that check.
    strict : reject the whole input on any problem.
    """
    problems = Problems()
    if not check_columns(frame, TIER_HISTORY_FIELDS, problems):
        return finish_validation("tier history", frame, None, np.ones(len(frame), bool),
                                 problems, strict)
    frame = with_optional_columns(frame, TIER_HISTORY_FIELDS)
    parsed, bad = check_fields(frame, TIER_HISTORY_FIELDS, problems, DEFAULT_CURRENCIES)
    ends_first = (parsed["valid_to"] <= parsed["valid_from"]).to_numpy(dtype=bool,
                                                                         na_value=False)
    problems.add(ends_first, "valid_to", frame["valid_to"], "not after valid_from")
    bad |= ends_first
    key = parsed["seller_id"].astype(str) + "\x00" + parsed["valid_from"].astype(str)
    repeated, first_of_row = _duplicates(key.where(~bad & parsed["valid_from"].notna()))
    if repeated.any():
        reasons = np.array([f"a second period of the seller from the same valid_from (first "
                            f"on row {row})" for row in first_of_row[repeated] + 1],
                           dtype=object)
        problems.add(repeated, "valid_from", frame["valid_from"], reasons)
        bad |= repeated
    if seller_ids is not None:
        bad |= check_known_sellers(frame, parsed, seller_ids, problems,
                                    "tier history of an unknown seller")
    return finish_validation("tier history", frame, parsed, bad, problems, strict)


def read_table(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension) as raw records, or pass a DataFrame through.

    CSV values are read as text so that validation sees exactly what the file holds.
    """
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"not a regular file: {path}")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
    if suffix.endswith(".csv") or suffix.endswith(".csv.gz"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                               encoding="utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc
    raise ValueError(f"{path}: unsupported file type (use .csv, .csv.gz or .parquet)")


def load_sellers(source: str | Path | pd.DataFrame, *, strict: bool = False) -> LoadedRecords:
    """Read and validate seller records from CSV, Parquet or a DataFrame."""
    return validate_sellers(read_table(source), strict=strict)


def load_orders(source: str | Path | pd.DataFrame,
                sellers: pd.DataFrame | Iterable[str] | None = None, *,
                currencies: Iterable[str] = DEFAULT_CURRENCIES,
                strict: bool = False) -> LoadedRecords:
    """Read and validate order records; ``sellers`` (a frame or ids) enables the seller check."""
    seller_ids: Iterable[str] | None
    seller_ids = sellers["seller_id"] if isinstance(sellers, pd.DataFrame) else sellers
    return validate_orders(read_table(source), seller_ids, currencies=currencies, strict=strict)


def load_tier_history(source: str | Path | pd.DataFrame,
                      sellers: pd.DataFrame | Iterable[str] | None = None, *,
                      strict: bool = False) -> LoadedRecords:
    """Read and validate a tier history; ``sellers`` (a frame or ids) enables the seller
    check."""
    seller_ids: Iterable[str] | None
    seller_ids = sellers["seller_id"] if isinstance(sellers, pd.DataFrame) else sellers
    return validate_tier_history(read_table(source), seller_ids, strict=strict)


def field_table(specs: Iterable[FieldSpec]) -> str:
    """A Markdown table of the fields, for the README and ``--help``."""
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for spec in specs:
        kind = spec.kind if not spec.choices else f"one of {', '.join(spec.choices)}"
        rows.append(f"| `{spec.name}` | {kind} | {'no' if spec.nullable else 'yes'} "
                    f"| {spec.description} |")
    return "\n".join(rows)
