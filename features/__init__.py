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
from features.credit_history import (
    CREDIT_HISTORY_FIELDS,
    load_credit_history,
    validate_credit_history,
)
from features.definitions import (
    ALL_FEATURES,
    CORE_FEATURES,
    ORDER_FEATURES,
    REPAYMENT_FEATURES,
    feature_table_markdown,
)
from features.registry import FAMILIES, FEATURES, FeatureSpec, get_feature, registry_version
from features.values import json_value

__all__ = [
    "build_features",
    "resolve_as_of",
    "feature_table_markdown",
    "CREDIT_HISTORY_FIELDS",
    "load_credit_history",
    "validate_credit_history",
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
    "json_value",
]
