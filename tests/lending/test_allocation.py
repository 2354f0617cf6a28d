from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.allocation import AllocationPolicy, DueAmount, allocate_payment
from lending.errors import InvalidAmount

OLD, NEW = date(2025, 2, 1), date(2025, 3, 1)
DUES = [
    DueAmount("D1", 1, OLD, "principal", Decimal("100.00")),
    DueAmount("D1", 1, OLD, "interest", Decimal("10.00")),
    DueAmount("D1", 1, OLD, "penalty", Decimal("2.00")),
    DueAmount("D1", 2, NEW, "principal", Decimal("100.00")),
    DueAmount("D1", 2, NEW, "interest", Decimal("9.00")),
    DueAmount("D2", 1, NEW, "fee", Decimal("5.00")),
]


def _paid(allocation):
    return [(p.instalment, p.component, p.amount) for p in allocation.paid]


def test_by_default_the_oldest_instalment_is_paid_in_full_before_the_next():
    allocation = allocate_payment(Decimal("130.00"), DUES)
    assert [(p.draw_id, p.instalment, p.component, p.amount) for p in allocation.paid] == [
        ("D1", 1, "penalty", Decimal("2.00")),
        ("D1", 1, "interest", Decimal("10.00")),
        ("D1", 1, "principal", Decimal("100.00")),
        ("D1", 2, "interest", Decimal("9.00")),
        ("D1", 2, "principal", Decimal("9.00")),
    ]
    assert AllocationPolicy().by == "instalment"


def test_component_order_across_draws_stays_a_policy_option():
    allocation = allocate_payment(Decimal("130.00"), DUES, AllocationPolicy(by="component"))
    assert [(p.draw_id, p.instalment, p.component, p.amount) for p in allocation.paid] == [
        ("D1", 1, "penalty", Decimal("2.00")),
        ("D2", 1, "fee", Decimal("5.00")),
        ("D1", 1, "interest", Decimal("10.00")),
        ("D1", 2, "interest", Decimal("9.00")),
        ("D1", 1, "principal", Decimal("100.00")),
        ("D1", 2, "principal", Decimal("4.00")),
    ]
    assert allocation.unapplied == 0


def test_partial_payment_stops_where_the_money_runs_out():
    allocation = allocate_payment(Decimal("8.00"), DUES, AllocationPolicy(by="component"))
    assert _paid(allocation) == [(1, "penalty", Decimal("2.00")), (1, "fee", Decimal("5.00")),
                                 (1, "interest", Decimal("1.00"))]


def test_overpayment_is_left_unapplied_for_the_credit_balance():
    allocation = allocate_payment(Decimal("300.00"), DUES)
    assert allocation.total() == Decimal("226.00")
    assert allocation.unapplied == Decimal("74.00")


def test_instalment_first_order_clears_the_oldest_instalment_completely():
    allocation = allocate_payment(Decimal("115.00"), DUES, AllocationPolicy(by="instalment"))
    assert _paid(allocation) == [(1, "penalty", Decimal("2.00")),
                                 (1, "interest", Decimal("10.00")),
                                 (1, "principal", Decimal("100.00")),
                                 (2, "interest", Decimal("3.00"))]


def test_component_order_is_configurable():
    policy = AllocationPolicy(order=("principal", "interest", "fee", "penalty"), by="component")
    assert _paid(allocate_payment(Decimal("50.00"), DUES, policy)) == [
        (1, "principal", Decimal("50.00"))]


def test_an_order_must_name_every_component_once():
    with pytest.raises(InvalidAmount, match="each of"):
        AllocationPolicy(order=("penalty", "fee", "interest", "interest"))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(payment=st.decimals(min_value=0, max_value=Decimal("500.00"), places=2),
       by=st.sampled_from(["component", "instalment"]))
def test_allocation_neither_creates_nor_loses_a_cent(payment, by):
    allocation = allocate_payment(payment, DUES, AllocationPolicy(by=by))
    assert allocation.total() + allocation.unapplied == payment
    owed = {(d.draw_id, d.instalment, d.component): d.amount for d in DUES}
    assert all(0 < p.amount <= owed[(p.draw_id, p.instalment, p.component)]
               for p in allocation.paid)
