"""Writes to the customer master."""

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.audit import audit_record, changes_between, field_values
from accounts.models import Customer
from accounts.selectors import people_managed_by
from kam.roles import GROUP_FINANCE, GROUP_KAM_MANAGER, GROUP_SALES_REP, Role, user_roles
from kam.versioning import version_claim

_REP = [
    "accounts.view_salesteam",
    "accounts.view_customer",
    "accounts.view_buyingunit",
    "accounts.add_buyingunit",
    "accounts.change_buyingunit",
    "accounts.view_contact",
    "accounts.add_contact",
    "accounts.change_contact",
    "accounts.view_salesline",
    "accounts.view_receivable",
]

# Relationship work is written on the screens; the admin shows it (scoped).
_RELATIONSHIPS_READ = [
    "relationships.view_visit",
    "relationships.view_followup",
    "relationships.view_accountplan",
    "relationships.view_planobjective",
    "relationships.view_planaction",
    "relationships.view_cadencerule",
]

_TIERS_READ = [
    "tiers.view_contributionrun",
    "tiers.view_customercontribution",
    "tiers.view_tierpolicy",
    "tiers.view_tieroverride",
]

# Model permissions per role, for the admin. What a user may see is decided by the
# scoping selectors; these only say which kinds of rows a role may view or edit.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    GROUP_SALES_REP: [*_REP, *_RELATIONSHIPS_READ, "tiers.view_customercontribution"],
    GROUP_KAM_MANAGER: [
        *_REP,
        *_RELATIONSHIPS_READ,
        *_TIERS_READ,
        "relationships.change_cadencerule",
        "relationships.view_reassignment",
        "accounts.change_customer",
        "tiers.add_tierpolicy",
        "tiers.add_tieroverride",
    ],
    # Finance reads figures; contacts are personal data and stay hidden from it.
    GROUP_FINANCE: [
        "accounts.view_salesteam",
        "accounts.view_customer",
        "accounts.view_buyingunit",
        "accounts.view_salesline",
        "accounts.view_receivable",
        *_TIERS_READ,
    ],
}


def role_groups_sync(**_signal_kwargs) -> None:
    """Create the role groups and give each exactly its permissions (idempotent)."""
    labels = {code.split(".")[0] for codes in ROLE_PERMISSIONS.values() for code in codes}
    known = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.filter(content_type__app_label__in=labels).select_related(
            "content_type"
        )
    }
    with transaction.atomic():
        for group_name, codes in ROLE_PERMISSIONS.items():
            group, _created = Group.objects.get_or_create(name=group_name)
            group.permissions.set([known[code] for code in codes if code in known])


# --- customers ----------------------------------------------------------------------------

# What a KAM manager may change on an account of their teams; admins change everything.
# The code is the ERP's key and changes only with an admin (or the import).
CUSTOMER_MANAGER_FIELDS = frozenset(
    {
        "name",
        "industry",
        "region",
        "parent",
        "owner",
        "status",
        "relationship_level",
        "credit_limit",
        "payment_terms_days",
        "referred_by",
    }
)
CUSTOMER_ADMIN_FIELDS = CUSTOMER_MANAGER_FIELDS | {"code"}


def _customer_writer_fields(user) -> frozenset:
    roles = user_roles(user)
    if Role.ADMIN in roles:
        return CUSTOMER_ADMIN_FIELDS
    if Role.MANAGER in roles:
        return CUSTOMER_MANAGER_FIELDS
    raise PermissionDenied(_("Only KAM managers and admins change the customer master."))


def _check_people(user, *, owner, account_team) -> None:
    """A manager hands accounts only to themselves or the active members of their teams."""
    if Role.ADMIN in user_roles(user):
        return
    allowed = set(people_managed_by(user).values_list("pk", flat=True)) | {user.pk}
    if owner is not None and owner.pk not in allowed:
        raise ValidationError(
            {"owner": _("Choose yourself or an active member of a team you manage.")}
        )
    if account_team is not None and any(p.pk not in allowed for p in account_team):
        raise ValidationError(
            {"account_team": _("Choose yourself or active members of teams you manage.")}
        )


def _customer_audit(*, user, customer, before, team_before, action) -> None:
    changes = changes_between(before, field_values(customer))
    team_after = sorted(customer.account_team.values_list("username", flat=True))
    if team_before != team_after:
        changes["account_team"] = [team_before, team_after]
    if changes or action == "create":
        audit_record(
            actor=user, entity="customer", entity_id=customer.pk, customer=customer,
            action=action, summary=customer.code, changes=changes,
        )  # fmt: skip


@transaction.atomic
def customer_create(*, user, account_team=None, **fields) -> Customer:
    """A new account outside the ERP import: admins only."""
    if Role.ADMIN not in user_roles(user):
        raise PermissionDenied(_("Only admins add customers; the ERP import adds the rest."))
    unknown = set(fields) - CUSTOMER_ADMIN_FIELDS
    if unknown:
        raise TypeError(f"customer_create cannot set {sorted(unknown)}")
    customer = Customer(**fields)
    customer.full_clean()
    customer.save()
    if account_team is not None:
        customer.account_team.set(account_team)
    _customer_audit(user=user, customer=customer, before=None, team_before=[], action="create")
    return customer


@transaction.atomic
def customer_update(
    *, user, customer: Customer, expected_version: int | None, account_team=None, **fields
) -> Customer:
    """Change the customer master. The caller fetched `customer` through the user's scope;
    `expected_version` is the version the editor started from (None only for jobs)."""
    allowed = _customer_writer_fields(user)
    unknown = set(fields) - allowed
    if unknown:
        raise PermissionDenied(
            _("You may not change: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    if "owner" in fields and fields["owner"] is None and Role.ADMIN not in user_roles(user):
        # Without an owner the account would drop out of the manager's own scope.
        raise ValidationError({"owner": _("An account keeps an owner; choose one.")})
    owner = fields.get("owner")
    if owner is not None and owner.pk == customer.owner_id:
        owner = None
    _check_people(user, owner=owner, account_team=account_team)
    before = field_values(version_claim(customer, expected_version))
    team_before = sorted(customer.account_team.values_list("username", flat=True))
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.full_clean()
    customer.save()
    if account_team is not None:
        customer.account_team.set(account_team)
    _customer_audit(
        user=user, customer=customer, before=before, team_before=team_before, action="update"
    )
    return customer
