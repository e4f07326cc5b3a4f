"""The manager's dashboard: Pareto curve, tiers, movements, fake big customers, coverage
gaps, health warnings and overdue follow-ups — in the reader's scope, with filters."""

import datetime
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from relationships.models import FollowUp
from relationships.services import account_health_refresh
from tests.factories import ContactFactory, CustomerFactory, SalesLineFactory
from tiers.selectors import pareto_points, run_current
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 30)
URL = "/dashboard/"


@pytest.fixture
def frozen():
    with time_machine.travel(datetime.datetime(2026, 6, 30, 10, 0), tick=False):
        yield


def sell(customer, amount, *, cost="0.00", months=(10, 100), days_back=0):
    for days in months:
        SalesLineFactory(
            customer=customer,
            revenue=Decimal(amount) / len(months),
            cost=Decimal(cost) / len(months),
            order_date=TODAY - datetime.timedelta(days=days + days_back),
        )


@pytest.fixture
def book(rep, teammate, outsider, teams):
    """rep and teammate (east, the manager's team) and the outsider (south).

    Gross profit: BIG1 600, BIG2 200, MID 100, SMALL 50 for the east team; the one-off
    ONE buys a lot in one month only; the outsider's OUT is the biggest of all."""
    customers = {
        "BIG1": CustomerFactory(code="BIG1", owner=rep, region="华东"),
        "BIG2": CustomerFactory(code="BIG2", owner=teammate, region="华东"),
        "MID": CustomerFactory(code="MID", owner=rep, region="华南"),
        "SMALL": CustomerFactory(code="SMALL", owner=teammate, region="华东"),
        "ONE": CustomerFactory(code="ONE", owner=rep, region="华东", name="一次性客户"),
        "OUT": CustomerFactory(code="OUT", owner=outsider, region="西北"),
    }
    sell(customers["BIG1"], "600.00")
    sell(customers["BIG2"], "200.00")
    sell(customers["MID"], "100.00")
    sell(customers["SMALL"], "50.00")
    sell(customers["ONE"], "900.00", months=(5,))
    sell(customers["OUT"], "5000.00")
    return customers


def test_the_dashboard_in_the_managers_scope(client, manager, book, frozen):
    contribution_recompute(as_of=TODAY)
    client.force_login(manager)
    response = client.get(URL)
    assert response.status_code == 200
    context = response.context
    assert context["run"].as_of == TODAY
    assert context["run_age"] == 0
    tiers = {row["tier"]: row for row in context["tiers"]}
    assert tiers["A"]["count"] + tiers["B"]["count"] + tiers["C"]["count"] == 5
    assert sum(row["revenue"] for row in context["tiers"]) == Decimal("1850.00")
    # The outsider's customer is nowhere on the manager's page.
    html = response.content.decode()
    assert "OUT" not in [row.customer.code for row, _reasons in context["fake_big"]]
    assert ">OUT " not in html
    # The one-off buyer is listed as not a real big customer, with its reason in words.
    fake = {row.customer.code: reasons for row, reasons in context["fake_big"]}
    assert list(fake) == ["ONE"]
    assert fake["ONE"] and all(isinstance(text, str) and text for text in fake["ONE"])
    assert 'data-fake-big="ONE"' in html
    assert context["key_accounts"] == []  # OUT, the only A, is another team's
    # The Pareto data is on the page for the chart, ending at 100 % of customers and profit.
    data = json.loads(html.split('id="pareto-data" type="application/json">')[1].split("<")[0])
    assert data[0] == [0.0, 0.0]
    assert data[-1][0] == pytest.approx(1.0)
    assert data[-1][1] == pytest.approx(1.0)
    assert "vendor/echarts/echarts.min.js" in html


def test_pareto_points_and_the_customer_that_reaches_80_percent(manager, book, frozen):
    contribution_recompute(as_of=TODAY)
    from accounts.selectors import customer_list_visible_to

    curve = pareto_points(run_current(), customer_list_visible_to(manager))
    # Profits in scope: ONE 900, BIG1 600, BIG2 200, MID 100, SMALL 50 → total 1850.
    assert curve["customers"] == 5
    shares = [round(y, 6) for _x, y in curve["points"]]
    assert shares == [0.0, 0.486486, 0.810811, 0.918919, 0.972973, 1.0]
    assert curve["reach_80"] == 2  # 1500 / 1850 = 81 % after the second customer


def test_filters_by_region_and_team(client, manager, admin_user, book, frozen, teams):
    contribution_recompute(as_of=TODAY)
    client.force_login(manager)
    south = client.get(URL, {"region": "华南"}).context
    assert sum(row["count"] for row in south["tiers"]) == 1
    client.force_login(admin_user)
    east, _south_team = teams
    everything = client.get(URL).context
    assert sum(row["count"] for row in everything["tiers"]) == 6
    # The key accounts: OUT alone brings 73 % of the profit; ONE would be next but buys in
    # one month only, so the rules keep it out.
    assert [row.customer.code for row in everything["key_accounts"]] == ["OUT"]
    east_only = client.get(URL, {"team": east.pk}).context
    assert sum(row["count"] for row in east_only["tiers"]) == 5


def test_movements_since_the_previous_run(client, manager, book, frozen):
    contribution_recompute(as_of=TODAY - datetime.timedelta(days=1))
    sell(book["SMALL"], "5000.00", days_back=0, months=(1, 40))  # SMALL jumps to the top
    contribution_recompute(as_of=TODAY)
    client.force_login(manager)
    movements = client.get(URL).context["movements"]
    moved = {row.customer.code: (row.previous_tier, row.tier) for row in movements["rows"]}
    assert moved["SMALL"][1] == "A" and moved["SMALL"][0] != "A"
    assert movements["up"] >= 1
    assert movements["down"] == sum(1 for prev, now in moved.values() if now > prev)


def test_gaps_warnings_and_overdue_follow_ups(client, manager, rep, book, frozen):
    contribution_recompute(as_of=TODAY)
    strategic = book["BIG1"]
    strategic.relationship_level = "strategic"
    strategic.save()
    ContactFactory(buying_unit__customer=strategic, role="buyer", attitude="neutral")
    # MID had revenue the year before and almost none now: declining.
    for days in (400, 500):
        SalesLineFactory(
            customer=book["MID"],
            revenue=Decimal("5000.00"),
            cost=Decimal("1.00"),
            order_date=TODAY - datetime.timedelta(days=days),
        )
    account_health_refresh(as_of=TODAY)
    FollowUp.objects.create(customer=book["BIG2"], owner=rep, due_date=TODAY)
    for days in (3, 10):
        FollowUp.objects.create(
            customer=book["BIG1"], owner=rep, due_date=TODAY - datetime.timedelta(days=days)
        )
    client.force_login(manager)
    context = client.get(URL).context
    gaps = {row.customer.code: row.coverage.gaps for row in context["gaps"]}
    assert set(gaps["BIG1"]) >= {"single_threaded", "no_decision_maker", "no_supporter"}
    assert "MID" in [row.customer.code for row in context["warnings"]]
    assert context["overdue"] == [
        {
            "owner__username": "rep",
            "owner__first_name": "",
            "owner__last_name": "",
            "count": 2,
            "oldest": TODAY - datetime.timedelta(days=10),
            "owner_name": "rep",
        }
    ]


def test_without_a_run_the_dashboard_says_so(client, manager, teams):
    client.force_login(manager)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["run"] is None


def test_query_count_does_not_grow_with_the_data(
    client, manager, rep, book, frozen, django_assert_num_queries
):
    # Every list has rows from the start (a strategic account without contacts is a gap), so
    # the count compares like with like as the data grows.
    book["BIG1"].relationship_level = "strategic"
    book["BIG1"].save()
    contribution_recompute(as_of=TODAY)
    account_health_refresh(as_of=TODAY)
    client.force_login(manager)
    client.get(URL)
    cache.clear()  # measure the uncached path: the Pareto curve is cached per run
    with django_assert_num_queries(20) as captured:
        client.get(URL)
    for i in range(20):
        customer = CustomerFactory(code=f"N{i:02d}", owner=rep, relationship_level="strategic")
        sell(customer, "10.00", months=(400, 10))
        FollowUp.objects.create(customer=customer, owner=rep, due_date=TODAY.replace(day=1))
    contribution_recompute(as_of=TODAY)
    account_health_refresh(as_of=TODAY)
    cache.clear()
    with django_assert_num_queries(len(captured)):
        client.get(URL)
    # The curve of this run and the filter choices are cached now.
    with django_assert_num_queries(len(captured) - 4):
        client.get(URL)


def test_the_rep_home_links_the_visit_form(client, rep, teams):
    client.force_login(rep)
    html = client.get(reverse("home")).content.decode()
    assert reverse("relationships:visit-create") in html
