"""Logging a visit is the request reps make most (bench/load_visits.py): its statements are
pinned, and the answer lists the contacts that were stored, without reading them back."""

import pytest
from rest_framework.test import APIClient

from relationships.models import FollowUp, Visit
from tests.api.world import day
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

# Token, roles, customer (scoped), contacts and scope in one, the last touch, the visit, its
# contacts, the cadence follow-ups met; here a SAVEPOINT pair around the service's
# transaction (the test's own transaction is outside it; in production it is BEGIN/COMMIT).
VISIT_QUERIES = 10


def _token_client(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(user=user).key)
    return client


def test_logging_a_visit_takes_a_fixed_number_of_statements(world, django_assert_num_queries):
    rep, mine = world.users["rep"], world.mine
    first = ContactFactory(buying_unit=mine.unit, name="A 采购")
    second = ContactFactory(buying_unit=mine.unit, name="B 技术")
    Visit.objects.filter(customer=mine.customer).delete()  # so this visit meets the cadence
    cadence = FollowUp.objects.create(
        customer=mine.customer, owner=rep, kind=FollowUp.Kind.CADENCE, due_date=day(3)
    )
    body = {"customer": mine.customer.pk, "visit_date": day(-1), "channel": "phone",
            "purpose": "回访", "contacts": [second.pk, first.pk]}  # fmt: skip
    client = _token_client(rep)
    with django_assert_num_queries(VISIT_QUERIES):
        response = client.post("/api/visits/", body, format="json")
    assert response.status_code == 201, response.content
    visit = Visit.objects.get(pk=response.json()["id"])
    assert sorted(visit.contacts.values_list("pk", flat=True)) == sorted([first.pk, second.pk])
    # Listed as a read lists them (the contacts' order: unit, then name), not as sent.
    read_back = client.get(f"/api/visits/{visit.pk}/").json()
    assert response.json()["contacts"] == read_back["contacts"] == [first.pk, second.pk]
    assert response.json() == read_back
    cadence.refresh_from_db()
    assert (cadence.status, cadence.completed_visit) == (FollowUp.Status.DONE, visit)


def test_a_visit_without_contacts_still_checks_the_scope(world):
    """No contact named: the service asks the scope on its own (and the serializer's scoped
    customer field refuses another team's account before that)."""
    client = _token_client(world.users["rep"])
    mine = {"customer": world.mine.customer.pk, "visit_date": day(-1), "channel": "phone",
            "purpose": "回访"}  # fmt: skip
    assert client.post("/api/visits/", mine, format="json").status_code == 201
    outsider = world.accounts["outsider"]
    before = Visit.objects.count()
    refused = client.post("/api/visits/", {**mine, "customer": outsider.customer.pk}, format="json")
    assert refused.status_code == 400 and "customer" in refused.json()
    assert Visit.objects.count() == before
