"""Concurrent edits on the screens (SPEC §6): two people open the same contact or customer; the
second save is refused with the current values, and nothing is silently overwritten."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Contact, Customer
from kam.roles import GROUP_KAM_MANAGER

pytestmark = pytest.mark.django_db


def _contact_form(contact, **changes):
    data = {
        "buying_unit": contact.buying_unit_id,
        "name": contact.name,
        "title": contact.title,
        "role": contact.role,
        "influence": contact.influence,
        "attitude": contact.attitude,
        "reports_to": "",
        "phone": contact.phone,
        "email": contact.email,
        "birthday": "",
        "personal_notes": contact.personal_notes,
        "is_active": "on",
        "expected_version": contact.version,
    }
    data.update(changes)
    return data


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


class TestContactScreen:
    def test_the_form_carries_the_version_it_was_opened_at(self, rep, rep_contact):
        page = _signed_in(rep).get(reverse("relationships:contact-edit", args=[rep_contact.pk]))
        assert page.status_code == 200
        assert 'name="expected_version" value="1"' in page.content.decode()

    def test_the_second_of_two_saves_is_refused_with_the_current_values(
        self, rep, teammate, rep_customer, rep_contact
    ):
        rep_customer.account_team.add(teammate)
        url = reverse("relationships:contact-edit", args=[rep_contact.pk])
        opened = Contact.objects.get(pk=rep_contact.pk)  # both open version 1

        first = _signed_in(rep).post(url, _contact_form(opened, title="采购总监"))
        assert first.status_code == 302
        second = _signed_in(teammate).post(url, _contact_form(opened, title="采购经理"))

        assert second.status_code == 409
        text = second.content.decode()
        assert "已有其他人保存了这条记录" in text  # the interface speaks zh-hans by default
        assert "采购总监" in text and "采购经理" in text  # theirs and yours, side by side
        # The form now carries the current version: saving again is a knowing overwrite.
        assert 'name="expected_version" value="2"' in text
        stored = Contact.objects.get(pk=rep_contact.pk)
        assert (stored.title, stored.version) == ("采购总监", 2)

    def test_saving_again_after_seeing_the_conflict_keeps_the_second_persons_values(
        self, rep, rep_contact
    ):
        url = reverse("relationships:contact-edit", args=[rep_contact.pk])
        opened = Contact.objects.get(pk=rep_contact.pk)
        client = _signed_in(rep)
        client.post(url, _contact_form(opened, title="A"))
        assert client.post(url, _contact_form(opened, title="B")).status_code == 409
        again = client.post(url, _contact_form(opened, title="B", expected_version=2))
        assert again.status_code == 302
        assert Contact.objects.get(pk=rep_contact.pk).title == "B"

    def test_an_import_in_between_is_a_conflict_too(self, rep, rep_contact):
        url = reverse("relationships:contact-edit", args=[rep_contact.pk])
        opened = Contact.objects.get(pk=rep_contact.pk)
        # What the ERP import does to a changed row (accounts.importing counts the version).
        Contact.objects.filter(pk=rep_contact.pk).update(title="ERP", version=2)
        response = _signed_in(rep).post(url, _contact_form(opened, title="mine"))
        assert response.status_code == 409
        assert Contact.objects.get(pk=rep_contact.pk).title == "ERP"


class TestCustomerAdmin:
    def _form(self, customer, **changes):
        data = {
            "code": customer.code,
            "name": customer.name,
            "industry": customer.industry,
            "region": customer.region,
            "parent": "",
            "owner": customer.owner_id,
            "account_team": [u.pk for u in customer.account_team.all()],
            "status": customer.status,
            "relationship_level": customer.relationship_level,
            "credit_limit": "0.00",
            "payment_terms_days": customer.payment_terms_days or "",
            "referred_by": "",
            "expected_version": customer.version,
            # the buying-unit inline's management form
            "buying_units-TOTAL_FORMS": "0",
            "buying_units-INITIAL_FORMS": "0",
            "buying_units-MIN_NUM_FORMS": "0",
            "buying_units-MAX_NUM_FORMS": "1000",
        }
        data.update(changes)
        return data

    def test_two_managers_editing_one_customer(self, manager, admin_user, rep_customer):
        manager.groups.add(*manager.groups.filter(name=GROUP_KAM_MANAGER))
        url = reverse("admin:accounts_customer_change", args=[rep_customer.pk])
        opened = Customer.objects.get(pk=rep_customer.pk)

        first = _signed_in(admin_user).post(url, self._form(opened, name="First Name Co"))
        assert first.status_code == 302, first.content.decode()[:2000]
        second = _signed_in(manager).post(url, self._form(opened, name="Second Name Co"))

        assert second.status_code == 200  # the admin shows the form again with the error
        text = second.content.decode()
        assert "First Name Co" in text and "Second Name Co" in text
        stored = Customer.objects.get(pk=rep_customer.pk)
        assert (stored.name, stored.version) == ("First Name Co", 2)
