"""The sales days (accounts/sales_days.py) are, after a refresh, exactly the lines summed per
customer and day, whatever wrote the lines; the refresh sums only stale customers; and
(PostgreSQL) a writer still in progress during a refresh is not lost."""

import threading
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Max, Min

from accounts import sales_days
from accounts.models import SalesDay, SalesDayStale, SalesLine
from accounts.sales_days import sales_days_refresh
from kam.money import to_cents
from tests.factories import CustomerFactory
from tests.reliability.support import connect, postgres_only

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 4, 15)


def _line(customer, ref: str, day: date, revenue: str, cost: str, discount: str = "0"):
    return SalesLine(customer=customer, order_ref=ref, order_date=day, revenue=Decimal(revenue),
                     cost=Decimal(cost), discount=Decimal(discount))  # fmt: skip


def _summed_from_lines() -> dict:
    """The days as the test computes them, line by line in Python."""
    days = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for customer_id, day, revenue, cost, discount in SalesLine.objects.values_list(
        "customer_id", "order_date", "revenue", "cost", "discount"
    ):
        revenue, cost, discount = to_cents(revenue), to_cents(cost), to_cents(discount)
        sums = days[(customer_id, day)]
        sums[0] += revenue
        sums[1] += revenue - cost
        sums[2] += -revenue if revenue < 0 else 0
        sums[3] += discount if revenue > 0 else 0
        sums[4] += 1 if revenue > 0 else 0
        sums[5] += 1
    return {key: tuple(sums) for key, sums in days.items()}


def _stored() -> dict:
    rows = SalesDay.objects.values_list(
        "customer_id", "day", "revenue", "gross_profit", "returns", "sold_discount",
        "sold_lines", "lines",
    )  # fmt: skip
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def _marked() -> dict:
    """customer id -> (first, last) day of all its marks."""
    rows = SalesDayStale.objects.values("customer_id").annotate(
        first=Min("first_day"), last=Max("last_day")
    )
    return {row["customer_id"]: (row["first"], row["last"]) for row in rows}


def _refreshed() -> dict:
    sales_days_refresh()
    assert not SalesDayStale.objects.exists()
    return _stored()


def test_the_days_are_the_lines_summed_after_every_kind_of_write():
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    SalesLine.objects.bulk_create([
        _line(a, "SO-1", D1, "100.00", "60.00", "5.00"),
        _line(a, "SO-2", D1, "50.50", "20.25"),
        _line(a, "SO-3", D2, "-30.00", "-18.00"),  # a return
        _line(b, "SO-4", D1, "0.00", "0.00"),
        _line(b, "SO-5", D3, "999999.99", "1.01", "0.99"),
        _line(c, "SO-6", D3, "-5.00", "-1.00", "2.00"),  # a return's discount is not counted
    ])  # fmt: skip
    assert _refreshed() == _summed_from_lines()
    assert _stored()[(a.pk, D1)] == (15050, 15050 - 8025, 0, 500, 2, 2)
    assert _stored()[(a.pk, D2)] == (-3000, -1200, 3000, 0, 0, 1)

    # Updates: a figure, the customer, the day; through the ORM and a queryset.
    line = SalesLine.objects.get(order_ref="SO-1")
    line.revenue = Decimal("120.00")
    line.save()
    SalesLine.objects.filter(order_ref="SO-2").update(customer=b, order_date=D2)
    SalesLine.objects.filter(order_ref="SO-4").update(revenue=Decimal("-1.00"))
    assert _refreshed() == _summed_from_lines()
    # A line moved away is also a change to the customer it left.
    SalesLine.objects.filter(order_ref="SO-6").update(customer=a)
    assert _refreshed() == _summed_from_lines()

    # An upsert (inserts one line, updates another), then deletes: one line of a day, and
    # every line of a customer (its days go).
    SalesLine.objects.bulk_create(
        [_line(a, "SO-1", D3, "1.00", "2.00"), _line(c, "SO-7", D1, "7.00", "3.00")],
        update_conflicts=True, unique_fields=["order_ref", "line_no"],
        update_fields=["order_date", "revenue", "cost"],
    )  # fmt: skip
    assert _refreshed() == _summed_from_lines()
    SalesLine.objects.filter(order_ref="SO-3").delete()
    SalesLine.objects.filter(customer=c).delete()
    days = _refreshed()
    assert days == _summed_from_lines()
    assert not any(customer_id == c.pk for customer_id, _day in days)


def test_a_refresh_sums_only_the_days_that_changed():
    a, b = CustomerFactory(), CustomerFactory()
    SalesLine.objects.bulk_create([
        _line(a, "SO-1", D1, "10.00", "5.00"),
        _line(b, "SO-2", D1, "20.00", "5.00"),
        _line(b, "SO-3", D3, "30.00", "5.00"),
    ])  # fmt: skip
    assert _marked() == {a.pk: (D1, D1), b.pk: (D1, D3)}
    assert sales_days_refresh() == 2
    assert sales_days_refresh() == 0
    SalesLine.objects.filter(order_ref="SO-2").update(cost=Decimal("6.00"))
    SalesLine.objects.bulk_create([_line(b, "SO-4", D2, "1.00", "0.50")])
    assert _marked() == {b.pk: (D1, D2)}
    # Days changed past the lines' triggers are left alone: only b's D1..D2 is summed again.
    SalesDay.objects.update(revenue=1)
    assert sales_days_refresh() == 1
    assert _stored()[(a.pk, D1)][0] == 1
    assert _stored()[(b.pk, D3)][0] == 1
    assert _stored()[(b.pk, D1)] == (2000, 1400, 0, 0, 1, 1)
    assert _stored()[(b.pk, D2)] == (100, 50, 0, 0, 1, 1)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers follow migrate")
@pytest.mark.django_db(transaction=True)
def test_lines_written_while_a_migrate_had_the_triggers_away_are_summed_after_it():
    """What a migrate does on SQLite: the triggers go before it and come back after it,
    and every customer with lines or days is marked then, even one whose lines all went."""
    from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal

    a, b = CustomerFactory(), CustomerFactory()
    SalesLine.objects.bulk_create([_line(a, "SO-1", D1, "10.00", "5.00"),
                                   _line(a, "SO-2", D3, "20.00", "5.00"),
                                   _line(b, "SO-3", D1, "30.00", "5.00")])  # fmt: skip
    sales_days_refresh()
    emit_pre_migrate_signal(verbosity=0, interactive=False, db="default")
    SalesLine.objects.filter(order_ref__in=["SO-1", "SO-3"]).delete()  # unmarked
    assert not SalesDayStale.objects.exists()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert _refreshed() == _summed_from_lines() == {(a.pk, D3): (2000, 1500, 0, 0, 1, 1)}
    SalesLine.objects.bulk_create([_line(b, "SO-4", D2, "1.00", "0.50")])  # triggers back
    assert _refreshed() == _summed_from_lines()


# -- PostgreSQL -----------------------------------------------------------------------------

postgresql_only = postgres_only("transition-table triggers, row locks between two sessions")


@postgresql_only
def test_a_big_refresh_sums_every_day_afresh(monkeypatch):
    a, b = CustomerFactory(), CustomerFactory()
    SalesLine.objects.bulk_create([_line(a, "SO-1", D1, "10.00", "5.00"),
                                   _line(b, "SO-2", D1, "20.00", "5.00")])  # fmt: skip
    sales_days_refresh()
    SalesDay.objects.filter(customer_id=a.pk).update(revenue=1)  # past the triggers
    SalesLine.objects.filter(order_ref="SO-2").update(cost=Decimal("6.00"))
    monkeypatch.setattr(sales_days, "FULL_REFRESH_MIN", 1)
    assert sales_days_refresh() == 1
    assert _stored() == _summed_from_lines()  # a's day too


@postgresql_only
def test_truncating_the_lines_empties_the_days():
    SalesLine.objects.bulk_create([_line(CustomerFactory(), "SO-1", D1, "10.00", "5.00")])
    sales_days_refresh()
    assert SalesDay.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_salesline")
    assert not SalesDay.objects.exists()
    assert not SalesDayStale.objects.exists()


def _refresh_in_thread(outcome: dict) -> threading.Thread:
    """sales_days_refresh() started in a thread, on a connection of its own; its result or
    error lands in `outcome`."""

    def refresh():
        try:
            outcome["customers"] = sales_days_refresh()
        except BaseException as error:
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=refresh)
    thread.start()
    return thread


def _insert_line(session, customer_id: int, ref: str, day: date = D1) -> None:
    session.execute(
        "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
        "product_code, quantity, revenue, cost, discount) "
        "VALUES (%s, %s, 1, %s, '', 1, 2500, 1000, 0)",
        [customer_id, ref, day],
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refresh", ["by customer", "full"])
def test_a_refresh_neither_waits_for_a_writer_nor_loses_its_lines(refresh, monkeypatch):
    """The customer is already stale (marked by an earlier import) when a second import
    adds lines; a refresh while that import is open sums what is committed, does not wait
    for it, and leaves its mark, so the next refresh sums its lines."""
    if refresh == "full":
        monkeypatch.setattr(sales_days, "FULL_REFRESH_MIN", 1)
    customer = CustomerFactory()
    SalesLine.objects.bulk_create([_line(customer, "SO-1", D1, "10.00", "5.00")])
    writer = connect("sales-days-writer", autocommit=False)
    outcome = {}
    try:
        _insert_line(writer, customer.pk, "SO-2")
        thread = _refresh_in_thread(outcome)
        thread.join(10)
        assert not thread.is_alive(), "the refresh waited for the writer"
        assert outcome == {"customers": 1}
        assert _stored() == {(customer.pk, D1): (1000, 500, 0, 0, 1, 1)}  # what is committed
        writer.commit()
    finally:
        writer.close()
    assert _marked() == {customer.pk: (D1, D1)}  # the writer's mark
    assert _refreshed() == _summed_from_lines() == {(customer.pk, D1): (3500, 2000, 0, 0, 2, 2)}


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_writers_of_the_same_customers_in_opposite_orders_do_not_wait_for_each_other():
    """Each of two open transactions writes lines of both customers, in opposite orders: with
    a mark per customer updated in place they deadlocked (and a refresh with them)."""
    a, b = CustomerFactory(), CustomerFactory()
    SalesLine.objects.bulk_create([_line(a, "SO-A", D1, "1.00", "0.50"),
                                   _line(b, "SO-B", D1, "1.00", "0.50")])  # fmt: skip
    first, second = connect("writer-1", autocommit=False), connect("writer-2", autocommit=False)
    try:
        for session in (first, second):
            session.execute("SET lock_timeout = '2s'")
        first.execute("UPDATE accounts_salesline SET cost = 60 WHERE order_ref = 'SO-A'")
        second.execute("UPDATE accounts_salesline SET cost = 70 WHERE order_ref = 'SO-B'")
        _insert_line(first, b.pk, "SO-1B")
        _insert_line(second, a.pk, "SO-2A")
        assert sales_days_refresh() == 2  # the committed marks, not waiting for either
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    assert _refreshed() == _summed_from_lines()
    assert SalesLine.objects.count() == 4


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_refresh_waits_for_a_truncate_of_the_lines_instead_of_deadlocking_with_it():
    customer = CustomerFactory()
    SalesLine.objects.bulk_create([_line(customer, "SO-1", D1, "10.00", "5.00")])
    sales_days_refresh()
    SalesLine.objects.filter(order_ref="SO-1").update(cost=Decimal("6.00"))  # a mark
    truncating = connect("sales-days-truncate", autocommit=False)
    outcome = {}
    try:
        truncating.execute("LOCK TABLE accounts_salesline IN ACCESS EXCLUSIVE MODE")
        thread = _refresh_in_thread(outcome)
        thread.join(0.5)
        assert thread.is_alive(), "the refresh should wait for the lines"
        truncating.execute("TRUNCATE accounts_salesline")  # its trigger empties the days
        truncating.commit()
        thread.join(10)
    finally:
        truncating.close()
    assert outcome == {"customers": 0}  # the marks went with the lines
    assert not SalesDay.objects.exists() and not SalesDayStale.objects.exists()
