"""Limit changes are stored line events; a seller's lines are read through a service.

Every test runs on SQLite and on PostgreSQL (the ``engine`` fixture).
"""

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lending import (
    BackdatedOperation,
    CreditLimitExceeded,
    CurrencyMismatch,
    DelinquencyPolicy,
    InvalidAmount,
    LimitChanged,
    LineClosed,
    RepaymentPlan,
    fold_line,
)
from lending.persistence import (
    IdempotencyKeyReused,
    UnknownLine,
    advance_line,
    change_limit,
    draw,
    get_line,
    get_statement,
    journal_totals,
    lines_of_seller,
    open_line,
    repay,
)
from lending.persistence.services import load_line

OPENED = date(2026, 1, 5)


def _open(uow, limit="10000.00", line_id="L1", seller_id="S1", opened_on=OPENED, **kwargs):
    return open_line(uow(), line_id=line_id, seller_id=seller_id, limit=limit,
                     opened_on=opened_on, **kwargs)


def _draw(uow, amount, on, key, line_id="L1"):
    return draw(uow(), line_id=line_id, amount=amount, on=on, plan=RepaymentPlan.bullet(30),
                supplier_id="SUP-1", idempotency_key=key)


def _events(uow, line_id="L1"):
    with uow() as unit:
        return load_line(unit, line_id, lock=False)[1].events


def test_a_limit_change_is_a_stored_line_event_with_its_reason_and_actor(uow):
    _open(uow)
    receipt = change_limit(uow(), line_id="L1", new_limit="12000.00", on=date(2026, 1, 9),
                           reason="Steady payer.", actor="user:carol", change_id="C-1")
    assert (receipt.change_id, receipt.previous_limit, receipt.new_limit) == (
        "C-1", Decimal("10000.00"), Decimal("12000.00"))
    assert (receipt.available_credit, receipt.line_version) == (Decimal("12000.00"), 2)
    assert _events(uow) == (LimitChanged("C-1", date(2026, 1, 9), Decimal("10000.00"),
                                         Decimal("12000.00"), "Steady payer.", "user:carol"),)
    view = get_line(uow(), "L1")
    assert (view.limit, view.available_credit, view.as_of, view.version) == (
        Decimal("12000.00"), Decimal("12000.00"), date(2026, 1, 9), 2)


def test_the_stored_limit_history_is_what_the_events_fold_to(uow, engine):
    _open(uow)
    _draw(uow, "3000.00", OPENED, "k1")
    change_limit(uow(), line_id="L1", new_limit="5000.00", on=date(2026, 1, 10))
    change_limit(uow(), line_id="L1", new_limit="8000.00", on=date(2026, 1, 20))
    # Each date's limit is derived from the log, not from the line's current terms.
    assert [get_line(uow(), "L1", day).limit
            for day in (OPENED, date(2026, 1, 10), date(2026, 1, 20))] == [
        Decimal("10000.00"), Decimal("5000.00"), Decimal("8000.00")]
    with uow() as unit:
        record, line = load_line(unit, "L1", lock=False)
        assert line.terms.limit == Decimal("10000.00")  # the opening limit
        state = fold_line(line.terms, line.events, record.as_of)
    cached = get_line(uow(), "L1")
    assert (cached.limit, cached.available_credit) == (state.limit, state.available_credit)
    with engine.connect() as connection:
        kinds = connection.execute(sa.text(
            "select kind, amount_minor from line_event where line_id = 'L1' "
            "order by sequence")).all()
    assert [tuple(row) for row in kinds] == [("draw", 300_000), ("limit_change", None),
                                             ("limit_change", None)]


def test_a_limit_lowered_below_what_is_owed_leaves_no_credit_and_refuses_draws(uow):
    _open(uow)
    _draw(uow, "6000.00", OPENED, "k1")
    receipt = change_limit(uow(), line_id="L1", new_limit="4000.00", on=date(2026, 1, 9),
                           reason="Seasonal dip.")
    assert (receipt.available_credit, receipt.over_limit, receipt.outstanding_principal) == (
        Decimal("0.00"), Decimal("2000.00"), Decimal("6000.00"))
    with pytest.raises(CreditLimitExceeded):
        _draw(uow, "0.01", date(2026, 1, 9), "k2")
    repay(uow(), line_id="L1", amount="6000.00", on=date(2026, 2, 4), idempotency_key="p1")
    view = get_line(uow(), "L1")
    assert (view.limit, view.available_credit) == (Decimal("4000.00"), Decimal("4000.00"))
    statement = get_statement(uow(), "L1", date(2026, 1, 9))
    assert (statement.limit, statement.over_limit) == (Decimal("4000.00"), Decimal("2000.00"))


def test_a_limit_change_books_no_money(uow):
    _open(uow)
    _draw(uow, "3000.00", OPENED, "k1")
    with uow() as unit:
        before = journal_totals(unit, "L1")
    change_limit(uow(), line_id="L1", new_limit="2000.00", on=OPENED)
    with uow() as unit:
        assert journal_totals(unit, "L1") == before


def test_a_limit_change_books_what_fell_due_up_to_its_date_like_any_write(uow):
    _open(uow)
    _draw(uow, "1000.00", OPENED, "k1")  # due 2026-02-04
    change_limit(uow(), line_id="L1", new_limit="500.00", on=date(2026, 2, 9))
    view = get_line(uow(), "L1")
    assert (view.status, view.days_past_due, view.as_of) == ("frozen", 5, date(2026, 2, 9))


def test_a_closed_line_s_limit_cannot_change_and_nothing_is_stored(uow):
    _open(uow, delinquency=DelinquencyPolicy(write_off_after_days=30))
    _draw(uow, "1000.00", OPENED, "k1")
    advance_line(uow(), line_id="L1", to=date(2026, 3, 10))
    with pytest.raises(LineClosed):
        change_limit(uow(), line_id="L1", new_limit="20000.00", on=date(2026, 3, 10))
    assert len(_events(uow)) == 1
    assert get_line(uow(), "L1").limit == Decimal("10000.00")


def test_a_change_dated_before_the_booked_date_is_refused(uow):
    _open(uow)
    advance_line(uow(), line_id="L1", to=date(2026, 1, 20))
    with pytest.raises(BackdatedOperation):
        change_limit(uow(), line_id="L1", new_limit="5000.00", on=date(2026, 1, 19))
    assert _events(uow) == ()


def test_a_change_not_before_the_book_takes_the_booked_date_instead(uow):
    _open(uow)
    advance_line(uow(), line_id="L1", to=date(2026, 1, 20))
    receipt = change_limit(uow(), line_id="L1", new_limit="5000.00", on=date(2026, 1, 19),
                           not_before_book=True, change_id="C-1")
    assert receipt.on == date(2026, 1, 20)
    (event,) = _events(uow)
    assert (event.on, event.new_limit) == (date(2026, 1, 20), Decimal("5000.00"))
    # a date after the book stays as asked
    later = change_limit(uow(), line_id="L1", new_limit="6000.00", on=date(2026, 1, 25),
                         not_before_book=True)
    assert later.on == date(2026, 1, 25)


@pytest.mark.parametrize(("limit", "currency", "error"), [
    ("-1.00", None, InvalidAmount), ("5000.001", None, InvalidAmount),
    (5000.5, None, InvalidAmount), ("lots", None, InvalidAmount),
    ("5000.00", "USD", CurrencyMismatch),
])
def test_a_refused_limit_leaves_the_line_as_it_was(uow, limit, currency, error):
    _open(uow)
    with pytest.raises(error):
        change_limit(uow(), line_id="L1", new_limit=limit, on=OPENED, currency=currency)
    view = get_line(uow(), "L1")
    assert (view.limit, view.version, _events(uow)) == (Decimal("10000.00"), 1, ())


def test_changing_the_limit_of_an_unknown_line_is_refused(uow):
    with pytest.raises(UnknownLine):
        change_limit(uow(), line_id="nope", new_limit="5000.00", on=OPENED)


def test_a_repeated_change_with_one_key_has_one_effect(uow):
    _open(uow)
    first = change_limit(uow(), line_id="L1", new_limit="5000.00", on=OPENED,
                         idempotency_key="lim-1", client="key:k1")
    again = change_limit(uow(), line_id="L1", new_limit="5000.00", on=OPENED,
                         idempotency_key="lim-1", client="key:k1")
    assert again == first and len(_events(uow)) == 1
    with pytest.raises(IdempotencyKeyReused):
        change_limit(uow(), line_id="L1", new_limit="6000.00", on=OPENED,
                     idempotency_key="lim-1", client="key:k1")
    # Another client's key of the same name is another request.
    change_limit(uow(), line_id="L1", new_limit="6000.00", on=OPENED,
                 idempotency_key="lim-1", client="key:k2")
    assert get_line(uow(), "L1").limit == Decimal("6000.00")


def test_without_a_key_each_call_is_a_change_of_its_own(uow):
    _open(uow)
    for _ in range(2):
        change_limit(uow(), line_id="L1", new_limit="5000.00", on=OPENED)
    changes = _events(uow)
    assert len(changes) == 2 and changes[0].change_id != changes[1].change_id
    assert get_line(uow(), "L1").version == 3


def test_a_seller_s_lines_are_listed_newest_first(uow):
    _open(uow, line_id="L-old", opened_on=date(2025, 6, 1))
    _open(uow, line_id="L-b", opened_on=OPENED)
    _open(uow, line_id="L-a", opened_on=OPENED)
    _open(uow, line_id="L-other", seller_id="S2", opened_on=date(2026, 2, 1))
    change_limit(uow(), line_id="L-old", new_limit="3000.00", on=date(2025, 7, 1))

    lines = lines_of_seller(uow(), "S1")

    assert [line.line_id for line in lines] == ["L-b", "L-a", "L-old"]
    assert lines[2] == get_line(uow(), "L-old") and lines[2].limit == Decimal("3000.00")
    assert [line.line_id for line in lines_of_seller(uow(), "S1", limit=1)] == ["L-b"]
    assert lines_of_seller(uow(), "S-none") == []
    with pytest.raises(ValueError):
        lines_of_seller(uow(), "S1", limit=0)


def test_a_limit_cut_racing_with_draws_lets_through_only_what_each_limit_allowed(uow):
    # 3,000.00 holds ten draws of 300.00, 1,500.00 five: whichever order the database
    # lets them through in, no draw after the cut may take the line over 1,500.00.
    _open(uow, limit="3000.00")
    barrier = threading.Barrier(11)
    drawn, refused, failures = [], [], []

    def draw_one(number):
        barrier.wait()
        try:
            drawn.append(_draw(uow, "300.00", OPENED, f"k{number}"))
        except CreditLimitExceeded:
            refused.append(number)
        except Exception as error:  # collected and asserted below
            failures.append(error)

    def cut():
        barrier.wait()
        try:
            change_limit(uow(), line_id="L1", new_limit="1500.00", on=OPENED)
        except Exception as error:  # collected and asserted below
            failures.append(error)

    workers = [threading.Thread(target=draw_one, args=(n,)) for n in range(10)]
    workers.append(threading.Thread(target=cut))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == [] and len(drawn) + len(refused) == 10
    events = _events(uow)
    (cut_at,) = [i for i, e in enumerate(events) if isinstance(e, LimitChanged)]
    assert 5 <= len(drawn) == cut_at + max(0, 5 - cut_at)
    view = get_line(uow(), "L1")
    assert (view.limit, view.outstanding_principal, view.version) == (
        Decimal("1500.00"), len(drawn) * Decimal("300.00"), 2 + len(drawn))
    assert view.available_credit == max(Decimal("0.00"), 1500 - view.outstanding_principal)
