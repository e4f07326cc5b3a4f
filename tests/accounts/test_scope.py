"""Who sees which accounts: the list, the page, the admin, and guessed ids (SPEC §1, §6)."""

import pytest
from django.urls import reverse

from accounts import selectors
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def detail_url(customer):
    return reverse("customer-detail", args=[customer.pk])


def listed_codes(client, **params):
    response = client.get(reverse("customer-list"), params)
    assert response.status_code == 200
    return [c.code for c in response.context["page"]]


def test_rep_sees_own_and_account_team_accounts_only(
    client, rep, outsider, rep_customer, teammate_customer, outsider_customer
):
    shared = CustomerFactory(code="S001", owner=outsider, account_team=[rep])
    client.force_login(rep)
    assert listed_codes(client) == ["R001", "S001"]
    assert client.get(detail_url(rep_customer)).status_code == 200
    assert client.get(detail_url(shared)).status_code == 200


@pytest.mark.parametrize("target", ["teammate_customer", "outsider_customer"])
def test_rep_gets_404_for_an_account_not_theirs(client, rep, rep_customer, target, request):
    customer = request.getfixturevalue(target)
    client.force_login(rep)
    assert client.get(detail_url(customer)).status_code == 404


def test_guessed_ids_are_404_whether_or_not_they_exist(client, rep, outsider_customer):
    client.force_login(rep)
    existing = client.get(detail_url(outsider_customer))
    missing = client.get(reverse("customer-detail", args=[outsider_customer.pk + 999]))
    assert existing.status_code == missing.status_code == 404


def test_manager_sees_exactly_their_teams_accounts_and_their_own(
    client, manager, rep, rep_customer, teammate_customer, outsider_customer
):
    own = CustomerFactory(code="G001", owner=manager)
    # An account a team member only works on (account team) belongs to the team's scope too.
    worked_on = CustomerFactory(code="W001", account_team=[rep])
    CustomerFactory(code="N001")  # nobody's: not the manager's
    client.force_login(manager)
    assert listed_codes(client) == ["G001", "M001", "R001", "W001"]
    assert client.get(detail_url(outsider_customer)).status_code == 404
    assert client.get(detail_url(own)).status_code == 200
    assert client.get(detail_url(worked_on)).status_code == 200


def test_other_manager_sees_only_the_south_team(
    client, other_manager, rep_customer, outsider_customer
):
    client.force_login(other_manager)
    assert listed_codes(client) == ["X001"]


def test_finance_sees_all_accounts_but_no_contact_personal_data(
    client, finance, rep_contact, outsider_customer
):
    client.force_login(finance)
    assert listed_codes(client) == ["R001", "X001"]
    page = client.get(detail_url(rep_contact.buying_unit.customer)).content.decode()
    assert "王采购" in page  # the person's name and role are part of the buying map
    for private in ("13912345678", "wang@example.cn", "1980"):
        assert private not in page


def test_rep_sees_their_contacts_personal_data(client, rep, rep_contact):
    client.force_login(rep)
    page = client.get(detail_url(rep_contact.buying_unit.customer)).content.decode()
    assert "13912345678" in page and "wang@example.cn" in page


def test_user_in_no_group_gets_the_narrowest_scope(client, rep_customer, outsider_customer):
    from tests.factories import UserFactory

    nobody = UserFactory(username="nogroup")
    mine = CustomerFactory(code="O001", owner=nobody)
    client.force_login(nobody)
    assert listed_codes(client) == ["O001"]
    assert client.get(detail_url(mine)).status_code == 200


def test_filter_choices_come_from_the_scope_only(client, rep, rep_customer, outsider_customer):
    client.force_login(rep)
    form = client.get(reverse("customer-list")).context["filter"].form
    regions = [value for value, _label in form.fields["region"].choices]
    owners = list(form.fields["owner"].queryset.values_list("username", flat=True))
    assert "西北" not in regions and "华东" in regions
    assert owners == ["rep"]


def test_selectors_scope_every_model_family(
    rep, rep_contact, outsider_contact, rep_customer, outsider_customer
):
    from tests.factories import ReceivableFactory, SalesLineFactory

    SalesLineFactory(customer=rep_customer)
    SalesLineFactory(customer=outsider_customer)
    ReceivableFactory(customer=outsider_customer)
    assert list(selectors.contact_list_visible_to(rep)) == [rep_contact]
    assert selectors.buying_unit_list_visible_to(rep).count() == 1
    assert {s.customer_id for s in selectors.sales_line_list_visible_to(rep)} == {rep_customer.pk}
    assert not selectors.receivable_list_visible_to(rep).exists()


class TestAdmin:
    def test_sales_teams_are_listed_in_scope(self, client, rep, manager, teams):
        # A distinct() scope once made this list a 500 ("cannot combine a unique query …").
        for user, expected in ((rep, ["East"]), (manager, ["East"])):
            client.force_login(user)
            response = client.get(reverse("admin:accounts_salesteam_changelist"))
            assert response.status_code == 200
            assert [t.name for t in response.context["cl"].result_list] == expected

    def test_rep_changelist_shows_only_their_accounts(
        self, client, rep, rep_customer, outsider_customer
    ):
        client.force_login(rep)
        response = client.get(reverse("admin:accounts_customer_changelist"))
        assert response.status_code == 200
        shown = [c.code for c in response.context["cl"].result_list]
        assert shown == ["R001"]

    def test_rep_gets_404_for_an_outside_account_in_the_admin(
        self, client, rep, outsider_customer, outsider_contact
    ):
        client.force_login(rep)
        for url in (
            reverse("admin:accounts_customer_change", args=[outsider_customer.pk]),
            reverse("admin:accounts_contact_change", args=[outsider_contact.pk]),
            reverse("admin:accounts_buyingunit_change", args=[outsider_contact.buying_unit_id]),
        ):
            assert client.get(url).status_code == 404, url

    def test_rep_cannot_attach_a_contact_to_another_teams_buying_unit(
        self, client, rep, rep_customer, outsider_contact
    ):
        client.force_login(rep)
        response = client.post(
            reverse("admin:accounts_contact_add"),
            {
                "buying_unit": outsider_contact.buying_unit_id,
                "name": "Sneaky",
                "role": "buyer",
                "influence": "medium",
                "attitude": "unknown",
                "is_active": "on",
            },
        )
        assert response.status_code == 200  # the form comes back with an error
        assert "buying_unit" in response.context["adminform"].form.errors
        assert not outsider_contact.buying_unit.contacts.filter(name="Sneaky").exists()

    def test_finance_has_no_contact_admin(self, client, finance, rep_contact):
        client.force_login(finance)
        assert client.get(reverse("admin:accounts_contact_changelist")).status_code == 403
        index = client.get(reverse("admin:index")).content.decode()
        assert "accounts/contact/" not in index
        assert "accounts/customer/" in index

    def test_finance_reads_customers_but_cannot_change_them(self, client, finance, rep_customer):
        client.force_login(finance)
        url = reverse("admin:accounts_customer_change", args=[rep_customer.pk])
        response = client.get(url)
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
        client.post(url, {"code": rep_customer.code, "name": "Renamed"})
        rep_customer.refresh_from_db()
        assert rep_customer.name == "Rep Owned Co"
