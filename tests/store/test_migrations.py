import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import access.tables  # noqa: F401 - every package's tables share the metadata
import decisions.tables  # noqa: F401
import records.tables  # noqa: F401
from lending.persistence import SqlUnitOfWork, open_line
from lending.persistence.tables import SQLModel
from store import current_revision, head_revision, make_engine, upgrade_database

TABLES = {"credit_line", "line_event", "journal_entry", "journal_posting",
          "idempotency_record"}


def test_upgrading_creates_every_table_and_a_second_upgrade_changes_nothing(database_url):
    upgrade_database(database_url)
    upgrade_database(database_url)
    engine = make_engine(database_url)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_processes_starting_together_migrate_once_without_failing(database_url):
    import threading

    failures: list[Exception] = []
    barrier = threading.Barrier(4)

    def start_up():
        barrier.wait()
        try:
            upgrade_database(database_url)
        except Exception as error:  # collected and asserted below
            failures.append(error)

    # Daemon threads and a join limit: a regression shows as a failure, not a hung run
    # (without the migration lock, PostgreSQL sessions wait on each other's DDL).
    workers = [threading.Thread(target=start_up, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    assert failures == []
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_the_migrated_schema_is_exactly_what_the_models_declare(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, SQLModel.metadata) == []


def test_the_event_log_and_the_journal_refuse_updates_and_deletes(engine):
    from datetime import date

    from lending import RepaymentPlan
    from lending.persistence import draw

    open_line(SqlUnitOfWork(engine), line_id="L1", seller_id="S1", limit="1000.00",
              opened_on=date(2026, 1, 1))
    draw(SqlUnitOfWork(engine), line_id="L1", amount="100.00", on=date(2026, 1, 2),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="k")
    for statement in ("UPDATE line_event SET amount_minor = 1",
                      "DELETE FROM journal_posting",
                      "UPDATE journal_entry SET amount_minor = 1",
                      "DELETE FROM line_event"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)


def test_lines_of_sellers_with_128_character_ids_open_after_the_upgrade_from_0004(
        database_url):
    from datetime import UTC, date, datetime

    from lending.lines import RepaymentPlan
    from lending.persistence import draw, get_line

    engine = make_engine(database_url)
    upgrade_database(engine, "0004")
    # Written as the 0004 schema has it (the models carry columns added since).
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO credit_line (id, seller_id, product, currency, revolving, "
            "limit_minor, opened_on, grace_days, penalty_daily_rate, freeze_after_days, "
            "write_off_after_days, allocation_order, allocation_by, status, version, "
            "event_count, as_of, outstanding_minor, available_minor, days_past_due, "
            "bucket, created_at) VALUES ('L-old', :seller, 'purchase_line', 'CNY', "
            "TRUE, 10000, :opened, 3, '0.0005', 3, 180, "
            "'penalty,fee,interest,principal', 'component', 'open', 0, 0, :opened, 0, "
            "10000, 0, 'current', :created)"),
            {"seller": "S" * 100, "opened": date(2026, 1, 1),
             "created": datetime(2026, 1, 1, tzinfo=UTC)})
    upgrade_database(engine)
    draw(SqlUnitOfWork(engine), line_id="L-old", amount="10.00", on=date(2026, 1, 2),
         plan=RepaymentPlan.bullet(30), supplier_id="SUP", idempotency_key="k")
    open_line(SqlUnitOfWork(engine), line_id="L-new", seller_id="S" * 128, limit="100.00",
              opened_on=date(2026, 1, 1))
    assert get_line(SqlUnitOfWork(engine), "L-old").outstanding_principal == 10
    assert get_line(SqlUnitOfWork(engine), "L-new").seller_id == "S" * 128
    assert current_revision(engine) == head_revision()
    engine.dispose()
