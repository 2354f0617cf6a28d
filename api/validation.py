"""Reusable request types of the HTTP layer: plausible dates and times, well-formed ids.

The ranges and the id pattern are the record contract's (:mod:`features.records`:
:data:`~features.records.EARLIEST_TIME`, :data:`~features.records.LATEST_TIME`,
:data:`~features.records.ID_PATTERN`), so a body, a query, a path and a record file
accept the same values. A value outside them is a 422 ``invalid_request`` naming the
field (``body.as_of``, ``query.older_than``), never a 500 from an overflow further in:

* :data:`PlausibleDatetime`: a timezone-aware date and time (any offset) whose UTC moment
  lies from 1970-01-01T00:00:00Z to 2099-12-31T23:59:59.999999Z;
* :data:`PlausibleDate`: a calendar date from 1970-01-01 to 2099-12-31;
* :data:`RecordId`: a text matching the id pattern (for bodies and queries);
  :data:`ID_REGEX` is the same pattern for ``Path(pattern=...)``.

The messages never quote the value sent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints
from pydantic_core import PydanticCustomError

from features.records import (
    EARLIEST_TIME,
    ID_PATTERN,
    LATEST_TIME,
    MAX_ID_LENGTH,
    TIME_RANGE_TEXT,
    time_in_range,
)

__all__ = ["ID_REGEX", "EARLIEST_DATE", "LATEST_DATE", "PlausibleDatetime", "PlausibleDate",
           "RecordId", "check_datetime", "check_date"]

#: :data:`features.records.ID_PATTERN`, anchored, for ``Path(pattern=...)``.
ID_REGEX = f"^{ID_PATTERN.pattern}$"
#: The first and the last calendar day of the range.
EARLIEST_DATE: date = EARLIEST_TIME.date()
LATEST_DATE: date = LATEST_TIME.date()


def check_datetime(moment: datetime) -> datetime:
    """``moment`` when it lies in the plausible range; a validation error otherwise.

    Parameters
    ----------
    moment : a timezone-aware datetime.

    Returns
    -------
    datetime
        ``moment`` unchanged (its offset kept).

    Raises
    ------
    pydantic_core.PydanticCustomError
        ``datetime_out_of_range``, when its UTC moment is outside
        :data:`~features.records.EARLIEST_TIME` .. :data:`~features.records.LATEST_TIME`
        (years 1 and 9999 with an offset, which Python cannot convert to UTC, included).
    """
    if not time_in_range(moment):
        raise PydanticCustomError("datetime_out_of_range",
                                  f"out of range: a time from {TIME_RANGE_TEXT}")
    return moment


def check_date(day: date) -> date:
    """``day`` when it lies from 1970-01-01 to 2099-12-31; a validation error otherwise.

    Raises
    ------
    pydantic_core.PydanticCustomError
        ``date_out_of_range``.
    """
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise PydanticCustomError("date_out_of_range",
                                  f"out of range: a date from {EARLIEST_DATE.isoformat()} to "
                                  f"{LATEST_DATE.isoformat()}")
    return day


#: A timezone-aware date and time within the plausible range (422 naming the field
#: otherwise).
PlausibleDatetime = Annotated[AwareDatetime, AfterValidator(check_datetime)]
#: A calendar date within the plausible range (422 naming the field otherwise).
PlausibleDate = Annotated[date, AfterValidator(check_date)]
#: A record id (:data:`features.records.ID_PATTERN`) in a body or a query.
RecordId = Annotated[str, StringConstraints(pattern=ID_REGEX, max_length=MAX_ID_LENGTH)]
