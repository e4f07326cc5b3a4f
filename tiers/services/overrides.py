"""A manager's tier override: reason required, optional expiry, history kept (SPEC §3, §6)."""

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import Customer
from kam.roles import Role, user_roles
from tiers.models import Tier, TierOverride
from tiers.selectors import run_current
from tiers.services.publication import overrides_apply, publish_lock


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _check_manager(user) -> None:
    if not user_roles(user) & {Role.MANAGER, Role.ADMIN}:
        raise PermissionDenied("only KAM managers and admins override tiers")


def tier_override_create(
    *, user, customer: Customer, tier: str, reason: str, expires_on: date | None = None
) -> TierOverride:
    """Record the override and show it in the current run at once.

    The caller has fetched `customer` through the user's scope. Publication takes the same
    lock, so an override made while a run computes is applied when that run publishes.
    """
    _check_manager(user)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "a reason is required"})
    if tier not in Tier.values:
        raise ValidationError({"tier": f"must be one of {', '.join(Tier.values)}"})
    if expires_on is not None and expires_on < timezone.localdate():
        raise ValidationError({"expires_on": "the expiry date is in the past"})
    with transaction.atomic():
        publish_lock()
        override = TierOverride.objects.create(
            customer=customer, tier=tier, reason=reason, expires_on=expires_on, created_by=user
        )
        audit_record(
            actor=user,
            entity="tier_override",
            entity_id=override.pk,
            customer=customer,
            action="create",
            summary=reason,
            changes={"tier": [None, tier], "expires_on": [None, _day(expires_on)]},
        )
        run = run_current()
        if run is not None:
            overrides_apply(run=run, customer_id=customer.pk)
    return override


def tier_override_revoke(*, user, override: TierOverride) -> None:
    _check_manager(user)
    with transaction.atomic():
        publish_lock()
        revoked = TierOverride.objects.filter(pk=override.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit_record(
                actor=user,
                entity="tier_override",
                entity_id=override.pk,
                customer=override.customer,
                action="revoke",
                summary=override.reason,
                changes={"tier": [override.tier, None]},
            )
        run = run_current()
        if run is not None:
            overrides_apply(run=run, customer_id=override.customer_id)
