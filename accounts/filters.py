"""Filters for the customer list. Choices come from the reader's scope only."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer

User = get_user_model()


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="search")
    owner = django_filters.ModelChoiceFilter(
        label=_("Owner"), queryset=User.objects.none(), empty_label=_("All owners")
    )
    region = django_filters.ChoiceFilter(label=_("Region"), empty_label=_("All regions"))
    industry = django_filters.ChoiceFilter(label=_("Industry"), empty_label=_("All industries"))
    relationship_level = django_filters.ChoiceFilter(
        label=_("Relationship level"),
        choices=Customer.RelationshipLevel.choices,
        empty_label=_("All levels"),
    )
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=Customer.Status.choices, empty_label=_("All statuses")
    )

    class Meta:
        model = Customer
        fields = ["q", "owner", "region", "industry", "relationship_level", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `queryset` is already scoped: offer only owners, regions and industries in it.
        visible = self.queryset.order_by()
        self.filters["owner"].queryset = User.objects.filter(
            pk__in=visible.values("owner_id")
        ).order_by("username")
        for name in ("region", "industry"):
            values = visible.exclude(**{name: ""}).values_list(name, flat=True).distinct()
            self.filters[name].extra["choices"] = [(v, v) for v in sorted(values)]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))
