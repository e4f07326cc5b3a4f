"""What nobody may write through the API, or only some may.

A rep changes nothing on a customer (403), not even to take it over; a manager hands an
account only to the members of their teams (400) and never changes the ERP's code (403);
tiers, runs and contributions are computed, so no method writes them (405) and a `tier`
sent with a customer is ignored; a follow-up's status changes only through its actions.
Every refusal leaves every table as it was.
"""

import pytest

from accounts.models import AuditEvent, Customer
from relationships.models import FollowUp, Visit
from tests.api.operations import router_methods
from tests.api.world import ROLES, day, snapshot
from tiers.models import CustomerContribution, TierOverride

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _customer_url(world):
    return f"/api/customers/{world.mine.customer.pk}/"


@pytest.mark.parametrize("role", ["rep", "teammate"])
@pytest.mark.parametrize(
    "change",
    [
        {"owner": "self"},
        {"owner": "manager"},
        {"name": "代表改名"},
        {"account_team": []},
        {"relationship_level": "strategic"},
    ],
    ids=["owner-self", "owner-manager", "name", "account_team", "relationship_level"],
)
def test_a_rep_changes_nothing_on_a_customer(world, role, change):
    people = {"self": world.users[role].pk, "manager": world.users["manager"].pk}
    body = {k: people.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    before = snapshot()
    response = world.client(role).patch(_customer_url(world), {**body, "version": 1}, format="json")
    assert response.status_code == 403, response.content
    assert snapshot() == before


def test_a_manager_hands_an_account_to_a_member_of_their_teams_only(world):
    client, url = world.client("manager"), _customer_url(world)
    before = snapshot()
    outside = client.patch(url, {"owner": world.users["outsider"].pk, "version": 1}, format="json")
    assert outside.status_code == 400
    assert "owner" in outside.json()
    assert snapshot() == before

    inside = client.patch(url, {"owner": world.users["teammate"].pk, "version": 1}, format="json")
    assert inside.status_code == 200, inside.content
    customer = Customer.objects.get(pk=world.mine.customer.pk)
    assert customer.owner == world.users["teammate"]
    assert customer.version == 2
    event = AuditEvent.objects.get(entity="customer", entity_id=str(customer.pk))
    assert event.actor == world.users["manager"]
    assert event.changes["owner"] == ["rep", "teammate"]


def test_the_code_is_the_erp_key_a_manager_cannot_change_it(world):
    before = snapshot()
    response = world.client("manager").patch(
        _customer_url(world), {"code": "R999", "version": 1}, format="json"
    )
    assert response.status_code == 403
    assert snapshot() == before
    response = world.client("admin").patch(
        _customer_url(world), {"code": "R999", "version": 1}, format="json"
    )
    assert response.status_code == 200
    assert Customer.objects.get(pk=world.mine.customer.pk).code == "R999"


def test_a_tier_sent_with_a_customer_is_ignored(world):
    contribution = world.mine.contribution
    response = world.client("admin").patch(
        _customer_url(world),
        {"tier": "C", "version": 1, "created_at": "2000-01-01T00:00:00Z", "name": "新名"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["tier"] == "A"
    stored = CustomerContribution.objects.get(pk=contribution.pk)
    assert (stored.tier, stored.computed_tier) == ("A", "A")
    customer = Customer.objects.get(pk=world.mine.customer.pk)
    assert customer.name == "新名"
    assert customer.created_at.year == 2026


# Routes whose rows only the system writes (the ERP import, the nightly run), and the rows
# that are only created, never edited (overrides, policy versions) or edited by actions only
# (follow-ups). The router must answer nothing but these methods.
SERVED = {
    "customers": ({"get", "post"}, {"get", "put", "patch"}),
    "buying-units": ({"get", "post"}, {"get", "put", "patch"}),
    "contacts": ({"get", "post"}, {"get", "put", "patch"}),
    "sales-lines": ({"get"}, {"get"}),
    "receivables": ({"get"}, {"get"}),
    "visits": ({"get", "post"}, {"get", "put", "patch"}),
    "follow-ups": ({"get", "post"}, {"get"}),
    "account-plans": ({"get", "post"}, {"get", "put", "patch"}),
    "plan-objectives": ({"get", "post"}, {"get", "put", "patch"}),
    "plan-actions": ({"get", "post"}, {"get", "put", "patch"}),
    "runs": ({"get"}, {"get"}),
    "contributions": ({"get"}, {"get"}),
    "tier-overrides": ({"get", "post"}, {"get"}),
    "tier-policy": ({"get", "post"}, {"get"}),
}


def test_the_router_serves_exactly_the_methods_we_expect():
    served = {}
    for key, methods in router_methods().items():
        prefix, detail, url = key.split(" ", 2)
        if url.endswith("/{lookup}{trailing_slash}$") or url == "^{prefix}{trailing_slash}$":
            served.setdefault(prefix, [set(), set()])[detail == "True"] |= methods
    assert {k: tuple(v) for k, v in served.items()} == SERVED


def _detail_targets(world):
    a = world.mine
    return {
        "customers": a.customer,
        "buying-units": a.unit,
        "contacts": a.contact,
        "sales-lines": a.sales_line,
        "receivables": a.receivable,
        "visits": a.visit,
        "follow-ups": a.follow_up,
        "account-plans": a.plan,
        "plan-objectives": a.objective,
        "plan-actions": a.action,
        "runs": world.run,
        "contributions": a.contribution,
        "tier-overrides": a.override,
        "tier-policy": world.policy,
    }


# Bodies that would change the computed figures, if anything accepted them.
FIGURES = {
    "tier": "C",
    "computed_tier": "C",
    "revenue": "999999.00",
    "gross_profit": "999999.00",
    "total_revenue": "1.00",
    "is_current": False,
    "status": "done",
    "amount": "1.00",
    "window_days": 1,
    "reason": "改",
    "revoked_at": None,
}


@pytest.mark.parametrize("role", ROLES)
def test_no_method_outside_those_writes_anything(world, role):
    """Every route × every method it does not serve: 405 (or, for a role that may not use
    the collection at all, 403; a detail outside the scope 404), and nothing changes.

    BUG (reported) for admin: POST/PUT/PATCH/DELETE on the read-only collections (sales-lines,
    receivables, runs, contributions) answer 403, not 405: ByRole refuses them by role first."""
    client = world.client(role)
    targets = _detail_targets(world)
    before = snapshot()
    wrong = []
    for route, (list_methods, detail_methods) in SERVED.items():
        urls = [
            (f"/api/{route}/", set(HTTP_METHODS) - list_methods),
            (f"/api/{route}/{targets[route].pk}/", set(HTTP_METHODS) - detail_methods),
        ]
        for url, methods in urls:
            for method in sorted(methods):
                response = getattr(client, method)(url, FIGURES, format="json")
                allowed = {405} if role == "admin" else {403, 404, 405}
                if response.status_code not in allowed:
                    wrong.append(f"{method.upper()} {url}: {response.status_code}")
    assert wrong == [], "\n".join(wrong)
    assert snapshot() == before


def test_follow_up_status_is_not_set_by_patch_or_create(world):
    follow_up = world.mine.follow_up
    client = world.client("rep")
    before = snapshot()
    for method in ("patch", "put"):
        response = getattr(client, method)(
            f"/api/follow-ups/{follow_up.pk}/", {"status": "done"}, format="json"
        )
        assert response.status_code == 405
    assert snapshot() == before

    response = client.post(
        "/api/follow-ups/",
        {
            "customer": world.mine.customer.pk,
            "due_date": day(2),
            "note": "带状态",
            "status": "done",
            "kind": "birthday",
            "completed_at": "2026-06-01T00:00:00Z",
            "snooze_count": 5,
        },
        format="json",
    )
    assert response.status_code == 201
    created = FollowUp.objects.get(pk=response.json()["id"])
    assert (created.status, created.kind, created.completed_at, created.snooze_count) == (
        "open",
        "manual",
        None,
        0,
    )


def test_a_visit_is_logged_by_the_caller_whatever_the_body_says(world):
    response = world.client("rep").post(
        "/api/visits/",
        {
            "customer": world.mine.customer.pk,
            "visit_date": day(0),
            "channel": "onsite",
            "purpose": "冒名",
            "author": "manager",
            "created_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    visit = Visit.objects.get(pk=response.json()["id"])
    assert visit.author == world.users["rep"]
    assert visit.created_at.year == 2026


def test_an_override_is_made_by_the_caller_and_not_born_revoked(world):
    response = world.client("manager").post(
        "/api/tier-overrides/",
        {
            "customer": world.mine.customer.pk,
            "tier": "C",
            "reason": "降级观察",
            "created_by": world.users["admin"].pk,
            "revoked_at": "2026-06-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    override = TierOverride.objects.get(pk=response.json()["id"])
    assert override.created_by == world.users["manager"]
    assert override.revoked_at is None
    # The current run shows it at once (SPEC §3): the tier is the override's.
    contribution = CustomerContribution.objects.get(pk=world.mine.contribution.pk)
    assert contribution.tier == "C"
    assert contribution.computed_tier == "A"
