"""Reads of runs and contributions."""

from datetime import date

from tiers.models import ContributionRun


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
