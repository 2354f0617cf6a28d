"""What a decision reads of the seller's lines beside its snapshot: the same lines, in the
same order, as :func:`lending.persistence.lines_of_seller` (the policy's history and the
one-line-per-product rule read them)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from decisions import service as service
from lending.persistence import lines_of_seller, open_line
from records.ingest import ingest_orders, register_sellers
from records.snapshots import current_snapshot, current_snapshot_and
from tests.decisions.conftest import NOW

_AGE = timedelta(days=3650)


def _load(engine, market, seller_id: str) -> None:
    register_sellers(engine, market.sellers[market.sellers["seller_id"] == seller_id],
                     now=market.as_of)
    ingest_orders(engine, market.orders[market.orders["seller_id"] == seller_id],
                  now=market.as_of)


def test_the_lines_read_with_the_snapshot_are_lines_of_seller(engine, uow, market):
    seller_id = market.seller_for["approve"]
    _load(engine, market, seller_id)
    # Lines opened on two dates (two on one: id order), another product, one written off
    # and one past due (stored summaries), and another seller's.
    for line_id, opened, product in (("L-1", date(2026, 1, 5), "purchase_line"),
                                     ("L-3", date(2026, 3, 1), "purchase_line"),
                                     ("L-2", date(2026, 3, 1), "micro_loan"),
                                     ("L-0", date(2025, 12, 1), "purchase_line")):
        open_line(uow(), line_id=line_id, seller_id=seller_id, limit="1000.00",
                  opened_on=opened, product=product)
    open_line(uow(), line_id="L-other", seller_id="someone-else", limit="1000.00",
              opened_on=date(2026, 2, 1))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE credit_line SET status = 'closed' "
                                   "WHERE id = 'L-0'"))
        connection.execute(sa.text("UPDATE credit_line SET days_past_due = 12 "
                                   "WHERE id = 'L-1'"))

    expected = [(line.line_id, line.product, line.status, line.days_past_due)
                for line in lines_of_seller(uow(), seller_id)]
    assert [line_id for line_id, *_ in expected] == ["L-3", "L-2", "L-1", "L-0"]

    snapshot, lines = current_snapshot_and(engine, seller_id,
                                           service._SELLER_LINES,
                                           now=NOW, max_age=_AGE)
    assert [tuple(line) for line in lines] == expected
    assert snapshot == current_snapshot(engine, seller_id, now=NOW, max_age=_AGE)
    # The history and the open line a decision takes from them are the same either way.
    views = lines_of_seller(uow(), seller_id)
    assert service._credit_history(lines) == service._credit_history(views)
    for product in ("purchase_line", "micro_loan", "term_loan"):
        mine = service._open_line_of(lines, product)
        theirs = service._open_line_of(views, product)
        assert (mine and mine.line_id) == (theirs and theirs.line_id)

    # In a unit of work the caller entered: its connection, the same answer.
    with uow() as unit:
        again, lines_in = current_snapshot_and(unit, seller_id,
                                               service._SELLER_LINES,
                                               now=NOW, max_age=_AGE)
    assert [tuple(line) for line in lines_in] == expected and again == snapshot


def test_a_seller_without_lines_reads_none(engine, market):
    seller_id = market.seller_for["decline"]
    _load(engine, market, seller_id)
    _, lines = current_snapshot_and(engine, seller_id, service._SELLER_LINES,
                                    now=NOW, max_age=_AGE)
    assert lines == [] and service._credit_history(lines) == {}


def test_without_a_stored_snapshot_the_lines_are_read_alone_and_the_snapshot_built(
        engine, uow, market):
    seller_id = market.seller_for["approve"]
    _load(engine, market, seller_id)
    open_line(uow(), line_id="L-1", seller_id=seller_id, limit="1000.00",
              opened_on=date(2026, 1, 5))
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM feature_snapshot WHERE seller_id = :s"),
                           {"s": seller_id})
    snapshot, lines = current_snapshot_and(engine, seller_id, service._SELLER_LINES,
                                           now=NOW, max_age=_AGE)
    assert [line.line_id for line in lines] == ["L-1"]
    assert snapshot == current_snapshot(engine, seller_id, now=NOW, max_age=_AGE)
