"""The per-seller feature snapshot a decision reads (kept current by the records service)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["FeatureSnapshot"]


@dataclass(frozen=True)
class FeatureSnapshot:
    """One seller's features as of a moment, built with the batch builder's definitions.

    Attributes
    ----------
    seller_id, seller_kind : the seller (``shop`` or ``factory``).
    as_of : the UTC moment the features describe (nothing at or after it was used).
    features : feature name -> value (float, ``None`` for missing, text for categoricals),
        exactly the row ``features.build_features`` gives for this seller at ``as_of``.
    """

    seller_id: str
    seller_kind: str
    as_of: datetime
    features: Mapping[str, Any]
