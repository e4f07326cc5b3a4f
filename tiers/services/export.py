"""The contribution report (SPEC §5): exact columns, CSV (UTF-8 with BOM) and XLSX."""

import csv
from decimal import Decimal

from django.db.models import F, QuerySet

from kam.spreadsheets import formula_safe
from tiers.models import CustomerContribution

COLUMNS = [
    "customer_code", "customer_name", "owner", "region", "industry", "revenue",
    "gross_profit", "margin", "revenue_share", "profit_share", "cumulative_profit_share",
    "profit_rank", "revenue_tier", "profit_tier", "tier", "previous_tier", "excluded",
    "exclusion_rules", "override",
]  # fmt: skip
MONEY = {"revenue", "gross_profit"}
SHARES = {"margin", "revenue_share", "profit_share", "cumulative_profit_share"}
TEXT = {"customer_code", "customer_name", "owner", "region", "industry", "override"}


# The database columns of COLUMNS, in order: rows come straight from values_list, never as
# model objects (100,000 rows export in about a second instead of four).
_FIELDS = [
    "customer__code", "customer__name", "customer__owner__username", "customer__region",
    "customer__industry", "revenue", "gross_profit", "margin", "revenue_share", "profit_share",
    "cumulative_profit_share", "profit_rank", "revenue_tier", "profit_tier", "tier",
    "previous_tier", "excluded", "exclusion_rules", "override",
]  # fmt: skip


def report_rows(contributions: QuerySet[CustomerContribution], *, keep_order: bool = False):
    """One list per customer in COLUMNS order, with Python values (Decimal, int, str, bool).
    By profit rank, or in the queryset's own order with `keep_order`."""
    if not keep_order:
        contributions = contributions.order_by(
            F("profit_rank").asc(nulls_last=True), "customer__code"
        )
    for values in contributions.values_list(*_FIELDS).iterator(chunk_size=5000):
        row = list(values)
        row[2] = row[2] or ""  # no owner
        yield row


def contribution_values(c: CustomerContribution) -> list:
    """One report row in COLUMNS order from a model row (customer and owner selected)."""
    customer = c.customer
    return [
        customer.code,
        customer.name,
        customer.owner.username if customer.owner else "",
        customer.region,
        customer.industry,
        c.revenue,
        c.gross_profit,
        c.margin,
        c.revenue_share,
        c.profit_share,
        c.cumulative_profit_share,
        c.profit_rank,
        c.revenue_tier,
        c.profit_tier,
        c.tier,
        c.previous_tier,
        c.excluded,
        c.exclusion_rules,
        c.override,
    ]


def _text(column: str, value) -> str:
    if value is None:
        return ""
    if column in MONEY:
        return f"{value:.2f}"
    if column in SHARES:
        return f"{Decimal(value):.6f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return formula_safe(str(value)) if column in TEXT else str(value)


def write_csv(rows, handle) -> int:
    """UTF-8 with BOM (Excel then opens Chinese names right); returns rows written."""
    handle.write("\ufeff")
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(csv_cells(row))
        count += 1
    return count


def csv_cells(row) -> list[str]:
    return [_text(col, value) for col, value in zip(COLUMNS, row, strict=True)]


def write_xlsx(rows, target) -> int:
    """Numbers as numbers with money and percent formats, a frozen header, safe text.

    Written with XlsxWriter in constant-memory mode: rows stream to disk, and 100,000 rows
    take a third of openpyxl's time (openpyxl still reads the imports). `target` is a path
    or a binary file object."""
    import xlsxwriter

    book = xlsxwriter.Workbook(
        target, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = book.add_worksheet("contribution")
    money = book.add_format({"num_format": "#,##0.00"})
    share = book.add_format({"num_format": "0.0000%"})
    sheet.freeze_panes(1, 0)
    sheet.write_row(0, 0, COLUMNS)
    kinds = [
        "money" if c in MONEY else "share" if c in SHARES else "text" if c in TEXT else "plain"
        for c in COLUMNS
    ]
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, (kind, value) in enumerate(zip(kinds, row, strict=True)):
            if value is None or value == "":
                continue
            if kind == "money":
                sheet.write_number(count, col, float(value), money)
            elif kind == "share":
                sheet.write_number(count, col, float(value), share)
            elif kind == "text":
                sheet.write_string(count, col, formula_safe(value))
            elif isinstance(value, bool):
                sheet.write_string(count, col, "true" if value else "false")
            elif isinstance(value, int):
                sheet.write_number(count, col, value)
            else:
                sheet.write_string(count, col, str(value))
    book.close()
    return count
