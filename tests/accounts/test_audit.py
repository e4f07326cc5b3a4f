"""The change history: who changed what, when, old and new values — from the screens, the
admin, reassignments, overrides and imports; shown on the account page, scoped."""

import datetime

import pytest
from django.urls import reverse

from accounts.importing.service import import_data
from accounts.models import AuditEvent
from relationships.services import rep_reassign
from tiers.services.overrides import tier_override_create, tier_override_revoke

pytestmark = pytest.mark.django_db


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_a_contact_created_and_changed_on_the_screens(client, rep, rep_customer, rep_contact):
    client.force_login(rep)
    url = reverse("relationships:contact-edit", args=[rep_contact.pk])
    data = {
        "buying_unit": rep_contact.buying_unit_id,
        "name": rep_contact.name,
        "title": "采购总监",
        "role": "decision_maker",
        "influence": "high",
        "attitude": "supporter",
        "phone": rep_contact.phone,
        "email": rep_contact.email,
        "birthday": "1980-05-17",
        "is_active": "on",
        "expected_version": rep_contact.version,
    }
    assert client.post(url, data).status_code == 302
    (event,) = events(entity="contact")
    assert event.actor == rep
    assert event.customer == rep_customer
    assert event.action == "update"
    assert event.changes["title"] == ["采购经理", "采购总监"]
    assert event.changes["role"] == ["buyer", "decision_maker"]
    assert "name" not in event.changes  # only what changed
    # Saving again (from the new version) with nothing changed records nothing.
    data["expected_version"] = rep_contact.version + 1
    assert client.post(url, data).status_code == 302
    assert len(events(entity="contact")) == 1
    page = client.get(reverse("customer-detail", args=[rep_customer.pk])).content.decode()
    assert 'data-audit="contact:update"' in page
    assert "采购总监" in page


def test_the_admin_records_ownership_and_account_team(
    client, admin_user, rep, teammate, rep_customer
):
    client.force_login(admin_user)
    url = reverse("admin:accounts_customer_change", args=[rep_customer.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "code": rep_customer.code,
            "name": rep_customer.name,
            "owner": teammate.pk,
            "account_team": [rep.pk],
            "status": "active",
            "relationship_level": "strategic",
            "buying_units-TOTAL_FORMS": "0",
            "buying_units-INITIAL_FORMS": "0",
        }
    )
    data = {k: v for k, v in data.items() if k not in ("parent", "referred_by", "credit_limit")}
    data.pop("payment_terms_days", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    (event,) = events(entity="customer")
    assert event.customer == rep_customer and event.actor == admin_user
    assert event.changes["owner"] == [str(rep), str(teammate)]
    assert event.changes["account_team"] == [[], ["rep"]]
    assert event.changes["relationship_level"] == ["ordinary", "strategic"]


def test_a_reassignment_records_each_owner_change(
    manager, rep, teammate, rep_customer, teammate_customer
):
    rep_reassign(by=manager, from_user=rep, to_user=teammate)
    (event,) = events(action="reassign")
    assert event.customer == rep_customer
    assert event.actor == manager
    assert event.changes == {"owner": [str(rep), str(teammate)]}


def test_overrides_are_recorded(manager, rep_customer):
    override = tier_override_create(
        user=manager,
        customer=rep_customer,
        tier="A",
        reason="战略合作",
        expires_on=datetime.date(2099, 1, 1),
    )
    tier_override_revoke(user=manager, override=override)
    created, revoked = events(entity="tier_override")
    assert (created.action, created.changes["tier"]) == ("create", [None, "A"])
    assert created.summary == "战略合作"
    assert (revoked.action, revoked.changes["tier"]) == ("revoke", ["A", None])


def test_an_import_is_one_event_with_its_counts(tmp_path, finance, rep):
    path = tmp_path / "customers.csv"
    path.write_text("code,name,owner\nA001,甲公司,rep\nA002,乙公司,rep\n", encoding="utf-8")
    report = import_data(kind="customers", path=str(path), user=finance)
    assert report.accepted
    (event,) = events(entity="import")
    assert event.actor == finance
    assert event.changes == {"rows_read": 2, "created": 2, "updated": 0}
    # A dry run and a rejected file write no event.
    import_data(kind="customers", path=str(path), user=finance, dry_run=True)
    bad = tmp_path / "bad.csv"
    bad.write_text("code,nonsense\nA003,x\n", encoding="utf-8")
    assert not import_data(kind="customers", path=str(bad), user=finance).accepted
    assert len(events(entity="import")) == 1


def test_the_history_admin_is_scoped(client, rep, outsider, rep_customer, outsider_customer):
    for customer, user in ((rep_customer, rep), (outsider_customer, outsider)):
        AuditEvent.objects.create(
            actor=user, customer=customer, entity="customer", action="update", summary=customer.code
        )
    AuditEvent.objects.create(actor=None, entity="import", action="import", summary="sales x")
    client.force_login(rep)
    listing = client.get(reverse("admin:accounts_auditevent_changelist"))
    assert listing.status_code == 200
    shown = {event.summary for event in listing.context["cl"].result_list}
    assert shown == {rep_customer.code}


# --- the API and the services it calls write the same trail ------------------------------


def test_a_customer_changed_through_the_api_is_recorded_with_old_and_new(manager, rep_customer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(manager)
    response = client.patch(
        f"/api/customers/{rep_customer.pk}/",
        {"relationship_level": "strategic", "version": rep_customer.version},
        format="json",
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(entity="customer", action="update")
    assert event.actor == manager
    assert event.customer_id == rep_customer.pk
    assert event.changes == {"relationship_level": ["ordinary", "strategic"]}


def test_a_customer_added_by_an_admin_is_recorded(admin_user, rep):
    from accounts.services import customer_create

    customer = customer_create(user=admin_user, code="NEW1", name="新客户", owner=rep)
    event = AuditEvent.objects.get(entity="customer", action="create")
    assert (event.customer_id, event.actor) == (customer.pk, admin_user)
    assert event.changes["owner"] == [None, str(rep)]


def test_a_new_policy_version_is_recorded_with_what_changed(manager):
    from tiers.models import TierPolicy
    from tiers.services.policy import tier_policy_create
    from tiers.services.publication import policy_current

    current = policy_current()
    new = TierPolicy(
        **{
            f.name: getattr(current, f.name)
            for f in TierPolicy._meta.concrete_fields
            if f.name not in ("id", "created_at", "created_by", "note")
        },
        note="stricter squeezer",
    )
    new.squeezer_days_late = 45
    tier_policy_create(user=manager, policy=new)
    event = AuditEvent.objects.get(entity="tier_policy", entity_id=str(new.pk))
    assert event.actor == manager
    assert event.changes["squeezer_days_late"] == [60, 45]
