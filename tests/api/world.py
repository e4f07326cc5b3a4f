"""The API tests' world: three accounts with one of everything, the six personas, and clients.

Accounts (SPEC §1 scope, written here independently of the API code):

- `rep` account R001: owned by `rep`, with `teammate` on its account team (East team).
- `teammate` account M001: owned by `teammate` (East team); `rep` is not on it.
- `outsider` account X001: owned by `outsider` (South team, managed by `other_manager`).

`manager` manages East, so sees R001 and M001; finance and admin see all three.
Each account has a buying unit, a contact, a visit, an open follow-up, a plan with an
objective and an action, a sales line, a receivable, a row in the current contribution run
and a tier override. Time is frozen at 10 June 2026, 09:00 in Shanghai.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from rest_framework.test import APIClient

from accounts.models import AuditEvent, BuyingUnit, Contact, Customer, Receivable, SalesLine
from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit
from tests.factories import (
    BuyingUnitFactory,
    ContactFactory,
    CustomerFactory,
    ReceivableFactory,
    SalesLineFactory,
)
from tiers.models import ContributionRun, CustomerContribution, TierOverride, TierPolicy
from tiers.services.publication import policy_current

TODAY = datetime.date(2026, 6, 10)
NOW = datetime.datetime(2026, 6, 10, 9, tzinfo=ZoneInfo("Asia/Shanghai"))

ROLES = ("rep", "teammate", "outsider", "manager", "finance", "admin")

# Which accounts each persona sees (SPEC §1), by account key. Written from the spec, not
# from the selectors, so a scoping bug in the code cannot also hide in the expectation.
SEES = {
    "rep": {"rep"},
    "teammate": {"rep", "teammate"},
    "outsider": {"outsider"},
    "manager": {"rep", "teammate"},
    "finance": {"rep", "teammate", "outsider"},
    "admin": {"rep", "teammate", "outsider"},
}


def day(n: int) -> str:
    """TODAY + n days as the API writes dates."""
    return (TODAY + datetime.timedelta(days=n)).isoformat()


@dataclass
class Account:
    key: str
    customer: Customer
    unit: BuyingUnit
    contact: Contact
    visit: Visit
    follow_up: FollowUp
    plan: AccountPlan
    objective: PlanObjective
    action: PlanAction
    sales_line: SalesLine
    receivable: Receivable
    contribution: CustomerContribution
    override: TierOverride


@dataclass
class World:
    users: dict
    accounts: dict[str, Account]
    run: ContributionRun
    policy: TierPolicy

    @property
    def mine(self) -> Account:
        """The account every matrix row acts on: the rep's."""
        return self.accounts["rep"]

    def client(self, role_or_user) -> APIClient:
        user = self.users[role_or_user] if isinstance(role_or_user, str) else role_or_user
        client = APIClient()
        client.force_authenticate(user)
        return client


def build_account(key, *, customer, owner, override_by, run, tier) -> Account:
    unit = BuyingUnitFactory(customer=customer, name=f"{key}-采购部")
    contact = ContactFactory(buying_unit=unit, name=f"{key}-联系人")
    visit = Visit.objects.create(
        customer=customer, author=owner, visit_date=TODAY, purpose=f"{key} 季度回访"
    )
    visit.contacts.add(contact)
    follow_up = FollowUp.objects.create(
        customer=customer, owner=owner, due_date=TODAY, note=f"{key} 寄样品"
    )
    plan = AccountPlan.objects.create(
        customer=customer, year=TODAY.year, strategy="扩大份额", created_by=owner
    )
    objective = PlanObjective.objects.create(
        plan=plan, title=f"{key} 收入增长", revenue_target=Decimal("1000.00")
    )
    action = PlanAction.objects.create(
        plan=plan, objective=objective, title=f"{key} 拜访总经理", owner=owner,
        due_date=TODAY + datetime.timedelta(days=30),
    )  # fmt: skip
    sales_line = SalesLineFactory(customer=customer, order_date=TODAY - datetime.timedelta(days=3))
    receivable = ReceivableFactory(customer=customer)
    contribution = CustomerContribution.objects.create(
        run=run, customer=customer, revenue=Decimal("1000.00"), gross_profit=Decimal("300.00"),
        margin=Decimal("0.3"), revenue_share=Decimal("0.333333"),
        profit_share=Decimal("0.333333"), cumulative_profit_share=Decimal("0.333333"),
        profit_rank=1, revenue_tier=tier, profit_tier=tier, computed_tier=tier, tier=tier,
    )  # fmt: skip
    override = TierOverride.objects.create(
        customer=customer, tier="B", reason=f"{key} 战略调整", created_by=override_by
    )
    return Account(
        key, customer, unit, contact, visit, follow_up, plan, objective, action, sales_line,
        receivable, contribution, override,
    )  # fmt: skip


def build_world(*, rep, teammate, outsider, manager, other_manager, finance, admin_user):
    policy = policy_current()
    run = ContributionRun.objects.create(
        as_of=TODAY - datetime.timedelta(days=1), policy=policy,
        status=ContributionRun.Status.SUCCEEDED, is_current=True, started_at=NOW,
        finished_at=NOW, duration_ms=10, customer_count=3,
    )  # fmt: skip
    accounts = {}
    for key, code, owner, boss, team, tier, region in (
        ("rep", "R001", rep, manager, [teammate], "A", "华东"),
        ("teammate", "M001", teammate, manager, [], "B", "华北"),
        ("outsider", "X001", outsider, other_manager, [], "C", "西北"),
    ):
        customer = CustomerFactory(
            code=code, name=f"{key} 客户", owner=owner, account_team=team, region=region
        )
        accounts[key] = build_account(
            key, customer=customer, owner=owner, override_by=boss, run=run, tier=tier
        )
    users = {
        "rep": rep,
        "teammate": teammate,
        "outsider": outsider,
        "manager": manager,
        "finance": finance,
        "admin": admin_user,
        "other_manager": other_manager,
    }
    return World(users=users, accounts=accounts, run=run, policy=policy)


# --- proving that nothing changed -------------------------------------------------------------

SNAPSHOT_MODELS = (
    Customer,
    Customer.account_team.through,
    BuyingUnit,
    Contact,
    SalesLine,
    Receivable,
    Visit,
    Visit.contacts.through,
    FollowUp,
    AccountPlan,
    PlanObjective,
    PlanAction,
    ContributionRun,
    CustomerContribution,
    TierOverride,
    TierPolicy,
    AuditEvent,
)


def snapshot() -> dict[str, list[tuple]]:
    """Every row the API may write (and the audit trail), to prove a refusal wrote nothing.

    Plain SQL: the matrix and the probes take hundreds of these."""
    quote = connection.ops.quote_name
    rows = {}
    with connection.cursor() as cursor:
        for model in SNAPSHOT_MODELS:
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")
            rows[model.__name__] = cursor.fetchall()
    return rows


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in SNAPSHOT_MODELS}
