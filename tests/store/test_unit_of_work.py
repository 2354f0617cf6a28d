import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lending import (
    BalanceRefunded,
    DrawMade,
    LimitChanged,
    LineEvent,
    PaymentReceived,
    PaymentReversed,
    PayoffReceived,
    PrepaymentReceived,
    RepaymentPlan,
    reschedule_after_prepayment,
)
from lending.persistence import CreditLineRecord, SqlUnitOfWork
from lending.persistence.codec import event_from_row, event_operation_id, event_payload
from lending.persistence.tables import from_minor, to_minor
from store import make_engine, upgrade_database


def _record(line_id="L1"):
    return CreditLineRecord(id=line_id, seller_id="S1", limit_minor=100_000,
                            opened_on=date(2026, 1, 5), as_of=date(2026, 1, 5),
                            created_at=datetime.now(UTC))


def test_nothing_is_stored_unless_the_unit_of_work_commits(engine):
    with SqlUnitOfWork(engine) as uow:
        uow.lines.add(_record())
        uow.session.flush()
    with SqlUnitOfWork(engine) as uow:
        assert uow.lines.get("L1") is None


def test_an_error_inside_the_unit_of_work_rolls_everything_back(engine):
    with pytest.raises(RuntimeError), SqlUnitOfWork(engine) as uow:
        uow.lines.add(_record())
        uow.session.flush()
        raise RuntimeError("boom")
    with SqlUnitOfWork(engine) as uow:
        assert uow.lines.get("L1") is None


def test_a_committed_unit_of_work_is_visible_to_the_next(engine):
    with SqlUnitOfWork(engine) as uow:
        uow.lines.add(_record())
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        record = uow.lines.get("L1")
        assert record is not None and from_minor(record.limit_minor, "CNY") == Decimal("1000.00")


@pytest.mark.parametrize(("amount", "currency", "units"), [
    ("12.34", "CNY", 1234), ("0.01", "CNY", 1), ("999999999999999.99", "CNY",
                                                 99999999999999999), ("1500", "JPY", 1500)])
def test_money_is_stored_as_exact_minor_units(amount, currency, units):
    assert to_minor(Decimal(amount), currency) == units
    assert from_minor(units, currency) == Decimal(amount).quantize(
        Decimal(1) if currency == "JPY" else Decimal("0.01"))


def test_sub_minor_amounts_never_reach_storage():
    with pytest.raises(ValueError):
        to_minor(Decimal("0.005"), "CNY")


def test_every_event_kind_reads_back_equal_to_what_was_stored():
    plan = RepaymentPlan.term_loan("annuity", 6, "0.12")
    schedule = plan.schedule_for(Decimal("1234.56"), date(2026, 1, 31), "CNY")
    prepaid = reschedule_after_prepayment(schedule, on=date(2026, 3, 15),
                                          prepaid_principal=Decimal("300.00"),
                                          option="lower_instalment")
    events: list[LineEvent] = [
              DrawMade("D1", date(2026, 1, 31), Decimal("1234.56"), "SUP", schedule),
              DrawMade("D2", date(2026, 1, 31), Decimal("1234.56"), "SUP", prepaid),
              PaymentReceived("P1", date(2026, 2, 28), Decimal("100.10")),
              PrepaymentReceived("P2", date(2026, 3, 1), Decimal("5.00"), "D1",
                                 "shorten_term"),
              PaymentReversed("P1", date(2026, 3, 2), "bounced: insufficient funds"),
              LimitChanged("C1", date(2026, 3, 3), Decimal("10000.00"), Decimal("0.00"),
                           "Review: \u98ce\u9669 up.", "user:carol"),
              LimitChanged("C2", date(2026, 3, 4), Decimal("0.00"), Decimal("2500.50")),
              PayoffReceived("P3", date(2026, 3, 5), Decimal("901.23"), "D2"),
              PayoffReceived("P4", date(2026, 3, 6), Decimal("12.00")),
              BalanceRefunded("R1", date(2026, 3, 7), Decimal("3.50"))]
    kinds = ["draw", "draw", "payment", "prepayment", "payment_reversal", "limit_change",
             "limit_change", "payoff", "payoff", "balance_refund"]
    for event, kind in zip(events, kinds, strict=True):
        amount = getattr(event, "amount", None)
        operation = event_operation_id(event)
        assert event_from_row(kind, event.on, operation, amount, event_payload(event)) == event


def test_reading_a_line_does_not_wait_for_a_draw_in_progress(database_url, engine):
    from lending.persistence import get_line, open_line

    open_line(SqlUnitOfWork(engine), line_id="L1", seller_id="S1", limit="1000.00",
              opened_on=date(2026, 1, 5))
    # A short busy timeout: were reads to queue behind the writer, this fails in a second.
    impatient = make_engine(database_url, busy_timeout=1)
    try:
        with SqlUnitOfWork(engine) as writer:
            assert writer.lines.get_for_update("L1") is not None
            assert get_line(SqlUnitOfWork(impatient), "L1").limit == Decimal("1000.00")
    finally:
        impatient.dispose()


def _sqlite_engines(tmp_path, busy_timeout: float):
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    holder = make_engine(url)
    upgrade_database(holder)
    return holder, make_engine(url, busy_timeout=busy_timeout)


def test_a_sqlite_writer_waits_for_the_write_lock_then_writes(tmp_path):
    holder, waiter = _sqlite_engines(tmp_path, busy_timeout=30)
    released = threading.Event()
    outcome: list[object] = []

    def write() -> None:
        try:
            with SqlUnitOfWork(waiter) as unit:
                unit.session.execute(sa.text(
                    "INSERT INTO idempotency_record (scope, key, fingerprint, line_id, "
                    "response, created_at) VALUES ('t', 'after', 'f', '', '{}', "
                    "'2026-01-01 00:00:00')"))
                outcome.append(released.is_set())  # it got the lock only once released
                unit.commit()
        except Exception as error:  # asserted below
            outcome.append(error)

    try:
        with SqlUnitOfWork(holder) as unit:  # BEGIN IMMEDIATE: holds the write lock
            unit.session.execute(sa.text("SELECT 1"))
            thread = threading.Thread(target=write)
            thread.start()
            thread.join(timeout=0.3)
            assert thread.is_alive() and outcome == []  # waiting, not failed
            released.set()
        thread.join(timeout=30)
        assert outcome == [True]
        with waiter.connect() as connection:  # the connection's own timeout is back
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        holder.dispose()
        waiter.dispose()


def test_a_sqlite_writer_gives_up_after_its_busy_timeout(tmp_path):
    holder, waiter = _sqlite_engines(tmp_path, busy_timeout=0.2)
    try:
        with SqlUnitOfWork(holder) as unit:
            unit.session.execute(sa.text("SELECT 1"))
            with pytest.raises(sa.exc.OperationalError, match="locked"), \
                    SqlUnitOfWork(waiter) as blocked:
                blocked.session.execute(sa.text("SELECT 1"))
        with waiter.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    finally:
        holder.dispose()
        waiter.dispose()
