"""factory_boy factories for visits, follow-ups and account plans, and a helper that gives
customers real tiers through a contribution run. Customers, contacts and users come from
tests.factories."""

import datetime
from decimal import Decimal

import factory

from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit
from tests.factories import CustomerFactory, SalesLineFactory, UserFactory
from tiers.models import CustomerContribution
from tiers.services.recompute import contribution_recompute


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    author = factory.SubFactory(UserFactory)
    visit_date = datetime.date(2026, 6, 1)
    channel = Visit.Channel.ONSITE
    purpose = factory.Sequence(lambda n: f"拜访{n}")

    @factory.post_generation
    def contacts(self, create, extracted, **kwargs):
        if create and extracted:
            self.contacts.add(*extracted)


class FollowUpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowUp

    customer = factory.SubFactory(CustomerFactory)
    owner = factory.SubFactory(UserFactory)
    kind = FollowUp.Kind.MANUAL
    due_date = datetime.date(2026, 6, 15)
    note = factory.Sequence(lambda n: f"跟进{n}")


class AccountPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountPlan

    customer = factory.SubFactory(CustomerFactory)
    year = 2026
    strategy = "扩大份额"


class PlanObjectiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanObjective

    plan = factory.SubFactory(AccountPlanFactory)
    title = factory.Sequence(lambda n: f"目标{n}")


class PlanActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanAction

    plan = factory.SubFactory(AccountPlanFactory)
    title = factory.Sequence(lambda n: f"行动{n}")
    owner = factory.SubFactory(UserFactory)
    due_date = datetime.date(2026, 7, 1)


def publish_tiers(*, as_of: datetime.date, a=(), b=()) -> dict[int, str]:
    """Give the customers in `a` tier A and those in `b` tier B by a real contribution run.

    A customers share 82 % of the company's gross profit and B customers the other 18 %,
    each bought in two calendar months (so the one-off rule does not fire) at the company
    margin (so the low-margin rule does not either). Every other customer has no sales in
    the window and is C. Up to three B customers keep the last of them under 95 %.
    Returns customer id -> tier of the run, which the caller can check."""
    assert a or not b, "without A customers the first B customer would be A"
    assert len(b) <= 3, "a fourth B customer would cross the 95 % cut-off"
    months = (as_of - datetime.timedelta(days=40), as_of - datetime.timedelta(days=5))
    for group, total in ((a, Decimal("82000.00")), (b, Decimal("18000.00"))):
        for customer in group:
            profit = (total / len(group) / len(months)).quantize(Decimal("0.01"))
            for day in months:
                SalesLineFactory(customer=customer, order_date=day, revenue=2 * profit, cost=profit)
    contribution_recompute(as_of=as_of)
    return dict(
        CustomerContribution.objects.filter(run__is_current=True).values_list("customer_id", "tier")
    )
