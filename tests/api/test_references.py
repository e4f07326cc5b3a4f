"""What a response names: the ids in an answer point only at objects the caller may see.

A group parent or a referrer in another team (set by the ERP import or an admin) is an
object outside the scope too; naming its id tells the reader that it exists.
"""

import pytest

from accounts.models import Customer
from tests.api.operations import OPERATIONS
from tests.api.world import ROLES

pytestmark = pytest.mark.django_db

# Fields that name an object of an account, and the route that serves that object.
REFERENCES = {
    "customer": "customers",
    "parent": "customers",
    "referred_by": "customers",
    "buying_unit": "buying-units",
    "contacts": "contacts",
    "reports_to": "contacts",
    "contact": "contacts",
    "plan": "account-plans",
    "objective": "plan-objectives",
    "source_visit": "visits",
    "completed_visit": "visits",
}
LIST_ROUTES = sorted({op.route for op in OPERATIONS if op.action == "list"})


def _visible(client, route) -> set[int]:
    response = client.get(f"/api/{route}/", {"page_size": 500})
    if response.status_code != 200:
        return set()
    return {row["id"] for row in response.json()["results"]}


def _named(row) -> list[tuple[str, int]]:
    named = []
    for field, value in row.items():
        if field in REFERENCES and value is not None:
            named += [(field, pk) for pk in (value if isinstance(value, list) else [value])]
    for nested in ("objectives", "actions"):
        for child in row.get(nested, []):
            named += _named(child)
    return named


def test_no_response_names_an_object_outside_the_scope(world):
    """A group parent or referrer in another team (set by the ERP import or an admin) is not
    shown to the people who cannot see it, as on the screens (accounts.selectors.
    customer_group_tree: "showing the others would leak their existence").

    BUG (reported): the customer's `parent` and `referred_by` carry the other team's
    customer id to the rep, the teammate and the manager."""
    hidden = world.accounts["outsider"].customer
    Customer.objects.filter(pk=world.mine.customer.pk).update(parent=hidden, referred_by=hidden)
    wrong, checked = [], 0
    for role in ROLES:
        client = world.client(role)
        visible = {route: _visible(client, route) for route in LIST_ROUTES}
        for route in LIST_ROUTES:
            response = client.get(f"/api/{route}/", {"page_size": 500})
            if response.status_code != 200:
                continue
            for row in response.json()["results"]:
                for field, pk in _named(row):
                    checked += 1
                    if pk not in visible[REFERENCES[field]]:
                        wrong.append(f"{role}: {route} {row['id']} names {field} {pk}")
    assert checked > 150, "the references checked shrank"
    assert wrong == [], "\n".join(wrong)


def test_a_manager_can_save_back_what_they_read(world):
    """GET then PUT of the same representation (with a change) succeeds.

    BUG (reported): 400 on `parent` and `referred_by` when they name a customer outside the
    manager's scope: the response shows ids that the write side refuses."""
    hidden = world.accounts["outsider"].customer
    Customer.objects.filter(pk=world.mine.customer.pk).update(parent=hidden, referred_by=hidden)
    client = world.client("manager")
    url = f"/api/customers/{world.mine.customer.pk}/"
    read = client.get(url).json()
    writable = {k: v for k, v in read.items() if k not in {"id", "tier", "owner_username"}}
    response = client.put(url, {**writable, "name": "经理改名"}, format="json")
    assert response.status_code == 200, response.content
    stored = Customer.objects.get(pk=world.mine.customer.pk)
    assert (stored.name, stored.parent_id) == ("经理改名", hidden.pk)
