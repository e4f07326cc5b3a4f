"""Concurrent edits are never silently lost in the API (SPEC §6).

Two clients read the same row at version N. The first save naming N wins (200, ETag "N+1");
the second naming N in the body gets 409 with the row as it is now in `current`, and the
row keeps the first client's values; naming N in If-Match gets 412 (with `current` too);
naming no version gets 428. A change by the ERP import counts as a save in between.
"""

import csv

import pytest

from accounts.importing.service import import_data
from accounts.models import AuditEvent, Contact, Customer
from tests.api.world import snapshot

pytestmark = pytest.mark.django_db


def _read(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response


def _race(first, second, url, *, field, mine, theirs, stored):
    """Both read, `first` saves, `second` saves from the same version in three ways."""
    read_1, read_2 = _read(first, url), _read(second, url)
    assert read_1["ETag"] == read_2["ETag"] == '"1"'
    assert read_1.json()["version"] == read_2.json()["version"] == 1

    won = first.patch(url, {field: mine, "version": 1}, format="json")
    assert won.status_code == 200, won.content
    assert won["ETag"] == '"2"'
    assert won.json()["version"] == 2
    assert won.json()[field] == mine
    assert stored() == (mine, 2)
    before = snapshot()

    lost = second.patch(url, {field: theirs, "version": 1}, format="json")
    assert lost.status_code == 409, lost.content
    assert lost.json()["code"] == "edit_conflict"
    assert lost.json()["current"][field] == mine
    assert lost.json()["current"]["version"] == 2
    assert lost["ETag"] == '"2"'

    stale = second.patch(url, {field: theirs}, format="json", HTTP_IF_MATCH=read_2["ETag"])
    assert stale.status_code == 412, stale.content
    assert stale.json()["current"][field] == mine

    # If-Match wins over the body: a stale header is refused even with the right version.
    stale = second.patch(
        url, {field: theirs, "version": 2}, format="json", HTTP_IF_MATCH=read_2["ETag"]
    )
    assert stale.status_code == 412

    blind = second.patch(url, {field: theirs}, format="json")
    assert blind.status_code == 428, blind.content

    assert stored() == (mine, 2)
    assert snapshot() == before, "a refused save wrote something (or audited it)"

    # Re-applied on top of the current version, the second client's save goes through.
    again = second.patch(url, {field: theirs}, format="json", HTTP_IF_MATCH=lost["ETag"])
    assert again.status_code == 200
    assert again["ETag"] == '"3"'
    assert stored() == (theirs, 3)


def test_customer_two_managers(world):
    customer = world.mine.customer

    def stored():
        row = Customer.objects.get(pk=customer.pk)
        return row.name, row.version

    _race(
        world.client("manager"),
        world.client("admin"),
        f"/api/customers/{customer.pk}/",
        field="name",
        mine="经理改的名字",
        theirs="管理员改的名字",
        stored=stored,
    )
    assert AuditEvent.objects.filter(entity="customer", entity_id=str(customer.pk)).count() == 2


def test_customer_conflict_shows_the_current_tier(world):
    """`current` is the row as the API shows it, tier included.

    BUG (reported): `current.tier` is null: the conflict carries the row version_claim read,
    without the current-tier annotation the viewset's queryset adds."""
    url = f"/api/customers/{world.mine.customer.pk}/"
    world.client("manager").patch(url, {"region": "华南", "version": 1}, format="json")
    lost = world.client("admin").patch(url, {"region": "华北", "version": 1}, format="json")
    assert lost.status_code == 409
    assert lost.json()["current"]["region"] == "华南"
    assert lost.json()["current"]["tier"] == "A"


def test_contact_rep_and_teammate(world):
    contact = world.mine.contact

    def stored():
        row = Contact.objects.get(pk=contact.pk)
        return row.title, row.version

    _race(
        world.client("rep"),
        world.client("teammate"),
        f"/api/contacts/{contact.pk}/",
        field="title",
        mine="采购总监",
        theirs="采购副总",
        stored=stored,
    )


def test_put_from_a_stale_version_is_refused_too(world):
    customer = world.mine.customer
    url = f"/api/customers/{customer.pk}/"
    body = {"code": customer.code, "name": "第一次", "version": 1}
    assert world.client("manager").put(url, body, format="json").status_code == 200
    lost = world.client("admin").put(url, {**body, "name": "第二次"}, format="json")
    assert lost.status_code == 409
    assert Customer.objects.get(pk=customer.pk).name == "第一次"
    blind = world.client("admin").put(url, {"code": customer.code, "name": "x"}, format="json")
    assert blind.status_code == 428


def test_an_erp_import_in_between_is_a_conflict(world, tmp_path):
    customer = world.mine.customer
    url = f"/api/customers/{customer.pk}/"
    client = world.client("manager")
    read = _read(client, url)
    assert read["ETag"] == '"1"'

    path = tmp_path / "customers.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "name", "region"])
        writer.writerow([customer.code, "ERP 里的新名字", "华东"])
    report = import_data(kind="customers", path=str(path), user=world.users["admin"])
    assert report.accepted, report.problems
    assert report.updated == 1
    assert Customer.objects.get(pk=customer.pk).version == 2

    lost = client.patch(url, {"name": "经理的名字", "version": 1}, format="json")
    assert lost.status_code == 409
    assert lost.json()["current"]["name"] == "ERP 里的新名字"
    stale = client.patch(url, {"name": "经理的名字"}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert stale.status_code == 412
    assert Customer.objects.get(pk=customer.pk).name == "ERP 里的新名字"


def test_an_import_that_changes_nothing_is_no_conflict(world, tmp_path):
    """Re-importing the same values leaves the version alone, so nobody's save is refused."""
    customer = world.mine.customer
    path = tmp_path / "customers.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "name", "region"])
        writer.writerow([customer.code, customer.name, customer.region])
    report = import_data(kind="customers", path=str(path))
    assert report.accepted, report.problems
    assert Customer.objects.get(pk=customer.pk).version == 1
    response = world.client("manager").patch(
        f"/api/customers/{customer.pk}/", {"name": "经理的名字", "version": 1}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"HTTP_IF_MATCH": "not-a-tag"}, {}),
        ({"HTTP_IF_MATCH": '"1.5"'}, {}),
        ({}, {"version": "one"}),
        ({}, {"version": 0}),
        ({}, {"version": None}),
    ],
    ids=["if-match-word", "if-match-decimal", "version-word", "version-zero", "version-null"],
)
def test_a_malformed_version_is_400_and_changes_nothing(world, headers, body):
    before = snapshot()
    response = world.client("manager").patch(
        f"/api/customers/{world.mine.customer.pk}/",
        {"name": "不会保存", **body},
        format="json",
        **headers,
    )
    assert response.status_code == 400, response.content
    assert snapshot() == before
