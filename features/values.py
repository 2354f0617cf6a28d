"""Feature values as plain JSON values, the one conversion for storing and scoring them.

A feature row from :func:`features.build_features` holds numpy and pandas scalars (and
pandas' missing markers); a stored snapshot, a stored decision and a JSON answer need
plain ``int``, ``float``, ``bool``, ``str`` or ``None``. Every caller converts with
:func:`json_value`, so a value stored by the records service reads back as the value a
decision scores and stores.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_value"]


def json_value(value: Any) -> Any:
    """A feature value as a plain JSON value.

    Missing values (``None``, NaN, ``pd.NA``, ``pd.NaT``) and infinities become ``None``.
    JSON has no NaN or infinity: ``json.dumps(..., allow_nan=False)`` refuses them, and
    strict parsers reject the ``Infinity`` token Python would otherwise write. The scorer
    reads ``None`` as missing exactly as it reads NaN; converting *before* scoring keeps
    the value stored equal to the value scored, so a stored decision reproduces exactly.

    Parameters
    ----------
    value : a Python, numpy or pandas scalar.

    Returns
    -------
    bool, int, float, str or None
        ``bool`` for Python and numpy booleans, ``int`` for integers, a finite ``float``
        for floats, ``str`` for text and anything else (a categorical level, a
        ``Decimal``); numpy scalars are converted through ``.item()``.

    Examples
    --------
    >>> import numpy as np
    >>> [json_value(v) for v in (np.int64(3), np.float32(0.5), float("inf"), np.bool_(True))]
    [3, 0.5, None, True]
    """
    kind = type(value)
    # the common cases first: object columns of a feature frame hold Python floats and text
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str:
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.generic):
        return json_value(value.item())
    try:
        missing = pd.isna(value)
    except (TypeError, ValueError):  # pragma: no cover - pd.isna takes any scalar
        missing = False
    if isinstance(missing, (bool, np.bool_)) and missing:
        return None
    return str(value)
