"""Every operation of the REST API, as a request the tests can send against any account.

One `Op` per route × method (and custom action): how to build its URL for an object of an
account, a valid body for writes (so a 2xx means the write really happened), and `done`,
which says whether the write is in the database. test_matrix.py holds the expected status
of each operation for each role; test_idor.py sends the detail ones at other teams' objects.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from accounts.models import BuyingUnit, Contact, Customer
from kam.api_urls import router
from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit
from tests.api.world import Account, World, day
from tiers.models import TierOverride, TierPolicy

Target = Callable[[World, Account], object]
Body = Callable[[World, Account], dict]
Done = Callable[[World, Account], bool]


@dataclass(frozen=True)
class Op:
    route: str  # the router prefix
    action: str  # the viewset action
    method: str
    detail: bool
    target: Target | None  # the object the URL names (detail), or that a list should show
    body: Body | None = None
    done: Done | None = None  # writes: True once the write is in the database
    url_path: str = ""  # custom actions

    @property
    def name(self) -> str:
        return f"{self.route} {self.action}"

    @property
    def writes(self) -> bool:
        return self.method != "get"

    def url(self, world: World, account: Account, pk=None) -> str:
        url = f"/api/{self.route}/"
        if self.detail:
            url += f"{pk if pk is not None else self.target(world, account).pk}/"
        if self.url_path:
            url += f"{self.url_path}/"
        return url

    def schema_path(self) -> str:
        """The path as the OpenAPI document names it."""
        path = f"/api/{self.route}/"
        if self.detail:
            path += "{id}/"
        if self.url_path:
            path += f"{self.url_path}/"
        return path


def _fresh(model, pk):
    return model.objects.get(pk=pk)


def _crud(route, target, *, create=None, update=None, patch=None, read_only=False):
    """list, retrieve, and (unless read-only) create, update (PUT) and partial_update (PATCH);
    each write is a (body, done) pair."""
    ops = [
        Op(route, "list", "get", False, target),
        Op(route, "retrieve", "get", True, target),
    ]
    if create:
        ops.append(Op(route, "create", "post", False, None, *create))
    if update:
        ops.append(Op(route, "update", "put", True, target, *update))
    if patch:
        ops.append(Op(route, "partial_update", "patch", True, target, *patch))
    return ops


def _pk(obj) -> int:
    return obj.pk


OPERATIONS: list[Op] = [
    *_crud(
        "customers",
        lambda w, a: a.customer,
        create=(
            lambda w, a: {
                "code": "API-NEW",
                "name": "接口新客户",
                "region": "华东",
                "owner": w.users["rep"].pk,
            },
            lambda w, a: Customer.objects.filter(code="API-NEW", owner=w.users["rep"]).exists(),
        ),
        update=(
            lambda w, a: {"code": a.customer.code, "name": "接口改名", "version": 1},
            lambda w, a: _fresh(Customer, a.customer.pk).name == "接口改名",
        ),
        patch=(
            lambda w, a: {"region": "华南", "version": 1},
            lambda w, a: _fresh(Customer, a.customer.pk).region == "华南",
        ),
    ),
    *_crud(
        "buying-units",
        lambda w, a: a.unit,
        create=(
            lambda w, a: {"customer": a.customer.pk, "name": "接口新部门", "kind": "plant"},
            lambda w, a: BuyingUnit.objects.filter(customer=a.customer, name="接口新部门").exists(),
        ),
        update=(
            lambda w, a: {"customer": a.customer.pk, "name": "接口改名部门"},
            lambda w, a: _fresh(BuyingUnit, a.unit.pk).name == "接口改名部门",
        ),
        patch=(
            lambda w, a: {"kind": "project"},
            lambda w, a: _fresh(BuyingUnit, a.unit.pk).kind == "project",
        ),
    ),
    *_crud(
        "contacts",
        lambda w, a: a.contact,
        create=(
            lambda w, a: {"buying_unit": a.unit.pk, "name": "接口联系人", "role": "finance"},
            lambda w, a: Contact.objects.filter(buying_unit=a.unit, name="接口联系人").exists(),
        ),
        update=(
            lambda w, a: {"buying_unit": a.unit.pk, "name": "接口改名联系人", "version": 1},
            lambda w, a: _fresh(Contact, a.contact.pk).name == "接口改名联系人",
        ),
        patch=(
            lambda w, a: {"attitude": "supporter", "version": 1},
            lambda w, a: _fresh(Contact, a.contact.pk).attitude == "supporter",
        ),
    ),
    *_crud("sales-lines", lambda w, a: a.sales_line),
    *_crud("receivables", lambda w, a: a.receivable),
    *_crud(
        "visits",
        lambda w, a: a.visit,
        create=(
            lambda w, a: {
                "customer": a.customer.pk,
                "visit_date": day(-1),
                "channel": "phone",
                "purpose": "接口电话回访",
                "contacts": [a.contact.pk],
            },
            lambda w, a: Visit.objects.filter(
                customer=a.customer, purpose="接口电话回访", contacts=a.contact
            ).exists(),
        ),
        update=(
            lambda w, a: {
                "customer": a.customer.pk,
                "visit_date": day(-2),
                "channel": "video",
                "purpose": "接口改目的",
            },
            lambda w, a: _fresh(Visit, a.visit.pk).purpose == "接口改目的",
        ),
        patch=(
            lambda w, a: {"summary": "接口纪要"},
            lambda w, a: _fresh(Visit, a.visit.pk).summary == "接口纪要",
        ),
    ),
    Op("follow-ups", "list", "get", False, lambda w, a: a.follow_up),
    Op("follow-ups", "retrieve", "get", True, lambda w, a: a.follow_up),
    Op(
        "follow-ups",
        "create",
        "post",
        False,
        None,
        lambda w, a: {"customer": a.customer.pk, "due_date": day(5), "note": "接口跟进"},
        lambda w, a: FollowUp.objects.filter(customer=a.customer, note="接口跟进").exists(),
    ),
    Op(
        "follow-ups",
        "complete",
        "post",
        True,
        lambda w, a: a.follow_up,
        lambda w, a: {},
        lambda w, a: _fresh(FollowUp, a.follow_up.pk).status == FollowUp.Status.DONE,
        url_path="complete",
    ),
    Op(
        "follow-ups",
        "snooze",
        "post",
        True,
        lambda w, a: a.follow_up,
        lambda w, a: {"until": day(7), "reason": "客户出差"},
        lambda w, a: _fresh(FollowUp, a.follow_up.pk).snooze_count == 1,
        url_path="snooze",
    ),
    Op(
        "follow-ups",
        "reassign",
        "post",
        True,
        lambda w, a: a.follow_up,
        # The teammate is on the rep's account team, so works on it.
        lambda w, a: {"to_user": w.users["teammate"].pk},
        lambda w, a: _fresh(FollowUp, a.follow_up.pk).owner_id == w.users["teammate"].pk,
        url_path="reassign",
    ),
    *_crud(
        "account-plans",
        lambda w, a: a.plan,
        create=(
            lambda w, a: {"customer": a.customer.pk, "year": 2027, "strategy": "接口新计划"},
            lambda w, a: AccountPlan.objects.filter(customer=a.customer, year=2027).exists(),
        ),
        update=(
            lambda w, a: {"customer": a.customer.pk, "year": 2026, "strategy": "接口新策略"},
            lambda w, a: _fresh(AccountPlan, a.plan.pk).strategy == "接口新策略",
        ),
        patch=(
            lambda w, a: {"strategy": "接口改策略"},
            lambda w, a: _fresh(AccountPlan, a.plan.pk).strategy == "接口改策略",
        ),
    ),
    *_crud(
        "plan-objectives",
        lambda w, a: a.objective,
        create=(
            lambda w, a: {"plan": a.plan.pk, "title": "接口目标", "revenue_target": "5000.00"},
            lambda w, a: PlanObjective.objects.filter(plan=a.plan, title="接口目标").exists(),
        ),
        update=(
            lambda w, a: {"plan": a.plan.pk, "title": "接口改目标"},
            lambda w, a: _fresh(PlanObjective, a.objective.pk).title == "接口改目标",
        ),
        patch=(
            lambda w, a: {"profit_target": "800.00"},
            lambda w, a: _fresh(PlanObjective, a.objective.pk).profit_target == Decimal("800.00"),
        ),
    ),
    *_crud(
        "plan-actions",
        lambda w, a: a.action,
        create=(
            lambda w, a: {
                "plan": a.plan.pk,
                "title": "接口行动",
                "owner": a.customer.owner_id,
                "due_date": day(20),
            },
            lambda w, a: PlanAction.objects.filter(plan=a.plan, title="接口行动").exists(),
        ),
        update=(
            lambda w, a: {
                "plan": a.plan.pk,
                "title": "接口改行动",
                "owner": a.customer.owner_id,
                "due_date": day(21),
            },
            lambda w, a: _fresh(PlanAction, a.action.pk).title == "接口改行动",
        ),
        patch=(
            lambda w, a: {"status": "in_progress"},
            lambda w, a: _fresh(PlanAction, a.action.pk).status == "in_progress",
        ),
    ),
    *_crud("runs", lambda w, a: w.run),
    *_crud("contributions", lambda w, a: a.contribution),
    Op("tier-overrides", "list", "get", False, lambda w, a: a.override),
    Op("tier-overrides", "retrieve", "get", True, lambda w, a: a.override),
    Op(
        "tier-overrides",
        "create",
        "post",
        False,
        None,
        lambda w, a: {"customer": a.customer.pk, "tier": "A", "reason": "接口调级"},
        lambda w, a: TierOverride.objects.filter(customer=a.customer, reason="接口调级").exists(),
    ),
    Op(
        "tier-overrides",
        "revoke",
        "post",
        True,
        lambda w, a: a.override,
        lambda w, a: {},
        lambda w, a: _fresh(TierOverride, a.override.pk).revoked_at is not None,
        url_path="revoke",
    ),
    Op("tier-policy", "list", "get", False, lambda w, a: w.policy),
    Op("tier-policy", "retrieve", "get", True, lambda w, a: w.policy),
    Op("tier-policy", "current", "get", False, None, url_path="current"),
    Op(
        "tier-policy",
        "create",
        "post",
        False,
        None,
        lambda w, a: {"window_days": 400, "note": "接口新版本"},
        lambda w, a: TierPolicy.objects.filter(note="接口新版本", window_days=400).exists(),
    ),
]

OPS: dict[str, Op] = {op.name: op for op in OPERATIONS}
assert len(OPS) == len(OPERATIONS), "two operations share a name"


def router_operations(api_router=router) -> set[str]:
    """`<prefix> <action>` for every route × method the router actually serves."""
    found = set()
    for prefix, viewset, _basename in api_router.registry:
        for route in api_router.get_routes(viewset):
            for _method, action in route.mapping.items():
                if hasattr(viewset, action):
                    found.add(f"{prefix} {action}")
    return found


def router_methods() -> dict[str, set[str]]:
    """`<prefix> <detail|list|action>` -> the HTTP methods it answers (for the 405 tests)."""
    found: dict[str, set[str]] = {}
    for prefix, viewset, _basename in router.registry:
        for route in router.get_routes(viewset):
            for method, action in route.mapping.items():
                if hasattr(viewset, action):
                    found.setdefault(f"{prefix} {route.detail} {route.url}", set()).add(method)
    return found
