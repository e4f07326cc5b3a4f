"""Django admin for the customer master, scoped like every screen for non-superusers."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import Http404

from accounts import selectors
from accounts.models import BuyingUnit, Contact, Customer, Receivable, SalesLine, SalesTeam
from kam.roles import may_see_personal_data

User = get_user_model()


class ScopedAdmin(admin.ModelAdmin):
    """Rows come from the model family's scoping selector; foreign-key choices too.

    `scope` is the selector for this model; `fk_scopes` maps a foreign key field to the
    selector for its choices, so nobody can point a row at an account they cannot see.
    """

    scope = None
    fk_scopes: dict = {}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset & type(self).scope(request.user) if self.scope else queryset

    def get_object(self, request, object_id, from_field=None):
        # Outside the scope is a 404 like on every screen, not the admin's "deleted?" redirect.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        selector = self.fk_scopes.get(db_field.name)
        if selector is not None:
            kwargs["queryset"] = selector(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(SalesTeam)
class SalesTeamAdmin(ScopedAdmin):
    scope = staticmethod(selectors.sales_team_list_visible_to)
    list_display = ["name", "manager"]
    filter_horizontal = ["members"]


class BuyingUnitInline(admin.TabularInline):
    model = BuyingUnit
    extra = 0


@admin.register(Customer)
class CustomerAdmin(ScopedAdmin):
    scope = staticmethod(selectors.customer_list_visible_to)
    fk_scopes = {
        "parent": selectors.customer_list_visible_to,
        "referred_by": selectors.customer_list_visible_to,
    }
    list_display = ["code", "name", "owner", "region", "industry", "relationship_level", "status"]
    list_filter = ["status", "relationship_level", "region", "industry"]
    search_fields = ["code", "name"]
    list_select_related = ["owner"]
    autocomplete_fields = ["parent", "referred_by"]
    filter_horizontal = ["account_team"]
    inlines = [BuyingUnitInline]


@admin.register(BuyingUnit)
class BuyingUnitAdmin(ScopedAdmin):
    scope = staticmethod(selectors.buying_unit_list_visible_to)
    fk_scopes = {"customer": selectors.customer_list_visible_to}
    list_display = ["name", "kind", "customer"]
    list_select_related = ["customer"]
    search_fields = ["name", "customer__code", "customer__name"]
    autocomplete_fields = ["customer"]


@admin.register(Contact)
class ContactAdmin(ScopedAdmin):
    scope = staticmethod(selectors.contact_list_visible_to)
    fk_scopes = {
        "buying_unit": selectors.buying_unit_list_visible_to,
        "reports_to": selectors.contact_list_visible_to,
    }
    list_display = ["name", "title", "role", "influence", "attitude", "buying_unit", "is_active"]
    list_filter = ["role", "influence", "attitude", "is_active"]
    list_select_related = ["buying_unit__customer"]
    search_fields = ["name", "buying_unit__customer__code", "buying_unit__customer__name"]
    autocomplete_fields = ["buying_unit", "reports_to"]

    # Contacts are personal data: a role that may not see it gets no contact admin at all.
    def has_module_permission(self, request):
        return may_see_personal_data(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return may_see_personal_data(request.user) and super().has_view_permission(request, obj)


class FactAdmin(ScopedAdmin):
    """ERP facts arrive by import: the admin shows them and never edits them."""

    fk_scopes = {"customer": selectors.customer_list_visible_to}
    list_select_related = ["customer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(SalesLine)
class SalesLineAdmin(FactAdmin):
    scope = staticmethod(selectors.sales_line_list_visible_to)
    list_display = ["order_ref", "line_no", "order_date", "customer", "revenue", "cost", "discount"]
    search_fields = ["order_ref", "customer__code"]
    ordering = ["-order_date", "order_ref", "line_no"]
    show_full_result_count = False


@admin.register(Receivable)
class ReceivableAdmin(FactAdmin):
    scope = staticmethod(selectors.receivable_list_visible_to)
    list_display = ["invoice_ref", "customer", "invoice_date", "due_date", "amount", "paid_date"]
    search_fields = ["invoice_ref", "customer__code"]
    ordering = ["-invoice_date", "invoice_ref"]
