"""Reads of runs and contributions."""

from datetime import date

from tiers.models import ContributionRun, CustomerContribution


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


def contribution_current_for(customer) -> CustomerContribution | None:
    """One customer's row in the current run, with the run."""
    return (
        CustomerContribution.objects.filter(run__is_current=True, customer=customer)
        .select_related("run")
        .first()
    )
