"""Admin for policy versions, runs, contributions and overrides, scoped like the screens."""

from django.contrib import admin
from django.forms.models import model_to_dict

from accounts import selectors as account_selectors
from accounts.admin import ScopedAdmin
from accounts.models import Customer
from tiers.models import ContributionRun, CustomerContribution, TierOverride, TierPolicy
from tiers.services.overrides import tier_override_create
from tiers.services.policy import tier_policy_create
from tiers.services.publication import policy_current


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TierPolicy)
class TierPolicyAdmin(admin.ModelAdmin):
    """A change is a new version: the add form starts from the current one; nothing is
    edited in place or deleted, so every run can say which policy it used."""

    list_display = ["__str__", "window_days", "a_cutoff", "b_cutoff", "created_by", "note"]
    readonly_fields = ["created_by", "created_at"]

    def get_changeform_initial_data(self, request):
        current = policy_current()
        return model_to_dict(current, exclude=["id", "created_by", "created_at", "note"])

    def save_model(self, request, obj, form, change):
        tier_policy_create(user=request.user, policy=obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ContributionRun)
class ContributionRunAdmin(ReadOnlyAdmin):
    list_display = ["as_of", "status", "is_current", "customer_count", "total_revenue",
                    "total_gross_profit", "duration_ms", "started_at", "policy"]  # fmt: skip
    list_filter = ["status", "is_current"]


@admin.register(CustomerContribution)
class CustomerContributionAdmin(ReadOnlyAdmin, ScopedAdmin):
    scope = None
    list_display = ["customer", "run", "tier", "profit_tier", "revenue_tier", "revenue",
                    "gross_profit", "excluded", "exclusion_rules", "override"]  # fmt: skip
    list_filter = ["run__is_current", "tier", "excluded"]
    list_select_related = ["customer", "run"]
    search_fields = ["customer__code", "customer__name"]
    show_full_result_count = False

    def get_queryset(self, request):
        scope = account_selectors.customer_scope_q(request.user, "customer__")
        return super().get_queryset(request).filter(scope)


@admin.register(TierOverride)
class TierOverrideAdmin(ScopedAdmin):
    """Overrides go through the service (manager only, reason required, applied at once);
    they are never edited or deleted: a newer one or a revocation ends one."""

    fk_scopes = {"customer": account_selectors.customer_list_visible_to}
    list_display = ["customer", "tier", "reason", "expires_on", "created_by", "created_at",
                    "revoked_at"]  # fmt: skip
    list_select_related = ["customer", "created_by"]
    fields = ["customer", "tier", "reason", "expires_on"]
    autocomplete_fields = ["customer"]

    def get_queryset(self, request):
        scope = account_selectors.customer_scope_q(request.user, "customer__")
        return super().get_queryset(request).filter(scope)

    def save_model(self, request, obj, form, change):
        customer = Customer.objects.get(pk=obj.customer_id)
        saved = tier_override_create(
            user=request.user, customer=customer, tier=obj.tier, reason=obj.reason,
            expires_on=obj.expires_on,
        )  # fmt: skip
        obj.pk = saved.pk

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False
