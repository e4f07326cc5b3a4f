"""REST endpoints of the customer master: customers, sales lines and receivables (read-only)."""

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets

from accounts.models import Receivable, SalesLine
from accounts.selectors import (
    receivable_list_visible_to,
    sales_line_list_visible_to,
)
from kam.api import (
    READ_ALL,
    ModelSerializer,
    RoleScopedMixin,
)

User = get_user_model()


class SalesLineSerializer(ModelSerializer):
    class Meta:
        model = SalesLine
        fields = [
            "id",
            "customer",
            "order_ref",
            "line_no",
            "order_date",
            "product_code",
            "quantity",
            "revenue",
            "cost",
            "discount",
        ]
        read_only_fields = fields


class SalesLineFilter(django_filters.FilterSet):
    order_date_after = django_filters.DateFilter(field_name="order_date", lookup_expr="gte")
    order_date_before = django_filters.DateFilter(field_name="order_date", lookup_expr="lte")

    # By id, not a choice among all customers: an id outside the scope just matches nothing.
    customer = django_filters.NumberFilter(field_name="customer_id")

    class Meta:
        model = SalesLine
        fields = ["order_ref", "product_code"]


@extend_schema(tags=["ERP facts"])
class SalesLineViewSet(RoleScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Order lines from the ERP (returns are negative lines). Written only by the import."""

    serializer_class = SalesLineSerializer
    filterset_class = SalesLineFilter
    ordering_fields = ["order_date", "order_ref", "revenue"]
    ordering = ["-order_date", "order_ref", "line_no"]
    read_roles = READ_ALL

    def scoped_queryset(self):
        return sales_line_list_visible_to(self.request.user)


class ReceivableSerializer(ModelSerializer):
    class Meta:
        model = Receivable
        fields = [
            "id",
            "customer",
            "invoice_ref",
            "invoice_date",
            "due_date",
            "amount",
            "paid_date",
        ]
        read_only_fields = fields


class ReceivableFilter(django_filters.FilterSet):
    invoice_date_after = django_filters.DateFilter(field_name="invoice_date", lookup_expr="gte")
    invoice_date_before = django_filters.DateFilter(field_name="invoice_date", lookup_expr="lte")
    due_date_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_date_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    paid = django_filters.BooleanFilter(field_name="paid_date", lookup_expr="isnull", exclude=True)

    customer = django_filters.NumberFilter(field_name="customer_id")

    class Meta:
        model = Receivable
        fields = ["invoice_ref"]


@extend_schema(tags=["ERP facts"])
class ReceivableViewSet(RoleScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Invoices and when they were paid, from the ERP. Written only by the import."""

    serializer_class = ReceivableSerializer
    filterset_class = ReceivableFilter
    ordering_fields = ["invoice_date", "due_date", "amount"]
    ordering = ["-invoice_date", "invoice_ref"]
    read_roles = READ_ALL

    def scoped_queryset(self):
        return receivable_list_visible_to(self.request.user)
