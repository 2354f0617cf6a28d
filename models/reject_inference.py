"""Reject inference by fuzzy augmentation.

A lender learns outcomes only for the applicants it approved; a model trained on them alone
never sees the declined part of the through-the-door population, which is exactly where the
next model's cut-off decisions fall. Reject inference adds the declined applicants to the
training sample with an inferred outcome.

Fuzzy augmentation (Siddiqi, *Intelligent Credit Scoring*, 2nd ed., Wiley 2017, the
chapter on reject inference; MathWorks Risk Management Toolbox example "Reject Inference
for Credit Scorecards"; reviewed formally in Ehrhardt, Biernacki, Vandewalle, Heinrich and
Beben, "Reject inference methods in credit scoring", *Journal of Applied Statistics* 48, 2021;
also in the R package scoringTools, ``fuzzy_augmentation``):

1. fit the *known good-bad* (KGB) model on the approved applicants' real labels;
2. score each rejected applicant with it: ``p`` = the KGB model's PD, optionally raised by
   a factor ``k`` (``min(1, k * p)``; SAS Enterprise Miner's "event rate increase": a
   rejected applicant is usually riskier than an approved one with the same score, since
   the lender declined it for reasons the model partly misses);
3. enter each rejected applicant **twice**: as good (label 0) with weight
   ``w * (1 - p)`` and as bad (label 1) with weight ``w * p``, where ``w`` is the weight
   of a rejected applicant (1: as much as an approved one);
4. retrain on the approved rows (weight 1) and the augmented rows.

Compared with hard cut-off augmentation, nothing is decided per applicant: the expected
number of bads among the rejects is ``sum(w * p)`` and no rejected applicant is made
certainly good or bad. Ehrhardt et al. show that for a model fitted by maximum likelihood
with ``k = 1`` the augmented fit reproduces the KGB model (the inferred rows carry no
information the KGB model lacked); what fuzzy augmentation can change comes from ``k`` and
from how a tree model extrapolates into the region where only rejects lie.

The rows it adds only ever fit boosters (:class:`models.training.TrainingAugmentation`):
validation, calibration, the hold-out and every reported figure stay on the approved
applicants' real outcomes, so the gain (or loss) can only show on real outcomes, never on
inferred ones.

Everything here is pure: tables in, tables and models out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.config import TrainConfig
from models.credit_model import CreditModel
from models.training import TrainingAugmentation, train

__all__ = ["METHODS", "FUZZY", "FuzzyAugmentationConfig", "RejectInference",
           "fuzzy_augmentation", "train_with_reject_inference"]

FUZZY = "fuzzy"
#: The reject-inference methods this module implements.
METHODS: tuple[str, ...] = (FUZZY,)


@dataclass(frozen=True)
class FuzzyAugmentationConfig:
    """Parameters of fuzzy augmentation.

    Parameters
    ----------
    pd_factor : ``k``: the PD of a rejected applicant is ``min(1, k * p)`` with ``p`` the
        known good-bad model's PD (1: as the KGB model says; > 1: rejects are riskier than
        their score says).
    reject_weight : ``w``: the total weight of one rejected applicant (its good and bad
        rows together); 1 weighs it like an approved applicant.
    """

    pd_factor: float = 1.0
    reject_weight: float = 1.0

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        for name in ("pd_factor", "reject_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a number > 0; got {value!r}")


def fuzzy_augmentation(rejects: pd.DataFrame, reject_pd: object, *, time: object = None,
                       config: FuzzyAugmentationConfig | None = None,
                       ) -> TrainingAugmentation:
    """Each rejected applicant twice: good with weight ``w (1 - p)``, bad with ``w p``.

    Parameters
    ----------
    rejects : the rejected applicants' features, one row each.
    reject_pd : the known good-bad model's PD of each row, aligned by position, in [0, 1].
    time : observation time per row (aligned by position), for out-of-time training;
        ``None`` without one.
    config : ``pd_factor`` and ``reject_weight``; defaults when ``None``.

    Returns
    -------
    TrainingAugmentation
        ``2 n`` rows: the ``n`` rejects as goods, then the same ``n`` as bads.

    Raises
    ------
    ValueError
        No rejects, or PDs that are not probabilities, or a bad configuration.
    """
    config = config or FuzzyAugmentationConfig()
    config.check()
    if not isinstance(rejects, pd.DataFrame):
        raise ValueError(f"rejects must be a pandas DataFrame; got {type(rejects).__name__}")
    if len(rejects) == 0:
        raise ValueError("no rejected applicant to augment with")
    p = np.asarray(reject_pd, dtype=float).ravel()
    if len(p) != len(rejects):
        raise ValueError(f"reject_pd has {len(p)} values for {len(rejects)} rejects")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("reject_pd must be probabilities in [0, 1]")
    p = np.minimum(1.0, config.pd_factor * p)
    n = len(rejects)
    times = None
    if time is not None:
        values = time.to_numpy() if isinstance(time, pd.Series | pd.Index) else np.asarray(time)
        if len(values) != n:
            raise ValueError(f"time has {len(values)} values for {n} rejects")
        times = np.concatenate([values, values])
    return TrainingAugmentation(
        features=pd.concat([rejects, rejects]),
        label=np.concatenate([np.zeros(n), np.ones(n)]),
        weight=config.reject_weight * np.concatenate([1.0 - p, p]),
        time=times, method=FUZZY)


@dataclass
class RejectInference:
    """What :func:`train_with_reject_inference` produced.

    Attributes
    ----------
    model : the model retrained on the approved and the augmented rows.
    known_good_bad : the model trained on the approved applicants alone (the KGB model).
    reject_pd : the KGB model's PD of each rejected applicant (before ``pd_factor``).
    augmentation : the rows added.
    config : the parameters used.
    """

    model: CreditModel
    known_good_bad: CreditModel
    reject_pd: np.ndarray
    augmentation: TrainingAugmentation
    config: FuzzyAugmentationConfig

    def summary(self) -> dict[str, float | int | str]:
        """JSON-friendly figures of the inference (for MLflow and the command's output)."""
        used = (self.model.training_report_.augmentation or {}) \
            if hasattr(self.model, "training_report_") else {}
        n = len(self.reject_pd)
        inferred = np.minimum(1.0, self.config.pd_factor * self.reject_pd)
        return {"method": FUZZY, "rejects": n,
                "rejects_used": int(used.get("rows", 2 * n)) // 2,
                "rejects_mean_pd": float(np.mean(self.reject_pd)) if n else float("nan"),
                "inferred_bads": float(np.sum(self.config.reject_weight * inferred)),
                "pd_factor": float(self.config.pd_factor),
                "reject_weight": float(self.config.reject_weight)}


def train_with_reject_inference(features: pd.DataFrame, label: object, rejects: pd.DataFrame,
                                *, time: object = None, reject_time: object = None,
                                groups: object = None, embargo_days: float = 0.0,
                                config: TrainConfig | None = None,
                                augmentation_config: FuzzyAugmentationConfig | None = None,
                                ) -> RejectInference:
    """Fuzzy augmentation end to end: KGB model, rejects scored, augmented retraining.

    Both fits see the same table with the same options (:func:`models.training.train`),
    so they hold out and validate on the same approved rows; the second adds the
    augmented rejects to the rows that fit its boosters (with a time column, only the
    rejects no later than its last training row).

    Parameters
    ----------
    features, label, time, groups, embargo_days, config : as :func:`models.train`.
    rejects : the rejected applicants' features (at least the feature columns of
        ``features``; others are ignored).
    reject_time : the rejects' observation times (needed with ``time``).
    augmentation_config : ``pd_factor`` and ``reject_weight``.

    Raises
    ------
    ValueError
        As :func:`models.train`, or rejects the KGB model cannot score.
    """
    augmentation_config = augmentation_config or FuzzyAugmentationConfig()
    augmentation_config.check()
    if time is not None and reject_time is None:
        raise ValueError("with a time column the rejects need their times (reject_time)")
    known_good_bad = train(features, label, time=time, groups=groups,
                           embargo_days=embargo_days, config=config)
    columns = [str(name) for name in known_good_bad.feature_names_in_]
    missing = [name for name in columns if name not in rejects.columns]
    if missing:
        raise ValueError(f"the rejects lack feature column(s): {', '.join(missing)}")
    reject_features = rejects[columns]
    reject_pd = known_good_bad.predict_pd(reject_features)
    augmentation = fuzzy_augmentation(reject_features, reject_pd, time=reject_time,
                                      config=augmentation_config)
    model = train(features, label, time=time, groups=groups, embargo_days=embargo_days,
                  config=config, augmentation=augmentation)
    return RejectInference(model, known_good_bad, reject_pd, augmentation,
                           augmentation_config)
