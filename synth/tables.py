"""Small synthetic credit tables whose true model is known, for tests and benchmarks.

:func:`linear_truth` is the hardest case for trees: the log-odds of default are exactly
linear, so a logistic regression is the true model. ``bench/small_tables.py`` and the
linear-base tests of :mod:`models.training` use it to check that the project's training
is not worse than a cross-validated logistic regression there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["linear_truth"]


def linear_truth(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` applicants whose log-odds of default are linear in 12 standard normal
    features (``x0``..``x11``, six strong and six weak) and one 4-level text column
    (``segment``); the label (1 = default) drawn from those odds. Deterministic for a seed.

    Returns
    -------
    (features indexed by ``applicant_id``, labels as an int array)
    """
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}")
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(n, 12))
    beta = rng.normal(scale=0.6, size=12)
    beta[6:] *= 0.3
    level = rng.integers(0, 4, n)
    log_odds = -1.0 + numbers @ beta + np.array([0.0, 0.5, -0.4, 0.9])[level]
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-log_odds))).astype(int)
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(12)])
    frame["segment"] = np.array(list("abcd"))[level]
    frame.index = pd.Index([f"A{i}" for i in range(n)], name="applicant_id")
    return frame, label
