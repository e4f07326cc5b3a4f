"""Reads of runs and contributions."""

from datetime import date
from decimal import ROUND_CEILING, Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import RowNumber

from kam.money import CENT
from tiers.models import ContributionRun, CustomerContribution, Tier


def run_current() -> ContributionRun | None:
    return ContributionRun.objects.filter(is_current=True).first()


def run_for_report(*, as_of: date | None = None) -> ContributionRun | None:
    """The current run, or the successful run for `as_of` (the newest if several)."""
    if as_of is None:
        return run_current()
    return (
        ContributionRun.objects.filter(as_of=as_of, status=ContributionRun.Status.SUCCEEDED)
        .order_by("-is_current", "-id")
        .first()
    )


def tiers_current(customer_ids=None) -> dict[int, str]:
    """customer id -> tier in the current run (customers outside the run are absent)."""
    rows = CustomerContribution.objects.filter(run__is_current=True)
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    return dict(rows.values_list("customer_id", "tier"))


def current_tier_subquery():
    """An annotation: each customer's tier in the current run (None outside it)."""
    return Subquery(
        CustomerContribution.objects.filter(
            run__is_current=True, customer_id=OuterRef("pk")
        ).values("tier")[:1]
    )


def contribution_current_for(customer) -> CustomerContribution | None:
    """One customer's row in the current run, with the run."""
    return (
        CustomerContribution.objects.filter(run__is_current=True, customer=customer)
        .select_related("run")
        .first()
    )


# --- the manager's dashboard --------------------------------------------------------------
# Each takes the current run and the ids of the customers to show (a subquery from
# accounts.selectors.customer_ids_visible_to, already scoped and filtered), or None for every
# customer, and aggregates in the database.


def _rows(run, customer_ids):
    rows = CustomerContribution.objects.filter(run=run)
    return rows if customer_ids is None else rows.filter(customer_id__in=customer_ids)


def run_summary(run, customers) -> dict:
    """Tier counts with revenue and gross profit, movements up and down since the previous
    run, and how many the rules excluded: one pass over the run's rows."""
    tiers = {}
    for tier in Tier.values:
        tiers[f"{tier}_count"] = Count("pk", filter=Q(tier=tier))
        tiers[f"{tier}_revenue"] = Sum("revenue", filter=Q(tier=tier), default=Decimal(0))
        tiers[f"{tier}_profit"] = Sum("gross_profit", filter=Q(tier=tier), default=Decimal(0))
    moved = ~Q(previous_tier="") & ~Q(previous_tier=F("tier"))
    totals = _rows(run, customers).aggregate(
        **tiers,
        up=Count("pk", filter=moved & Q(tier__lt=F("previous_tier"))),
        down=Count("pk", filter=moved & Q(tier__gt=F("previous_tier"))),
        excluded=Count("pk", filter=Q(excluded=True)),
    )
    return {
        "tiers": [
            {
                "tier": tier,
                "count": totals[f"{tier}_count"],
                "revenue": totals[f"{tier}_revenue"],
                "profit": totals[f"{tier}_profit"],
            }
            for tier in Tier.values
        ],
        "up": totals["up"],
        "down": totals["down"],
        "excluded": totals["excluded"],
    }


def tier_summary(run, customers) -> list[dict]:
    return run_summary(run, customers)["tiers"]


def pareto_points(run, customers, *, max_points: int = 200) -> dict:
    """The Pareto curve: cumulative share of gross profit against share of customers, the
    customers sorted by gross profit (largest first). At most `max_points` points, sampled
    in the database, plus the first customer at which 80 % is reached."""
    rows = _rows(run, customers)
    totals = rows.aggregate(n=Count("pk"), profit=Sum("gross_profit"))
    n, total = totals["n"], totals["profit"]
    if not n or not total or total <= 0:
        return {"points": [], "customers": n or 0, "reach_80": None}
    order = [F("gross_profit").desc(), F("customer_id").asc()]
    ranked = rows.annotate(
        position=Window(RowNumber(), order_by=order),
        running=Window(Sum("gross_profit"), order_by=order),
    )
    step = max(1, n // max_points)
    sampled = ranked.annotate(bucket=F("position") % step).filter(
        Q(bucket=0) | Q(position=1) | Q(position=n)
    )
    sampled = sampled.values_list("position", "running")
    points = [
        (float(position) / n, float(running / total))
        for position, running in sampled.order_by("position")
    ]
    reach = (
        # running ≥ 80 % of total, in whole cents (rounded up: the share must reach 80 %).
        ranked.filter(running__gte=(total * Decimal("0.8")).quantize(CENT, ROUND_CEILING))
        .order_by("position")
        .values_list("position", flat=True)
        .first()
    )
    return {"points": [(0.0, 0.0), *points], "customers": n, "reach_80": reach}


def tier_movements(run, customers, *, limit: int = 50, summary: dict | None = None) -> dict:
    """Customers whose tier changed since the previous run: counts up and down, and a list."""
    summary = summary or run_summary(run, customers)
    moved = _rows(run, customers).exclude(previous_tier="").exclude(previous_tier=F("tier"))
    rows = list(
        moved.select_related("customer").order_by("tier", "-gross_profit", "customer_id")[:limit]
    )
    return {"up": summary["up"], "down": summary["down"], "rows": rows}


def key_account_list(run, customers, *, limit: int = 20) -> list:
    """The A-tier customers, biggest gross profit first: who the key accounts are."""
    return list(
        _rows(run, customers)
        .filter(tier=Tier.A)
        .select_related("customer__owner")
        .order_by(F("profit_rank").asc(nulls_last=True), "customer_id")[:limit]
    )


def fake_big_list(
    run, customers, *, limit: int = 50, summary: dict | None = None
) -> tuple[list, int]:
    """Customers the rules refused to call big, the biggest by revenue first."""
    rows = _rows(run, customers).filter(excluded=True)
    total = summary["excluded"] if summary else rows.count()
    return (
        list(rows.select_related("customer__owner").order_by("-revenue", "customer_id")[:limit]),
        total,
    )
