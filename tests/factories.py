"""factory_boy factories for the customer master. Defaults are valid and boring."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import BuyingUnit, Contact, Customer, Receivable, SalesLine, SalesTeam

PASSWORD = "test-pass-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*[Group.objects.get(name=name) for name in extracted])
        if create:
            self.save()


class SalesTeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesTeam
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")
    manager = factory.SubFactory(UserFactory)

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.add(*extracted)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"T{n:05d}")
    name = factory.Sequence(lambda n: f"测试客户{n}有限公司")
    industry = "机械制造"
    region = "华东"

    @factory.post_generation
    def account_team(self, create, extracted, **kwargs):
        if create and extracted:
            self.account_team.add(*extracted)


class BuyingUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BuyingUnit

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"采购部{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    buying_unit = factory.SubFactory(BuyingUnitFactory)
    name = factory.Sequence(lambda n: f"联系人{n}")
    title = "采购经理"
    role = Contact.Role.BUYER
    phone = factory.Sequence(lambda n: f"1380000{n:04d}")
    email = factory.Sequence(lambda n: f"contact{n}@example.cn")
    birthday = datetime.date(1980, 5, 17)


class SalesLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesLine

    customer = factory.SubFactory(CustomerFactory)
    order_ref = factory.Sequence(lambda n: f"SO-T{n:06d}")
    order_date = datetime.date(2026, 6, 1)
    revenue = Decimal("1000.00")
    cost = Decimal("700.00")


class ReceivableFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Receivable

    customer = factory.SubFactory(CustomerFactory)
    invoice_ref = factory.Sequence(lambda n: f"INV-T{n:06d}")
    invoice_date = datetime.date(2026, 6, 1)
    due_date = datetime.date(2026, 7, 1)
    amount = Decimal("1000.00")
