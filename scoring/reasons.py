"""Reason families: stable codes and plain-language text in English and Chinese.

A reason is a family of features (:data:`features.registry.FAMILIES`); the contributions
of a family's features are added up, so "order quality lowered the score by 23 points"
counts refunds, disputes, cancellations and late shipments together. A feature the
registry does not know (a generic table) is a family of its own, named after the feature.

Codes are stable: they are written here, not derived from the registry's keys, so renaming
a family in the registry does not change a code stored with a decision. A registry family
missing from :data:`REASON_CODES` gets ``R-<KEY>`` (upper case, ``_`` as ``-``), and a
feature without a registry entry ``R-FEATURE:<feature name>``.

| code | family |
|---|---|
| ``R-SCALE`` | trading scale |
| ``R-GROWTH`` | sales growth |
| ``R-STABILITY`` | sales stability |
| ``R-QUALITY`` | order quality |
| ``R-CUSTOMERS`` | customer base |
| ``R-CHANNEL`` | sales channels |
| ``R-TENURE`` | marketplace tenure |
| ``R-CASH-CYCLE`` | cash cycle |
| ``R-REPAYMENT`` | repayment history |
| ``R-PROFILE`` | seller profile |
"""

from __future__ import annotations

from dataclasses import dataclass

from features.registry import FAMILIES, get_feature

__all__ = ["REASON_CODES", "ReasonGroup", "reason_group_for", "reason_text"]

#: Stable reason code of each registry family.
REASON_CODES: dict[str, str] = {
    "scale": "R-SCALE",
    "growth": "R-GROWTH",
    "stability": "R-STABILITY",
    "quality": "R-QUALITY",
    "customers": "R-CUSTOMERS",
    "channel": "R-CHANNEL",
    "tenure": "R-TENURE",
    "cash_cycle": "R-CASH-CYCLE",
    "repayment": "R-REPAYMENT",
    "profile": "R-PROFILE",
}

#: What a family's features measure, as the subject of a reason sentence (en, zh).
_SUBJECTS: dict[str, tuple[str, str]] = {
    "scale": ("sales volume and order counts", "销售额和订单量"),
    "growth": ("the growth of sales", "销售增长情况"),
    "stability": ("the steadiness and recency of trading", "经营的稳定性和活跃度"),
    "quality": ("refunds, disputes, cancellations and late shipments",
                "退款、纠纷、取消订单和延迟发货情况"),
    "customers": ("the number, loyalty and concentration of buyers",
                  "买家数量、复购和集中度"),
    "channel": ("the mix of sales channels", "销售渠道结构"),
    "tenure": ("the time traded on the marketplace", "在平台经营的时长"),
    "cash_cycle": ("how fast orders turn into cash", "订单回款速度"),
    "repayment": ("the repayment of earlier credit", "以往借款的还款表现"),
    "profile": ("the seller's kind and membership tier", "商户类型和会员等级"),
}


@dataclass(frozen=True)
class ReasonGroup:
    """A reason family as scoring uses it.

    Attributes
    ----------
    key : registry family key, or the feature name for an unregistered feature.
    code : stable reason code.
    title_en, title_zh : short title.
    subject_en, subject_zh : what the family's features measure, for the sentence.
    """

    key: str
    code: str
    title_en: str
    title_zh: str
    subject_en: str
    subject_zh: str


def reason_group_for(feature: str) -> ReasonGroup:
    """The reason family of a model feature (its own family when the registry lacks it)."""
    spec = get_feature(feature)
    if spec is None or spec.family not in FAMILIES:
        return ReasonGroup(feature, f"R-FEATURE:{feature}", feature, feature,
                           f"the value of {feature}", f"{feature} 的取值")
    family = FAMILIES[spec.family]
    code = REASON_CODES.get(family.name, "R-" + family.name.upper().replace("_", "-"))
    subject_en, subject_zh = _SUBJECTS.get(
        family.name, (family.title_en.lower(), family.title_zh))
    return ReasonGroup(family.name, code, family.title_en, family.title_zh, subject_en,
                       subject_zh)


def reason_text(group: ReasonGroup, points: float) -> tuple[str, str]:
    """The plain-language sentence of a reason, in English and in Chinese.

    ``points`` is the family's effect on the score: negative lowered it (adverse),
    positive raised it. The comparison is with the baseline: the model's average raw
    score over its training data.
    """
    shown = max(1, round(abs(points)))
    unit_en = "point" if shown == 1 else "points"
    if points < 0:
        english = (f"{group.title_en} lowered the score by {shown} {unit_en}: on "
                   f"{group.subject_en}, the applicant looks riskier than the training "
                   "average.")
        chinese = (f"{group.title_zh}使评分降低{shown}分：{group.subject_zh}"
                   "显示风险高于训练样本平均水平。")
    else:
        english = (f"{group.title_en} raised the score by {shown} {unit_en}: on "
                   f"{group.subject_en}, the applicant looks safer than the training "
                   "average.")
        chinese = (f"{group.title_zh}使评分提高{shown}分：{group.subject_zh}"
                   "显示风险低于训练样本平均水平。")
    return english, chinese
