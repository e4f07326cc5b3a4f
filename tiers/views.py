"""Screens that show customers with their tiers (accounts' figures plus this app's)."""

import django_filters
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from accounts.filters import CustomerFilter
from accounts.selectors import customer_list_visible_to
from tiers.models import CustomerContribution, Tier
from tiers.selectors import run_current

CUSTOMERS_PER_PAGE = 50


class CustomerTierFilter(CustomerFilter):
    tier = django_filters.ChoiceFilter(
        label=_("Tier"), choices=Tier.choices, empty_label=_("All tiers"), method="in_tier"
    )

    class Meta(CustomerFilter.Meta):
        fields = ["q", "tier", *CustomerFilter.Meta.fields[1:]]

    def __init__(self, *args, run=None, **kwargs):
        self.run = run
        super().__init__(*args, **kwargs)

    def in_tier(self, queryset, name, value):
        if self.run is None:
            return queryset.none()
        in_tier = CustomerContribution.objects.filter(run=self.run, tier=value)
        return queryset.filter(pk__in=in_tier.values("customer_id"))


def customer_list(request):
    """The customer list: search, filter by tier, owner, region, industry; 50 a page."""
    run = run_current()
    visible = customer_list_visible_to(request.user)
    customer_filter = CustomerTierFilter(request.GET or None, queryset=visible, run=run)
    queryset = customer_filter.qs if customer_filter.is_bound else visible
    if run is not None:
        tiers = CustomerContribution.objects.filter(run=run, customer=OuterRef("pk"))
        queryset = queryset.annotate(tier=Subquery(tiers.values("tier")[:1]))
    page = Paginator(queryset.order_by("code"), CUSTOMERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/customer_list.html",
        {"filter": customer_filter, "page": page, "query": query.urlencode(), "run": run},
    )
