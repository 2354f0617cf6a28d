"""The feature registry: what each seller feature means and which way it moves risk.

Every column that :func:`features.build_features` produces has one :class:`FeatureSpec`
here. Models read ``risk_direction`` for monotone constraints, scoring reads ``family``
to group SHAP contributions into reasons, and people read ``description`` and ``unit``.
:func:`registry_version` fingerprints the registry so a trained model records which
definitions it was built on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

__all__ = [
    "FamilySpec",
    "FeatureSpec",
    "FAMILIES",
    "FEATURES",
    "get_feature",
    "risk_direction",
    "registry_version",
]

RiskDirection = Literal[-1, 0, 1]


@dataclass(frozen=True)
class FamilySpec:
    """A family of related features, the unit in which reasons are explained."""

    name: str
    title_en: str
    title_zh: str
    description: str


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    Attributes
    ----------
    name : column name in the feature table.
    family : key into :data:`FAMILIES`.
    unit : unit of the value (``CNY``, ``days``, ``share``, ``count``, ``ratio``, ...).
    description : plain-language meaning, including the window and what a missing value means.
    risk_direction : ``+1`` when a higher value means higher default risk, ``-1`` when it
        means lower risk, ``0`` when the direction is not known (no monotone constraint).
    """

    name: str
    family: str
    unit: str
    description: str
    risk_direction: RiskDirection = 0


FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec("scale", "Trading scale", "经营规模", "GMV, order counts and order values."),
        FamilySpec("growth", "Sales growth", "销售增长", "How sales move over time."),
        FamilySpec("stability", "Sales stability", "经营稳定性",
                   "How steady and recent the trading is."),
        FamilySpec("quality", "Order quality", "订单质量",
                   "Refunds, disputes, cancellations and late shipments."),
        FamilySpec("customers", "Customer base", "客户结构",
                   "How many buyers, how loyal, how concentrated."),
        FamilySpec("channel", "Sales channels", "销售渠道",
                   "Mix of dropship, custom, sample and cross-border orders."),
        FamilySpec("tenure", "Marketplace tenure", "平台经营年限",
                   "How long the seller has traded on the marketplace."),
        FamilySpec("cash_cycle", "Cash cycle", "资金周转", "How fast orders turn into cash."),
        FamilySpec("repayment", "Repayment history", "还款记录",
                   "Behaviour on earlier credit from this lender."),
        FamilySpec("profile", "Seller profile", "商户信息", "Kind, tier and other attributes."),
    )
}

#: Filled in by :mod:`features.definitions`; keyed by feature name.
FEATURES: dict[str, FeatureSpec] = {}


def register(*specs: FeatureSpec) -> None:
    """Add feature specs; a name may be registered once and must name a known family."""
    for spec in specs:
        if spec.family not in FAMILIES:
            raise ValueError(f"feature {spec.name!r}: unknown family {spec.family!r}")
        if spec.name in FEATURES and FEATURES[spec.name] != spec:
            raise ValueError(f"feature {spec.name!r} is registered twice")
        FEATURES[spec.name] = spec


def get_feature(name: str) -> FeatureSpec | None:
    """The spec of a feature, or ``None`` for a column the registry does not know."""
    return FEATURES.get(name)


def risk_direction(name: str) -> int:
    """+1, -1 or 0 for a feature name; 0 for unknown columns."""
    spec = FEATURES.get(name)
    return 0 if spec is None else int(spec.risk_direction)


def registry_version() -> str:
    """A short fingerprint of every family and feature definition."""
    payload = json.dumps(
        {
            "families": [asdict(f) for f in FAMILIES.values()],
            "features": [asdict(f) for f in sorted(FEATURES.values(), key=lambda s: s.name)],
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]
