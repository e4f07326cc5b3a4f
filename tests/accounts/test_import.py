"""Importing ERP files (SPEC §5 import contract, §6 "imports are all-or-nothing and say why").

A rejected file changes nothing and lists every problem as `file:row:column: message (value)`
(row = Excel row, header = row 1); an accepted one reports rows read = created + updated +
unchanged; a dry run reports exactly what a real run would and writes nothing.
"""

import csv
import datetime
import io
import os
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from accounts.importing import bulk, sources
from accounts.importing.service import import_data
from accounts.models import BuyingUnit, Contact, Customer, ImportRun, Receivable, SalesLine
from tests.factories import CustomerFactory, ReceivableFactory, SalesLineFactory, UserFactory

pytestmark = pytest.mark.django_db

IMPORTED_MODELS = (Customer, BuyingUnit, Contact, SalesLine, Receivable)

CUSTOMER_COLUMNS = (
    "code, name, industry, region, parent_code, owner, relationship_level, credit_limit, "
    "payment_terms_days, referred_by_code, status"
)

SALES_HEADER = ["customer_code", "order_ref", "line_no", "order_date", "revenue", "cost"]
# Two valid rows that bad-input files carry too: a rejected file must not apply them either.
GOOD_SALES = [
    ["R001", "SO-OLD", "1", "2026-06-01", "1500.00", "700.00"],  # would update the stored line
    ["R001", "SO-NEW", "1", "2026-06-02", "800.00", "500.00"],  # would create a line
]

# One valid file of each kind, with every column, for the round-trip tests.
FULL_FILES = {
    "customers": [
        [
            "code",
            "name",
            "industry",
            "region",
            "parent_code",
            "owner",
            "relationship_level",
            "credit_limit",
            "payment_terms_days",
            "referred_by_code",
            "status",
        ],
        [
            "G100",
            "华东集团",
            "机械制造",
            "华东",
            "",
            "rep",
            "strategic",
            "5,000,000.00",
            "90",
            "",
            "",
        ],
        [
            "G101",
            "华东集团苏州分公司",
            "机械制造",
            "华东",
            "G100",
            "rep",
            "partner",
            "",
            "60",
            "G100",
            "",
        ],
        ["G102", "华东集团无锡工厂", "", "华东", "G101", "", "", "1000.5", "0", "", "dormant"],
    ],
    "contacts": [
        [
            "customer_code",
            "buying_unit",
            "name",
            "title",
            "role",
            "influence",
            "attitude",
            "phone",
            "email",
            "birthday",
        ],
        [
            "R001",
            "采购部",
            "张三",
            "采购经理",
            "buyer",
            "high",
            "supporter",
            "13800000001",
            "zhang@example.cn",
            "1980-05-17",
        ],
        ["R001", "技术部", "李四", "总工", "technical", "medium", "neutral", "", "", ""],
        [
            "M001",
            "财务部",
            "王五",
            "财务总监",
            "finance",
            "low",
            "opponent",
            "13800000003",
            "",
            "1975-12-31",
        ],
    ],
    "sales": [
        [
            "customer_code",
            "order_ref",
            "line_no",
            "order_date",
            "product_code",
            "quantity",
            "revenue",
            "cost",
            "discount",
        ],
        ["R001", "SO-1", "1", "2026-01-05", "P-100", "10", "1,234.50", "800.00", "50.00"],
        ["R001", "SO-1", "2", "2026-01-05", "P-200", "2.5", "99.99", "120.00", "0"],
        ["M001", "SO-2", "1", "2026-02-01", "", "1", "-500.00", "-300.00", ""],
    ],
    "payments": [
        ["customer_code", "invoice_ref", "invoice_date", "due_date", "amount", "paid_date"],
        ["R001", "INV-1", "2026-01-05", "2026-02-04", "12,000.00", "2026-02-01"],
        ["M001", "INV-2", "2026-01-10", "2026-03-10", "500.5", ""],
        ["R001", "INV-3", "2026-02-10", "2026-03-10", "0.01", ""],
    ],
}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True, params=["staged", "bulk"])
def load_path(request, settings):
    """Every test here runs twice on PostgreSQL: once as files of this size go (staged), and
    once with every CSV file of new sales lines or receivables allowed the bulk load
    (accounts/importing/bulk.py), whose reports and stored rows must be the same."""
    if request.param == "bulk":
        if connection.vendor != "postgresql":
            pytest.skip("the bulk load is PostgreSQL's; SQLite always stages")
        settings.KAM_IMPORT_BULK_MIN_ROWS = 1
    return request.param


@pytest.fixture
def book(rep_customer, teammate_customer, outsider_customer, rep_contact):
    """What KAM holds before an import: three customers, a contact, a sales line, an invoice."""
    SalesLineFactory(
        customer=rep_customer,
        order_ref="SO-OLD",
        line_no=1,
        revenue=Decimal("1000.00"),
        cost=Decimal("700.00"),
    )
    ReceivableFactory(customer=rep_customer, invoice_ref="INV-OLD")
    return rep_customer


def snapshot():
    """Every row of every model an import writes: "nothing changed" is checked exactly."""
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in IMPORTED_MODELS}


def write_csv(tmp_path, name, rows, *, encoding="utf-8", newline="\n"):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue().encode(encoding))
    return str(path)


def write_xlsx(tmp_path, name, rows, *, empty_first_sheet=False):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    if empty_first_sheet:
        sheet.title = "说明"
        sheet = workbook.create_sheet("数据")
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return str(path)


def import_rejected(kind, path, **kwargs):
    """Import a bad file: it must be rejected, change nothing, and be recorded."""
    before = snapshot()
    runs = ImportRun.objects.count()
    report = import_data(kind=kind, path=path, **kwargs)
    assert not report.accepted, report.summary()
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)
    assert snapshot() == before, "a rejected file must not change anything"
    assert ImportRun.objects.count() == runs + 1
    return report


def import_accepted(kind, path, **kwargs):
    report = import_data(kind=kind, path=path, **kwargs)
    assert report.accepted, report.problems
    assert report.problems == []
    assert report.rows_read == report.created + report.updated + report.unchanged
    return report


def outcome(report):
    return (
        report.accepted,
        report.rows_read,
        report.created,
        report.updated,
        report.unchanged,
        report.problem_count,
        report.problems,
        report.notes,
    )


def problem_rows(report):
    return [int(problem.split(":")[1]) for problem in report.problems]


# -- the header and the file as a whole ---------------------------------------------------


def test_unknown_column_is_rejected_naming_it_and_the_known_columns(tmp_path, book):
    path = write_csv(
        tmp_path,
        "customers.csv",
        [["code", "name", "colour"], ["R001", "Renamed", "red"], ["N001", "New Co", "blue"]],
    )
    report = import_rejected("customers", path)
    assert report.problems == [
        "customers.csv:1:colour: unknown column; the columns of a customers file are: "
        + CUSTOMER_COLUMNS
    ]


def test_missing_required_columns_are_each_rejected(tmp_path, book):
    header = ["customer_code", "order_ref", "line_no", "order_date"]
    path = write_csv(tmp_path, "sales.csv", [header, *(row[:4] for row in GOOD_SALES)])
    report = import_rejected("sales", path)
    assert report.problems == [
        "sales.csv:1:revenue: required column is missing",
        "sales.csv:1:cost: required column is missing",
    ]


def test_empty_file_is_rejected(tmp_path, book):
    path = tmp_path / "sales.csv"
    path.write_bytes(b"")
    report = import_rejected("sales", str(path))
    assert report.problems == ["sales.csv:-:-: the file is empty"]


@pytest.mark.parametrize(
    "text",
    [
        "customer_code,order_ref,line_no,order_date,revenue,cost\n",
        "customer_code,order_ref,line_no,order_date,revenue,cost\r\n\r\n,,,,,\r\n",
    ],
    ids=["header-only", "header-and-blank-lines"],
)
def test_header_only_file_is_rejected(tmp_path, book, text):
    path = tmp_path / "sales.csv"
    path.write_text(text, encoding="utf-8")
    report = import_rejected("sales", str(path))
    assert report.problems == ["sales.csv:-:-: the file has a header but no data rows"]


def _xlsx_bytes(tmp_path):
    return Path(write_xlsx(tmp_path, "real.xlsx", [SALES_HEADER, *GOOD_SALES])).read_bytes()


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "report.pdf",
            lambda t: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
            "wrong file type .pdf: expected .csv or .xlsx",
        ),
        (
            "sales",
            lambda t: b"customer_code\nR001\n",
            "wrong file type (none): expected .csv or .xlsx",
        ),
        (
            "sales.txt",
            lambda t: bytes(range(256)) * 4,
            "not a text CSV file (it looks like a binary or Excel file)",
        ),
        ("sales.csv", _xlsx_bytes, "not a text CSV file (it looks like a binary or Excel file)"),
        (
            "sales.xlsx",
            lambda t: b"customer_code,order_ref\nR001,SO-1\n",
            "not an XLSX workbook (an .xlsx file is a zip archive)",
        ),
    ],
    ids=["pdf", "no-extension", "binary-txt", "xlsx-renamed-csv", "csv-renamed-xlsx"],
)
def test_wrong_file_type_is_rejected(tmp_path, book, name, content, message):
    data = content(tmp_path)
    path = tmp_path / name
    path.write_bytes(data)
    report = import_rejected("sales", str(path))
    assert report.problems == [f"{name}:-:-: {message}"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_file_over_the_size_limit_is_rejected_before_parsing(tmp_path, book, settings, kind):
    # Content no reader could parse (bytes that are neither UTF-8 nor GB18030, or no zip
    # at all): if anything but the size were looked at, another problem would be reported.
    path = tmp_path / f"sales.{kind}"
    path.write_bytes(b"\xff\xfe\xfd" * 100)
    setattr(settings, f"KAM_IMPORT_MAX_{kind.upper()}_BYTES", 100)
    report = import_rejected("sales", str(path))
    assert report.problems == [
        f"sales.{kind}:-:-: the file is 300 bytes, over the 100-byte limit for {kind.upper()} files"
    ]


def test_a_file_exactly_at_the_size_limit_is_read(tmp_path, book, settings):
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES])
    settings.KAM_IMPORT_MAX_CSV_BYTES = os.path.getsize(path)
    report = import_accepted("sales", path)
    assert (report.created, report.updated) == (1, 1)


def test_xlsx_with_an_empty_first_sheet_is_rejected(tmp_path, book):
    path = write_xlsx(tmp_path, "sales.xlsx", [SALES_HEADER, *GOOD_SALES], empty_first_sheet=True)
    report = import_rejected("sales", path)
    assert report.problems == ["sales.xlsx:-:-: the first sheet is empty"]


def test_xlsx_is_parsed_with_defusedxml():
    # SPEC §6: XLSX is read with defusedxml installed (openpyxl then uses it for every part).
    assert openpyxl.xml.DEFUSEDXML is True


# -- encodings -----------------------------------------------------------------------------


def test_gbk_customers_with_chinese_headers_and_labels_round_trip(tmp_path, rep):
    rows = [
        ["客户编码", "客户名称", "行业", "区域", "负责人", "关系层级", "信用额度", "账期", "状态"],
        [
            "K001",
            "深圳华强电子有限公司",
            "电子",
            "华南",
            "rep",
            "战略性",
            "1,000,000.00",
            "60",
            "活跃",
        ],
        ["K002", "北京燕山石化股份公司", "石化", "华北", "", "伙伴式", "", "30", "休眠"],
    ]
    path = write_csv(tmp_path, "客户.csv", rows, encoding="gbk", newline="\r\n")
    raw = Path(path).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GBK, not UTF-8 by accident
    report = import_accepted("customers", path)
    assert (report.rows_read, report.created) == (2, 2)
    k001, k002 = Customer.objects.filter(code__in=["K001", "K002"]).order_by("code")
    assert (k001.name, k001.industry, k001.region) == ("深圳华强电子有限公司", "电子", "华南")
    assert k001.owner == rep
    assert k001.relationship_level == Customer.RelationshipLevel.STRATEGIC
    assert k001.credit_limit == Decimal("1000000.00")
    assert (k001.payment_terms_days, k001.status) == (60, Customer.Status.ACTIVE)
    assert (k002.name, k002.owner, k002.credit_limit) == ("北京燕山石化股份公司", None, None)
    assert k002.relationship_level == Customer.RelationshipLevel.PARTNER
    assert k002.status == Customer.Status.DORMANT


def test_gbk_contacts_with_chinese_headers_and_labels(tmp_path, book):
    rows = [
        ["客户编码", "采购单元", "姓名", "职务", "角色", "影响力", "态度", "生日"],
        ["R001", "设备部", "赵工程师", "设备主管", "技术把关", "高", "支持者", "1979-03-08"],
    ]
    path = write_csv(tmp_path, "联系人.csv", rows, encoding="gbk")
    report = import_accepted("contacts", path)
    assert report.created == 1
    contact = Contact.objects.get(name="赵工程师")
    assert contact.buying_unit.name == "设备部"
    assert contact.buying_unit.customer.code == "R001"
    assert (contact.title, contact.role) == ("设备主管", Contact.Role.TECHNICAL)
    assert (contact.influence, contact.attitude) == ("high", "supporter")
    assert contact.birthday == datetime.date(1979, 3, 8)


def test_utf8_with_bom_csv_imports(tmp_path, rep):
    rows = [["code", "name", "region"], ["B001", "上海电气集团", "华东"]]
    path = write_csv(tmp_path, "customers.csv", rows, encoding="utf-8-sig", newline="\r\n")
    assert Path(path).read_bytes().startswith(b"\xef\xbb\xbf")
    report = import_accepted("customers", path)
    assert report.created == 1
    customer = Customer.objects.get(code="B001")  # the BOM did not become part of "code"
    assert (customer.name, customer.region) == ("上海电气集团", "华东")


def test_utf8_character_across_a_decode_chunk_is_still_utf8(tmp_path, rep):
    # The encoding is checked in 1 MiB chunks; a character split between two chunks must not
    # make a UTF-8 file look like something else.
    head = b"code,name\n"
    row = "B001,上海电气集团\n".encode()
    padding = (1 << 20) - len(head) - len(b"B001,") - 1  # 上's 3 bytes straddle the boundary
    path = tmp_path / "customers.csv"
    path.write_bytes(head + b"\n" * padding + row)
    report = import_accepted("customers", str(path))
    assert (report.rows_read, report.created) == (1, 1)
    assert Customer.objects.get(code="B001").name == "上海电气集团"


def test_file_neither_utf8_nor_gb18030_is_rejected_without_replacement_characters(tmp_path, book):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"code,name\r\nC001,Caf\xe9 M\xfcnchen\r\nC002,\xff\xfe\r\n")  # cp1252
    report = import_rejected("customers", str(path))
    assert report.problems == ["customers.csv:-:-: the file is neither UTF-8 nor GB18030/GBK text"]
    assert not Customer.objects.filter(code__in=["C001", "C002"]).exists()
    assert not Customer.objects.filter(name__contains="\ufffd").exists()
    run = ImportRun.objects.get(pk=report.run_id)
    assert "\ufffd" not in "".join(run.problems)


# -- cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        ("2026-02-30", "no such date"),
        ("2026-02-29", "no such date"),  # 2026 is not a leap year
        ("2026-04-31", "no such date"),
        ("2026-06-31", "no such date"),
        ("2026-11-31", "no such date"),
        ("1900-02-29", "no such date"),  # 1900 is not a leap year either
        ("2026/01/05", "not a date in the form YYYY-MM-DD"),
        ("05.01.2026", "not a date in the form YYYY-MM-DD"),
    ],
)
def test_bad_date_is_rejected(tmp_path, book, value, message):
    bad = ["R001", "SO-BAD", "1", value, "100.00", "50.00"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, bad])
    report = import_rejected("sales", path)
    assert report.problems == [f"sales.csv:4:order_date: {message} ({value})"]


def test_the_fast_date_pattern_accepts_exactly_the_real_dates_but_february_29():
    """Dates the pattern passes are staged as text for PostgreSQL to read; any it refuses
    take the careful path. So it must never pass a date that does not exist."""
    import re

    from accounts.importing.schemas import FAST_DATE

    pattern = re.compile(FAST_DATE)
    for year in (1900, 1999, 2000, 2024, 2026):
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year}-{month:02d}-{day:02d}"
                try:
                    real = datetime.date(year, month, day) is not None
                except ValueError:
                    real = False
                expected = real and (month, day) != (2, 29)
                assert bool(pattern.fullmatch(text)) == expected, text


def test_the_bulk_patterns_take_no_cell_the_fast_patterns_refuse():
    """Each bulk cell pattern is its fast pattern minus commas and quotes: never more."""
    samples = [
        "", " ", "a", " a", "a ", "a b", "a,b", 'a"b', "a\\b", "a\tb", "\u3000a", "产品",
        "0", "-0", "1", "01", "1.5", "1.55", "1.555", "-1.25", "1e3", "1,234.50", "١٢",
        "2026-02-28", "2026-02-29", "2026-04-31", "2026-12-31", "12345678901234567",
        "x" * 50, "x" * 51,
    ]  # fmt: skip
    for fast, cell in bulk._BULK_CELLS.items():
        for sample in samples:
            if re.fullmatch(cell, sample) and len(sample) <= 50:
                assert re.fullmatch(fast, sample), (fast, sample)
                assert "," not in sample and '"' not in sample


@pytest.mark.parametrize("shuffled", [False, True], ids=["schema-order", "shuffled"])
def test_every_column_in_any_order_stores_the_same_lines(tmp_path, book, shuffled):
    """With every column in the schema's order, a plain row is staged as the file's text
    (PostgreSQL's fastest path); in any other order its cells are picked out first."""
    header = ["customer_code", "order_ref", "line_no", "order_date", "product_code",
              "quantity", "revenue", "cost", "discount"]  # fmt: skip
    rows = [
        ["R001", "SO-ALL", "1", "2026-05-31", "P-1", "3", "1200.50", "800.25", "10.00"],
        ["R001", "SO-ALL", "2", "2026-06-02", "", "1.5", "-30.00", "-20.00", "0"],
        ["R001", "SO-ALL", "3", "2026-06-03", "P 3", "2", "1,000.00", "700", ""],  # careful
    ]
    if shuffled:
        order = [8, 3, 0, 6, 1, 7, 2, 5, 4]
        header = [header[i] for i in order]
        rows = [[row[i] for i in order] for row in rows]
    import_accepted("sales", write_csv(tmp_path, "sales.csv", [header, *rows]))
    stored = SalesLine.objects.filter(order_ref="SO-ALL").order_by("line_no")
    assert [
        (line.customer.code, line.line_no, line.order_date.isoformat(), line.product_code,
         line.quantity, line.revenue, line.cost, line.discount)
        for line in stored
    ] == [
        ("R001", 1, "2026-05-31", "P-1", Decimal("3"), Decimal("1200.50"), Decimal("800.25"),
         Decimal("10.00")),
        ("R001", 2, "2026-06-02", "", Decimal("1.5"), Decimal("-30.00"), Decimal("-20.00"),
         Decimal("0")),
        ("R001", 3, "2026-06-03", "P 3", Decimal("2"), Decimal("1000.00"), Decimal("700.00"),
         Decimal("0")),
    ]  # fmt: skip


def test_digits_of_other_scripts_are_read_as_numbers_but_not_as_dates(tmp_path, book):
    """Full-width and Arabic-Indic digits never reach PostgreSQL's COPY (which cannot read
    them): an amount with them is read by Python as the number, a date is refused."""
    rows = [["R001", "SO-WIDE", "1", "2026-06-01", "１０.00", "٥.00"]]
    import_accepted("sales", write_csv(tmp_path, "sales.csv", [SALES_HEADER, *rows]))
    line = SalesLine.objects.get(order_ref="SO-WIDE")
    assert (line.revenue, line.cost) == (Decimal("10.00"), Decimal("5.00"))
    bad = ["R001", "SO-BAD", "1", "20٢٦-05-31", "10.00", "5.00"]
    report = import_rejected("sales", write_csv(tmp_path, "bad.csv", [SALES_HEADER, bad]))
    assert report.problems == [
        "bad.csv:2:order_date: not a date in the form YYYY-MM-DD (20٢٦-05-31)"
    ]


def test_month_ends_and_a_leap_day_are_stored_as_those_dates(tmp_path, book):
    days = ["2026-01-31", "2026-04-30", "2026-03-29", "2026-12-31", "2024-02-29", "2026-02-28"]
    rows = [["R001", f"SO-END-{n}", "1", day, "10.00", "5.00"] for n, day in enumerate(days)]
    import_accepted("sales", write_csv(tmp_path, "sales.csv", [SALES_HEADER, *rows]))
    stored = SalesLine.objects.filter(order_ref__startswith="SO-END-").order_by("order_ref")
    assert [line.order_date.isoformat() for line in stored] == days


@pytest.mark.parametrize(
    "value, message",
    [
        ("12,34.5", "not a number (use digits, an optional . and optional , separators)"),
        ("abc", "not a number (use digits, an optional . and optional , separators)"),
        ("1.234", "an amount has at most two decimal places"),
    ],
)
def test_bad_number_is_rejected(tmp_path, book, value, message):
    bad = ["R001", "SO-BAD", "1", "2026-06-03", value, "50.00"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, bad])
    report = import_rejected("sales", path)
    assert report.problems == [f"sales.csv:4:revenue: {message} ({value})"]


def test_thousands_separators_are_read_as_exact_decimals(tmp_path, book):
    header = [*SALES_HEADER, "quantity", "discount"]
    row = ["R001", "SO-TS", "1", "2026-06-03", "1,234.50", "1,000", "1,500.25", "12.5"]
    path = write_csv(tmp_path, "sales.csv", [header, row])
    report = import_accepted("sales", path)
    assert report.created == 1
    line = SalesLine.objects.get(order_ref="SO-TS")
    assert line.revenue == Decimal("1234.50")
    assert line.cost == Decimal("1000.00")
    assert line.quantity == Decimal("1500.250")
    assert line.discount == Decimal("12.50")


@pytest.mark.parametrize(
    "kind, header, good, bad",
    [
        ("sales", SALES_HEADER, GOOD_SALES, ["NOPE", "SO-X", "1", "2026-06-03", "10", "5"]),
        (
            "payments",
            ["customer_code", "invoice_ref", "invoice_date", "due_date", "amount"],
            [["R001", "INV-NEW", "2026-06-01", "2026-07-01", "100.00"]],
            ["NOPE", "INV-X", "2026-06-01", "2026-07-01", "100.00"],
        ),
        (
            "contacts",
            ["customer_code", "buying_unit", "name"],
            [["R001", "新部门", "新联系人"]],
            ["NOPE", "采购部", "某人"],
        ),
    ],
    ids=["sales", "payments", "contacts"],
)
def test_unknown_customer_code_is_rejected(tmp_path, book, kind, header, good, bad):
    path = write_csv(tmp_path, f"{kind}.csv", [header, *good, bad])
    report = import_rejected(kind, path)
    row = len(good) + 2
    assert report.problems == [
        f"{kind}.csv:{row}:customer_code: unknown customer code (import the customers first) (NOPE)"
    ]


@pytest.mark.parametrize("username", ["ghost", "gone"], ids=["no-such-user", "inactive-user"])
def test_unknown_owner_is_rejected(tmp_path, book, username):
    UserFactory(username="gone", is_active=False)
    rows = [["code", "name", "owner"], ["N001", "New Co", "rep"], ["N002", "Other Co", username]]
    path = write_csv(tmp_path, "customers.csv", rows)
    report = import_rejected("customers", path)
    assert report.problems == [
        f"customers.csv:3:owner: unknown owner: no active user has this username ({username})"
    ]


def test_unknown_parent_and_referrer_codes_are_rejected(tmp_path, book):
    rows = [
        ["code", "name", "parent_code", "referred_by_code"],
        ["N001", "New Co", "R001", "N002"],  # parent in KAM, referrer later in the file: fine
        ["N002", "Other Co", "ZZZ", ""],
        ["N003", "Third Co", "", "YYY"],
    ]
    path = write_csv(tmp_path, "customers.csv", rows)
    report = import_rejected("customers", path)
    assert report.problems == [
        "customers.csv:3:parent_code: unknown customer code: not in KAM and not in this file (ZZZ)",
        "customers.csv:4:referred_by_code: unknown customer code: not in KAM and not in this file "
        "(YYY)",
    ]


def test_customer_referred_by_itself_is_rejected(tmp_path, book):
    # Customer.clean(): "A customer cannot refer itself." The import writes the same table.
    rows = [["code", "name", "referred_by_code"], ["N001", "New Co", "R001"], ["R001", "R", "R001"]]
    path = write_csv(tmp_path, "customers.csv", rows)
    report = import_rejected("customers", path)
    assert report.problem_count == 1
    assert report.problems[0].startswith("customers.csv:3:referred_by_code: ")
    assert report.problems[0].endswith(" (R001)")


def test_parent_cycle_inside_the_file_is_rejected(tmp_path, book):
    rows = [
        ["code", "name", "parent_code"],
        ["A001", "A Co", "B001"],
        ["B001", "B Co", "A001"],
        ["C001", "C Co", "A001"],  # under the loop, not part of it
    ]
    path = write_csv(tmp_path, "groups.csv", rows)
    report = import_rejected("customers", path)
    assert report.problems == [
        "groups.csv:2:parent_code: this parent makes the group hierarchy a cycle: "
        "A001 → B001 → A001 (B001)",
        "groups.csv:3:parent_code: this parent makes the group hierarchy a cycle: "
        "B001 → A001 → B001 (A001)",
    ]


def test_customer_as_its_own_parent_is_rejected(tmp_path, book):
    path = write_csv(
        tmp_path, "groups.csv", [["code", "name", "parent_code"], ["R001", "R", "R001"]]
    )
    report = import_rejected("customers", path)
    assert report.problems == [
        "groups.csv:2:parent_code: this parent makes the group hierarchy a cycle: "
        "R001 → R001 (R001)"
    ]


def test_parent_cycle_between_file_and_database_is_rejected(tmp_path, book):
    top = CustomerFactory(code="P2")
    CustomerFactory(code="P1", parent=top)  # in KAM: P1 → P2
    rows = [["code", "name", "parent_code"], ["N001", "New Co", ""], ["P2", "Top Co", "P1"]]
    path = write_csv(tmp_path, "groups.csv", rows)
    report = import_rejected("customers", path)
    assert report.problems == [
        "groups.csv:3:parent_code: this parent makes the group hierarchy a cycle: P2 → P1 → P2 (P1)"
    ]


def test_turning_a_hierarchy_upside_down_in_one_file_is_accepted(tmp_path, book):
    top = CustomerFactory(code="P2")
    CustomerFactory(code="P1", parent=top)  # in KAM: P1 → P2; after the file: P2 → P1
    rows = [["code", "name", "parent_code"], ["P1", "One Co", ""], ["P2", "Two Co", "P1"]]
    path = write_csv(tmp_path, "groups.csv", rows)
    report = import_accepted("customers", path)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    assert Customer.objects.get(code="P1").parent is None
    assert Customer.objects.get(code="P2").parent.code == "P1"


@pytest.mark.parametrize(
    "kind, rows, problem",
    [
        (
            "sales",
            [
                SALES_HEADER,
                ["R001", "SO-1", "1", "2026-06-01", "100", "50"],
                ["R001", "SO-1", "2", "2026-06-01", "100", "50"],
                ["R001", "SO-1", "1", "2026-06-02", "200", "80"],
            ],
            "sales.csv:4:order_ref+line_no: duplicate key: the same order_ref + line_no appears "
            "earlier in the file (SO-1/1, first at row 2)",
        ),
        (
            "sales",
            [
                ["customer_code", "order_ref", "order_date", "revenue", "cost"],
                ["R001", "SO-9", "2026-06-01", "100", "50"],
                ["R001", "SO-9", "2026-06-02", "200", "80"],
            ],
            "sales.csv:3:order_ref+line_no: duplicate key: the same order_ref + line_no appears "
            "earlier in the file (SO-9/1, first at row 2)",
        ),
        (
            "customers",
            [["code", "name"], ["C001", "First"], ["R001", "Rep"], ["C001", "Second"]],
            "customers.csv:4:code: duplicate key: the same code appears earlier in the file "
            "(C001, first at row 2)",
        ),
    ],
    ids=["sales-order-line", "sales-default-line-no", "customers-code"],
)
def test_duplicate_key_inside_the_file_names_both_rows(tmp_path, book, kind, rows, problem):
    path = write_csv(tmp_path, f"{kind}.csv", rows)
    report = import_rejected(kind, path)
    assert report.problems == [problem]


@pytest.mark.parametrize(
    "kind, header, good, bad, column, allowed",
    [
        (
            "customers",
            ["code", "name", "relationship_level"],
            ["N001", "New Co", "partner"],
            ["R001", "Rep Owned Co", "gold"],
            "relationship_level",
            "ordinary, partner, strategic",
        ),
        (
            "customers",
            ["code", "name", "status"],
            ["N001", "New Co", "dormant"],
            ["R001", "Rep Owned Co", "deleted"],
            "status",
            "active, dormant, closed",
        ),
        (
            "contacts",
            ["customer_code", "buying_unit", "name", "role"],
            ["R001", "工程部", "新人", "buyer"],
            ["R001", "采购部", "王采购", "boss"],
            "role",
            "decision_maker, influencer, buyer, user, technical, finance, gatekeeper, other",
        ),
        (
            "contacts",
            ["customer_code", "buying_unit", "name", "influence"],
            ["R001", "工程部", "新人", "high"],
            ["R001", "采购部", "王采购", "huge"],
            "influence",
            "high, medium, low",
        ),
        (
            "contacts",
            ["customer_code", "buying_unit", "name", "attitude"],
            ["R001", "工程部", "新人", "supporter"],
            ["R001", "采购部", "王采购", "hostile"],
            "attitude",
            "supporter, neutral, opponent, unknown",
        ),
    ],
    ids=["relationship_level", "status", "role", "influence", "attitude"],
)
def test_invalid_choice_lists_the_allowed_values(
    tmp_path, book, kind, header, good, bad, column, allowed
):
    path = write_csv(tmp_path, f"{kind}.csv", [header, good, bad])
    report = import_rejected(kind, path)
    assert report.problems == [f"{kind}.csv:3:{column}: must be one of: {allowed} ({bad[-1]})"]


def test_sale_with_positive_revenue_and_negative_cost_is_rejected(tmp_path, book):
    bad = ["R001", "SO-NEG", "1", "2026-06-03", "100.00", "-5"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, bad])
    report = import_rejected("sales", path)
    assert report.problems == [
        "sales.csv:4:cost: negative cost on a sale with positive revenue (-5.00)"
    ]


def test_return_line_with_negative_revenue_and_cost_is_accepted(tmp_path, book):
    row = ["R001", "RET-1", "1", "2026-06-03", "-100.00", "-70.00"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, row])
    import_accepted("sales", path)
    line = SalesLine.objects.get(order_ref="RET-1")
    assert (line.revenue, line.cost) == (Decimal("-100.00"), Decimal("-70.00"))


def test_payment_due_before_its_invoice_is_rejected(tmp_path, book):
    rows = [
        ["customer_code", "invoice_ref", "invoice_date", "due_date", "amount"],
        ["R001", "INV-9", "2026-06-10", "2026-06-01", "100.00"],
    ]
    path = write_csv(tmp_path, "payments.csv", rows)
    report = import_rejected("payments", path)
    assert report.problems == [
        "payments.csv:2:due_date: the due date is before the invoice date (2026-06-01)"
    ]


def test_row_with_more_cells_than_the_header_is_rejected(tmp_path, book):
    wide = ["R001", "SO-WIDE", "1", "2026-06-03", "100.00", "50.00", "extra"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, wide])
    report = import_rejected("sales", path)
    assert report.problems == ["sales.csv:4:-: this row has 7 cells but the header has 6"]


def test_nul_byte_after_the_first_block_is_rejected_and_recorded(tmp_path, book):
    # The binary sniff only reads the head of the file; a NUL further on must still give a
    # clean, recorded rejection (PostgreSQL can store NUL neither in text nor in jsonb).
    head = "customer_code,order_ref,line_no,order_date,revenue,cost\n"
    body = "".join(f"R001,SO-{n:04d},1,2026-06-01,10.00,5.00\n" for n in range(400))
    data = (head + body + "R001,SO-\x00X,1,2026-06-01,10.00,5.00\n").encode()
    assert b"\x00" not in data[: sources._SNIFF_BYTES]
    path = tmp_path / "sales.csv"
    path.write_bytes(data)
    report = import_rejected("sales", str(path))
    assert report.problem_count == 1
    assert report.problems[0].startswith("sales.csv:402:order_ref: ")
    run = ImportRun.objects.get(pk=report.run_id)
    assert (run.status, run.problems) == (ImportRun.Status.REJECTED, report.problems)


def test_missing_required_value_is_rejected(tmp_path, book):
    bad = ["R001", "SO-EMPTY", "1", "2026-06-03", "", "50.00"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, bad])
    report = import_rejected("sales", path)
    assert report.problems == ['sales.csv:4:revenue: a value is required ("")']


# -- XLSX ------------------------------------------------------------------------------------


def test_valid_xlsx_with_date_and_number_cells_imports(tmp_path, book):
    header = [*SALES_HEADER[:4], "product_code", "quantity", "revenue", "cost", "discount"]
    rows = [
        header,
        ["R001", "SO-X1", 1, datetime.date(2026, 1, 5), "P-100", 3, 1234.5, 1000, 0],
        ["M001", "SO-X1", 2, datetime.datetime(2026, 1, 6), 4711, 2.5, 99.99, 12.3, None],
    ]
    path = write_xlsx(tmp_path, "sales.xlsx", rows)
    report = import_accepted("sales", path)
    assert (report.rows_read, report.created) == (2, 2)
    first = SalesLine.objects.get(order_ref="SO-X1", line_no=1)
    assert first.customer.code == "R001"
    assert first.order_date == datetime.date(2026, 1, 5)
    assert (first.product_code, first.quantity) == ("P-100", Decimal("3"))
    assert (first.revenue, first.cost, first.discount) == (
        Decimal("1234.50"),
        Decimal("1000.00"),
        Decimal("0.00"),
    )
    second = SalesLine.objects.get(order_ref="SO-X1", line_no=2)
    assert second.customer.code == "M001"
    assert second.order_date == datetime.date(2026, 1, 6)
    assert (second.product_code, second.quantity) == ("4711", Decimal("2.5"))
    assert (second.revenue, second.cost) == (Decimal("99.99"), Decimal("12.30"))


def test_xlsx_problems_name_the_excel_row(tmp_path, book):
    rows = [
        SALES_HEADER,
        ["R001", "SO-X1", 1, datetime.date(2026, 1, 5), 100, 50],
        [],  # an empty row 3
        ["R001", "SO-X2", 1, "2026-02-30", 100, 50],
    ]
    path = write_xlsx(tmp_path, "sales.xlsx", rows)
    report = import_rejected("sales", path)
    assert report.problems == ["sales.xlsx:4:order_date: no such date (2026-02-30)"]


# -- the report ------------------------------------------------------------------------------


def test_all_problems_are_reported_in_one_go(tmp_path, book):
    rows = [
        SALES_HEADER,
        GOOD_SALES[0],
        ["R001", "SO-A", "1", "2026-02-30", "100", "50"],
        ["R001", "SO-B", "1", "2026-06-05", "abc", "50"],
        ["NOPE", "SO-C", "1", "2026-06-05", "100", "50"],
        GOOD_SALES[1],
    ]
    path = write_csv(tmp_path, "sales.csv", rows)
    report = import_rejected("sales", path)
    assert report.problem_count == 3
    assert report.problems == [
        "sales.csv:3:order_date: no such date (2026-02-30)",
        "sales.csv:4:revenue: not a number (use digits, an optional . and optional , separators) "
        "(abc)",
        "sales.csv:5:customer_code: unknown customer code (import the customers first) (NOPE)",
    ]
    assert report.summary() == "sales.csv: rejected, nothing was imported: 3 problem(s)"


@pytest.mark.parametrize("where", ["cells", "database", "mixed"])
def test_problem_list_is_capped_but_every_problem_is_counted(tmp_path, book, settings, where):
    settings.KAM_IMPORT_MAX_PROBLEMS = 5
    bad_date = [["R001", f"SO-{n}", "1", "2026-13-01", "10", "5"] for n in range(12)]
    bad_code = [[f"U{n:02d}", f"SO-{n}", "1", "2026-06-01", "10", "5"] for n in range(12)]
    bad = {"cells": bad_date, "database": bad_code, "mixed": bad_date[:6] + bad_code[6:]}[where]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *bad, *GOOD_SALES])
    report = import_rejected("sales", path)
    assert report.problem_count == 12
    assert len(report.problems) == 5
    assert problem_rows(report) == [2, 3, 4, 5, 6]
    assert report.summary() == (
        "sales.csv: rejected, nothing was imported: 12 problem(s) (the first 5 are listed)"
    )
    run = ImportRun.objects.get(pk=report.run_id)
    assert (run.problem_count, run.problems) == (12, report.problems)


@pytest.mark.parametrize("kind", sorted(FULL_FILES))
def test_reimporting_the_same_file_changes_nothing_and_says_so(tmp_path, book, rep, kind):
    path = write_csv(tmp_path, f"{kind}.csv", FULL_FILES[kind])
    rows = len(FULL_FILES[kind]) - 1
    first = import_accepted(kind, path)
    assert (first.rows_read, first.created, first.updated) == (rows, rows, 0)
    after_first = snapshot()

    again = import_accepted(kind, path)
    assert (again.rows_read, again.created, again.updated, again.unchanged) == (rows, 0, 0, rows)
    assert again.summary() == (
        f"{kind}.csv: imported {kind}: {rows} rows read, 0 created, 0 updated, {rows} unchanged"
        " — the file was imported before; nothing changed"
    )
    assert snapshot() == after_first


def test_full_files_store_every_column(tmp_path, book, rep):
    for kind in ("customers", "contacts", "sales", "payments"):
        import_accepted(kind, write_csv(tmp_path, f"{kind}.csv", FULL_FILES[kind]))
    g101 = Customer.objects.get(code="G101")
    assert (g101.parent.code, g101.referred_by.code, g101.owner) == ("G100", "G100", rep)
    assert g101.relationship_level == "partner" and g101.credit_limit is None
    g102 = Customer.objects.get(code="G102")
    assert (g102.credit_limit, g102.payment_terms_days, g102.status) == (
        Decimal("1000.50"),
        0,
        "dormant",
    )
    assert (g102.relationship_level, g102.owner, g102.industry) == ("ordinary", None, "")
    zhang = Contact.objects.get(name="张三")
    assert (zhang.role, zhang.influence, zhang.attitude) == ("buyer", "high", "supporter")
    assert (zhang.email, zhang.birthday) == ("zhang@example.cn", datetime.date(1980, 5, 17))
    li = Contact.objects.get(name="李四")
    assert (li.phone, li.email, li.birthday) == ("", "", None)
    line = SalesLine.objects.get(order_ref="SO-2")
    assert (line.revenue, line.cost, line.discount) == (
        Decimal("-500.00"),
        Decimal("-300.00"),
        Decimal("0.00"),
    )
    invoice = Receivable.objects.get(invoice_ref="INV-3")
    assert (invoice.amount, invoice.paid_date) == (Decimal("0.01"), None)


def test_the_same_values_spelled_differently_are_unchanged(tmp_path, book):
    # Plain cells and cells that need reading (separators, spaces, an ideographic space,
    # month ends, a backslash) must store the same values, whichever way they are read.
    header = [*SALES_HEADER, "product_code", "quantity", "discount"]
    plain = [
        header,
        ["R001", "SO-S1", "1", "2026-01-28", "1234.50", "800", "P-1", "10", "0"],
        ["R001", "SO-S1", "2", "2026-01-31", "-0.5", "-0.25", "A\\B", "2.5", "12.5"],
        ["M001", "SO-S2", "1", "2024-02-29", "1000000", "999999.99", "产品甲", "0.001", ""],
    ]
    first = import_accepted("sales", write_csv(tmp_path, "plain.csv", plain))
    assert first.created == 3
    stored = snapshot()
    spelled = [
        header,
        [" R001 ", "SO-S1", " 1", "2026-01-28", "1,234.5", "800.00", "P-1", "10.000", "0.00"],
        [
            "R001\u3000",
            "SO-S1",
            "2",
            "2026-01-31",
            "-0.50",
            "-00.25",
            " A\\B ",
            "2.50",
            "12.50",
        ],
        [
            "M001",
            " SO-S2",
            "1",
            " 2024-02-29 ",
            "1,000,000.00",
            "999,999.99",
            "产品甲",
            "00.001",
            "0",
        ],
    ]
    again = import_accepted("sales", write_csv(tmp_path, "spelled.csv", spelled))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert snapshot() == stored
    line = SalesLine.objects.get(order_ref="SO-S1", line_no=2)
    assert (line.product_code, line.revenue, line.cost) == (
        "A\\B",
        Decimal("-0.50"),
        Decimal("-0.25"),
    )
    assert line.order_date == datetime.date(2026, 1, 31)
    big = SalesLine.objects.get(order_ref="SO-S2")
    assert (big.revenue, big.cost, big.quantity) == (
        Decimal("1000000.00"),
        Decimal("999999.99"),
        Decimal("0.001"),
    )


def test_changed_revenue_counts_one_update_and_the_rest_unchanged(tmp_path, book):
    rows = FULL_FILES["sales"]
    import_accepted("sales", write_csv(tmp_path, "sales.csv", rows))
    before = snapshot()
    changed = [row[:] for row in rows]
    changed[2][6] = "150.00"  # SO-1 line 2: 99.99 -> 150.00
    report = import_accepted("sales", write_csv(tmp_path, "sales-v2.csv", changed))
    assert (report.rows_read, report.created, report.updated, report.unchanged) == (3, 0, 1, 2)
    assert "nothing changed" not in report.summary()
    assert SalesLine.objects.get(order_ref="SO-1", line_no=2).revenue == Decimal("150.00")
    after = snapshot()
    changed_rows = [row for row in after["SalesLine"] if row not in before["SalesLine"]]
    assert [(r["order_ref"], r["line_no"]) for r in changed_rows] == [("SO-1", 2)]
    assert {k: v for k, v in after.items() if k != "SalesLine"} == {
        k: v for k, v in before.items() if k != "SalesLine"
    }


def test_sales_rows_read_is_created_plus_updated_plus_unchanged(tmp_path, book):
    SalesLineFactory(customer=book, order_ref="SO-OLD2", revenue=Decimal("1000.00"))
    rows = [
        SALES_HEADER,
        ["R001", "SO-OLD", "1", "2026-06-01", "1000.00", "700.00"],  # as stored: unchanged
        [],  # a blank line is not a row
        ["R001", "SO-OLD2", "1", "2026-06-01", "1200.00", "700.00"],  # updated
        ["R001", "SO-N1", "1", "2026-06-03", "10.00", "5.00"],  # created
        ["M001", "SO-N1", "2", "2026-06-03", "10.00", "5.00"],  # created
    ]
    lines = SalesLine.objects.count()
    report = import_accepted("sales", write_csv(tmp_path, "sales.csv", rows))
    assert (report.rows_read, report.created, report.updated, report.unchanged) == (4, 2, 1, 1)
    assert report.summary() == (
        "sales.csv: imported sales: 4 rows read, 2 created, 1 updated, 1 unchanged"
    )
    assert SalesLine.objects.count() == lines + 2
    assert SalesLine.objects.get(order_ref="SO-OLD2").revenue == Decimal("1200.00")


def test_customers_rows_read_is_created_plus_updated_plus_unchanged(tmp_path, book, rep, teammate):
    rows = [
        ["code", "name", "owner"],
        ["R001", "Rep Owned Co", "rep"],  # as stored: unchanged
        ["M001", "Teammate Owned Co", "rep"],  # new owner: updated
        ["N001", "New Co", "teammate"],  # created
    ]
    report = import_accepted("customers", write_csv(tmp_path, "customers.csv", rows))
    assert (report.rows_read, report.created, report.updated, report.unchanged) == (3, 1, 1, 1)
    assert Customer.objects.get(code="M001").owner == rep
    assert Customer.objects.get(code="N001").owner == teammate


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "rejected"])
def test_dry_run_reports_exactly_what_a_real_run_does_and_writes_nothing(tmp_path, book, accepted):
    bad = [] if accepted else [["R001", "SO-BAD", "1", "2026-02-30", "1", "1"]]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, *bad])
    before = snapshot()
    dry = import_data(kind="sales", path=path, dry_run=True)
    assert snapshot() == before
    run = ImportRun.objects.get(pk=dry.run_id)
    assert run.dry_run is True
    assert run.status == ("accepted" if accepted else "rejected")
    assert (run.created, run.updated, run.problem_count) == (
        dry.created,
        dry.updated,
        dry.problem_count,
    )

    real = import_data(kind="sales", path=path)
    assert outcome(dry) == outcome(real)
    assert ImportRun.objects.get(pk=real.run_id).dry_run is False
    if accepted:
        assert (dry.rows_read, dry.created, dry.updated, dry.unchanged) == (2, 1, 1, 0)
        assert dry.summary().startswith("sales.csv: would import sales: 2 rows read")
        assert real.summary().startswith("sales.csv: imported sales: 2 rows read")
        assert snapshot() != before
    else:
        assert dry.problems == ["sales.csv:4:order_date: no such date (2026-02-30)"]
        assert dry.summary() == real.summary()
        assert snapshot() == before


def test_dry_run_of_contacts_reports_new_buying_units_without_creating_them(tmp_path, book):
    path = write_csv(tmp_path, "contacts.csv", FULL_FILES["contacts"])
    before = snapshot()
    dry = import_accepted("contacts", path, dry_run=True)
    assert snapshot() == before
    real = import_accepted("contacts", path)
    assert outcome(dry) == outcome(real)
    assert dry.notes == ["2 new buying unit(s)"]  # R001 already has 采购部


def test_rejected_import_is_recorded_with_its_problems(tmp_path, book, manager):
    bad = ["R001", "SO-BAD", "1", "2026/06/03", "1", "1"]
    path = write_csv(tmp_path, "upload-7f3a", [SALES_HEADER, *GOOD_SALES, bad])
    report = import_rejected("sales", path, file_name="ERP 导出.csv", user=manager)
    assert report.problems == [
        "ERP 导出.csv:4:order_date: not a date in the form YYYY-MM-DD (2026/06/03)"
    ]
    run = ImportRun.objects.get(pk=report.run_id)
    assert (run.kind, run.file_name, run.user, run.dry_run) == (
        "sales",
        "ERP 导出.csv",
        manager,
        False,
    )
    assert run.status == ImportRun.Status.REJECTED
    assert (run.problem_count, run.problems) == (1, report.problems)
    assert (run.created, run.updated, run.unchanged) == (0, 0, 0)


def test_accepted_import_is_recorded_with_its_counts(tmp_path, book, manager):
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES])
    report = import_accepted("sales", path, user=manager)
    run = ImportRun.objects.get(pk=report.run_id)
    assert (run.status, run.user, run.file_name) == (
        ImportRun.Status.ACCEPTED,
        manager,
        "sales.csv",
    )
    assert (run.rows_read, run.created, run.updated, run.unchanged) == (2, 1, 1, 0)
    assert (run.problem_count, run.problems) == (0, [])


# -- what an accepted import writes ------------------------------------------------------------


def test_columns_absent_from_a_customers_file_leave_existing_values_alone(
    tmp_path, book, outsider, rep_customer, teammate_customer
):
    Customer.objects.filter(code="X001").update(
        industry="化工",
        relationship_level="strategic",
        credit_limit=Decimal("50000.00"),
        payment_terms_days=60,
        parent=rep_customer,
        referred_by=teammate_customer,
        status="dormant",
    )
    before = Customer.objects.filter(code="X001").values().get()
    rows = [["code", "name"], ["X001", "Outsider Renamed Co"], ["N001", "Brand New Co"]]
    report = import_accepted("customers", write_csv(tmp_path, "customers.csv", rows))
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    after = Customer.objects.filter(code="X001").values().get()
    assert after["name"] == "Outsider Renamed Co"
    ignored = {"name", "updated_at", "version"}
    assert {k: v for k, v in after.items() if k not in ignored} == {
        k: v for k, v in before.items() if k not in ignored
    }
    # A changed row counts a new version: a screen opened before the import gets a conflict.
    assert after["version"] == before["version"] + 1
    assert (after["region"], after["owner_id"]) == ("西北", outsider.pk)
    new = Customer.objects.get(code="N001")
    assert (new.name, new.region, new.industry, new.owner, new.parent) == (
        "Brand New Co",
        "",
        "",
        None,
        None,
    )
    assert (new.relationship_level, new.status, new.credit_limit) == ("ordinary", "active", None)


def test_contacts_import_creates_buying_units_keyed_on_customer_unit_and_name(
    tmp_path, book, rep_contact
):
    rows = [
        ["customer_code", "buying_unit", "name", "title", "role"],
        ["R001", "采购部", "王采购", "采购总监", "decision_maker"],  # the stored contact
        ["R001", "工程部", "王采购", "总工", "technical"],  # same name, another unit
        ["M001", "采购部", "李四", "", "buyer"],  # same unit name, another customer
    ]
    units = BuyingUnit.objects.count()
    report = import_accepted("contacts", write_csv(tmp_path, "contacts.csv", rows))
    assert (report.rows_read, report.created, report.updated, report.unchanged) == (3, 2, 1, 0)
    assert report.notes == ["2 new buying unit(s)"]
    assert BuyingUnit.objects.count() == units + 2
    assert BuyingUnit.objects.filter(customer__code="R001", name="工程部").exists()
    assert BuyingUnit.objects.filter(customer__code="M001", name="采购部").exists()
    rep_contact.refresh_from_db()
    assert (rep_contact.title, rep_contact.role) == ("采购总监", "decision_maker")
    # Columns the file does not have are left alone.
    assert (rep_contact.phone, rep_contact.email) == ("13912345678", "wang@example.cn")
    assert Contact.objects.filter(name="王采购").count() == 2
    engineer = Contact.objects.get(name="王采购", buying_unit__name="工程部")
    assert (engineer.title, engineer.role, engineer.buying_unit.customer.code) == (
        "总工",
        "technical",
        "R001",
    )

    again = import_accepted("contacts", write_csv(tmp_path, "contacts.csv", rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert again.notes == []
    assert BuyingUnit.objects.count() == units + 2


def test_payments_import_with_paid_date(tmp_path, book):
    rows = FULL_FILES["payments"]
    report = import_accepted("payments", write_csv(tmp_path, "payments.csv", rows))
    assert report.created == 3
    paid = Receivable.objects.get(invoice_ref="INV-1")
    assert (paid.customer.code, paid.invoice_date, paid.due_date) == (
        "R001",
        datetime.date(2026, 1, 5),
        datetime.date(2026, 2, 4),
    )
    assert (paid.amount, paid.paid_date) == (Decimal("12000.00"), datetime.date(2026, 2, 1))
    open_invoice = Receivable.objects.get(invoice_ref="INV-2")
    assert (open_invoice.amount, open_invoice.paid_date) == (Decimal("500.50"), None)

    paid_later = [row[:] for row in rows]
    paid_later[2][5] = "2026-03-01"
    report = import_accepted("payments", write_csv(tmp_path, "payments.csv", paid_later))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert Receivable.objects.get(invoice_ref="INV-2").paid_date == datetime.date(2026, 3, 1)


# -- the command -------------------------------------------------------------------------------


def test_command_exits_non_zero_and_prints_the_problems_to_stderr(tmp_path, book):
    bad = ["R001", "SO-BAD", "1", "2026-02-30", "1", "1"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, bad])
    before = snapshot()
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_data", "sales", path, stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert str(raised.value) == "sales.csv: rejected, nothing was imported: 1 problem(s)"
    assert err.getvalue().splitlines() == ["sales.csv:4:order_date: no such date (2026-02-30)"]
    assert out.getvalue() == ""
    assert snapshot() == before
    assert ImportRun.objects.get().status == ImportRun.Status.REJECTED


def test_command_imports_and_prints_the_summary(tmp_path, book):
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES])
    out, err = io.StringIO(), io.StringIO()
    call_command("import_data", "sales", path, stdout=out, stderr=err)
    assert out.getvalue().strip() == (
        "sales.csv: imported sales: 2 rows read, 1 created, 1 updated, 0 unchanged"
    )
    assert err.getvalue() == ""
    assert SalesLine.objects.get(order_ref="SO-OLD").revenue == Decimal("1500.00")


def test_command_dry_run_writes_nothing(tmp_path, book):
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES])
    before = snapshot()
    out = io.StringIO()
    call_command("import_data", "sales", path, "--dry-run", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() == (
        "sales.csv: would import sales: 2 rows read, 1 created, 1 updated, 0 unchanged"
    )
    assert snapshot() == before
    assert ImportRun.objects.get().dry_run is True


def test_command_dry_run_of_a_bad_file_exits_non_zero(tmp_path, book):
    bad = ["NOPE", "SO-X", "1", "2026-06-03", "10", "5"]
    path = write_csv(tmp_path, "sales.csv", [SALES_HEADER, *GOOD_SALES, bad])
    before = snapshot()
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_data", "sales", path, "--dry-run", stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert "sales.csv:4:customer_code: unknown customer code" in err.getvalue()
    assert snapshot() == before


def test_command_refuses_a_file_that_cannot_be_read(tmp_path, book):
    before = snapshot()
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("import_data", "sales", str(tmp_path / "missing.csv"))
    assert snapshot() == before
    assert not ImportRun.objects.exists()
