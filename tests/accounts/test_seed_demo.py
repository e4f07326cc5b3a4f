"""seed_demo: a believable demo company, planted fake big customers, and idempotent."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management import CommandError, call_command
from django.db.models import Count, Q, Sum

from accounts.models import BuyingUnit, Contact, Customer, Receivable, SalesLine, SalesTeam
from kam.roles import primary_role
from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit

pytestmark = pytest.mark.django_db

PLANTED = ["C9001", "C9002", "C9003", "C9004", "C9005"]


def snapshot() -> str:
    """Every row of the seeded models, serialized: equal snapshots mean nothing changed."""
    rows = []
    models = (SalesTeam, Customer, BuyingUnit, Contact, SalesLine, Receivable)
    models += (Visit, FollowUp, AccountPlan, PlanObjective, PlanAction)
    for model in models:
        rows.append(serializers.serialize("json", model.objects.order_by("pk")))
    users = get_user_model().objects.order_by("pk")
    rows.append(serializers.serialize("json", users, fields=["username", "groups", "is_staff"]))
    return "".join(rows)


def test_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not Customer.objects.exists()


def test_builds_the_demo_company_and_running_twice_changes_nothing(settings):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", verbosity=0)
    first = snapshot()

    users = {u.username: u for u in get_user_model().objects.all()}
    roles = {name: primary_role(users[name]) for name in ("rep1", "rep2", "manager", "finance")}
    assert roles == {"rep1": "rep", "rep2": "rep", "manager": "manager", "finance": "finance"}
    assert users["admin"].is_superuser
    assert users["rep1"].check_password("kam-demo")
    assert SalesTeam.objects.count() == 2

    assert 280 <= Customer.objects.count() <= 320
    assert 15_000 <= SalesLine.objects.count() <= 25_000
    assert Receivable.objects.exists()
    assert Customer.objects.filter(parent__isnull=False).count() >= 10
    assert Customer.objects.filter(children__children__isnull=False).exists()  # 3 levels deep
    roles_held = set(Contact.objects.values_list("role", flat=True))
    assert {"decision_maker", "influencer", "buyer"} <= roles_held
    assert set(Contact.objects.values_list("attitude", flat=True)) >= {"supporter", "opponent"}
    # The relationship work: a year of visits with the people met, next steps, plans.
    assert Visit.objects.count() > 1000
    assert Visit.contacts.through.objects.count() > 1000
    assert FollowUp.objects.filter(owner=users["rep1"], status="open").exists()
    assert AccountPlan.objects.filter(customer__relationship_level="strategic").count() >= 10
    assert PlanAction.objects.exists()
    assert set(Customer.objects.filter(code__in=PLANTED).values_list("code", flat=True)) == set(
        PLANTED
    )

    # Pareto-shaped: the top fifth of customers by gross profit bring most of it.
    today = datetime.date.today()
    profits = sorted(
        (
            row["gp"]
            for row in SalesLine.objects.filter(order_date__gt=today - datetime.timedelta(365))
            .values("customer")
            .annotate(gp=Sum("revenue") - Sum("cost"))
            if row["gp"] > 0
        ),
        reverse=True,
    )
    top = profits[: len(profits) // 5]
    assert sum(top) / sum(profits) > 0.7

    # The one-off buyer bought in a single calendar month.
    months = (
        SalesLine.objects.filter(customer__code="C9001", revenue__gt=0)
        .dates("order_date", "month")
        .count()
    )
    assert months == 1
    # The returns squeezer really returns a lot.
    returns = SalesLine.objects.filter(customer__code="C9004").aggregate(
        sold=Sum("revenue", filter=Q(revenue__gt=0)),
        returned=Sum("revenue", filter=Q(revenue__lt=0)),
    )
    assert -returns["returned"] / returns["sold"] >= 0.10
    # Some accounts are thin on purpose, so coverage gaps exist.
    single = Customer.objects.annotate(n=Count("buying_units__contacts")).filter(n=1)
    assert single.exists()

    call_command("seed_demo", verbosity=0)
    assert snapshot() == first


def test_if_empty_leaves_an_existing_book_alone(settings):
    settings.DEBUG = True
    Customer.objects.create(code="MINE", name="My own data")
    call_command("seed_demo", "--if-empty", verbosity=0)
    assert list(Customer.objects.values_list("code", flat=True)) == ["MINE"]
