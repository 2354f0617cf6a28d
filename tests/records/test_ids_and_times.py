"""The record contract's one id pattern and one time range, through the records service
(issue 16), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from records.errors import SellerNotYetRegistered, UnknownSeller
from records.ingest import get_seller, register_sellers

API_KEY = "smc_k_0123456789_" + "ab" * 32


def _seller(seller_id: str, registered_at: str = "2025-01-01T00:00:00Z") -> dict[str, str]:
    return {"seller_id": seller_id, "kind": "shop", "registered_at": registered_at,
            "region": "east", "industry": "apparel", "membership_tier": "basic"}


def test_a_time_outside_the_range_rejects_only_its_row(engine: sa.Engine):
    result = register_sellers(engine, [
        _seller("S-1"), _seller("S-2", "1500-01-01T00:00:00Z"),
        _seller("S-3", "0001-01-01T00:00:00+14:00"), _seller("S-4", "2100-01-01T00:00:00Z"),
        _seller("S-5", "1970-01-01T00:00:00Z")])
    assert (result.accepted, result.rejected_rows) == (2, 3)
    assert {(problem.row, problem.field) for problem in result.rejected} == {
        (2, "registered_at"), (3, "registered_at"), (4, "registered_at")}


@pytest.mark.parametrize("seller_id", ["\uff33-1", "\u0405-1", "S\u0301-1", "S\u200b-1",
                                       "\ufeffS-1", "S-\u0661", "S 1", "-S1", "x" * 129])
def test_an_id_outside_the_pattern_is_a_rejected_row(engine: sa.Engine, seller_id: str):
    result = register_sellers(engine, [_seller("S-1"), _seller(seller_id)])
    assert result.accepted == 1
    assert [(problem.row, problem.field) for problem in result.rejected] == [
        (2, "seller_id")]


def test_ids_are_case_sensitive(engine: sa.Engine):
    assert register_sellers(engine, [_seller("S-CASE"), _seller("s-case")]).accepted == 2


def test_an_unknown_seller_is_named_only_when_its_id_is_well_formed(engine: sa.Engine):
    with pytest.raises(UnknownSeller) as named:
        get_seller(engine, "S-NOBODY")
    assert "'S-NOBODY'" in str(named.value)
    for hidden in (API_KEY, "\uff33-1", "S-1 and more text"):
        with pytest.raises(UnknownSeller) as unnamed:
            get_seller(engine, hidden)
        assert hidden not in str(unnamed.value)
        assert "the given seller id" in str(unnamed.value)
        assert unnamed.value.details == {"seller_id": None}


def test_a_seller_not_yet_registered_hides_a_secret_shaped_id():
    from datetime import UTC, datetime

    error = SellerNotYetRegistered(API_KEY, datetime(2025, 1, 1, tzinfo=UTC),
                                   datetime(2024, 1, 1, tzinfo=UTC))
    assert API_KEY not in str(error) and API_KEY not in str(error.details)
