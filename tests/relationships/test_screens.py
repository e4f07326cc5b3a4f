"""The relationship screens through the Django test client: scope (404 outside it), the visit
form, my day, follow-up actions, the buying centre, account plans, reassignment, attention
and referrals. Outcomes are asserted on database rows and on the rendered HTML."""

import datetime
import re
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

import relationships.urls
from accounts.models import BuyingUnit, Contact, Customer
from relationships.models import (
    AccountPlan,
    FollowUp,
    PlanAction,
    PlanObjective,
    Reassignment,
    Visit,
)
from relationships.services import account_health_refresh
from tests.factories import (
    BuyingUnitFactory,
    ContactFactory,
    CustomerFactory,
    ReceivableFactory,
    SalesLineFactory,
)
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 10)
NOW = datetime.datetime(2026, 6, 10, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture
def frozen():
    """Shanghai, 10 June 2026, 09:00: `timezone.localdate()` is TODAY everywhere."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# --- HTML helpers ---------------------------------------------------------------------------


def section(html: str, element_id: str) -> str:
    """The text of the <section> with this id, up to its closing tag (sections do not nest)."""
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</section>", start)]


def follow_up_ids(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-follow-up="(\d+)"', html)}


def my_day_buckets(html: str) -> tuple[set[int], set[int], set[int]]:
    """Follow-up ids under the three headings of "my day": overdue, due today, next 7 days.

    Split on the <h3> headings, so it does not depend on the language of the headings."""
    parts = section(html, "my-day").split("<h3")[1:]
    assert len(parts) == 3, parts
    assert 'class="overdue-title"' in parts[0]
    overdue, due_today, upcoming = (follow_up_ids(part) for part in parts)
    return overdue, due_today, upcoming


def input_tag(html: str, name: str) -> str:
    (tag,) = re.findall(rf'<input[^>]*name="{name}"[^>]*>', html)
    return tag


def snapshot() -> dict[str, list[dict]]:
    """Every row the relationship screens may write, to prove a refused request wrote nothing."""
    models = (
        Customer,
        Customer.account_team.through,
        BuyingUnit,
        Contact,
        Visit,
        Visit.contacts.through,
        FollowUp,
        AccountPlan,
        PlanObjective,
        PlanAction,
        Reassignment,
    )
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


# --- a rep's account with one of everything -------------------------------------------------


@pytest.fixture
def world(rep, outsider, rep_customer, rep_contact):
    """rep_customer with a buying unit, a contact, a visit, an open follow-up and a plan."""
    visit = Visit.objects.create(
        customer=rep_customer, author=rep, visit_date=TODAY, purpose="季度回访"
    )
    visit.contacts.add(rep_contact)
    follow_up = FollowUp.objects.create(
        customer=rep_customer, owner=rep, due_date=TODAY, note="寄样品"
    )
    plan = AccountPlan.objects.create(
        customer=rep_customer, year=TODAY.year, strategy="扩大份额", created_by=rep
    )
    objective = PlanObjective.objects.create(
        plan=plan, title="收入增长", revenue_target=Decimal("1000.00")
    )
    action = PlanAction.objects.create(
        plan=plan, objective=objective, title="拜访总经理", owner=rep, due_date=days(30)
    )
    return SimpleNamespace(
        customer=rep_customer,
        unit=rep_contact.buying_unit,
        contact=rep_contact,
        visit=visit,
        follow_up=follow_up,
        plan=plan,
        objective=objective,
        action=action,
        intruder=outsider,
    )


def _contact_data(w, **extra):
    return {
        "buying_unit": w.unit.pk,
        "name": "渗透者",
        "role": "buyer",
        "influence": "medium",
        "attitude": "unknown",
        "is_active": "on",
        **extra,
    }


def _visit_data(**extra):
    return {
        "visit_date": TODAY.isoformat(),
        "channel": "onsite",
        "purpose": "渗透",
        "outcome": "neutral",
        **extra,
    }


def _rel(name, *args):
    return reverse(f"relationships:{name}", args=args)


# (url name, method, url builder, POST data builder): one row per route and method.
OUTSIDER_ROUTES = [
    ("customer-detail", "GET", lambda w: reverse("customer-detail", args=[w.customer.pk]), None),
    ("unit-create", "GET", lambda w: _rel("unit-create", w.customer.pk), None),
    (
        "unit-create",
        "POST",
        lambda w: _rel("unit-create", w.customer.pk),
        lambda w: {"name": "渗透部", "kind": "department"},
    ),
    ("unit-edit", "GET", lambda w: _rel("unit-edit", w.unit.pk), None),
    (
        "unit-edit",
        "POST",
        lambda w: _rel("unit-edit", w.unit.pk),
        lambda w: {"name": "改名部", "kind": "plant"},
    ),
    ("contact-create", "GET", lambda w: _rel("contact-create", w.customer.pk), None),
    ("contact-create", "POST", lambda w: _rel("contact-create", w.customer.pk), _contact_data),
    ("contact-edit", "GET", lambda w: _rel("contact-edit", w.contact.pk), None),
    (
        "contact-edit",
        "POST",
        lambda w: _rel("contact-edit", w.contact.pk),
        lambda w: _contact_data(w, name="改名"),
    ),
    ("visit-create", "GET", lambda w: _rel("visit-create") + f"?customer={w.customer.pk}", None),
    (
        "visit-create",
        "POST",
        lambda w: _rel("visit-create") + f"?customer={w.customer.pk}",
        lambda w: _visit_data(contacts=[w.contact.pk], next_follow_up=days(3).isoformat()),
    ),
    (
        "visit-create",
        "GET",
        lambda w: _rel("visit-create") + f"?follow_up={w.follow_up.pk}",
        None,
    ),
    (
        "visit-create",
        "POST",
        lambda w: _rel("visit-create"),
        lambda w: _visit_data(follow_up=w.follow_up.pk),
    ),
    ("visit-detail", "GET", lambda w: _rel("visit-detail", w.visit.pk), None),
    ("visit-edit", "GET", lambda w: _rel("visit-edit", w.visit.pk), None),
    (
        "visit-edit",
        "POST",
        lambda w: _rel("visit-edit", w.visit.pk),
        lambda w: _visit_data(purpose="改写"),
    ),
    ("follow-up-create", "GET", lambda w: _rel("follow-up-create", w.customer.pk), None),
    (
        "follow-up-create",
        "POST",
        lambda w: _rel("follow-up-create", w.customer.pk),
        lambda w: {"due_date": days(2).isoformat(), "note": "x", "owner": w.intruder.pk},
    ),
    ("follow-up-complete", "POST", lambda w: _rel("follow-up-complete", w.follow_up.pk), None),
    ("follow-up-snooze", "GET", lambda w: _rel("follow-up-snooze", w.follow_up.pk), None),
    (
        "follow-up-snooze",
        "POST",
        lambda w: _rel("follow-up-snooze", w.follow_up.pk),
        lambda w: {"until": days(5).isoformat(), "reason": "忙"},
    ),
    ("follow-up-reassign", "GET", lambda w: _rel("follow-up-reassign", w.follow_up.pk), None),
    (
        "follow-up-reassign",
        "POST",
        lambda w: _rel("follow-up-reassign", w.follow_up.pk),
        lambda w: {"to_user": w.intruder.pk},
    ),
    ("plan-for-customer", "GET", lambda w: _rel("plan-for-customer", w.customer.pk), None),
    (
        "plan-for-customer",
        "GET",
        lambda w: _rel("plan-for-customer", w.customer.pk) + "?new=1",
        None,
    ),
    (
        "plan-for-customer",
        "POST",
        lambda w: _rel("plan-for-customer", w.customer.pk),
        lambda w: {"year": TODAY.year + 1, "strategy": "x"},
    ),
    ("plan-detail", "GET", lambda w: _rel("plan-detail", w.plan.pk), None),
    (
        "plan-detail",
        "POST",
        lambda w: _rel("plan-detail", w.plan.pk),
        lambda w: {"objective-title": "渗透", "objective-revenue_target": "1.00"},
    ),
    (
        "plan-detail",
        "POST",
        lambda w: _rel("plan-detail", w.plan.pk),
        lambda w: {
            "action-title": "渗透",
            "action-owner": w.intruder.pk,
            "action-due_date": days(3).isoformat(),
            "action-status": "open",
        },
    ),
    ("plan-edit", "GET", lambda w: _rel("plan-edit", w.plan.pk), None),
    (
        "plan-edit",
        "POST",
        lambda w: _rel("plan-edit", w.plan.pk),
        lambda w: {"strategy": "改写"},
    ),
    ("action-edit", "GET", lambda w: _rel("action-edit", w.action.pk), None),
    (
        "action-edit",
        "POST",
        lambda w: _rel("action-edit", w.action.pk),
        lambda w: {
            "title": "改写",
            "owner": w.intruder.pk,
            "due_date": days(3).isoformat(),
            "status": "done",
        },
    ),
]


def _route_ids():
    seen: dict[str, int] = {}
    ids = []
    for name, method, *_rest in OUTSIDER_ROUTES:
        key = f"{name}-{method}"
        seen[key] = seen.get(key, 0) + 1
        ids.append(key if seen[key] == 1 else f"{key}{seen[key]}")
    return ids


class TestOutsideTheScopeIs404:
    @pytest.mark.parametrize("persona", ["outsider", "other_manager"])
    @pytest.mark.parametrize("name, method, url, data", OUTSIDER_ROUTES, ids=_route_ids())
    def test_another_teams_object(
        self, client, request, frozen, world, persona, name, method, url, data
    ):
        client.force_login(request.getfixturevalue(persona))
        before = snapshot()
        target = url(world)
        if method == "GET":
            response = client.get(target)
        else:
            response = client.post(target, data(world) if data else {})
        assert response.status_code == 404, (target, response.status_code)
        assert snapshot() == before

    def test_every_route_with_a_pk_has_an_outsider_case(self):
        covered = {name for name, *_rest in OUTSIDER_ROUTES}
        with_pk = {
            pattern.name
            for pattern in relationships.urls.urlpatterns
            if pattern.pattern.converters or "<" in str(pattern.pattern)
        }
        assert with_pk, "no route with a pk found: the check itself is broken"
        missing = with_pk - covered
        assert not missing, f"routes without an outsider-404 case: {sorted(missing)}"
        for name in covered - {"customer-detail"}:
            assert any(p.name == name for p in relationships.urls.urlpatterns), name

    def test_the_owner_reaches_every_get_route_of_the_table(self, client, frozen, world, rep):
        """The table's GET urls are real pages for someone in scope: the 404s above are
        the scope, not broken urls."""
        client.force_login(rep)
        for name, method, url, _data in OUTSIDER_ROUTES:
            if method == "GET":
                response = client.get(url(world))
                assert response.status_code in (200, 302), (name, response.status_code)


# --- the visit form ---------------------------------------------------------------------------


@pytest.fixture
def rep_people(rep_customer, rep_contact):
    """rep_customer's buying centre: two active contacts and one who has left."""
    second = ContactFactory(buying_unit=rep_contact.buying_unit, name="李工程师", role="technical")
    gone = ContactFactory(buying_unit=rep_contact.buying_unit, name="已离职", is_active=False)
    return rep_contact, second, gone


class TestVisitForm:
    def test_get_defaults_to_today_and_lists_only_this_customers_active_contacts(
        self, client, frozen, rep, rep_customer, rep_people, outsider_contact
    ):
        active, second, gone = rep_people
        other_of_rep = ContactFactory(
            buying_unit=BuyingUnitFactory(customer=CustomerFactory(owner=rep)), name="别家客户人"
        )
        client.force_login(rep)
        response = client.get(_rel("visit-create"), {"customer": rep_customer.pk})
        assert response.status_code == 200
        html = response.content.decode()
        assert 'value="2026-06-10"' in input_tag(html, "visit_date")
        form = response.context["form"]
        assert set(form.fields["contacts"].queryset) == {active, second}
        listed = {int(pk) for pk in re.findall(r'name="contacts" value="(\d+)"', html)}
        assert listed == {active.pk, second.pk}
        for absent in (gone, outsider_contact, other_of_rep):
            assert absent.name not in html

    def test_post_logs_the_visit_and_its_follow_up(
        self, client, frozen, rep, rep_customer, rep_people
    ):
        active, second, _gone = rep_people
        client.force_login(rep)
        response = client.post(
            _rel("visit-create") + f"?customer={rep_customer.pk}",
            _visit_data(
                purpose="介绍新产品",
                contacts=[active.pk, second.pk],
                next_step="发报价",
                next_follow_up=days(3).isoformat(),
            ),
        )
        assert response.status_code == 302
        assert response["Location"] == rep_customer.get_absolute_url()

        visit = Visit.objects.get()
        assert (visit.customer, visit.author, visit.visit_date) == (rep_customer, rep, TODAY)
        assert set(visit.contacts.all()) == {active, second}
        follow_up = FollowUp.objects.get()
        assert (follow_up.kind, follow_up.status, follow_up.owner, follow_up.due_date) == (
            FollowUp.Kind.NEXT_STEP,
            FollowUp.Status.OPEN,
            rep,
            days(3),
        )
        assert follow_up.source_visit == visit
        assert follow_up.note == "发报价"

        overdue, due_today, upcoming = my_day_buckets(client.get("/followups/").content.decode())
        assert (overdue, due_today, upcoming) == (set(), set(), {follow_up.pk})

        page = client.get(rep_customer.get_absolute_url()).content.decode()
        timeline = section(page, "visits")
        assert "介绍新产品" in timeline
        assert _rel("visit-detail", visit.pk) in timeline
        assert active.name in timeline and second.name in timeline
        assert follow_up_ids(section(page, "follow-ups")) == {follow_up.pk}

    def test_a_contact_of_another_customer_is_a_form_error(
        self, client, frozen, rep, rep_customer, rep_people, outsider_contact
    ):
        client.force_login(rep)
        response = client.post(
            _rel("visit-create") + f"?customer={rep_customer.pk}",
            _visit_data(
                contacts=[rep_people[0].pk, outsider_contact.pk],
                next_follow_up=days(3).isoformat(),
            ),
        )
        assert response.status_code == 422
        assert "contacts" in response.context["form"].errors
        assert not Visit.objects.exists()
        assert not FollowUp.objects.exists()

    def test_an_inactive_contact_is_not_a_choice_of_a_new_visit(
        self, client, frozen, rep, rep_customer, rep_people
    ):
        client.force_login(rep)
        response = client.post(
            _rel("visit-create") + f"?customer={rep_customer.pk}",
            _visit_data(contacts=[rep_people[2].pk]),
        )
        assert response.status_code == 422
        assert "contacts" in response.context["form"].errors
        assert not Visit.objects.exists()

    def test_a_visit_in_the_future_is_refused(self, client, frozen, rep, rep_customer):
        client.force_login(rep)
        response = client.post(
            _rel("visit-create") + f"?customer={rep_customer.pk}",
            _visit_data(visit_date=days(1).isoformat()),
        )
        assert response.status_code == 422
        assert "visit_date" in response.context["form"].errors
        assert not Visit.objects.exists()

    def test_finance_may_not_log_visits(self, client, finance, rep_customer):
        client.force_login(finance)
        assert client.get(_rel("visit-create")).status_code == 403
        assert client.get(_rel("visit-create"), {"customer": rep_customer.pk}).status_code == 403
        response = client.post(_rel("visit-create") + f"?customer={rep_customer.pk}", _visit_data())
        assert response.status_code == 403
        assert not Visit.objects.exists()

    def test_without_a_customer_the_rep_chooses_among_their_own(
        self, client, rep, rep_customer, outsider_customer
    ):
        client.force_login(rep)
        response = client.get(_rel("visit-create"))
        assert response.status_code == 200
        assert list(response.context["form"].fields["customer"].queryset) == [rep_customer]

    def test_a_visit_logged_for_a_follow_up_closes_it(self, client, frozen, rep, rep_customer):
        follow_up = FollowUp.objects.create(
            customer=rep_customer, owner=rep, due_date=days(-2), note="回访"
        )
        other = FollowUp.objects.create(
            customer=rep_customer, owner=rep, due_date=days(-1), note="另一件事"
        )
        client.force_login(rep)
        url = _rel("visit-create") + f"?follow_up={follow_up.pk}"
        page = client.get(url)
        assert page.status_code == 200
        assert page.context["customer"] == rep_customer
        assert f'name="follow_up" value="{follow_up.pk}"' in page.content.decode()

        response = client.post(url, _visit_data(purpose="回访", follow_up=follow_up.pk))
        assert response.status_code == 302
        visit = Visit.objects.get()
        follow_up.refresh_from_db()
        assert follow_up.status == FollowUp.Status.DONE
        assert follow_up.completed_visit == visit
        assert follow_up.completed_at == NOW
        other.refresh_from_db()
        assert other.status == FollowUp.Status.OPEN


class TestVisitVisibility:
    @pytest.fixture
    def visit(self, rep, rep_customer, rep_contact):
        visit = Visit.objects.create(
            customer=rep_customer,
            author=rep,
            visit_date=TODAY,
            purpose="技术交流",
            summary="顺利",
        )
        visit.contacts.add(rep_contact)
        return visit

    def test_manager_sees_the_teams_visit_but_cannot_edit_it(self, client, frozen, manager, visit):
        client.force_login(manager)
        listed = client.get(_rel("visit-list"))
        assert listed.status_code == 200
        assert list(listed.context["page"]) == [visit]
        assert _rel("visit-detail", visit.pk) in listed.content.decode()

        detail = client.get(_rel("visit-detail", visit.pk))
        assert detail.status_code == 200
        assert "技术交流" in detail.content.decode()
        assert detail.context["may_edit"] is False
        assert _rel("visit-edit", visit.pk) not in detail.content.decode()

        before = snapshot()
        assert client.get(_rel("visit-edit", visit.pk)).status_code == 403
        response = client.post(_rel("visit-edit", visit.pk), _visit_data(purpose="经理改写"))
        assert response.status_code == 403
        assert snapshot() == before

    def test_teammate_sees_it_only_from_the_account_team_and_still_cannot_edit(
        self, client, frozen, teammate, rep_customer, visit
    ):
        client.force_login(teammate)
        assert client.get(_rel("visit-detail", visit.pk)).status_code == 404
        assert list(client.get(_rel("visit-list")).context["page"]) == []

        rep_customer.account_team.add(teammate)
        assert client.get(_rel("visit-detail", visit.pk)).status_code == 200
        assert list(client.get(_rel("visit-list")).context["page"]) == [visit]
        assert client.get(_rel("visit-edit", visit.pk)).status_code == 403
        response = client.post(_rel("visit-edit", visit.pk), _visit_data(purpose="队友改写"))
        assert response.status_code == 403
        visit.refresh_from_db()
        assert visit.purpose == "技术交流"

    def test_the_author_edits(self, client, frozen, rep, rep_customer, visit, rep_contact):
        second = ContactFactory(buying_unit=rep_contact.buying_unit, name="新联系人")
        client.force_login(rep)
        page = client.get(_rel("visit-detail", visit.pk))
        assert page.context["may_edit"] is True
        form_page = client.get(_rel("visit-edit", visit.pk))
        assert form_page.status_code == 200
        assert "next_follow_up" not in form_page.context["form"].fields

        response = client.post(
            _rel("visit-edit", visit.pk),
            _visit_data(
                visit_date=days(-1).isoformat(),
                purpose="技术交流（补记）",
                outcome="positive",
                contacts=[second.pk],
            ),
        )
        assert response.status_code == 302
        assert response["Location"] == _rel("visit-detail", visit.pk)
        visit.refresh_from_db()
        assert (visit.purpose, visit.outcome, visit.visit_date) == (
            "技术交流（补记）",
            "positive",
            days(-1),
        )
        assert list(visit.contacts.all()) == [second]


# --- my day -----------------------------------------------------------------------------------


@pytest.fixture
def dated_follow_ups(rep, teammate, rep_customer):
    def make(due, owner=rep, **extra):
        return FollowUp.objects.create(
            customer=rep_customer, owner=owner, due_date=due, note=f"due {due}", **extra
        )

    return SimpleNamespace(
        overdue=make(datetime.date(2026, 6, 1)),
        today=make(datetime.date(2026, 6, 10)),
        soon=make(datetime.date(2026, 6, 15)),
        edge=make(datetime.date(2026, 6, 17)),  # today + 7: still "next 7 days"
        later=make(datetime.date(2026, 6, 30)),
        done=make(datetime.date(2026, 6, 10), status=FollowUp.Status.DONE),
        teammates=make(datetime.date(2026, 6, 10), owner=teammate),
    )


class TestMyDay:
    @pytest.mark.parametrize("url", ["/followups/", "/"])
    def test_buckets(self, client, frozen, rep, dated_follow_ups, url):
        f = dated_follow_ups
        client.force_login(rep)
        response = client.get(url)
        assert response.status_code == 200
        overdue, due_today, upcoming = my_day_buckets(response.content.decode())
        assert overdue == {f.overdue.pk}
        assert due_today == {f.today.pk}
        assert upcoming == {f.soon.pk, f.edge.pk}
        day = response.context["day"]
        assert day.today == TODAY and day.count == 4

    def test_headings_in_english(self, english, frozen, rep, dated_follow_ups):
        english.force_login(rep)
        html = section(english.get("/followups/").content.decode(), "my-day")
        assert html.index("Overdue") < html.index("Due today") < html.index("Next 7 days")
        assert html.count('class="follow-up overdue"') == 1

    def test_someone_elses_follow_ups_never_appear(
        self, client, frozen, teammate, rep_customer, dated_follow_ups
    ):
        rep_customer.account_team.add(teammate)  # teammate sees the account, not rep's work
        client.force_login(teammate)
        overdue, due_today, upcoming = my_day_buckets(client.get("/followups/").content.decode())
        assert (overdue, due_today, upcoming) == (set(), {dated_follow_ups.teammates.pk}, set())

    def test_query_count_is_pinned_and_flat(
        self, client, frozen, rep, rep_customer, django_assert_num_queries
    ):
        FollowUp.objects.create(customer=rep_customer, owner=rep, due_date=TODAY, note="a")
        client.force_login(rep)
        client.get("/followups/")  # the session row exists from here on
        with django_assert_num_queries(4):
            response = client.get("/followups/")
        assert response.context["day"].count == 1

        for n in range(12):
            customer = CustomerFactory(owner=rep)
            contact = ContactFactory(buying_unit=BuyingUnitFactory(customer=customer))
            FollowUp.objects.create(
                customer=customer,
                owner=rep,
                due_date=days(n % 9 - 2),
                kind=FollowUp.Kind.BIRTHDAY,
                contact=contact,
                occasion="birthday",
            )
            FollowUp.objects.create(
                customer=customer,
                owner=rep,
                due_date=days(n % 5),
                kind=FollowUp.Kind.HOLIDAY,
                occasion="dragon_boat",
            )
        with django_assert_num_queries(4):
            response = client.get("/followups/")
        assert response.context["day"].count == 1 + 12 + 12


# --- follow-up actions ------------------------------------------------------------------------


@pytest.fixture
def open_follow_up(rep, rep_customer):
    return FollowUp.objects.create(customer=rep_customer, owner=rep, due_date=TODAY, note="回电")


class TestFollowUpActions:
    def test_complete(self, client, frozen, rep, open_follow_up):
        client.force_login(rep)
        response = client.post(_rel("follow-up-complete", open_follow_up.pk))
        assert response.status_code == 302
        assert response["Location"] == _rel("my-day")
        open_follow_up.refresh_from_db()
        assert open_follow_up.status == FollowUp.Status.DONE
        assert open_follow_up.completed_at == NOW

    def test_complete_goes_back_to_a_local_next_only(self, client, frozen, rep, open_follow_up):
        client.force_login(rep)
        response = client.post(
            _rel("follow-up-complete", open_follow_up.pk), {"next": "//evil.example/x"}
        )
        assert response["Location"] == _rel("my-day")

    def test_complete_goes_back_to_a_local_next(self, client, frozen, rep, open_follow_up):
        client.force_login(rep)
        back = open_follow_up.customer.get_absolute_url() + "#follow-ups"
        response = client.post(_rel("follow-up-complete", open_follow_up.pk), {"next": back})
        assert response["Location"] == back

    @pytest.mark.parametrize("target", ["/\\evil.example/x", "/\t/evil.example/x"])
    def test_a_next_a_browser_could_read_as_another_host_stays_on_the_site(
        self, client, frozen, rep, open_follow_up, target
    ):
        """Browsers read '/\\host' and '/<tab>/host' as '//host'; the redirect must not."""
        client.force_login(rep)
        response = client.post(_rel("follow-up-complete", open_follow_up.pk), {"next": target})
        assert response.status_code == 302
        location = response["Location"]
        assert urlsplit(location).netloc == ""
        assert location.startswith("/") and not location.startswith("//")
        assert "\\" not in location and "\t" not in location

    def test_complete_needs_post(self, client, rep, open_follow_up):
        client.force_login(rep)
        assert client.get(_rel("follow-up-complete", open_follow_up.pk)).status_code == 405
        open_follow_up.refresh_from_db()
        assert open_follow_up.status == FollowUp.Status.OPEN

    def test_snooze_with_a_reason(self, client, frozen, rep, open_follow_up):
        client.force_login(rep)
        assert client.get(_rel("follow-up-snooze", open_follow_up.pk)).status_code == 200
        response = client.post(
            _rel("follow-up-snooze", open_follow_up.pk),
            {"until": days(4).isoformat(), "reason": "客户出差"},
        )
        assert response.status_code == 302
        open_follow_up.refresh_from_db()
        assert (
            open_follow_up.due_date,
            open_follow_up.snooze_reason,
            open_follow_up.snooze_count,
            open_follow_up.status,
        ) == (days(4), "客户出差", 1, FollowUp.Status.OPEN)

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_snooze_without_a_reason_is_refused(self, client, frozen, rep, open_follow_up, reason):
        client.force_login(rep)
        before = snapshot()
        response = client.post(
            _rel("follow-up-snooze", open_follow_up.pk),
            {"until": days(4).isoformat(), "reason": reason},
        )
        assert response.status_code == 422
        assert "reason" in response.context["form"].errors
        assert snapshot() == before

    def test_snooze_to_an_earlier_day_is_refused(self, client, frozen, rep, open_follow_up):
        client.force_login(rep)
        before = snapshot()
        response = client.post(
            _rel("follow-up-snooze", open_follow_up.pk),
            {"until": TODAY.isoformat(), "reason": "x"},
        )
        assert response.status_code == 422
        assert "until" in response.context["form"].errors
        assert snapshot() == before

    def test_reassign_to_a_teammate_on_the_account_team(
        self, client, frozen, rep, teammate, rep_customer, open_follow_up
    ):
        rep_customer.account_team.add(teammate)
        client.force_login(rep)
        response = client.post(
            _rel("follow-up-reassign", open_follow_up.pk), {"to_user": teammate.pk}
        )
        assert response.status_code == 302
        open_follow_up.refresh_from_db()
        assert open_follow_up.owner == teammate
        client.force_login(teammate)
        _overdue, due_today, _upcoming = my_day_buckets(client.get("/followups/").content.decode())
        assert due_today == {open_follow_up.pk}

    def test_reassign_to_a_teammate_off_the_account_is_refused(
        self, client, frozen, rep, teammate, open_follow_up
    ):
        client.force_login(rep)
        before = snapshot()
        response = client.post(
            _rel("follow-up-reassign", open_follow_up.pk), {"to_user": teammate.pk}
        )
        assert response.status_code == 422
        assert "to_user" in response.context["form"].errors
        assert snapshot() == before

    def test_reassign_to_an_outsider_is_refused(
        self, client, frozen, rep, outsider, open_follow_up
    ):
        client.force_login(rep)
        page = client.get(_rel("follow-up-reassign", open_follow_up.pk))
        assert outsider not in page.context["form"].fields["to_user"].queryset
        before = snapshot()
        response = client.post(
            _rel("follow-up-reassign", open_follow_up.pk), {"to_user": outsider.pk}
        )
        assert response.status_code == 422
        assert "to_user" in response.context["form"].errors
        assert snapshot() == before

    def test_someone_on_the_account_team_may_not_act_on_the_owners_follow_up(
        self, client, frozen, teammate, rep_customer, open_follow_up
    ):
        rep_customer.account_team.add(teammate)
        client.force_login(teammate)
        before = snapshot()
        assert client.post(_rel("follow-up-complete", open_follow_up.pk)).status_code == 403
        assert snapshot() == before

    def test_nor_close_it_by_logging_a_visit_for_it(
        self, client, frozen, teammate, rep_customer, open_follow_up
    ):
        rep_customer.account_team.add(teammate)
        client.force_login(teammate)
        response = client.post(
            _rel("visit-create") + f"?follow_up={open_follow_up.pk}",
            _visit_data(follow_up=open_follow_up.pk),
        )
        assert response.status_code == 403
        open_follow_up.refresh_from_db()
        assert open_follow_up.status == FollowUp.Status.OPEN
        assert not Visit.objects.exists()

    def test_the_manager_completes_a_reps_follow_up(self, client, frozen, manager, open_follow_up):
        client.force_login(manager)
        assert client.post(_rel("follow-up-complete", open_follow_up.pk)).status_code == 302
        open_follow_up.refresh_from_db()
        assert open_follow_up.status == FollowUp.Status.DONE


# --- the buying centre ------------------------------------------------------------------------


class TestBuyingCentre:
    def test_rep_adds_a_unit_and_a_contact(self, client, rep, rep_customer):
        client.force_login(rep)
        response = client.post(
            _rel("unit-create", rep_customer.pk), {"name": "研发中心", "kind": "department"}
        )
        assert response.status_code == 302
        assert response["Location"] == rep_customer.get_absolute_url()
        unit = BuyingUnit.objects.get(customer=rep_customer, name="研发中心")

        page = client.get(_rel("contact-create", rep_customer.pk) + f"?unit={unit.pk}")
        assert page.status_code == 200
        assert page.context["form"].instance.buying_unit == unit
        response = client.post(
            _rel("contact-create", rep_customer.pk),
            {
                "buying_unit": unit.pk,
                "name": "赵总",
                "title": "总经理",
                "role": "decision_maker",
                "influence": "high",
                "attitude": "supporter",
                "phone": "13600000000",
                "is_active": "on",
            },
        )
        assert response.status_code == 302
        contact = Contact.objects.get(name="赵总")
        assert (contact.buying_unit, contact.role, contact.is_active) == (
            unit,
            "decision_maker",
            True,
        )

        html = section(
            client.get(rep_customer.get_absolute_url()).content.decode(), "buying-centre"
        )
        assert "研发中心" in html and "赵总" in html and "13600000000" in html
        assert _rel("contact-edit", contact.pk) in html

    def test_reports_to_is_chosen_only_at_the_same_customer(
        self, client, rep, rep_customer, rep_contact, outsider_contact
    ):
        other_of_rep = ContactFactory(
            buying_unit=BuyingUnitFactory(customer=CustomerFactory(owner=rep)), name="别家上级"
        )
        client.force_login(rep)
        page = client.get(_rel("contact-create", rep_customer.pk))
        assert list(page.context["form"].fields["reports_to"].queryset) == [rep_contact]
        for boss in (other_of_rep, outsider_contact):
            before = snapshot()
            response = client.post(
                _rel("contact-create", rep_customer.pk),
                {
                    "buying_unit": rep_contact.buying_unit.pk,
                    "name": "新人",
                    "role": "user",
                    "influence": "low",
                    "attitude": "neutral",
                    "reports_to": boss.pk,
                    "is_active": "on",
                },
            )
            assert response.status_code == 422, boss
            assert "reports_to" in response.context["form"].errors
            assert snapshot() == before

        response = client.post(
            _rel("contact-create", rep_customer.pk),
            {
                "buying_unit": rep_contact.buying_unit.pk,
                "name": "新人",
                "role": "user",
                "influence": "low",
                "attitude": "neutral",
                "reports_to": rep_contact.pk,
                "is_active": "on",
            },
        )
        assert response.status_code == 302
        assert Contact.objects.get(name="新人").reports_to == rep_contact

    def test_a_unit_of_another_customer_is_a_form_error(
        self, client, rep, rep_customer, rep_contact, outsider_contact
    ):
        client.force_login(rep)
        before = snapshot()
        response = client.post(
            _rel("contact-edit", rep_contact.pk),
            {
                "buying_unit": outsider_contact.buying_unit.pk,
                "name": rep_contact.name,
                "role": "buyer",
                "influence": "medium",
                "attitude": "unknown",
                "is_active": "on",
                "expected_version": rep_contact.version,
            },
        )
        assert response.status_code == 422
        assert "buying_unit" in response.context["form"].errors
        assert snapshot() == before

    def test_finance_reads_the_account_without_personal_data(
        self, client, finance, rep, rep_customer, rep_contact
    ):
        rep_contact.personal_notes = "喜欢打高尔夫"
        rep_contact.save()
        client.force_login(rep)
        rep_html = client.get(rep_customer.get_absolute_url()).content.decode()
        for personal in ("13912345678", "wang@example.cn", "05-17"):
            assert personal in rep_html

        client.force_login(finance)
        response = client.get(rep_customer.get_absolute_url())
        assert response.status_code == 200
        html = response.content.decode()
        assert rep_contact.name in html
        for personal in ("13912345678", "wang@example.cn", "05-17", "喜欢打高尔夫"):
            assert personal not in html
        assert _rel("contact-edit", rep_contact.pk) not in html
        assert client.get(_rel("contact-edit", rep_contact.pk)).status_code == 403
        assert client.get(_rel("contact-create", rep_customer.pk)).status_code == 403
        assert client.get(_rel("unit-edit", rep_contact.buying_unit.pk)).status_code == 403
        before = snapshot()
        response = client.post(
            _rel("contact-edit", rep_contact.pk),
            {
                "buying_unit": rep_contact.buying_unit.pk,
                "name": "改名",
                "role": "buyer",
                "influence": "medium",
                "attitude": "unknown",
            },
        )
        assert response.status_code == 403
        assert snapshot() == before

    def test_coverage_gaps_of_a_strategic_account(self, english, rep, rep_customer, rep_contact):
        rep_customer.relationship_level = Customer.RelationshipLevel.STRATEGIC
        rep_customer.save()
        english.force_login(rep)
        html = section(
            english.get(rep_customer.get_absolute_url()).content.decode(), "buying-centre"
        )
        gaps = re.findall(r'<li class="warn" data-gap="1">([^<]*)</li>', html)
        assert "single-threaded: only one contact" in gaps
        assert "no decision maker" in gaps
        assert "no supporter" in gaps
        assert any("fewer than 3 buying units" in gap for gap in gaps)

    def test_an_ordinary_account_has_no_gaps_listed(self, client, rep, rep_customer, rep_contact):
        client.force_login(rep)
        html = section(
            client.get(rep_customer.get_absolute_url()).content.decode(), "buying-centre"
        )
        assert "data-gap" not in html


# --- account plans ----------------------------------------------------------------------------


class TestAccountPlan:
    def test_create_add_objective_and_action_and_refuse_a_second_plan(
        self, client, frozen, rep, teammate, rep_customer
    ):
        client.force_login(rep)
        url = _rel("plan-for-customer", rep_customer.pk)
        page = client.get(url)
        assert page.status_code == 200
        assert page.context["form"].initial["year"] == 2026

        response = client.post(url, {"year": 2026, "strategy": "成为首选供应商"})
        plan = AccountPlan.objects.get()
        assert response.status_code == 302
        assert response["Location"] == _rel("plan-detail", plan.pk)
        assert (plan.customer, plan.year, plan.created_by) == (rep_customer, 2026, rep)

        response = client.post(
            _rel("plan-detail", plan.pk),
            {"objective-title": "收入翻番", "objective-revenue_target": "6000.00"},
        )
        assert response.status_code == 302
        objective = PlanObjective.objects.get()
        assert (objective.plan, objective.revenue_target) == (plan, Decimal("6000.00"))

        response = client.post(
            _rel("plan-detail", plan.pk),
            {
                "action-title": "约见采购总监",
                "action-objective": objective.pk,
                "action-owner": rep.pk,
                "action-due_date": days(20).isoformat(),
                "action-status": "open",
            },
        )
        assert response.status_code == 302
        action = PlanAction.objects.get()
        assert (action.plan, action.objective, action.owner, action.due_date) == (
            plan,
            objective,
            rep,
            days(20),
        )

        detail = client.get(_rel("plan-detail", plan.pk)).content.decode()
        assert "收入翻番" in section(detail, "objectives")
        assert "约见采购总监" in section(detail, "actions")
        # The account page links this year's plan; a GET of plan-for-customer goes to it.
        assert (
            _rel("plan-detail", plan.pk)
            in client.get(rep_customer.get_absolute_url()).content.decode()
        )
        assert client.get(url)["Location"] == _rel("plan-detail", plan.pk)

        response = client.post(url, {"year": 2026, "strategy": "再来一份"})
        assert response.status_code == 422
        assert "year" in response.context["form"].errors
        assert AccountPlan.objects.count() == 1

        # An action owner must work on the account: teammate does not (yet).
        response = client.post(
            _rel("plan-detail", plan.pk),
            {
                "action-title": "队友跟进",
                "action-owner": teammate.pk,
                "action-due_date": days(20).isoformat(),
                "action-status": "open",
            },
        )
        assert response.status_code == 422
        assert "owner" in response.context["action_form"].errors
        assert PlanAction.objects.count() == 1

    def test_progress_from_a_real_contribution_run(self, client, frozen, rep, rep_customer):
        SalesLineFactory(
            customer=rep_customer,
            order_date=datetime.date(2026, 5, 20),
            revenue=Decimal("3000.00"),
            cost=Decimal("1000.00"),
        )
        SalesLineFactory(
            customer=rep_customer,
            order_date=datetime.date(2025, 9, 1),
            revenue=Decimal("1500.00"),
            cost=Decimal("500.00"),
        )
        SalesLineFactory(  # before the 365-day window
            customer=rep_customer,
            order_date=datetime.date(2025, 6, 1),
            revenue=Decimal("9999.00"),
            cost=Decimal("0.00"),
        )
        SalesLineFactory(  # after as_of
            customer=rep_customer,
            order_date=datetime.date(2026, 6, 10),
            revenue=Decimal("7777.00"),
            cost=Decimal("0.00"),
        )
        contribution_recompute(as_of=datetime.date(2026, 6, 9))
        plan = AccountPlan.objects.create(customer=rep_customer, year=2026, created_by=rep)
        PlanObjective.objects.create(
            plan=plan, title="收入", revenue_target=Decimal("4000.00"), profit_target=None
        )
        PlanObjective.objects.create(
            plan=plan,
            title="收入与毛利",
            revenue_target=Decimal("2000.00"),
            profit_target=Decimal("12000.00"),
        )
        client.force_login(rep)
        response = client.get(_rel("plan-detail", plan.pk))
        progress = response.context["progress"]
        assert progress.revenue_actual == Decimal("4500.00")
        assert progress.profit_actual == Decimal("3000.00")
        assert progress.as_of == datetime.date(2026, 6, 9)
        html = response.content.decode()
        revenue_cell = re.search(r'data-progress="revenue">([^<]*)<', html).group(1)
        profit_cell = re.search(r'data-progress="profit">([^<]*)<', html).group(1)
        assert revenue_cell == "75 %"  # 4500 of 6000
        assert profit_cell == "25 %"  # 3000 of 12000

    def test_finance_reads_a_plan_but_may_not_write_it(self, client, frozen, finance, world):
        client.force_login(finance)
        response = client.get(_rel("plan-detail", world.plan.pk))
        assert response.status_code == 200
        assert response.context["objective_form"] is None
        before = snapshot()
        assert (
            client.post(_rel("plan-detail", world.plan.pk), {"objective-title": "x"}).status_code
            == 403
        )
        assert client.get(_rel("action-edit", world.action.pk)).status_code == 403
        assert client.post(_rel("plan-edit", world.plan.pk), {"strategy": "x"}).status_code == 403
        assert snapshot() == before


# --- managers: reassignment, attention, referrals -------------------------------------------


class TestReassign:
    def test_manager_moves_a_departing_reps_accounts(
        self, english, frozen, manager, rep, teammate, rep_customer, teammate_customer, world
    ):
        second = CustomerFactory(code="R002", owner=rep)
        teammate_customer.account_team.add(rep)
        english.force_login(manager)
        assert english.get(_rel("reassign")).status_code == 200
        response = english.post(
            _rel("reassign"), {"from_user": rep.pk, "to_user": teammate.pk}, follow=True
        )
        assert response.redirect_chain == [(_rel("reassign"), 302)]
        html = response.content.decode()
        assert re.search(
            r'<li class="success">2 accounts, 1 account-team places, 1 follow-ups and 1 plan '
            r"actions moved to teammate\.</li>",
            html,
        ), html
        assert set(Customer.objects.filter(owner=teammate)) == {
            rep_customer,
            second,
            teammate_customer,
        }
        assert not Customer.objects.filter(owner=rep).exists()
        assert list(teammate_customer.account_team.all()) == [teammate]
        world.follow_up.refresh_from_db()
        world.action.refresh_from_db()
        assert world.follow_up.owner == teammate and world.action.owner == teammate
        record = Reassignment.objects.get()
        assert (record.from_user, record.to_user, record.by_user, record.customer_codes) == (
            rep,
            teammate,
            manager,
            ["R001", "R002"],
        )

    def test_a_rep_does_not_find_the_page(self, client, rep, teammate, rep_customer):
        client.force_login(rep)
        assert client.get(_rel("reassign")).status_code == 404
        assert (
            client.post(_rel("reassign"), {"from_user": rep.pk, "to_user": teammate.pk}).status_code
            == 404
        )
        rep_customer.refresh_from_db()
        assert rep_customer.owner == rep

    def test_another_teams_manager_cannot_take_a_rep(
        self, client, other_manager, rep, outsider, rep_customer, outsider_customer
    ):
        client.force_login(other_manager)
        before = snapshot()
        response = client.post(_rel("reassign"), {"from_user": rep.pk, "to_user": outsider.pk})
        assert response.status_code == 422
        assert "from_user" in response.context["form"].errors
        assert snapshot() == before

    def test_to_oneself_is_a_form_error(self, client, manager, rep, rep_customer):
        client.force_login(manager)
        before = snapshot()
        response = client.post(_rel("reassign"), {"from_user": rep.pk, "to_user": rep.pk})
        assert response.status_code == 422
        assert "to_user" in response.context["form"].errors
        assert snapshot() == before


def _declining(customer):
    """Revenue in the window far below the one before: a `declining` health flag."""
    SalesLineFactory(customer=customer, order_date=datetime.date(2025, 3, 1), revenue="10000")
    SalesLineFactory(customer=customer, order_date=datetime.date(2026, 3, 1), revenue="1000")


class TestAttention:
    def test_manager_sees_gaps_and_health_flags_of_their_teams_only(
        self,
        client,
        frozen,
        manager,
        rep_customer,
        rep_contact,
        teammate_customer,
        outsider_customer,
        outsider_contact,
    ):
        rep_customer.relationship_level = Customer.RelationshipLevel.STRATEGIC
        rep_customer.save()
        outsider_customer.relationship_level = Customer.RelationshipLevel.STRATEGIC
        outsider_customer.save()
        _declining(teammate_customer)
        _declining(outsider_customer)
        account_health_refresh(as_of=TODAY)  # the daily job the attention page reads
        client.force_login(manager)
        response = client.get(_rel("attention"))
        assert response.status_code == 200
        html = response.content.decode()

        gaps = section(html, "coverage-gaps")
        assert [row.customer for row in response.context["gaps"]] == [rep_customer]
        assert "R001" in gaps and "X001" not in gaps

        warnings = section(html, "health-warnings")
        assert [row.customer for row in response.context["warnings"]] == [teammate_customer]
        (row,) = re.findall(r"<tr><td><a[^>]*>M001.*?</tr>", warnings)
        assert 'data-health="declining"' in row
        assert "X001" not in warnings and "R001" not in warnings
        assert "X001" not in html and outsider_customer.name not in html

    def test_a_late_payer_is_flagged(self, client, frozen, manager, teammate_customer):
        ReceivableFactory(
            customer=teammate_customer,
            invoice_date=datetime.date(2026, 1, 10),
            due_date=datetime.date(2026, 2, 10),
            amount=Decimal("5000.00"),
            paid_date=None,
        )
        account_health_refresh(as_of=TODAY)
        client.force_login(manager)
        warnings = section(client.get(_rel("attention")).content.decode(), "health-warnings")
        assert 'data-health="paying_late"' in warnings
        assert "M001" in warnings


class TestReferrals:
    def test_shares_in_the_managers_scope(
        self, client, frozen, manager, rep, rep_customer, teammate_customer, outsider_customer
    ):
        referred = CustomerFactory(code="R002", name="Referred Co", owner=rep)
        referred.referred_by = rep_customer
        referred.save()
        hidden_referrer = CustomerFactory(code="R003", name="Via Outsider Co", owner=rep)
        hidden_referrer.referred_by = outsider_customer
        hidden_referrer.save()
        day = datetime.date(2026, 5, 1)
        SalesLineFactory(customer=rep_customer, order_date=day, revenue="1000", cost="700")
        SalesLineFactory(customer=referred, order_date=day, revenue="1000", cost="400")
        SalesLineFactory(customer=hidden_referrer, order_date=day, revenue="500", cost="400")
        SalesLineFactory(customer=outsider_customer, order_date=day, revenue="99999", cost="1")
        contribution_recompute(as_of=datetime.date(2026, 6, 9))

        client.force_login(manager)
        response = client.get(_rel("referrals"))
        assert response.status_code == 200
        html = response.content.decode()
        customers = re.search(r'data-share="customers">([^<]*)<', html).group(1)
        assert customers == "2 / 4 (50 %)"
        profit = re.search(r'data-share="profit">([^<]*)<', html).group(1)
        # referred 600 + 100 of 300 + 600 + 100 + 0 in the manager's scope
        assert profit.startswith("700.00 / 1,000.00") or profit.startswith("700.00 / 1000.00")
        assert profit.endswith("(70 %)")
        summary = response.context["summary"]
        assert (summary.profit_referred, summary.profit_total) == (
            Decimal("700.00"),
            Decimal("1000.00"),
        )
        assert "Referred Co" in html and "Via Outsider Co" in html
        assert "X001" not in html and outsider_customer.name not in html
