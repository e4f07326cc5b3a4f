"""Personas shared by every test.

East team (managed by `manager`): `rep` and `teammate`. South team (managed by
`other_manager`): `outsider`. `finance` sees every account's figures; `admin` is a superuser.
Each rep owns one account; the `*_customer` fixtures are those accounts.
"""

import pytest

from kam.roles import GROUP_FINANCE, GROUP_KAM_MANAGER, GROUP_SALES_REP
from tests.factories import (
    BuyingUnitFactory,
    ContactFactory,
    CustomerFactory,
    SalesTeamFactory,
    UserFactory,
)


@pytest.fixture
def rep(db):
    return UserFactory(username="rep", groups=[GROUP_SALES_REP])


@pytest.fixture
def teammate(db):
    return UserFactory(username="teammate", groups=[GROUP_SALES_REP])


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider", groups=[GROUP_SALES_REP])


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", groups=[GROUP_KAM_MANAGER])


@pytest.fixture
def other_manager(db):
    return UserFactory(username="other_manager", groups=[GROUP_KAM_MANAGER])


@pytest.fixture
def finance(db):
    return UserFactory(username="finance", groups=[GROUP_FINANCE])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True)


@pytest.fixture
def teams(rep, teammate, outsider, manager, other_manager):
    east = SalesTeamFactory(name="East", manager=manager, members=[rep, teammate])
    south = SalesTeamFactory(name="South", manager=other_manager, members=[outsider])
    return east, south


@pytest.fixture
def rep_customer(rep, teams):
    return CustomerFactory(code="R001", name="Rep Owned Co", owner=rep)


@pytest.fixture
def teammate_customer(teammate, teams):
    return CustomerFactory(code="M001", name="Teammate Owned Co", owner=teammate)


@pytest.fixture
def outsider_customer(outsider, teams):
    return CustomerFactory(code="X001", name="Outsider Owned Co", owner=outsider, region="西北")


@pytest.fixture
def outsider_contact(outsider_customer):
    unit = BuyingUnitFactory(customer=outsider_customer, name="技术部")
    return ContactFactory(buying_unit=unit, name="外部联系人")


@pytest.fixture
def rep_contact(rep_customer):
    unit = BuyingUnitFactory(customer=rep_customer, name="采购部")
    return ContactFactory(
        buying_unit=unit, name="王采购", phone="13912345678", email="wang@example.cn"
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness protects real passwords; test personas need none of it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache():
    # The cache (in-process) outlives a test's rolled-back rows; ids may be reused after it.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
