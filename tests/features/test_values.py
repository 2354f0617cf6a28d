"""Feature values become plain JSON values: missing and infinite ones become null."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from features import json_value


@pytest.mark.parametrize("missing", [None, float("nan"), np.float64("nan"), np.float32("nan"),
                                     pd.NA, pd.NaT, np.datetime64("NaT")],
                         ids=repr)
def test_a_missing_value_is_null(missing):
    assert json_value(missing) is None


@pytest.mark.parametrize("infinite", [math.inf, -math.inf, np.float64("inf"),
                                      np.float32("-inf"), np.inf], ids=repr)
def test_an_infinite_value_is_null_because_json_has_no_infinity(infinite):
    assert json_value(infinite) is None


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (np.bool_(False), False),
    (7, 7), (np.int64(-3), -3), (np.uint8(255), 255), (np.int32(0), 0),
    (0.25, 0.25), (np.float64(1e300), 1e300), (np.float32(0.5), 0.5), (-0.0, -0.0),
    ("shop", "shop"), (np.str_("gold"), "gold"),
])
def test_numbers_flags_and_text_keep_their_value_as_plain_python_types(value, expected):
    plain = json_value(value)
    assert plain == expected
    assert type(plain) is type(expected)


def test_a_boolean_stays_a_boolean_not_an_integer():
    assert json_value(True) is True
    assert json_value(np.bool_(True)) is True


def test_anything_else_becomes_its_text():
    assert json_value(Decimal("1.50")) == "1.50"
    assert json_value(pd.Timestamp("2026-01-02", tz="UTC")) == "2026-01-02 00:00:00+00:00"


def test_a_feature_row_with_every_kind_of_value_is_strict_json():
    row = {"gmv_30d": np.float64(1250.5), "orders_30d": np.int64(4),
           "refund_rate_365d": np.float64("nan"), "gmv_growth": np.float64("inf"),
           "seller_kind": "shop", "verified": np.bool_(True), "tier": pd.NA}

    plain = {name: json_value(value) for name, value in row.items()}

    assert json.loads(json.dumps(plain, allow_nan=False)) == {
        "gmv_30d": 1250.5, "orders_30d": 4, "refund_rate_365d": None, "gmv_growth": None,
        "seller_kind": "shop", "verified": True, "tier": None}
