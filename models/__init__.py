"""Training, evaluation and the MLflow registry of probability-of-default models.

``train`` and :class:`CreditModel` need no MLflow; :mod:`models.registry` holds everything
that talks to MLflow (logging, registering, promotion).
"""

from models.config import TrainConfig
from models.credit_model import BIAS_COLUMN, Calibration, CreditModel
from models.training import TrainingReport, train

__all__ = ["BIAS_COLUMN", "Calibration", "CreditModel", "TrainConfig", "TrainingReport",
           "train"]
