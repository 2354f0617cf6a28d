"""Lines for the rule tests: one opening date and one way to open a line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lending import CreditLine, LineTerms

__all__ = ["OPENED", "new_line"]

#: The day every test line opens.
OPENED = date(2025, 1, 1)


def new_line(limit: str = "10000.00", **terms: object) -> CreditLine:
    """Line ``L1`` opened on :data:`OPENED` with ``limit`` and any other terms."""
    return CreditLine(LineTerms("L1", Decimal(limit), OPENED, **terms))  # type: ignore[arg-type]
