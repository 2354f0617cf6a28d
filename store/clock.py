"""The one UTC clock of the service, and stored times read back as aware UTC.

Every stored time is timezone-aware UTC (``DateTime(timezone=True)``). PostgreSQL hands
them back aware; SQLite hands them back naive, in the UTC they were written in:
:func:`as_utc` makes either aware. Business dates belong to the lender's time zone
(:data:`features.DEFAULT_TIMEZONE` unless the settings say otherwise), never to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now", "as_utc", "as_utc_or_none"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as aware UTC; a naive time is taken to be UTC already (as SQLite gives
    back what was stored in UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def as_utc_or_none(moment: datetime | None) -> datetime | None:
    """:func:`as_utc`, passing ``None`` through."""
    return None if moment is None else as_utc(moment)
