"""The finance contribution report (/reports/contribution/): filters, sorting, totals, export.

The page and its exports share one filtered queryset, so a download holds exactly the rows
the filters show (across all pages), in the same order.
"""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Sum
from django.utils.translation import gettext_lazy as _

from tiers.models import ContributionRun, CustomerContribution, Tier

User = get_user_model()

# Sortable report columns -> database fields (the SPEC §5 names).
SORTS = {
    "customer_code": "customer__code",
    "customer_name": "customer__name",
    "owner": "customer__owner__username",
    "region": "customer__region",
    "industry": "customer__industry",
    "revenue": "revenue",
    "gross_profit": "gross_profit",
    "margin": "margin",
    "revenue_share": "revenue_share",
    "profit_share": "profit_share",
    "profit_rank": "profit_rank",
    "tier": "tier",
    "previous_tier": "previous_tier",
}
DEFAULT_SORT = "profit_rank"


class ContributionReportFilter(django_filters.FilterSet):
    run = django_filters.ModelChoiceFilter(
        label=_("Run"), queryset=ContributionRun.objects.none(), method="in_run", empty_label=None
    )
    region = django_filters.ChoiceFilter(
        label=_("Region"), field_name="customer__region", empty_label=_("All regions")
    )
    industry = django_filters.ChoiceFilter(
        label=_("Industry"), field_name="customer__industry", empty_label=_("All industries")
    )
    tier = django_filters.ChoiceFilter(
        label=_("Tier"), choices=Tier.choices, empty_label=_("All tiers")
    )
    owner = django_filters.ModelChoiceFilter(
        label=_("Owner"), field_name="customer__owner", queryset=User.objects.none(),
        empty_label=_("All owners"),
    )  # fmt: skip
    excluded = django_filters.BooleanFilter(label=_("Not real big customers only"))

    class Meta:
        model = CustomerContribution
        fields = ["run", "region", "industry", "tier", "owner", "excluded"]

    def __init__(self, data=None, *args, customers, runs, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.filters["run"].queryset = runs
        visible = customers.order_by()
        self.filters["owner"].queryset = User.objects.filter(
            pk__in=visible.values("owner_id")
        ).order_by("username")
        for name in ("region", "industry"):
            values = visible.exclude(**{name: ""}).values_list(name, flat=True).distinct()
            self.filters[name].extra["choices"] = [(v, v) for v in sorted(values)]

    def in_run(self, queryset, name, value):
        return queryset.filter(run=value) if value else queryset


def report_queryset(*, customers, run, data):
    """The rows of `run` for the visible `customers`, filtered by `data` (a QueryDict)."""
    runs = ContributionRun.objects.filter(status__in=ContributionRun.PUBLISHED).order_by(
        "-as_of", "-id"
    )
    data = data.copy()
    if run is not None and not data.get("run"):
        data["run"] = str(run.pk)
    base = CustomerContribution.objects.filter(customer__in=customers.values("pk"))
    report_filter = ContributionReportFilter(data, queryset=base, customers=customers, runs=runs)
    rows = report_filter.qs if report_filter.is_valid() else base.none()
    chosen = report_filter.form.cleaned_data.get("run") if report_filter.is_valid() else None
    return report_filter, rows, chosen


def ordered(rows, sort: str | None):
    """Order by a whitelisted column (prefix '-' for descending), then by code."""
    key = (sort or DEFAULT_SORT).lstrip("-")
    field = SORTS.get(key, SORTS[DEFAULT_SORT])
    descending = bool(sort) and sort.startswith("-") and key in SORTS
    expression = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return rows.order_by(expression, "customer__code")


def report_totals(rows) -> dict:
    return rows.aggregate(
        customers=Count("pk"), revenue=Sum("revenue"), gross_profit=Sum("gross_profit")
    )


# Screen headings of the SPEC §5 columns; the exports keep the SPEC names.
COLUMN_LABELS = {
    "customer_code": _("Code"),
    "customer_name": _("Name"),
    "owner": _("Owner"),
    "region": _("Region"),
    "industry": _("Industry"),
    "revenue": _("Revenue"),
    "gross_profit": _("Gross profit"),
    "margin": _("Margin"),
    "revenue_share": _("Revenue share"),
    "profit_share": _("Profit share"),
    "cumulative_profit_share": _("Cumulative profit share"),
    "profit_rank": _("Profit rank"),
    "revenue_tier": _("Revenue tier"),
    "profit_tier": _("Profit tier"),
    "tier": _("Tier"),
    "previous_tier": _("Previous tier"),
    "excluded": _("Excluded"),
    "exclusion_rules": _("Exclusion rules"),
    "override": _("Override"),
}
