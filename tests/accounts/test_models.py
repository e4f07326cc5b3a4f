"""Customer hierarchy and exact money."""

import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F, Sum
from django.urls import reverse

from accounts.models import SalesLine
from kam.money import to_cents
from tests.factories import ContactFactory, CustomerFactory, SalesLineFactory

pytestmark = pytest.mark.django_db


class TestHierarchy:
    def test_a_customer_cannot_be_its_own_parent(self):
        group = CustomerFactory()
        group.parent = group
        with pytest.raises(ValidationError) as error:
            group.full_clean()
        assert error.value.error_dict["parent"][0].code == "hierarchy_cycle"

    def test_a_parent_that_closes_a_cycle_is_refused(self):
        top = CustomerFactory()
        middle = CustomerFactory(parent=top)
        bottom = CustomerFactory(parent=middle)
        top.parent = bottom
        with pytest.raises(ValidationError) as error:
            top.full_clean()
        assert error.value.error_dict["parent"][0].code == "hierarchy_cycle"

    def test_a_deep_tree_without_cycle_is_fine(self):
        parent = CustomerFactory()
        for _ in range(5):
            parent = CustomerFactory(parent=parent)
        parent.full_clean()

    def test_admin_refuses_a_cycle_and_changes_nothing(self, client, admin_user):
        top = CustomerFactory(code="TOP")
        child = CustomerFactory(code="CHILD", parent=top)
        client.force_login(admin_user)
        response = client.post(
            reverse("admin:accounts_customer_change", args=[top.pk]),
            {
                "code": "TOP",
                "name": top.name,
                "parent": child.pk,
                "status": "active",
                "relationship_level": "ordinary",
                "buying_units-TOTAL_FORMS": "0",
                "buying_units-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 200
        assert "parent" in response.context["adminform"].form.errors
        top.refresh_from_db()
        assert top.parent_id is None

    def test_group_tree_on_the_page_hides_members_outside_the_scope(
        self, client, rep, outsider, teams
    ):
        group = CustomerFactory(code="G-TOP", name="Group Holding", owner=rep)
        CustomerFactory(code="G-A", name="Group Plant A", owner=rep, parent=group)
        CustomerFactory(code="G-B", name="Group Plant B", owner=outsider, parent=group)
        client.force_login(rep)
        response = client.get(reverse("customer-detail", args=[group.pk]))
        tree = [(depth, c.code) for depth, c in response.context["group_tree"]]
        assert tree == [(0, "G-TOP"), (1, "G-A")]
        assert "Group Plant B" not in response.content.decode()


def test_contact_can_only_report_to_someone_at_the_same_customer():
    boss = ContactFactory()
    elsewhere = ContactFactory()
    elsewhere.reports_to = boss
    with pytest.raises(ValidationError) as error:
        elsewhere.full_clean()
    assert error.value.error_dict["reports_to"][0].code == "other_customer"


class TestMoney:
    def test_sum_of_many_lines_is_exact_to_the_cent(self):
        rng = random.Random(7)
        customer = CustomerFactory()
        amounts = [
            Decimal(rng.choice(["0.01", "0.10", "0.33", "12345.67", "99999999.99", "-0.07"]))
            + Decimal(rng.randrange(0, 10_000)) / 100
            for _ in range(5000)
        ]
        SalesLine.objects.bulk_create(
            SalesLine(
                customer=customer,
                order_ref=f"SO-{i}",
                order_date="2026-01-01",
                revenue=amount,
                cost=amount - Decimal("0.03") * (i % 7),
            )
            for i, amount in enumerate(amounts)
        )
        totals = SalesLine.objects.aggregate(
            total_revenue=Sum("revenue"), total_profit=Sum(F("revenue") - F("cost"))
        )
        lines = list(SalesLine.objects.all())
        assert totals["total_revenue"] == sum(amounts)
        assert isinstance(totals["total_revenue"], Decimal)
        assert totals["total_profit"] == sum(line.revenue - line.cost for line in lines)

    def test_amounts_round_trip_as_two_place_decimals(self):
        line = SalesLineFactory(revenue=Decimal("1234.5"), cost=Decimal("0.01"))
        line.refresh_from_db()
        assert line.revenue == Decimal("1234.50") and str(line.revenue) == "1234.50"
        assert line.cost == Decimal("0.01")

    @pytest.mark.parametrize("value", ["1.005", "abc", "NaN", "Infinity"])
    def test_fractions_of_a_cent_and_non_numbers_are_refused(self, value):
        with pytest.raises(ValidationError):
            to_cents(value)

    def test_filtering_by_amount_uses_the_same_units(self):
        SalesLineFactory(revenue=Decimal("10.00"))
        SalesLineFactory(revenue=Decimal("10.01"))
        assert SalesLine.objects.filter(revenue__gt=Decimal("10.00")).count() == 1
