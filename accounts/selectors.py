"""Every read of the customer master goes through here, scoped to the reader (SPEC §1, §6)."""

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet, Sum

from accounts.models import (
    AuditEvent,
    BuyingUnit,
    Contact,
    Customer,
    ImportRun,
    Receivable,
    SalesLine,
    SalesTeam,
)
from kam.roles import Role, get_object_in_scope_or_404, sees_all_accounts, user_roles

User = get_user_model()


def people_managed_by(user, *, include_inactive: bool = False) -> QuerySet:
    """Users whose accounts `user` may hand over: an admin's everyone, a manager's team members
    (with `include_inactive`, also those who have already left)."""
    people = User.objects.all() if include_inactive else User.objects.filter(is_active=True)
    if Role.ADMIN in user_roles(user):
        return people.order_by("username")
    if Role.MANAGER in user_roles(user):
        return people.filter(sales_teams__manager=user).distinct().order_by("username")
    return User.objects.none()


def customer_scope_q(user, path: str = "") -> Q:
    """The one scoping rule for every model that hangs off a customer.

    `path` leads from the scoped model to its customer: "" for Customer itself,
    "customer__" for sales lines, "buying_unit__customer__" for contacts.
    A rep sees the accounts they own or are on the account team of; a manager also
    those of the members of the teams they manage; finance and admins see all.
    """
    if not user_roles(user):
        return Q(pk__in=[])
    if sees_all_accounts(user):
        return Q()
    team = Customer.account_team.through.objects
    if Role.MANAGER not in user_roles(user):
        # A rep: their own id, no subquery of people (the commonest caller, kept cheap).
        on_team = team.filter(user_id=user.pk).values("customer_id")
        return Q(**{f"{path}owner_id": user.pk}) | Q(**{f"{path}id__in": on_team})
    # A manager: themselves and their teams' members.
    people = User.objects.filter(Q(pk=user.pk) | Q(sales_teams__manager=user)).values("pk")
    on_team = team.filter(user_id__in=people).values("customer_id")
    return Q(**{f"{path}owner_id__in": people}) | Q(**{f"{path}id__in": on_team})


def customer_ids_visible_to(user, filters: Q | None = None) -> QuerySet | None:
    """The ids of the visible customers matching `filters`, as a subquery; None when that is
    every customer (a reader who sees all, unfiltered), so aggregates can skip the filter."""
    scope = customer_scope_q(user)
    if scope == Q() and (filters is None or filters == Q()):
        return None
    return Customer.objects.filter(scope).filter(filters or Q()).values("pk")


def customer_regions_and_industries_visible_to(user) -> tuple[list[str], list[str]]:
    """The regions and the industries among visible customers, from one scan."""
    pairs = (
        Customer.objects.filter(customer_scope_q(user))
        .order_by()
        .values_list("region", "industry")
        .distinct()
    )
    regions, industries = set(), set()
    for region, industry in pairs:
        regions.add(region)
        industries.add(industry)
    return sorted(regions - {""}), sorted(industries - {""})


def customer_list_visible_to(user) -> QuerySet[Customer]:
    return Customer.objects.filter(customer_scope_q(user)).select_related("owner")


def customer_get_for_user(user, pk) -> Customer:
    return get_object_in_scope_or_404(
        customer_list_visible_to(user).select_related("parent", "referred_by"), pk=pk
    )


def buying_unit_list_visible_to(user) -> QuerySet[BuyingUnit]:
    return BuyingUnit.objects.filter(customer_scope_q(user, "customer__"))


def contact_list_visible_to(user) -> QuerySet[Contact]:
    """Contacts in scope. Finance may not see personal data: callers render with
    kam.roles.may_see_personal_data, and the admin hides contacts from finance altogether."""
    return Contact.objects.filter(customer_scope_q(user, "buying_unit__customer__"))


def sales_line_list_visible_to(user) -> QuerySet[SalesLine]:
    return SalesLine.objects.filter(customer_scope_q(user, "customer__"))


def receivable_list_visible_to(user) -> QuerySet[Receivable]:
    return Receivable.objects.filter(customer_scope_q(user, "customer__"))


def sales_team_list_visible_to(user) -> QuerySet[SalesTeam]:
    if sees_all_accounts(user):
        return SalesTeam.objects.all()
    return SalesTeam.objects.filter(Q(manager=user) | Q(members=user)).distinct()


def customer_group_tree(*, user, customer: Customer) -> list[tuple[int, Customer]]:
    """The group hierarchy around `customer` as (depth, customer) rows in tree order.

    Only customers in the reader's scope appear: showing the others would leak their
    existence. A visible customer whose parent is hidden is shown at the top.
    """
    visible = customer_list_visible_to(user)
    root = customer
    seen = {customer.pk}
    while root.parent_id and root.parent_id not in seen:
        parent = visible.filter(pk=root.parent_id).first()
        if parent is None:
            break
        seen.add(parent.pk)
        root = parent
    rows: list[tuple[int, Customer]] = []
    level, depth, placed = [root], 0, {root.pk}
    while level and depth < 50:
        rows.extend((depth, c) for c in level)
        children = list(visible.filter(parent_id__in=[c.pk for c in level]).order_by("code"))
        children = [c for c in children if c.pk not in placed]
        placed.update(c.pk for c in children)
        # Keep children directly under their parent in the listing.
        by_parent: dict[int, list[Customer]] = {}
        for child in children:
            by_parent.setdefault(child.parent_id, []).append(child)
        level = [child for parent in level for child in by_parent.get(parent.pk, [])]
        depth += 1
    return _tree_order(rows)


def _tree_order(rows):
    """Rows come level by level; reorder them depth-first so each child follows its parent."""
    children: dict[int | None, list] = {}
    for depth, customer in rows:
        key = customer.parent_id if depth else None
        children.setdefault(key, []).append((depth, customer))
    ordered = []

    def visit(key):
        for depth, customer in children.get(key, []):
            ordered.append((depth, customer))
            visit(customer.pk)

    visit(None)
    return ordered


def customer_list_with_window_revenue(user, *, as_of, days: int = 365) -> QuerySet[Customer]:
    """Visible customers annotated with net revenue over (as_of - days, as_of]."""
    window = Q(sales_lines__order_date__gt=as_of - timedelta(days=days)) & Q(
        sales_lines__order_date__lte=as_of
    )
    return customer_list_visible_to(user).annotate(
        window_revenue=Sum("sales_lines__revenue", filter=window, default=0)
    )


def monthly_figures(*, customer: Customer, as_of, months: int = 24) -> list[dict]:
    """Net revenue and gross profit per calendar month, the `months` months up to as_of's,
    zero-filled (one aggregate over the (customer, order_date) index)."""
    from django.db.models.functions import TruncMonth

    year, month = as_of.year, as_of.month
    starts = []
    for _i in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    starts.reverse()
    totals = {
        (row["month"].date() if hasattr(row["month"], "hour") else row["month"]): row
        for row in SalesLine.objects.filter(
            customer=customer, order_date__gte=starts[0], order_date__lte=as_of
        )
        .annotate(month=TruncMonth("order_date"))
        .values("month")
        .annotate(net=Sum("revenue"), profit=Sum(F("revenue") - F("cost")))
    }
    zero = Decimal(0)
    return [
        {
            "month": start.strftime("%Y-%m"),
            "revenue": totals.get(start, {}).get("net", zero),
            "profit": totals.get(start, {}).get("profit", zero),
        }
        for start in starts
    ]


def region_totals_visible_to(user, *, as_of, days: int = 365) -> list[dict]:
    """Revenue and gross profit per region over the window, for the reader's scope."""
    return list(
        sales_line_list_visible_to(user)
        .filter(order_date__gt=as_of - timedelta(days=days), order_date__lte=as_of)
        .values("customer__region")
        .annotate(total_revenue=Sum("revenue"), total_profit=Sum(F("revenue") - F("cost")))
        .order_by("-total_revenue")
    )


def team_members_with_account_counts(user) -> QuerySet:
    """The members of the teams `user` manages, each with how many accounts they own."""
    return (
        User.objects.filter(sales_teams__manager=user)
        .annotate(account_count=Count("owned_customers", distinct=True))
        .order_by("username")
        .distinct()
    )


def master_data_counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "contacts": Contact.objects.count(),
        "sales_lines": SalesLine.objects.count(),
        "receivables": Receivable.objects.count(),
        "users": User.objects.count(),
    }


def audit_event_list_visible_to(user) -> QuerySet[AuditEvent]:
    """Changes of the accounts in scope; events of no account (imports, the policy) only for
    those who see every account."""
    events = AuditEvent.objects.all()
    if sees_all_accounts(user):
        return events
    return events.filter(customer__in=Customer.objects.filter(customer_scope_q(user)).values("pk"))


def audit_event_list_for_customer(*, user, customer, limit: int = 30) -> list[AuditEvent]:
    return list(
        audit_event_list_visible_to(user).filter(customer=customer).select_related("actor")[:limit]
    )


def import_run_list() -> QuerySet[ImportRun]:
    """The import history; only finance and admins reach it (imports span every account)."""
    return ImportRun.objects.select_related("user").defer("problems")
