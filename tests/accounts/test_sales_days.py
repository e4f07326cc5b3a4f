"""The sales days (accounts/sales_days.py) are, after a refresh, exactly the lines summed per
customer and day, whatever wrote the lines; the refresh sums only stale customers; and
(PostgreSQL) a writer still in progress during a refresh is not lost."""

import threading
from collections import defaultdict
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

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
    assert set(SalesDayStale.objects.values_list("customer_id", "first_day", "last_day")) == {
        (a.pk, D1, D1), (b.pk, D1, D3)
    }  # fmt: skip
    assert sales_days_refresh() == 2
    assert sales_days_refresh() == 0
    SalesLine.objects.filter(order_ref="SO-2").update(cost=Decimal("6.00"))
    SalesLine.objects.bulk_create([_line(b, "SO-4", D2, "1.00", "0.50")])
    assert SalesDayStale.objects.get(customer_id=b.pk).last_day == D2  # widened, one mark
    # Days changed past the lines' triggers are left alone: only b's D1..D2 is summed again.
    SalesDay.objects.update(revenue=1)
    assert sales_days_refresh() == 1
    assert _stored()[(a.pk, D1)][0] == 1
    assert _stored()[(b.pk, D3)][0] == 1
    assert _stored()[(b.pk, D1)] == (2000, 1400, 0, 0, 1, 1)
    assert _stored()[(b.pk, D2)] == (100, 50, 0, 0, 1, 1)


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


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refresh", ["by customer", "full"])
def test_a_refresh_waits_for_a_writer_of_a_stale_customer_and_then_sums_its_lines(
    refresh, monkeypatch
):
    """The race the marks are upserted for: the customer is already stale (marked by an
    earlier import) when a second import adds lines; a refresh starting before that import
    commits must not clear the mark and miss its lines."""
    if refresh == "full":
        monkeypatch.setattr(sales_days, "FULL_REFRESH_MIN", 1)
    customer = CustomerFactory()
    SalesLine.objects.bulk_create([_line(customer, "SO-1", D1, "10.00", "5.00")])
    assert SalesDayStale.objects.filter(customer_id=customer.pk).exists()
    writer = connect("sales-days-writer", autocommit=False)
    outcome = {}

    def refresh():
        try:
            outcome["customers"] = sales_days_refresh()
        except BaseException as error:
            outcome["error"] = error
        finally:
            connection.close()

    try:
        writer.execute(
            "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
            "product_code, quantity, revenue, cost, discount) "
            "VALUES (%s, 'SO-2', 1, %s, '', 1, 2500, 1000, 0)",
            [customer.pk, D1],
        )
        thread = threading.Thread(target=refresh)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the refresh should wait for the writer's transaction"
        writer.commit()
        thread.join(10)
    finally:
        writer.close()
    assert outcome == {"customers": 1}
    assert _stored() == _summed_from_lines() == {(customer.pk, D1): (3500, 2000, 0, 0, 2, 2)}
    assert not SalesDayStale.objects.exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_writer_that_marks_during_a_refresh_leaves_its_customer_stale():
    customer = CustomerFactory()
    SalesLine.objects.bulk_create([_line(customer, "SO-1", D1, "10.00", "5.00")])
    refreshing = connect("sales-days-refresh", autocommit=False)
    try:
        # The refresh's first steps, by hand: the marks locked and deleted, not committed.
        refreshing.execute(
            "SELECT customer_id FROM accounts_salesdaystale ORDER BY customer_id FOR UPDATE"
        )
        refreshing.execute("DELETE FROM accounts_salesdaystale")
        writer = connect("sales-days-writer", autocommit=True)
        writer.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):  # it waits for the refresh
            writer.execute(
                "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
                "product_code, quantity, revenue, cost, discount) "
                "VALUES (%s, 'SO-2', 1, %s, '', 1, 2500, 1000, 0)",
                [customer.pk, D1],
            )
        refreshing.commit()
        writer.execute("SET lock_timeout = 0")
        writer.execute(
            "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
            "product_code, quantity, revenue, cost, discount) "
            "VALUES (%s, 'SO-2', 1, %s, '', 1, 2500, 1000, 0)",
            [customer.pk, D1],
        )
        writer.close()
    finally:
        refreshing.close()
    assert SalesDayStale.objects.filter(customer_id=customer.pk).exists()
    assert _refreshed() == _summed_from_lines()
