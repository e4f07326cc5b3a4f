"""Django admin for the customer master, scoped like every screen for non-superusers."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import Http404

from accounts import selectors
from accounts.audit import audit_record, changes_between, field_values
from accounts.models import (
    AuditEvent,
    BuyingUnit,
    Contact,
    Customer,
    Receivable,
    SalesLine,
    SalesTeam,
)
from kam.roles import may_see_personal_data
from kam.versioning import VersionedModelForm

User = get_user_model()


def _audit_values(obj) -> dict:
    values = field_values(obj)
    if isinstance(obj, Customer) and obj.pk:
        values["account_team"] = sorted(obj.account_team.values_list("username", flat=True))
    return values


class ScopedAdmin(admin.ModelAdmin):
    """Rows come from the model family's scoping selector; foreign-key choices too.

    `scope` is the selector for this model; `fk_scopes` maps a foreign key field to the
    selector for its choices, so nobody can point a row at an account they cannot see.
    """

    scope = None
    fk_scopes: dict = {}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if not self.scope:
            return queryset
        # By primary key, so a scope that is distinct() (sales teams) combines too.
        return queryset.filter(pk__in=type(self).scope(request.user).values("pk"))

    def get_object(self, request, object_id, from_field=None):
        # Outside the scope is a 404 like on every screen, not the admin's "deleted?" redirect.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    # The audit trail: every add, change and delete through the admin is recorded, with the
    # many-to-many fields (account team) once they are saved too.
    audit_entity = ""

    def audit_customer(self, obj):
        return None

    def save_model(self, request, obj, form, change):
        model = type(obj)
        stored = model.objects.filter(pk=obj.pk).first() if change else None
        request._kam_audit_before = _audit_values(stored) if stored else None
        if stored is not None and hasattr(stored, "version"):
            # The form checked the version the editor opened (kam.versioning) and locked the
            # row until this transaction ends; this save is the next version.
            obj.version = stored.version + 1
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(request, "_kam_audit_before", None)
        audit_record(
            actor=request.user,
            entity=self.audit_entity or obj._meta.model_name,
            entity_id=obj.pk,
            customer=self.audit_customer(obj),
            action="update" if before else "create",
            summary=str(obj),
            changes=changes_between(before, _audit_values(obj)),
        )

    def save_formset(self, request, form, formset, change):
        """Inline rows (a customer's buying units) are recorded one by one."""
        before = {
            f.instance.pk: _audit_values(f.instance) for f in formset.initial_forms if f.instance.pk
        }
        deleting = [
            f.instance.pk
            for f in formset.initial_forms
            if formset.can_delete and formset._should_delete_form(f)
        ]
        super().save_formset(request, form, formset, change)
        customer = self.audit_customer(form.instance)
        entity = formset.model._meta.model_name
        for row in formset.new_objects + [obj for obj, _fields in formset.changed_objects]:
            audit_record(
                actor=request.user, entity=entity, entity_id=row.pk, customer=customer,
                action="update" if row.pk in before else "create", summary=str(row),
                changes=changes_between(before.get(row.pk), _audit_values(row)),
            )  # fmt: skip
        for pk in deleting:
            audit_record(
                actor=request.user, entity=entity, entity_id=pk, customer=customer,
                action="delete", summary=str(before[pk].get("name", pk)),
                changes=changes_between(before[pk], None),
            )  # fmt: skip

    def delete_model(self, request, obj):
        customer, values, pk = self.audit_customer(obj), _audit_values(obj), obj.pk
        super().delete_model(request, obj)
        audit_record(
            actor=request.user, entity=self.audit_entity or obj._meta.model_name, entity_id=pk,
            customer=customer if customer and customer.pk else None, action="delete",
            summary=str(obj), changes=changes_between(values, None),
        )  # fmt: skip

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

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


class CustomerAdminForm(VersionedModelForm):
    class Meta:
        model = Customer
        fields = "__all__"


class ContactAdminForm(VersionedModelForm):
    class Meta:
        model = Contact
        fields = "__all__"


@admin.register(Customer)
class CustomerAdmin(ScopedAdmin):
    form = CustomerAdminForm
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

    def audit_customer(self, obj):
        return obj


@admin.register(BuyingUnit)
class BuyingUnitAdmin(ScopedAdmin):
    scope = staticmethod(selectors.buying_unit_list_visible_to)
    fk_scopes = {"customer": selectors.customer_list_visible_to}
    list_display = ["name", "kind", "customer"]
    list_select_related = ["customer"]
    search_fields = ["name", "customer__code", "customer__name"]
    autocomplete_fields = ["customer"]

    def audit_customer(self, obj):
        return obj.customer


@admin.register(Contact)
class ContactAdmin(ScopedAdmin):
    form = ContactAdminForm
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

    def audit_customer(self, obj):
        return obj.buying_unit.customer

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


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    """The change history: read-only, scoped like everything else (events of no customer,
    such as imports and policy changes, only for those who see every account)."""

    list_display = ["at", "actor", "entity", "action", "customer", "summary"]
    list_filter = ["entity", "action"]
    search_fields = ["summary", "customer__code", "customer__name"]
    list_select_related = ["actor", "customer"]
    date_hierarchy = "at"

    def get_queryset(self, request):
        return selectors.audit_event_list_visible_to(request.user).select_related(
            "actor", "customer"
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff
