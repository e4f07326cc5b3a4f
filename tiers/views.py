"""Screens that show customers with their tiers (accounts' figures plus this app's)."""

import csv
import tempfile

import django_filters
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from accounts.filters import CustomerFilter
from accounts.selectors import customer_list_visible_to
from tiers.models import CustomerContribution, Tier
from tiers.reports import COLUMN_LABELS, SORTS, ordered, report_queryset, report_totals
from tiers.selectors import run_current
from tiers.services.export import (
    COLUMNS,
    MONEY,
    SHARES,
    contribution_values,
    csv_cells,
    report_rows,
    write_xlsx,
)

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


REPORT_ROWS_PER_PAGE = 50


def contribution_report(request):
    """Finance's contribution report: SPEC §5 columns, filters, sorting, totals; the same
    rows exported to CSV or XLSX (?export=csv|xlsx)."""
    visible = customer_list_visible_to(request.user)
    report_filter, rows, run = report_queryset(
        customers=visible, run=run_current(), data=request.GET
    )
    sort = request.GET.get("sort") or ""
    rows = ordered(rows, sort)
    export = request.GET.get("export")
    if export in ("csv", "xlsx") and run is not None:
        return _export(rows, run=run, kind=export)
    page = Paginator(rows.select_related("customer__owner"), REPORT_ROWS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    table = [(row, list(zip(COLUMNS, contribution_values(row), strict=True))) for row in page]
    query = request.GET.copy()
    for key in ("page", "sort", "export"):
        query.pop(key, None)
    return render(
        request,
        "tiers/contribution_report.html",
        {
            "filter": report_filter,
            "run": run,
            "page": page,
            "table": table,
            "columns": [(column, COLUMN_LABELS[column], column in SORTS) for column in COLUMNS],
            "money": MONEY,
            "shares": SHARES,
            "totals": report_totals(rows),
            "sort": sort,
            "filter_query": query.urlencode(),
            "query": "&".join(q for q in (query.urlencode(), f"sort={sort}" if sort else "") if q),
        },
    )


def _export(rows, *, run, kind):
    name = f"contribution-{run.as_of:%Y%m%d}.{kind}"
    if kind == "csv":
        response = StreamingHttpResponse(
            _csv_stream(report_rows(rows, keep_order=True)), content_type="text/csv; charset=utf-8"
        )
    else:
        # FileResponse closes the file when the download ends; the OS deletes it then.
        handle = tempfile.TemporaryFile()  # noqa: SIM115
        write_xlsx(report_rows(rows, keep_order=True), handle)
        handle.seek(0)
        response = FileResponse(
            handle,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class _Echo:
    def write(self, value):
        return value


CSV_CHUNK_ROWS = 1000


def _csv_stream(rows):
    """The CSV of write_csv, streamed 1,000 rows a chunk (100,000 rows never sit in memory,
    and the server does not pay a write per line)."""
    writer = csv.writer(_Echo())
    chunk = ["\ufeff", writer.writerow(COLUMNS)]
    for row in rows:
        chunk.append(writer.writerow(csv_cells(row)))
        if len(chunk) >= CSV_CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)
