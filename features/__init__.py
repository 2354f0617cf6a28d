"""Transaction records, the synthetic marketplace and point-in-time seller features.

Importing :mod:`features` fills the feature registry (:mod:`features.definitions`), so
``features.registry.FEATURES`` always describes every column :func:`build_features` returns.
"""

from features import definitions as definitions  # fills the registry
from features.builder import (
    CREDIT_HISTORY_COLUMNS,
    DEFAULT_TIMEZONE,
    ORDER_COLUMNS,
    SELLER_COLUMNS,
    build_features,
    resolve_as_of,
)
from features.definitions import ALL_FEATURES, CORE_FEATURES, ORDER_FEATURES, REPAYMENT_FEATURES
from features.registry import FAMILIES, FEATURES, FeatureSpec, get_feature, registry_version

__all__ = [
    "build_features",
    "resolve_as_of",
    "ALL_FEATURES",
    "CORE_FEATURES",
    "ORDER_FEATURES",
    "REPAYMENT_FEATURES",
    "ORDER_COLUMNS",
    "SELLER_COLUMNS",
    "CREDIT_HISTORY_COLUMNS",
    "DEFAULT_TIMEZONE",
    "FAMILIES",
    "FEATURES",
    "FeatureSpec",
    "get_feature",
    "registry_version",
]
