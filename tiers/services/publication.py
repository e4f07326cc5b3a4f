"""What publication and overrides share, without pandas: web processes import this (admin,
override screens) and should not pay for the recompute's libraries at start-up."""

from django.db import connection
from django.db.models import F

from tiers.models import ContributionRun, CustomerContribution, TierOverride, TierPolicy

# Advisory lock key: an arbitrary constant, unique to KAM within the database.
PUBLISH_LOCK_KEY = 0x4B414D02


def policy_current() -> TierPolicy:
    """The newest policy version; the defaults of SPEC §3 when none was saved yet."""
    policy = TierPolicy.objects.order_by("-created_at", "-id").first()
    return policy or TierPolicy.objects.create(note="SPEC §3 defaults")


def publish_lock() -> None:
    """Serialise publication with override writes (inside their transactions)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PUBLISH_LOCK_KEY])


def overrides_apply(*, run: ContributionRun, customer_id: int | None = None) -> None:
    """Put each customer's active override (latest, not revoked, not expired as of the
    run's date) into the run's `tier` and `override`; the computed tier stays as it was."""
    latest = {}
    overrides = TierOverride.objects.filter(revoked_at__isnull=True).order_by(
        "customer_id", "-created_at", "-id"
    )
    if customer_id is not None:
        overrides = overrides.filter(customer_id=customer_id)
    for override in overrides:
        latest.setdefault(override.customer_id, override)
    active = {
        pk: o for pk, o in latest.items() if o.expires_on is None or o.expires_on >= run.as_of
    }
    rows = CustomerContribution.objects.filter(run=run)
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
    # Undo overrides that ended, then set the active ones.
    rows.exclude(customer_id__in=active).exclude(override="").update(
        tier=F("computed_tier"), override=""
    )
    for pk, override in active.items():
        text = f"{override.tier}: {override.reason}"
        if override.expires_on:
            text += f" (→ {override.expires_on})"
        rows.filter(customer_id=pk).update(tier=override.tier, override=text[:400])
