"""Fixtures of the API tests: frozen time, and the world of tests/api/world.py.

`world` is built for each test. `shared_world` is built once per module for the tests that
send hundreds of requests at it (the matrix, the probes): it lives in a transaction that is
rolled back at the module's end, and each test runs in a savepoint inside it (pytest-django's
usual per-test transaction), so no test sees another's writes. Tests using it must not change
its Python objects (read them, or fetch fresh rows from the database), and a module uses
one of the two fixtures, not both (both create the same personas and teams).
"""

import pytest
import time_machine
from django.db import transaction

from kam.roles import GROUP_FINANCE, GROUP_KAM_MANAGER, GROUP_SALES_REP
from tests.api.world import NOW, build_world
from tests.factories import SalesTeamFactory, UserFactory


@pytest.fixture(autouse=True)
def frozen():
    """Shanghai, 10 June 2026, 09:00: `timezone.localdate()` is TODAY everywhere."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(request, rep, teammate, outsider, manager, other_manager, finance, admin_user, teams):
    assert not getattr(request.module, "_uses_shared_world", False), (
        "this module uses shared_world: use it here too, or move the test to another module"
    )
    return build_world(
        rep=rep, teammate=teammate, outsider=outsider, manager=manager,
        other_manager=other_manager, finance=finance, admin_user=admin_user,
    )  # fmt: skip


def _personas() -> dict:
    """The personas of tests/conftest.py, built the same way (for a module-scoped world)."""
    people = {
        "rep": UserFactory(username="rep", groups=[GROUP_SALES_REP]),
        "teammate": UserFactory(username="teammate", groups=[GROUP_SALES_REP]),
        "outsider": UserFactory(username="outsider", groups=[GROUP_SALES_REP]),
        "manager": UserFactory(username="manager", groups=[GROUP_KAM_MANAGER]),
        "other_manager": UserFactory(username="other_manager", groups=[GROUP_KAM_MANAGER]),
        "finance": UserFactory(username="finance", groups=[GROUP_FINANCE]),
        "admin_user": UserFactory(username="admin", is_superuser=True),
    }
    SalesTeamFactory(
        name="East", manager=people["manager"], members=[people["rep"], people["teammate"]]
    )
    SalesTeamFactory(name="South", manager=people["other_manager"], members=[people["outsider"]])
    return people


@pytest.fixture(scope="module")
def shared_world(request, django_db_setup, django_db_blocker):
    request.module._uses_shared_world = True
    with (
        django_db_blocker.unblock(),
        time_machine.travel(NOW, tick=False),
        transaction.atomic(),
    ):
        world = build_world(**_personas())
        yield world
        transaction.set_rollback(True)
