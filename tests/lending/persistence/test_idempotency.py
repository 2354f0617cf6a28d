import threading
from datetime import date
from decimal import Decimal

import pytest

from lending import Account, CreditLimitExceeded, LineFrozen, RepaymentPlan
from lending.persistence import (
    IdempotencyKeyReused,
    draw,
    get_line,
    journal_totals,
    open_line,
    repay,
)
from lending.persistence.services import load_line
from store.idempotency import InvalidIdempotencyKey

DAY = date(2026, 1, 6)


@pytest.fixture
def line(uow):
    open_line(uow(), line_id="L1", seller_id="S1", limit="10000.00",
              opened_on=date(2026, 1, 5))
    return "L1"


def _draw(uow, key, amount="300.00", line_id="L1", on=DAY):
    return draw(uow(), line_id=line_id, amount=amount, on=on, plan=RepaymentPlan.bullet(30),
                supplier_id="SUP-1", idempotency_key=key)


def _events(uow, line_id="L1"):
    with uow() as unit:
        return load_line(unit, line_id, lock=False)[1].events


def test_a_repeated_draw_replays_the_first_receipt_with_no_second_effect(uow, line):
    first = _draw(uow, "order-7")
    again = _draw(uow, "order-7", amount="300")  # the same amount, spelt differently
    assert again == first
    assert len(_events(uow)) == 1
    view = get_line(uow(), "L1")
    assert (view.outstanding_principal, view.version) == (Decimal("300.00"), 2)


def test_a_repeated_repayment_replays_the_first_receipt_with_no_second_effect(uow, line):
    _draw(uow, "order-7")
    first = repay(uow(), line_id="L1", amount="100.00", on=DAY, idempotency_key="pay-1")
    again = repay(uow(), line_id="L1", amount="100.00", on=DAY, idempotency_key="pay-1")
    assert again == first
    assert len(_events(uow)) == 2
    with uow() as unit:
        totals = journal_totals(unit, "L1")
    # one payout of 300 from funding, one receipt of 100 into collections: not two
    assert (totals[Account.FUNDING_CASH], totals[Account.COLLECTIONS_CASH]) == (
        Decimal("-300.00"), Decimal("100.00"))


@pytest.mark.parametrize("change", [{"amount": "301.00"}, {"on": date(2026, 1, 7)}])
def test_reusing_a_key_for_a_different_draw_is_refused(uow, line, change):
    _draw(uow, "order-7")
    with pytest.raises(IdempotencyKeyReused):
        _draw(uow, "order-7", **change)
    assert len(_events(uow)) == 1


def test_reusing_a_draw_key_on_another_line_is_refused(uow, line):
    open_line(uow(), line_id="L2", seller_id="S2", limit="500.00", opened_on=DAY)
    _draw(uow, "order-7")
    with pytest.raises(IdempotencyKeyReused):
        _draw(uow, "order-7", line_id="L2")
    assert _events(uow, "L2") == ()


def test_draw_and_repayment_keys_live_in_separate_scopes(uow, line):
    _draw(uow, "same")
    repay(uow(), line_id="L1", amount="100.00", on=DAY, idempotency_key="same")
    assert len(_events(uow)) == 2


def test_a_refused_request_leaves_its_key_free_for_a_corrected_retry(uow, line):
    with pytest.raises(Exception, match="exceeds"):
        _draw(uow, "order-7", amount="20000.00")
    assert _draw(uow, "order-7").amount == Decimal("300.00")
    # and the corrected request's answer is now the key's: the refused body is refused
    with pytest.raises(IdempotencyKeyReused):
        _draw(uow, "order-7", amount="20000.00")


def test_a_refusal_is_replayed_to_the_same_request_even_when_the_line_would_now_accept_it(
        uow, line):
    """The resend race: a client's resend overtakes its first try, is refused, and the
    first try must then get the same refusal, never an effect the client was told of as
    refused."""
    _draw(uow, "big", amount="9900.00")
    with pytest.raises(CreditLimitExceeded) as first:
        _draw(uow, "order-7", amount="300.00")
    repay(uow(), line_id="L1", amount="9900.00", on=DAY, idempotency_key="pay-all")
    with pytest.raises(CreditLimitExceeded) as again:
        _draw(uow, "order-7", amount="300.00")
    assert str(again.value) == str(first.value)
    assert again.value.details == first.value.details
    assert getattr(again.value, "replayed", False) is True
    assert not getattr(first.value, "replayed", False)
    assert len(_events(uow)) == 2  # the big draw and the repayment only
    # a request the rules refused leaves no money movement behind
    assert get_line(uow(), "L1").outstanding_principal == Decimal("0.00")


def test_concurrent_resends_of_a_refused_request_all_get_the_refusal(uow, line):
    _draw(uow, "big", amount="9900.00")
    threads, barrier = 8, threading.Barrier(8)
    outcomes: list[object] = []

    def request():
        barrier.wait()
        try:
            outcomes.append(_draw(uow, "order-7", amount="300.00"))
        except Exception as error:  # collected and asserted below
            outcomes.append(error)

    def free_the_limit():
        barrier.wait()
        repay(uow(), line_id="L1", amount="9900.00", on=DAY, idempotency_key="pay-all")

    workers = [threading.Thread(target=request) for _ in range(threads - 1)]
    workers.append(threading.Thread(target=free_the_limit))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    kinds = {type(outcome).__name__ for outcome in outcomes}
    # every resend got one answer: all the same draw, or all the same refusal
    assert len(kinds) == 1, kinds
    drawn = [event for event in _events(uow) if getattr(event, "amount", None)
             == Decimal("300.00")]
    assert len(drawn) == (1 if kinds == {"DrawReceipt"} else 0)


def test_a_replay_is_served_even_when_the_line_would_now_refuse_the_draw(uow, line):
    first = _draw(uow, "order-7", on=date(2026, 1, 5))
    repay_day = date(2026, 2, 15)
    from lending.persistence import advance_line
    assert advance_line(uow(), line_id="L1", to=repay_day).status == "frozen"
    with pytest.raises(LineFrozen):
        _draw(uow, "order-8", on=repay_day)
    assert _draw(uow, "order-7", on=date(2026, 1, 5)) == first


def test_an_empty_key_is_refused(uow, line):
    with pytest.raises(InvalidIdempotencyKey):
        _draw(uow, " ")


def test_concurrent_requests_with_one_key_have_exactly_one_effect(uow, line):
    threads, barrier = 12, threading.Barrier(12)
    receipts, errors = [], []

    def request():
        barrier.wait()
        try:
            receipts.append(_draw(uow, "order-7"))
        except Exception as error:  # collected and asserted below
            errors.append(error)

    workers = [threading.Thread(target=request) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len(receipts) == threads and len(set(r.draw_id for r in receipts)) == 1
    assert len(_events(uow)) == 1
    assert get_line(uow(), "L1").outstanding_principal == Decimal("300.00")


def test_one_key_racing_on_two_lines_has_one_effect_and_the_other_is_refused(uow, line):
    open_line(uow(), line_id="L2", seller_id="S2", limit="500.00", opened_on=DAY)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def request(line_id):
        barrier.wait()
        try:
            outcomes[line_id] = _draw(uow, "order-7", line_id=line_id)
        except IdempotencyKeyReused as refusal:
            outcomes[line_id] = refusal

    workers = [threading.Thread(target=request, args=(name,)) for name in ("L1", "L2")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    refused = [name for name, outcome in outcomes.items()
               if isinstance(outcome, IdempotencyKeyReused)]
    assert len(outcomes) == 2 and len(refused) == 1
    assert len(_events(uow, "L1")) + len(_events(uow, "L2")) == 1


def test_every_receipt_reads_back_equal_from_its_stored_json():
    import json as _json
    from dataclasses import fields

    from lending import CreditLine, LineTerms
    from lending.persistence.services import DrawReceipt, LimitChangeReceipt, PaymentReceipt

    line = CreditLine(LineTerms("L1", Decimal("1000.00"), date(2026, 1, 1)))
    event = line.draw("D1", "100.00", date(2026, 1, 2), RepaymentPlan.bullet(30),
                      supplier_id="S")
    day, cents = date(2026, 1, 3), Decimal("0.01")
    for receipt in (
            DrawReceipt("L1", "D1", day, Decimal("100.00"), "S", event.schedule,
                        Decimal("900.00"), Decimal("100.00"), 3),
            PaymentReceipt("L1", "P1", day, Decimal("5.00"), cents, Decimal("0.00"),
                           Decimal("95.00"), Decimal("905.00"), 4),
            LimitChangeReceipt("L1", "C1", day, Decimal("1000.00"), Decimal("50.00"),
                               Decimal("0.00"), Decimal("95.00"), Decimal("45.00"), 5)):
        stored = receipt.to_json()
        assert type(receipt).from_json(stored) == receipt
        assert sorted(_json.loads(stored)) == sorted(f.name for f in fields(receipt))


# The stored record of one draw, byte for byte: what a replay answers and what a retry's
# body is compared with (written before idempotency moved to the store, kept since).
PINNED_FINGERPRINT = "f24c2ec54a1918aed060635e159b5d8ee4d687a70b3521cc88bf2f13e3dbe92c"
PINNED_RECEIPT = (
    '{"amount":"300.00","available_credit":"9700.00","draw_id":"D-7","line_id":"L1",'
    '"line_version":2,"on":"2026-01-06","outstanding_principal":"300.00","schedule":'
    '{"annual_rate":"0","currency":"CNY","day_count":"ACT/365","instalments":[[1,'
    '"2026-02-05","300.00","0.00","0.00","0.00"]],"interest_basis":"monthly","method":'
    '"interest_free_bullet","prepaid_principal":"0","principal":"300.00","regular_amount":'
    'null,"start":"2026-01-06"},"supplier_id":"SUP-1"}')


def test_a_draw_keeps_the_same_bytes_under_its_key_as_it_always_did(uow, line):
    draw(uow(), line_id="L1", amount="300.00", on=DAY, plan=RepaymentPlan.bullet(30),
         supplier_id="SUP-1", idempotency_key="order-7", draw_id="D-7")
    with uow() as unit:
        record = unit.idempotency.get("draw", "order-7")
        assert record is not None
        assert (record.fingerprint, record.response, record.line_id) == (
            PINNED_FINGERPRINT, PINNED_RECEIPT, "L1")
    again = draw(uow(), line_id="L1", amount="300", on=DAY, plan=RepaymentPlan.bullet(30),
                 supplier_id="SUP-1", idempotency_key="order-7", draw_id="D-7")
    assert again.to_json() == PINNED_RECEIPT


def test_a_key_claimed_before_its_effect_replays_its_answer_and_refuses_another_body(uow):
    # The decisions' way (the answer is known before the effect): one mechanism, one table.
    from datetime import UTC, datetime

    from store.idempotency import IdempotencyKeyReused, fingerprint, idempotency_scope

    scope = idempotency_scope("decision", "key:mkt")
    now = datetime(2026, 1, 6, 9, tzinfo=UTC)

    def claim(body, response):
        with uow() as unit:
            stored = unit.idempotency.claim(
                scope=scope, key="k-1", body_fingerprint=fingerprint(body), line_id="",
                response=response, created_at=now, request="decision")
            unit.commit()
            return stored

    assert claim({"seller_id": "S1"}, '{"decision_id":"DEC-1"}') is None
    assert claim({"seller_id": "S1"}, '{"decision_id":"DEC-2"}') == '{"decision_id":"DEC-1"}'
    with pytest.raises(IdempotencyKeyReused, match="different decision request"):
        claim({"seller_id": "S2"}, '{"decision_id":"DEC-3"}')
    # Each client's keys, and each operation's, are their own.
    assert idempotency_scope("decision", "key:other") != scope
    with uow() as unit:
        assert unit.idempotency.get("draw@key:mkt", "k-1") is None


def test_a_claim_with_its_effect_inserts_the_row_only_when_the_key_was_free(uow):
    # A decision that opens no line is written with its key: on PostgreSQL in the claim's
    # own statement, elsewhere right after it; the same answers either way.
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from store.idempotency import IdempotencyKeyReused, fingerprint

    effects = sa.Table("claim_effect_test", sa.MetaData(),
                       sa.Column("id", sa.String(10), primary_key=True),
                       sa.Column("amount", sa.BigInteger), sa.Column("note", sa.Text),
                       sa.Column("at", sa.DateTime(timezone=True)))
    now = datetime(2026, 1, 6, 9, tzinfo=UTC)
    with uow() as unit:
        effects.create(unit.session.connection())
        unit.commit()

    def claim(body, row):
        with uow() as unit:
            stored = unit.idempotency.claim(
                scope="decision", key="k-1", body_fingerprint=fingerprint(body), line_id="",
                response=f'{{"id":"{row["id"]}"}}', created_at=now, request="decision",
                effect=(effects, row))
            unit.commit()
            return stored

    def rows():
        with uow() as unit:
            return [(r.id, r.amount, r.note,  # SQLite keeps UTC without its zone
                     r.at.astimezone(UTC) if r.at.tzinfo else r.at.replace(tzinfo=UTC))
                    for r in unit.session.connection().execute(sa.select(effects))]

    try:
        first = {"id": "E-1", "amount": 2**40, "note": None, "at": now}
        assert claim({"seller_id": "S1"}, first) is None
        assert rows() == [("E-1", 2**40, None, now)]
        # the same body: the stored answer, no second row
        assert claim({"seller_id": "S1"}, {**first, "id": "E-2"}) == '{"id":"E-1"}'
        with pytest.raises(IdempotencyKeyReused):
            claim({"seller_id": "S2"}, {**first, "id": "E-3"})
        assert rows() == [("E-1", 2**40, None, now)]
        with uow() as unit:
            postgres = unit.session.connection().dialect.name == "postgresql"
        if postgres:
            # a value too long for its column is refused, never cut to the column's length
            with pytest.raises(sa.exc.DataError), uow() as unit:
                unit.idempotency.claim(
                    scope="decision", key="k-2", body_fingerprint="f", line_id="",
                    response="{}", created_at=now, effect=(effects, {**first, "id": "E" * 11}))
            with uow() as unit:
                assert unit.idempotency.get("decision", "k-2") is None
    finally:
        with uow() as unit:
            effects.drop(unit.session.connection())
            unit.commit()
