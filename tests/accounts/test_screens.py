"""Sign-in, the home page per role, the customer list, the language switch, query counts."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, ContactFactory, CustomerFactory, SalesLineFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in ("/", reverse("customer-list"), "/customers/1/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "persona, role",
    [("rep", "rep"), ("manager", "manager"), ("finance", "finance"), ("admin_user", "admin")],
)
def test_each_role_signs_in_and_lands_on_its_home(client, persona, role, request, teams):
    user = request.getfixturevalue(persona)
    response = client.post(
        "/login/", {"username": user.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert response.context["role"] == role
    assert f'<body data-role="{role}">' in response.content.decode()


def test_wrong_password_is_refused(client, rep):
    response = client.post("/login/", {"username": "rep", "password": "nope"})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_sign_out(client, rep):
    client.force_login(rep)
    client.post(reverse("logout"))
    assert client.get("/").status_code == 302


def test_rep_home_lists_their_accounts_with_window_revenue(client, rep, rep_customer):
    import datetime

    from django.utils import timezone

    today = timezone.localdate()
    SalesLineFactory(customer=rep_customer, order_date=today, revenue="1234567.89", cost="1")
    SalesLineFactory(
        customer=rep_customer, order_date=today - datetime.timedelta(days=400), revenue="5"
    )
    client.force_login(rep)
    response = client.get("/")
    (account,) = response.context["my_accounts"]
    assert account.window_revenue == Decimal("1234567.89")


def test_finance_home_totals_by_region(client, finance, rep_customer, outsider_customer):
    from django.utils import timezone

    today = timezone.localdate()
    SalesLineFactory(customer=rep_customer, order_date=today, revenue="100.10", cost="50.05")
    SalesLineFactory(customer=outsider_customer, order_date=today, revenue="10.00", cost="1")
    client.force_login(finance)
    totals = {
        row["customer__region"]: (str(row["total_revenue"]), str(row["total_profit"]))
        for row in client.get("/").context["region_totals"]
    }
    assert totals == {"华东": ("100.10", "50.05"), "西北": ("10.00", "9.00")}


class TestCustomerList:
    def test_search_by_code_or_name(self, client, rep, teams):
        CustomerFactory(code="A100", name="苏州恒达", owner=rep)
        CustomerFactory(code="B200", name="上海远大", owner=rep)
        client.force_login(rep)
        url = reverse("customer-list")
        assert [c.code for c in client.get(url, {"q": "恒达"}).context["page"]] == ["A100"]
        assert [c.code for c in client.get(url, {"q": "b2"}).context["page"]] == ["B200"]

    def test_filters_by_region_industry_and_owner(self, client, manager, rep, teammate, teams):
        CustomerFactory(code="A1", owner=rep, region="华南", industry="电子")
        CustomerFactory(code="A2", owner=rep, region="华东", industry="电子")
        CustomerFactory(code="A3", owner=teammate, region="华南", industry="化工")
        client.force_login(manager)
        url = reverse("customer-list")

        def codes(**params):
            return [c.code for c in client.get(url, params).context["page"]]

        assert codes(region="华南") == ["A1", "A3"]
        assert codes(region="华南", industry="电子") == ["A1"]
        assert codes(owner=teammate.pk) == ["A3"]

    def test_paginated_by_fifty(self, client, rep, teams):
        for i in range(120):
            CustomerFactory(code=f"P{i:03d}", owner=rep)
        client.force_login(rep)
        url = reverse("customer-list")
        page3 = client.get(url, {"page": 3}).context["page"]
        assert [c.code for c in page3][:1] == ["P100"] and len(page3) == 20

    def test_query_count_does_not_grow_with_the_data(
        self, client, rep, teams, django_assert_num_queries
    ):
        client.force_login(rep)
        url = reverse("customer-list")
        for i in range(3):
            CustomerFactory(code=f"Q{i}", owner=rep)
        client.get(url)  # warm the session and content-type caches
        with django_assert_num_queries(9):
            client.get(url)
        for i in range(3, 60):
            CustomerFactory(code=f"Q{i}", owner=rep, region=f"R{i}")
        with django_assert_num_queries(9):
            client.get(url)


def test_customer_page_query_count_is_pinned(client, rep, rep_customer, django_assert_num_queries):
    """The account page (relationships/views.py) shows master data, tiers, health, visits,
    follow-ups and the plan: a fixed number of queries however much of each there is."""
    from relationships.models import FollowUp, Visit

    def add_rows():
        contacts = [ContactFactory(buying_unit__customer=rep_customer) for _ in range(5)]
        contacts[1].reports_to = contacts[0]
        contacts[1].save()
        for day in range(3):
            visit = Visit.objects.create(
                customer=rep_customer,
                author=rep,
                visit_date=datetime.date(2026, 3, 1 + day),
                purpose="review",
            )
            visit.contacts.set(contacts[:2])
            FollowUp.objects.create(
                customer=rep_customer, owner=rep, due_date=datetime.date(2026, 4, 1 + day)
            )

    client.force_login(rep)
    url = reverse("customer-detail", args=[rep_customer.pk])
    add_rows()
    client.get(url)
    with django_assert_num_queries(19):
        response = client.get(url)
    assert response.status_code == 200
    add_rows()
    with django_assert_num_queries(19):
        assert client.get(url).status_code == 200


class TestLanguage:
    def test_chinese_is_the_default(self, client, rep):
        client.force_login(rep)
        page = client.get(reverse("customer-list")).content.decode()
        assert "客户" in page and "Customers</h1>" not in page

    def test_the_switch_changes_the_language_and_is_remembered(self, client, rep):
        client.force_login(rep)
        response = client.post(
            reverse("set_language"), {"language": "en", "next": "/customers/"}, follow=True
        )
        assert "<h1>Customers</h1>" in response.content.decode()
        again = client.get(reverse("customer-list")).content.decode()
        assert "<h1>Customers</h1>" in again
        assert '<html lang="en">' in again

    def test_the_switch_works_before_signing_in(self, client):
        response = client.post(
            reverse("set_language"), {"language": "en", "next": "/login/"}, follow=True
        )
        assert "Sign in to KAM" in response.content.decode()
