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


def report_rows(contributions: QuerySet[CustomerContribution], *, keep_order: bool = False):
    """One list per customer in COLUMNS order, with Python values (Decimal, int, str, bool).
    By profit rank, or in the queryset's own order with `keep_order`."""
    rows = contributions.select_related("customer__owner")
    if not keep_order:
        rows = rows.order_by(F("profit_rank").asc(nulls_last=True), "customer__code")
    for c in rows.iterator(chunk_size=5000):
        yield contribution_values(c)


def contribution_values(c: CustomerContribution) -> list:
    """One report row in COLUMNS order (the customer and its owner should be selected)."""
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


def write_xlsx(rows, path) -> int:
    """Numbers as numbers with money and percent formats, a frozen header, safe text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("contribution")
    sheet.freeze_panes = "A2"
    sheet.append(COLUMNS)
    count = 0
    for row in rows:
        cells = []
        for column, value in zip(COLUMNS, row, strict=True):
            if column in MONEY:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "#,##0.00"
            elif column in SHARES:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "0.0000%"
            elif column in TEXT:
                cell = WriteOnlyCell(sheet, value=formula_safe(value or ""))
            elif isinstance(value, bool):
                cell = WriteOnlyCell(sheet, value="true" if value else "false")
            else:
                cell = WriteOnlyCell(sheet, value=value if value != "" else None)
            cells.append(cell)
        sheet.append(cells)
        count += 1
    book.save(path)
    return count
