"""Account health (SPEC §4): the pure judgement, and the measurements taken from real sales
lines and receivables by selectors.health_for_customers."""

import datetime
import math
from decimal import Decimal

import pytest
from django.utils import translation

from accounts.models import Customer
from relationships.health import (
    DECLINING,
    PAYING_LATE,
    VOLATILE,
    HealthFlag,
    health_assess,
)
from relationships.selectors import health_for_customers
from tests.factories import CustomerFactory, ReceivableFactory, SalesLineFactory

ZERO_MONTHS = [Decimal(0)] * 12
STEADY_MONTHS = [Decimal("1000.00")] * 12


def assess(revenue="1000", previous="1000", months=STEADY_MONTHS, late=None):
    return health_assess(
        revenue=Decimal(revenue),
        previous_revenue=Decimal(previous),
        monthly_revenue=months,
        avg_days_late=None if late is None else Decimal(late),
    )


# --- the pure judgement -------------------------------------------------------------------

# (revenue, previous revenue, expected growth, flagged as declining)
GROWTH = {
    "fell-21-percent-declining": ("790.00", "1000.00", Decimal("-0.21"), True),
    "fell-exactly-20-percent-not-flagged": ("800.00", "1000.00", Decimal("-0.2"), False),
    "fell-19.99-percent-not-flagged": ("800.10", "1000.00", Decimal("-0.1999"), False),
    "fell-to-nothing-declining": ("0", "1000.00", Decimal("-1"), True),
    "grew-not-flagged": ("1500.00", "1000.00", Decimal("0.5"), False),
    "no-previous-revenue-no-growth": ("5000.00", "0", None, False),
    "negative-previous-revenue-no-growth": ("100.00", "-50.00", None, False),
    "nothing-at-all-no-growth": ("0", "0", None, False),
}


@pytest.mark.parametrize(
    ("revenue", "previous", "growth", "declining"), list(GROWTH.values()), ids=list(GROWTH)
)
def test_growth_and_declining(revenue, previous, growth, declining):
    health = assess(revenue, previous)
    assert health.growth == growth
    assert (DECLINING in health.codes) == declining


def test_the_declining_flag_carries_measure_and_threshold():
    health = assess("700.00", "1000.00")
    assert health.flags == (HealthFlag(DECLINING, Decimal("-0.3"), Decimal("-0.20")),)
    with translation.override("en"):
        assert health.flags[0].text() == "declining: revenue -30.0 % against the previous window"


# (monthly revenue, expected coefficient of variation, flagged as volatile)
VOLATILITY = {
    "steady-cv-0": (STEADY_MONTHS, 0.0, False),
    "half-the-months-cv-exactly-1-not-flagged": (
        [Decimal(200)] * 6 + [Decimal(0)] * 6,
        1.0,
        False,
    ),
    "one-month-in-twelve-cv-sqrt-11-volatile": (
        [Decimal(1200)] + [Decimal(0)] * 11,
        math.sqrt(11),
        True,
    ),
    "two-months-in-twelve-cv-sqrt-5-volatile": (
        [Decimal(600)] * 2 + [Decimal(0)] * 10,
        math.sqrt(5),
        True,
    ),
    "no-revenue-no-volatility": (ZERO_MONTHS, None, False),
    "net-negative-no-volatility": ([Decimal(-100)] + [Decimal(0)] * 11, None, False),
    "no-months-no-volatility": ([], None, False),
}


@pytest.mark.parametrize(
    ("months", "cv", "volatile"), list(VOLATILITY.values()), ids=list(VOLATILITY)
)
def test_volatility(months, cv, volatile):
    health = assess(months=months)
    if cv is None:
        assert health.volatility is None
    else:
        assert float(health.volatility) == pytest.approx(cv, rel=1e-12, abs=1e-12)
    assert (VOLATILE in health.codes) == volatile


# (average days late, flagged as paying late)
LATENESS = {
    "31-days-late": ("31", True),
    "30.01-days-late": ("30.01", True),
    "exactly-30-days-not-flagged": ("30", False),
    "on-time": ("0", False),
    "no-receivables": (None, False),
}


@pytest.mark.parametrize(("late", "paying_late"), list(LATENESS.values()), ids=list(LATENESS))
def test_paying_late(late, paying_late):
    health = assess(late=late)
    assert (PAYING_LATE in health.codes) == paying_late
    assert health.avg_days_late == (None if late is None else Decimal(late))


def test_every_flag_at_once_in_order():
    health = assess("100.00", "1000.00", [Decimal(1200)] + [Decimal(0)] * 11, "45")
    assert health.codes == (DECLINING, VOLATILE, PAYING_LATE)
    with translation.override("en"):
        assert [flag.text() for flag in health.flags] == [
            "declining: revenue -90.0 % against the previous window",
            "volatile: monthly revenue varies 3.32 × its average",
            "paying late: 45 days late on average",
        ]


def test_a_healthy_account_has_no_flags():
    health = assess("1100.00", "1000.00", late="12")
    assert health.flags == ()
    assert health.codes == ()


# --- measured from the database -----------------------------------------------------------

AS_OF = datetime.date(2026, 6, 30)  # window (2025-06-30, 2026-06-30], before (2024-06-30, …]


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def sale(customer, day: str, revenue: str):
    SalesLineFactory(customer=customer, order_date=d(day), revenue=Decimal(revenue), cost=0)


def invoice(customer, invoiced: str, due: str, amount: str, paid: str | None = None):
    ReceivableFactory(
        customer=customer,
        invoice_date=d(invoiced),
        due_date=d(due),
        amount=Decimal(amount),
        paid_date=d(paid) if paid else None,
    )


@pytest.fixture
def slipping(db):
    """Revenue 1000 → 600, two busy months and a return, and paying 40 days late."""
    customer = CustomerFactory(code="SLIP")
    sale(customer, "2024-06-30", "5000.00")  # the day the window before starts: outside
    sale(customer, "2024-07-01", "600.00")  # window before
    sale(customer, "2025-06-30", "400.00")  # last day of the window before; June 2025
    sale(customer, "2025-07-01", "300.00")  # window; July 2025
    sale(customer, "2026-03-15", "-100.00")  # a return; March 2026
    sale(customer, "2026-06-30", "400.00")  # the as-of day: window, but not a complete month
    sale(customer, "2026-07-01", "9999.00")  # after the as-of date: outside
    invoice(customer, "2026-01-10", "2026-02-10", "1000.00", paid="2026-03-22")  # 40 days
    invoice(customer, "2026-04-01", "2026-05-01", "3000.00")  # unpaid: 60 days to as-of
    invoice(customer, "2026-05-01", "2026-05-31", "2000.00", paid="2026-07-15")  # 30 to as-of
    invoice(customer, "2026-02-01", "2026-03-01", "1000.00", paid="2026-02-20")  # early: 0
    invoice(customer, "2025-06-30", "2025-07-30", "99999.00")  # invoiced before the window
    invoice(customer, "2026-07-01", "2026-07-02", "99999.00")  # invoiced after as-of
    return customer


@pytest.fixture
def steady(db):
    """1000 every month for two years, invoices paid on the due day."""
    customer = CustomerFactory(code="STEADY")
    for month in range(24):
        year, index = divmod(2024 * 12 + 6 + month, 12)  # July 2024 … June 2026
        day = datetime.date(year, index + 1, 15)
        SalesLineFactory(customer=customer, order_date=day, revenue=Decimal("1000.00"), cost=0)
    invoice(customer, "2026-01-10", "2026-02-10", "5000.00", paid="2026-02-10")
    return customer


def test_a_slipping_account_is_measured_exactly(slipping):
    health = health_for_customers([slipping.pk], as_of=AS_OF)[slipping.pk]
    assert health.previous_revenue == Decimal("1000.00")
    assert health.revenue == Decimal("600.00")
    assert health.growth == Decimal("-0.4")
    # Complete months June 2025 … May 2026: 400, 300, eight zeros, -100, 0; mean 50.
    assert float(health.volatility) == pytest.approx(math.sqrt(23 / 3), rel=1e-12)
    # (1000×40 + 3000×60 + 2000×30 + 1000×0) / 7000
    assert health.avg_days_late == Decimal("40.00")
    assert health.codes == (DECLINING, VOLATILE, PAYING_LATE)


def test_a_steady_account_has_no_warning(steady):
    health = health_for_customers([steady.pk], as_of=AS_OF)[steady.pk]
    assert (health.revenue, health.previous_revenue) == (Decimal("12000.00"), Decimal("12000.00"))
    assert health.growth == 0
    assert health.volatility == 0
    assert health.avg_days_late == Decimal("0.00")
    assert health.flags == ()


def test_exactly_twenty_percent_down_in_the_database_is_not_flagged(db):
    customer = CustomerFactory(code="MINUS20")
    sale(customer, "2025-01-15", "1000.00")
    sale(customer, "2026-01-15", "800.00")
    health = health_for_customers([customer.pk], as_of=AS_OF)[customer.pk]
    assert health.growth == Decimal("-0.2")
    assert DECLINING not in health.codes


def test_an_account_without_history_has_no_growth_and_no_measures(db):
    new = CustomerFactory(code="NEW")
    sale(new, "2026-06-10", "800.00")  # only in the as-of month: no complete month yet
    idle = CustomerFactory(code="IDLE")
    result = health_for_customers([new.pk, idle.pk], as_of=AS_OF)
    assert (result[new.pk].revenue, result[new.pk].previous_revenue) == (Decimal("800.00"), 0)
    assert result[new.pk].growth is None
    assert result[new.pk].volatility is None
    assert result[new.pk].avg_days_late is None
    assert result[new.pk].flags == ()
    assert (result[idle.pk].revenue, result[idle.pk].growth, result[idle.pk].flags) == (
        0,
        None,
        (),
    )


def test_a_queryset_gives_the_same_result_as_a_list(slipping, steady):
    by_list = health_for_customers([slipping.pk, steady.pk], as_of=AS_OF)
    by_queryset = health_for_customers(
        Customer.objects.filter(code__in=["SLIP", "STEADY"]), as_of=AS_OF
    )
    assert by_queryset == by_list
    assert set(by_list) == {slipping.pk, steady.pk}
    assert health_for_customers([], as_of=AS_OF) == {}
    assert health_for_customers(Customer.objects.none(), as_of=AS_OF) == {}


def test_one_customer_s_lines_do_not_leak_into_another_s(slipping, steady):
    only_steady = health_for_customers([steady.pk], as_of=AS_OF)
    assert set(only_steady) == {steady.pk}
    assert only_steady[steady.pk].flags == ()
