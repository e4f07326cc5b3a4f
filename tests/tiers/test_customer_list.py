"""The customer list shows each customer's tier from the current run and filters by it."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory, SalesLineFactory
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 6, 30)


@pytest.fixture
def tiered(rep, outsider, teams):
    """rep's BIG is A and SMALL is C; the outsider's OUT is A too, but not rep's to see."""
    amounts = {"BIG": ("900.00", rep), "SMALL": ("10.00", rep), "OUT": ("900.00", outsider)}
    for code, (revenue, owner) in amounts.items():
        customer = CustomerFactory(code=code, owner=owner)
        for month in range(12):
            SalesLineFactory(
                customer=customer,
                revenue=Decimal(revenue),
                cost=Decimal("1.00"),
                order_date=AS_OF - datetime.timedelta(days=30 * month),
            )
    contribution_recompute(as_of=AS_OF)


def test_tier_column_and_filter_stay_in_scope(client, rep, tiered):
    client.force_login(rep)
    url = reverse("customer-list")
    page = client.get(url).context["page"]
    assert [(c.code, c.tier) for c in page] == [("BIG", "A"), ("SMALL", "C")]
    assert [c.code for c in client.get(url, {"tier": "A"}).context["page"]] == ["BIG"]
    assert [c.code for c in client.get(url, {"tier": "C"}).context["page"]] == ["SMALL"]


def test_without_a_run_the_list_works_and_a_tier_filter_finds_nothing(client, rep, teams):
    CustomerFactory(code="NEW", owner=rep)
    client.force_login(rep)
    url = reverse("customer-list")
    assert [c.code for c in client.get(url).context["page"]] == ["NEW"]
    assert list(client.get(url, {"tier": "A"}).context["page"]) == []


def test_query_count_with_tiers_does_not_grow(client, rep, tiered, django_assert_num_queries):
    client.force_login(rep)
    url = reverse("customer-list")
    client.get(url)
    with django_assert_num_queries(9):
        client.get(url, {"tier": "A"})
    for i in range(30):
        CustomerFactory(code=f"N{i:02d}", owner=rep)
    with django_assert_num_queries(9):
        client.get(url, {"tier": "A"})
