import threading
from datetime import date
from decimal import Decimal

from lending import Account, CreditLimitExceeded, DrawMade, RepaymentPlan
from lending.persistence import draw, get_line, journal_totals, open_line
from lending.persistence.services import load_line

THREADS = 50


def test_fifty_concurrent_draws_never_take_more_than_the_limit_and_none_is_lost(uow):
    # 10,000.00 holds 33 draws of 300.00: exactly 33 must succeed and 17 be refused,
    # whatever order the database lets them through in.
    open_line(uow(), line_id="L1", seller_id="S1", limit="10000.00",
              opened_on=date(2026, 1, 5))
    barrier = threading.Barrier(THREADS)
    receipts, refusals, failures = [], [], []

    def request(number):
        barrier.wait()
        try:
            receipts.append(draw(uow(), line_id="L1", amount="300.00", on=date(2026, 1, 6),
                                 plan=RepaymentPlan.bullet(30), supplier_id="SUP-1",
                                 idempotency_key=f"order-{number}"))
        except CreditLimitExceeded as refusal:
            refusals.append(refusal)
        except Exception as error:  # collected and asserted below
            failures.append(error)

    workers = [threading.Thread(target=request, args=(n,)) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    assert (len(receipts), len(refusals)) == (33, 17)
    view = get_line(uow(), "L1")
    assert view.outstanding_principal == len(receipts) * Decimal("300.00")
    assert view.available_credit == Decimal("100.00")
    assert view.version == 1 + len(receipts)
    with uow() as unit:
        _, line = load_line(unit, "L1", lock=False)
        totals = unit.journal.totals("L1")
        booked = journal_totals(unit, "L1")
    drawn = sorted(e.draw_id for e in line.events if isinstance(e, DrawMade))
    assert drawn == sorted(r.draw_id for r in receipts)
    debits = sum(v for (_, side), v in totals.items() if side == "debit")
    credits = sum(v for (_, side), v in totals.items() if side == "credit")
    assert debits == credits
    assert booked[Account.LOANS_RECEIVABLE] == Decimal("9900.00")
    # Each receipt saw the draws committed before it: available credit steps down by 300.
    assert sorted(r.available_credit for r in receipts) == [
        Decimal("100.00") + 300 * k for k in range(33)]
