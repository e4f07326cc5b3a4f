"""The tier policy: a change is a new version, recorded (SPEC §3, §6)."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.audit import audit_record, changes_between, field_values
from kam.roles import Role, user_roles
from tiers.models import TierPolicy
from tiers.services.publication import policy_current


@transaction.atomic
def tier_policy_create(*, user, policy: TierPolicy) -> TierPolicy:
    """Save `policy` (unsaved) as the newest version; the next run uses it."""
    if not user_roles(user) & {Role.MANAGER, Role.ADMIN}:
        raise PermissionDenied(_("Only KAM managers and admins change the tier policy."))
    if policy.pk is not None:
        raise ValueError("a policy version is never edited; save a new one")
    previous = policy_current()
    policy.created_by = user
    policy.full_clean()
    policy.save()
    audit_record(
        actor=user,
        entity="tier_policy",
        entity_id=policy.pk,
        action="create",
        summary=policy.note,
        changes=changes_between(field_values(previous), field_values(policy)),
    )
    return policy
