"""The registered PD model's MLflow entry point ("models from code").

:func:`models.registry.log_and_register` logs this file as the pyfunc's code instead of a
pickled :class:`~models.registry.CreditModelPyfunc` object: MLflow runs it when it loads
the model (``mlflow.pyfunc.load_model``, ``mlflow models serve``), and it names the
wrapper, which then loads the native model from the version's ``credit_model`` artifact.
Nothing is unpickled, so loading a version runs only this project's code, and MLflow has
no cloudpickle warning to print. Loading needs this package importable, as before.
"""

from __future__ import annotations

import mlflow.models

from models.registry import CreditModelPyfunc

mlflow.models.set_model(CreditModelPyfunc())
