"""Writes to the customer master."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from kam.roles import GROUP_FINANCE, GROUP_KAM_MANAGER, GROUP_SALES_REP

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
