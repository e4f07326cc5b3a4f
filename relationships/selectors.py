"""Every read of visits, follow-ups, plans, coverage, health and referrals, scoped to the reader."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    F,
    FilteredRelation,
    Max,
    Min,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Window,
)
from django.db.models.functions import TruncMonth

from accounts.models import Contact, Customer, Receivable, SalesLine
from accounts.selectors import (
    customer_ids_visible_to,
    customer_list_visible_to,
    customer_scope_q,
)
from kam.names import person_name
from kam.roles import get_object_in_scope_or_404, sees_all_accounts
from relationships.coverage import (
    STRATEGIC_MIN_BUYING_UNITS,
    ContactFacts,
    Coverage,
    coverage_assess,
    coverage_from_counts,
)
from relationships.health import (
    DECLINING,
    PAYING_LATE,
    VOLATILE,
    Health,
    HealthFlag,
    HealthThresholds,
    health_assess,
)
from relationships.models import (
    AccountHealth,
    AccountPlan,
    FollowUp,
    PlanAction,
    Reassignment,
    Visit,
)
from tiers.models import CustomerContribution
from tiers.selectors import run_current, tiers_current

# "My day" looks this far ahead.
UPCOMING_DAYS = 7
# Health compares the window with the one before it, over the policy's default window.
HEALTH_WINDOW_DAYS = 365


# --- visits -------------------------------------------------------------------------------


def visit_list_visible_to(user) -> QuerySet[Visit]:
    return Visit.objects.filter(customer_scope_q(user, "customer__")).select_related(
        "customer", "author"
    )


def visit_get_for_user(user, pk) -> Visit:
    return get_object_in_scope_or_404(
        visit_list_visible_to(user).prefetch_related("contacts"), pk=pk
    )


def visit_timeline(*, user, customer, limit: int = 50) -> list[Visit]:
    return list(
        visit_list_visible_to(user)
        .filter(customer=customer)
        .prefetch_related(Prefetch("contacts", queryset=Contact.objects.order_by("name")))[:limit]
    )


def last_touch_by_customer(customer_ids=None) -> dict[int, date]:
    visits = Visit.objects.all()
    if customer_ids is not None:
        visits = visits.filter(customer_id__in=customer_ids)
    return dict(
        visits.values("customer_id")
        .annotate(last=Max("visit_date"))
        .values_list("customer_id", "last")
    )


# --- follow-ups ---------------------------------------------------------------------------


def follow_up_list_visible_to(user) -> QuerySet[FollowUp]:
    return FollowUp.objects.filter(customer_scope_q(user, "customer__")).select_related(
        "customer", "owner", "contact"
    )


def follow_up_get_for_user(user, pk) -> FollowUp:
    return get_object_in_scope_or_404(follow_up_list_visible_to(user), pk=pk)


@dataclass
class MyDay:
    today: date
    overdue: list[FollowUp]
    due_today: list[FollowUp]
    upcoming: list[FollowUp]

    @property
    def count(self) -> int:
        return len(self.overdue) + len(self.due_today) + len(self.upcoming)


def my_day(*, user, today: date) -> MyDay:
    """The reader's open follow-ups: overdue, due today, and the next 7 days."""
    rows = (
        follow_up_list_visible_to(user)
        .filter(
            owner=user, status=FollowUp.Status.OPEN, due_date__lte=today + timedelta(UPCOMING_DAYS)
        )
        .order_by("due_date", "customer__code", "id")
    )
    day = MyDay(today=today, overdue=[], due_today=[], upcoming=[])
    for follow_up in rows:
        if follow_up.due_date < today:
            day.overdue.append(follow_up)
        elif follow_up.due_date == today:
            day.due_today.append(follow_up)
        else:
            day.upcoming.append(follow_up)
    return day


def follow_ups_open_for_customer(*, user, customer) -> list[FollowUp]:
    return list(
        follow_up_list_visible_to(user)
        .filter(customer=customer, status=FollowUp.Status.OPEN)
        .order_by("due_date", "id")
    )


# --- plans --------------------------------------------------------------------------------


def plan_list_visible_to(user) -> QuerySet[AccountPlan]:
    return AccountPlan.objects.filter(customer_scope_q(user, "customer__")).select_related(
        "customer"
    )


def plan_get_for_user(user, pk) -> AccountPlan:
    return get_object_in_scope_or_404(plan_list_visible_to(user), pk=pk)


def plan_action_get_for_user(user, pk) -> PlanAction:
    return get_object_in_scope_or_404(
        PlanAction.objects.filter(customer_scope_q(user, "plan__customer__")).select_related(
            "plan__customer", "owner"
        ),
        pk=pk,
    )


@dataclass
class PlanProgress:
    """A plan's targets against the latest run's actual contribution of its customer."""

    revenue_target: Decimal | None
    profit_target: Decimal | None
    revenue_actual: Decimal | None
    profit_actual: Decimal | None
    as_of: date | None

    @staticmethod
    def _ratio(actual, target):
        if actual is None or not target:
            return None
        return actual / target

    @property
    def revenue_ratio(self):
        return self._ratio(self.revenue_actual, self.revenue_target)

    @property
    def profit_ratio(self):
        return self._ratio(self.profit_actual, self.profit_target)


def plan_detail(*, user, plan: AccountPlan) -> tuple[list, list, PlanProgress]:
    objectives = list(plan.objectives.order_by("id"))
    actions = list(plan.actions.select_related("owner", "objective").order_by("due_date", "id"))
    revenue_targets = [o.revenue_target for o in objectives if o.revenue_target is not None]
    profit_targets = [o.profit_target for o in objectives if o.profit_target is not None]
    row = (
        CustomerContribution.objects.filter(run__is_current=True, customer_id=plan.customer_id)
        .select_related("run")
        .first()
    )
    progress = PlanProgress(
        revenue_target=sum(revenue_targets) if revenue_targets else None,
        profit_target=sum(profit_targets) if profit_targets else None,
        revenue_actual=row.revenue if row else None,
        profit_actual=row.gross_profit if row else None,
        as_of=row.run.as_of if row else None,
    )
    return objectives, actions, progress


# --- coverage -----------------------------------------------------------------------------


def coverage_for_customer(*, customer: Customer, contacts, tier: str | None) -> Coverage:
    """Coverage from the contacts the account page already loaded (no extra query)."""
    facts = [ContactFacts(c.buying_unit_id, c.role, c.attitude, c.is_active) for c in contacts]
    return coverage_assess(facts, tier=tier, relationship_level=customer.relationship_level)


@dataclass
class CoverageGap:
    customer: Customer
    tier: str | None
    coverage: Coverage


_UNSET = object()


def _current_tier_join(queryset, path: str = "", run=_UNSET):
    """Join each customer's row of the current run (one row or none) as `current`."""
    run = run_current() if run is _UNSET else run
    relation = f"{path}contributions"
    return queryset.annotate(
        current=FilteredRelation(
            relation, condition=Q(**{f"{relation}__run": run.pk if run else None})
        )
    )


def coverage_gaps_visible_to(
    user, *, filters: Q | None = None, limit: int | None = None, run=_UNSET
):
    """A-tier and strategic accounts in scope whose buying centre has a gap (SPEC §4), found
    in the database; `filters` narrows the scope (dashboard filters). Returns (gaps, total)."""
    ids = customer_ids_visible_to(user, filters)
    accounts = Customer.objects.exclude(status=Customer.Status.CLOSED)
    if ids is not None:
        accounts = accounts.filter(pk__in=ids)
    active = Q(buying_units__contacts__is_active=True)
    # Narrow rows (a few columns) are grouped and cut to the page in the database; the page's
    # customers are then read whole. Grouping whole customer rows made the sort spill to disk.
    tracked = (
        _current_tier_join(accounts, run=run)
        .filter(Q(relationship_level=Customer.RelationshipLevel.STRATEGIC) | Q(current__tier="A"))
        .values("pk", "code", "relationship_level")
        .annotate(
            tier=F("current__tier"),
            n_active=Count("buying_units__contacts", filter=active),
            n_decision=Count(
                "buying_units__contacts",
                filter=active & Q(buying_units__contacts__role=Contact.Role.DECISION_MAKER),
            ),
            n_supporter=Count(
                "buying_units__contacts",
                filter=active & Q(buying_units__contacts__attitude=Contact.Attitude.SUPPORTER),
            ),
            n_units=Count("buying_units", filter=active, distinct=True),
        )
        .filter(
            Q(n_active__lte=1)
            | Q(n_decision=0)
            | Q(n_supporter=0)
            | Q(
                relationship_level=Customer.RelationshipLevel.STRATEGIC,
                n_units__lt=STRATEGIC_MIN_BUYING_UNITS,
            )
        )
        # The total rides along as a window over the grouped rows: one pass, not a count.
        .annotate(total=Window(Count("pk")))
        .order_by("code")
    )
    rows = list(tracked[:limit] if limit is not None else tracked)
    total = rows[0]["total"] if rows else 0
    customers = Customer.objects.select_related("owner").in_bulk([r["pk"] for r in rows])
    gaps = []
    for row in rows:
        coverage = coverage_from_counts(
            active_contacts=row["n_active"],
            decision_makers=row["n_decision"],
            supporters=row["n_supporter"],
            buying_units=row["n_units"],
            tier=row["tier"],
            relationship_level=row["relationship_level"],
        )
        gaps.append(CoverageGap(customers[row["pk"]], row["tier"], coverage))
    return gaps, total


def overdue_follow_ups_by_owner(user, *, filters: Q | None = None, today: date) -> list[dict]:
    """Open follow-ups past their due date on the accounts in scope, counted per owner."""
    ids = customer_ids_visible_to(user, filters)
    overdue = FollowUp.objects.filter(status=FollowUp.Status.OPEN, due_date__lt=today)
    if ids is not None:
        overdue = overdue.filter(customer_id__in=ids)
    rows = list(
        overdue.values("owner__username", "owner__first_name", "owner__last_name")
        .annotate(count=Count("pk"), oldest=Min("due_date"))
        .order_by("-count", "owner__username")
    )
    for row in rows:
        row["owner_name"] = person_name(
            row["owner__first_name"], row["owner__last_name"], row["owner__username"]
        )
    return rows


# --- health -------------------------------------------------------------------------------


def _month_starts(as_of: date, count: int = 12) -> list[date]:
    """The first days of the `count` complete calendar months before as_of's month."""
    year, month = as_of.year, as_of.month
    starts = []
    for _i in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        starts.append(date(year, month, 1))
    return starts[::-1]


def health_for_customers(customer_ids, *, as_of: date) -> dict[int, Health]:
    """Health of each customer as of a date, in three aggregate queries.

    `customer_ids` is a list of ids or a queryset of customers; a queryset is used as a
    subquery, so a scope of any size costs no long parameter lists."""
    if isinstance(customer_ids, QuerySet):
        ids = list(customer_ids.values_list("pk", flat=True))
        wanted = customer_ids.values("pk")
    else:
        ids = wanted = list(customer_ids)
    if not ids:
        return {}
    window = timedelta(days=HEALTH_WINDOW_DAYS)
    start, previous_start = as_of - window, as_of - 2 * window
    lines = SalesLine.objects.filter(customer_id__in=wanted)
    windows = {
        row["customer_id"]: row
        for row in lines.filter(order_date__gt=previous_start, order_date__lte=as_of)
        .values("customer_id")
        .annotate(
            current=Sum("revenue", filter=Q(order_date__gt=start), default=0),
            previous=Sum("revenue", filter=Q(order_date__lte=start), default=0),
        )
    }
    months = _month_starts(as_of)
    monthly: dict[int, dict[date, Decimal]] = defaultdict(dict)
    month_end = date(as_of.year, as_of.month, 1)
    for row in (
        lines.filter(order_date__gte=months[0], order_date__lt=month_end)
        .annotate(month=TruncMonth("order_date"))
        .values("customer_id", "month")
        .annotate(total=Sum("revenue"))
    ):
        month = row["month"]
        month = month.date() if hasattr(month, "date") and callable(month.date) else month
        monthly[row["customer_id"]][month] = row["total"]
    late = _avg_days_late(wanted, start=start, as_of=as_of)
    result = {}
    for pk in ids:
        row = windows.get(pk, {})
        result[pk] = health_assess(
            revenue=row.get("current", Decimal(0)),
            previous_revenue=row.get("previous", Decimal(0)),
            monthly_revenue=[monthly[pk].get(m, Decimal(0)) for m in months],
            avg_days_late=late.get(pk),
        )
    return result


def _avg_days_late(ids, *, start: date, as_of: date) -> dict[int, Decimal]:
    """Amount-weighted days late of receivables invoiced in (start, as_of] (SPEC §3)."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = Receivable.objects.filter(
        customer_id__in=ids, invoice_date__gt=start, invoice_date__lte=as_of
    ).values_list("customer_id", "amount", "due_date", "paid_date")
    for pk, amount, due, paid in rows:
        settled = paid if paid is not None and paid <= as_of else as_of
        cents = int(amount * 100)
        totals[pk][0] += cents
        totals[pk][1] += cents * max(0, (settled - due).days)
    return {
        pk: (Decimal(weighted) / Decimal(amount)).quantize(Decimal("0.01"))
        for pk, (amount, weighted) in totals.items()
        if amount > 0
    }


@dataclass
class HealthWarning:
    customer: Customer
    tier: str | None
    health: Health


def health_from_snapshot(row: AccountHealth) -> Health:
    """A stored snapshot row as a Health, its flags with their measured values and words."""
    return Health(
        revenue=row.revenue,
        previous_revenue=row.previous_revenue,
        growth=row.growth,
        volatility=row.volatility,
        avg_days_late=row.avg_days_late,
        flags=tuple(_snapshot_flags(row)),
    )


def _snapshot_flags(row: AccountHealth):
    thresholds = HealthThresholds()
    measured = {
        DECLINING: (row.growth, thresholds.decline_growth),
        VOLATILE: (row.volatility, thresholds.volatility_cv),
        PAYING_LATE: (row.avg_days_late, thresholds.late_days),
    }
    for code in row.flags:
        value, threshold = measured[code]
        yield HealthFlag(code, value, threshold)


def health_warnings_visible_to(
    user, *, filters: Q | None = None, limit: int | None = None, run=_UNSET
):
    """Accounts in scope flagged by the last health refresh, A and B tiers first.

    Returns (warnings, total, as_of). `filters` narrows the scope (dashboard filters)."""
    ids = customer_ids_visible_to(user, filters)
    # The snapshot holds open accounts only (refresh skips closed ones).
    flagged = AccountHealth.objects.filter(flagged=True)
    if ids is not None:
        flagged = flagged.filter(customer_id__in=ids)
    total = flagged.count()
    # A and B first from the snapshot's index; the tiers shown are the current ones.
    rows = flagged.select_related("customer__owner").order_by("priority", "customer_id")
    if limit is not None:
        rows = rows[:limit]
    rows = list(rows)
    tiers = tiers_current([r.customer_id for r in rows]) if rows else {}
    as_of = AccountHealth.objects.values_list("as_of", flat=True).first()
    warnings = [
        HealthWarning(r.customer, tiers.get(r.customer_id), health_from_snapshot(r)) for r in rows
    ]
    return warnings, total, as_of


# --- referrals ----------------------------------------------------------------------------


@dataclass
class ReferralSummary:
    customers: int
    referred: int
    profit_total: Decimal | None
    profit_referred: Decimal | None
    as_of: date | None
    referrers: list  # (customer, referred count, profit of the referred)

    @property
    def customer_share(self):
        return Decimal(self.referred) / self.customers if self.customers else None

    @property
    def profit_share(self):
        if self.profit_total is None or self.profit_total <= 0:
            return None
        return self.profit_referred / self.profit_total


def referral_summary_visible_to(user) -> ReferralSummary:
    """Who referred whom in the reader's scope, and the share of customers and of gross profit
    (current run) that came through referrals."""
    visible = customer_list_visible_to(user)
    counts = visible.aggregate(
        customers=Count("pk"), referred=Count("pk", filter=Q(referred_by__isnull=False))
    )
    rows = CustomerContribution.objects.filter(run__is_current=True, customer__in=visible)
    profits = rows.aggregate(
        total=Sum("gross_profit"),
        referred=Sum("gross_profit", filter=Q(customer__referred_by__isnull=False), default=0),
    )
    as_of = rows.values_list("run__as_of", flat=True).first()
    profit_by_customer = dict(
        rows.filter(customer__referred_by__isnull=False).values_list("customer_id", "gross_profit")
    )
    referred = list(visible.filter(referred_by__isnull=False).order_by("code"))
    # A referrer outside the reader's scope is not named: that would leak its existence.
    referrer_ids = {c.referred_by_id for c in referred}
    named = {c.pk: c for c in visible.filter(pk__in=referrer_ids)}
    by_referrer: dict[int | None, list] = {}
    for customer in referred:
        referrer = named.get(customer.referred_by_id)
        key = referrer.pk if referrer else None
        by_referrer.setdefault(key, [referrer, []])[1].append(customer)
    referrers = sorted(
        (
            (
                referrer,
                children,
                sum((profit_by_customer.get(c.pk, Decimal(0)) for c in children), Decimal(0)),
            )
            for referrer, children in by_referrer.values()
        ),
        key=lambda r: (r[0] is None, -r[2], r[0].code if r[0] else ""),
    )
    return ReferralSummary(
        customers=counts["customers"],
        referred=counts["referred"],
        profit_total=profits["total"] if profits["total"] is not None else None,
        profit_referred=profits["referred"] if profits["total"] is not None else None,
        as_of=as_of,
        referrers=referrers,
    )


def reassignment_list_visible_to(user) -> QuerySet[Reassignment]:
    rows = Reassignment.objects.select_related("from_user", "to_user", "by_user")
    return rows if sees_all_accounts(user) else rows.filter(by_user=user)
