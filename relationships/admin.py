"""Admin for the relationship work. Visits, follow-ups and plans are written on the screens
(through the services); the admin shows them, scoped. Managers edit the cadence rules here."""

from django.contrib import admin

from accounts.admin import ScopedAdmin
from relationships import selectors
from relationships.models import (
    AccountPlan,
    CadenceRule,
    FollowUp,
    PlanAction,
    PlanObjective,
    Reassignment,
    Visit,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CadenceRule)
class CadenceRuleAdmin(admin.ModelAdmin):
    """One row per tier, made by a migration: edited, never added or deleted."""

    list_display = ["tier", "days"]
    list_editable = ["days"]
    readonly_fields = ["tier"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Visit)
class VisitAdmin(ReadOnlyMixin, ScopedAdmin):
    scope = staticmethod(selectors.visit_list_visible_to)
    list_display = ["visit_date", "customer", "channel", "purpose", "author"]
    list_filter = ["channel", "outcome"]
    date_hierarchy = "visit_date"
    search_fields = ["customer__code", "customer__name", "purpose"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyMixin, ScopedAdmin):
    scope = staticmethod(selectors.follow_up_list_visible_to)
    list_display = ["due_date", "customer", "kind", "owner", "status"]
    list_filter = ["kind", "status"]
    search_fields = ["customer__code", "customer__name", "note"]


class ObjectiveInline(ReadOnlyMixin, admin.TabularInline):
    model = PlanObjective
    extra = 0


class ActionInline(ReadOnlyMixin, admin.TabularInline):
    model = PlanAction
    extra = 0


@admin.register(AccountPlan)
class AccountPlanAdmin(ReadOnlyMixin, ScopedAdmin):
    scope = staticmethod(selectors.plan_list_visible_to)
    list_display = ["customer", "year", "created_by", "updated_at"]
    list_filter = ["year"]
    inlines = [ObjectiveInline, ActionInline]


@admin.register(Reassignment)
class ReassignmentAdmin(ReadOnlyMixin, ScopedAdmin):
    scope = staticmethod(selectors.reassignment_list_visible_to)
    list_display = ["created_at", "from_user", "to_user", "by_user", "customer_count"]
