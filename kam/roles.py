"""Who a user is, for scoping: admin, KAM manager, finance or sales rep.

Roles are Django groups (created by a migration in accounts); superusers are admins.
A signed-in user in no group is treated as a sales rep: the narrowest scope.
"""

from enum import StrEnum

from django.http import Http404


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    FINANCE = "finance"
    REP = "rep"


GROUP_SALES_REP = "Sales rep"
GROUP_KAM_MANAGER = "KAM manager"
GROUP_FINANCE = "Finance"

_GROUP_ROLES = {GROUP_KAM_MANAGER: Role.MANAGER, GROUP_FINANCE: Role.FINANCE}


def user_roles(user) -> frozenset[Role]:
    """All roles of a user, cached on the user object for the request."""
    cached = getattr(user, "_kam_roles", None)
    if cached is not None:
        return cached
    if not user.is_authenticated or not user.is_active:
        roles = frozenset()
    elif user.is_superuser:
        roles = frozenset({Role.ADMIN})
    else:
        names = set(user.groups.values_list("name", flat=True))
        roles = frozenset({_GROUP_ROLES[n] for n in names if n in _GROUP_ROLES} or {Role.REP})
    user._kam_roles = roles
    return roles


def primary_role(user) -> Role | None:
    """The role that picks the home page: the widest one the user holds."""
    roles = user_roles(user)
    for role in (Role.ADMIN, Role.MANAGER, Role.FINANCE, Role.REP):
        if role in roles:
            return role
    return None


def sees_all_accounts(user) -> bool:
    return bool(user_roles(user) & {Role.ADMIN, Role.FINANCE})


def may_see_personal_data(user) -> bool:
    """Finance sees figures, not contacts' phones, emails or birthdays (SPEC §6)."""
    roles = user_roles(user)
    return bool(roles) and roles != {Role.FINANCE}


def get_object_in_scope_or_404(queryset, **lookup):
    """Fetch one object from an already scoped queryset; outside the scope is a 404, never 403."""
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def may_import(user) -> bool:
    """ERP imports touch every account: finance and admins only."""
    return bool(user_roles(user) & {Role.ADMIN, Role.FINANCE})


def may_work_accounts(user) -> bool:
    """Reps, managers and admins write contacts, visits, follow-ups and plans; finance reads."""
    return bool(user_roles(user) & {Role.ADMIN, Role.MANAGER, Role.REP})


def manages_people(user) -> bool:
    """Managers and admins act on other people's follow-ups and reassign accounts."""
    return bool(user_roles(user) & {Role.ADMIN, Role.MANAGER})


def mark_seen_by(obj, user):
    """Note on `obj` that it was just fetched through `user`'s scope (a scoped queryset), so a
    service called in the same request need not ask the scope again (see `was_seen_by`)."""
    obj._kam_seen_by = user.pk
    return obj


def was_seen_by(obj, user) -> bool:
    """True only for an object `mark_seen_by` marked for this very user; anything else (an
    object loaded any other way, another user) is checked against the scope as usual."""
    return user.pk is not None and getattr(obj, "_kam_seen_by", None) == user.pk
