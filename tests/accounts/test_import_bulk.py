"""The bulk load (accounts/importing/bulk.py): a big CSV file of new sales lines or receivables
copied straight into its table, the indexes built again after.

It must store exactly what the staged path stores and give the same report, and any file it
cannot take whole must go the staged way with nothing of the attempt left: the same rows,
the same problems, the table's indexes and keys all there. tests/accounts/test_import.py
runs every import test through both paths as well.
"""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import translation

from accounts.importing.service import import_data
from accounts.models import ImportRun, Receivable, SalesLine
from tests.accounts.test_import import outcome, write_csv
from tests.factories import CustomerFactory, SalesLineFactory
from tests.reliability.support import connect, postgres_only

pytestmark = [pytest.mark.django_db, postgres_only("the bulk load is PostgreSQL's")]

SALES_HEADER = [
    "customer_code", "order_ref", "line_no", "order_date", "product_code", "quantity",
    "revenue", "cost", "discount",
]  # fmt: skip
SALES_FIELDS = [
    "customer_id", "order_ref", "line_no", "order_date", "product_code", "quantity",
    "revenue", "cost", "discount",
]  # fmt: skip
# More lines than one block (bulk._CHUNK_CHARS), so that a problem can sit past the first.
MANY = 25_000


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def customers(db):
    return [CustomerFactory(code=f"B{n:03d}") for n in range(7)]


@pytest.fixture
def bulk_allowed(settings):
    settings.KAM_IMPORT_BULK_MIN_ROWS = 1


def sales_rows(count, *, start=0):
    """Plain lines with every money form the bulk load converts: 0, 1 and 2 decimals,
    negative returns, a zero, Chinese product codes, an empty product code."""
    rows = []
    for n in range(start, start + count):
        revenue = ["1234.56", "99.5", "17", "-20.05", "0", "0.07"][n % 6]
        cost = ["1000.01", "80", "3.1", "-15.5", "0", "0.01"][n % 6]
        product = ["P-1", "产品甲", "", "Widget 2 mm"][n % 4]
        date = f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
        rows.append(
            [f"B{n % 7:03d}", f"SO-{n // 3:06d}", str(n % 3 + 1), date, product,
             str(n % 50), revenue, cost, ["0", "1.5", "0.25"][n % 3]]
        )  # fmt: skip
    return rows


def write(tmp_path, rows, *, header=SALES_HEADER, name="sales.csv", encoding="utf-8", eol="\n"):
    return write_csv(tmp_path, name, [header, *rows], encoding=encoding, newline=eol)


def stored_sales():
    return sorted(SalesLine.objects.values_list(*SALES_FIELDS))


def table_shape(model):
    """The table's indexes and constraints, as PostgreSQL would make them again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1",
            [model._meta.db_table],
        )
        indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass ORDER BY 1",
            [model._meta.db_table],
        )
        return indexes, cursor.fetchall()


class _Undo(Exception):
    pass


def both_ways(kind, path, settings, **kwargs):
    """Import the file staged, then (the database as before) with the bulk load allowed;
    return both reports and what each left stored."""
    shape, before = table_shape(SalesLine), stored_sales()
    settings.KAM_IMPORT_BULK_MIN_ROWS = 10**9
    try:
        with transaction.atomic():
            staged = import_data(kind=kind, path=path, **kwargs)
            staged_rows = stored_sales()
            raise _Undo
    except _Undo:
        pass
    assert stored_sales() == before
    settings.KAM_IMPORT_BULK_MIN_ROWS = 1
    loaded = import_data(kind=kind, path=path, **kwargs)
    assert table_shape(SalesLine) == shape, "indexes and keys must all be there again"
    return staged, staged_rows, loaded, stored_sales()


def test_a_big_file_of_new_lines_is_bulk_loaded_exactly_as_staged(tmp_path, customers, settings):
    SalesLineFactory(customer=customers[0], order_ref="OLD-1", line_no=1)
    path = write(tmp_path, sales_rows(MANY))
    staged, staged_rows, loaded, loaded_rows = both_ways("sales", path, settings)
    assert not staged.bulk_loaded and loaded.bulk_loaded
    assert outcome(loaded) == outcome(staged)
    assert (loaded.rows_read, loaded.created) == (MANY, MANY)
    assert loaded_rows == staged_rows
    # Cents from every decimal form, exactly.
    line = SalesLine.objects.get(order_ref="SO-000001", line_no=1)  # row n = 3
    assert (line.revenue, line.cost, line.discount) == (
        Decimal("-20.05"), Decimal("-15.50"), Decimal("0")
    )  # fmt: skip


@pytest.mark.parametrize(
    "encoding, eol, shuffle",
    [("utf-8-sig", "\r\n", False), ("gb18030", "\n", True), ("utf-8", "\r\n", True)],
)
def test_bom_crlf_gb18030_and_any_column_order_bulk_load_the_same(
    tmp_path, customers, settings, encoding, eol, shuffle
):
    order = [4, 0, 8, 2, 6, 1, 3, 7, 5] if shuffle else list(range(9))
    rows = [[row[i] for i in order] for row in sales_rows(3000)]
    path = write(tmp_path, rows, header=[SALES_HEADER[i] for i in order], encoding=encoding,
                 eol=eol)  # fmt: skip
    staged, staged_rows, loaded, loaded_rows = both_ways("sales", path, settings)
    assert loaded.bulk_loaded
    assert outcome(loaded) == outcome(staged)
    assert loaded_rows == staged_rows


def test_absent_optional_columns_take_their_defaults(tmp_path, customers, settings):
    header = ["customer_code", "order_ref", "order_date", "revenue", "cost"]
    rows = [[r[0], r[1] + "-" + r[2], r[3], r[6], r[7]] for r in sales_rows(2000)]
    path = write(tmp_path, rows, header=header)
    _staged, staged_rows, loaded, loaded_rows = both_ways("sales", path, settings)
    assert loaded.bulk_loaded
    assert loaded_rows == staged_rows
    assert {(r[2], r[4], r[8]) for r in loaded_rows} == {(1, "", 0)}


def _problem_file(tmp_path, where, change):
    rows = sales_rows(MANY)
    change(rows[where])
    return write(tmp_path, rows)


@pytest.mark.parametrize("where", [5, MANY - 5], ids=["first block", "last block"])
@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda row: row.__setitem__(0, "NOPE"), "customer_code: unknown customer code"),
        (lambda row: row.__setitem__(1, "SO-000000"), "duplicate key"),
        (lambda row: row.__setitem__(7, "-1.00"), "cost: negative cost"),
        (lambda row: row.__setitem__(4, "X" * 51), "product_code: longer than 50 characters"),
        (lambda row: row.__setitem__(3, "2026-02-30"), "order_date:"),
    ],
    ids=["unknown customer", "duplicate key", "negative cost", "too long", "bad date"],
)
def test_a_file_with_a_problem_goes_the_staged_way_and_is_rejected_as_staged(
    tmp_path, customers, settings, where, change, problem
):
    path = _problem_file(tmp_path, where, change)
    staged, staged_rows, loaded, loaded_rows = both_ways("sales", path, settings)
    assert not loaded.accepted and not loaded.bulk_loaded
    assert outcome(loaded) == outcome(staged)
    assert any(problem in p for p in loaded.problems), loaded.problems
    assert loaded_rows == staged_rows == []


def test_a_cell_that_needs_parsing_past_the_first_block_is_stored_as_staged(
    tmp_path, customers, settings
):
    # A thousands separator is quoted in CSV: not a plain line, so the whole file is staged.
    path = _problem_file(tmp_path, MANY - 5, lambda row: row.__setitem__(6, "1,234.50"))
    staged, staged_rows, loaded, loaded_rows = both_ways("sales", path, settings)
    assert loaded.accepted and not loaded.bulk_loaded
    assert outcome(loaded) == outcome(staged)
    assert loaded_rows == staged_rows


def test_a_key_already_stored_past_the_first_block_is_upserted_as_staged(
    tmp_path, customers, settings
):
    rows = sales_rows(MANY)
    last = rows[-1]
    SalesLineFactory(customer=customers[0], order_ref=last[1], line_no=int(last[2]))
    path = write(tmp_path, rows)
    staged, staged_rows, loaded, loaded_rows = both_ways("sales", path, settings)
    assert loaded.accepted and not loaded.bulk_loaded
    assert (loaded.created, loaded.updated) == (MANY - 1, 1)
    assert outcome(loaded) == outcome(staged)
    assert loaded_rows == staged_rows


def test_a_reimport_goes_the_staged_way_and_changes_nothing(tmp_path, customers, bulk_allowed):
    path = write(tmp_path, sales_rows(2000))
    first = import_data(kind="sales", path=path)
    stored = stored_sales()
    again = import_data(kind="sales", path=path)
    assert first.bulk_loaded and not again.bulk_loaded
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2000)
    assert stored_sales() == stored


def test_a_table_holding_more_rows_than_the_file_is_not_bulk_loaded(
    tmp_path, customers, bulk_allowed
):
    path = write(tmp_path, sales_rows(300))
    import_data(kind="sales", path=write(tmp_path, sales_rows(400, start=1000), name="a.csv"))
    report = import_data(kind="sales", path=path)
    assert report.accepted and not report.bulk_loaded
    assert report.created == 300


def test_below_the_minimum_a_file_is_staged(tmp_path, customers, settings):
    settings.KAM_IMPORT_BULK_MIN_ROWS = 5000
    report = import_data(kind="sales", path=write(tmp_path, sales_rows(1000)))
    assert report.accepted and not report.bulk_loaded
    assert SalesLine.objects.count() == 1000


def test_a_dry_run_is_staged_and_reports_what_the_bulk_load_then_does(
    tmp_path, customers, bulk_allowed
):
    """A dry run never locks the table: it goes the staged way, whose report is the same."""
    shape = table_shape(SalesLine)
    path = write(tmp_path, sales_rows(2000))
    dry = import_data(kind="sales", path=path, dry_run=True)
    assert not dry.bulk_loaded and dry.accepted and dry.created == 2000
    assert SalesLine.objects.count() == 0
    assert table_shape(SalesLine) == shape
    real = import_data(kind="sales", path=path)
    assert real.bulk_loaded
    assert outcome(real)[:-1] == outcome(dry)[:-1]
    assert ImportRun.objects.filter(dry_run=True).count() == 1


def test_a_line_stored_before_that_breaks_a_rule_does_not_stop_the_bulk_load(
    tmp_path, customers, bulk_allowed
):
    """The rules are checked on the lines this file adds, not on what was there."""
    SalesLineFactory(customer=customers[0], order_ref="OLD", revenue=10, cost=-1)
    report = import_data(kind="sales", path=write(tmp_path, sales_rows(2000)))
    assert report.accepted and report.bulk_loaded and report.created == 2000


def test_a_table_another_session_is_reading_is_left_to_the_staged_way(
    tmp_path, customers, bulk_allowed
):
    """The bulk load waits at most bulk._LOCK_WAIT for the table, then stages the file."""
    reader = connect("long reader", autocommit=False)
    try:
        reader.execute("SELECT 1 FROM accounts_salesline LIMIT 1")  # holds ACCESS SHARE
        report = import_data(kind="sales", path=write(tmp_path, sales_rows(2000)))
    finally:
        reader.close()
    assert report.accepted and not report.bulk_loaded and report.created == 2000


def test_receivables_are_staged(tmp_path, customers, bulk_allowed):
    """Only sales lines are bulk-loaded: a receivable's paid date is parsed cell by cell."""
    header = ["customer_code", "invoice_ref", "invoice_date", "due_date", "amount", "paid_date"]
    rows = [
        [f"B{n % 7:03d}", f"INV-{n}", "2026-03-01", "2026-03-31", f"{n}.5", "2026-04-02"]
        for n in range(1, 501)
    ]
    report = import_data(kind="payments", path=write(tmp_path, rows, header=header))
    assert report.accepted and not report.bulk_loaded and report.created == 500
    invoice = Receivable.objects.get(invoice_ref="INV-7")
    assert (invoice.amount, str(invoice.paid_date)) == (Decimal("7.50"), "2026-04-02")


def test_a_key_another_table_leans_on_is_kept_through_the_load(tmp_path, customers, bulk_allowed):
    with connection.cursor() as cursor:  # made in the test's transaction, gone after it
        cursor.execute(
            "CREATE TABLE test_line_note (line_id bigint REFERENCES accounts_salesline (id))"
        )
    shape = table_shape(SalesLine)
    report = import_data(kind="sales", path=write(tmp_path, sales_rows(2000)))
    assert report.accepted and report.bulk_loaded and report.created == 2000
    assert table_shape(SalesLine) == shape
