"""The foreign keys checked once per statement (kam/foreign_keys.py) refuse what a native
foreign key refuses, in the database itself: rows written past the ORM, on SQLite and on
PostgreSQL, and (PostgreSQL) a delete racing an insert."""

import datetime
import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Customer, Receivable, SalesLine
from tests.factories import CustomerFactory, ReceivableFactory, SalesLineFactory
from tests.reliability.support import connect, postgres_only
from tiers.models import ContributionRun, CustomerContribution
from tiers.services.policy import policy_current

pytestmark = pytest.mark.django_db

MISSING = 987_654_321


def _run() -> ContributionRun:
    return ContributionRun.objects.create(
        as_of=datetime.date(2026, 6, 30), policy=policy_current(),
        started_at=datetime.datetime(2026, 6, 30, 2, tzinfo=datetime.UTC),
    )  # fmt: skip


def _contribution(**keys) -> CustomerContribution:
    values = {
        "revenue": 0,
        "gross_profit": 0,
        "revenue_share": 0,
        "profit_share": 0,
        "revenue_tier": "C",
        "profit_tier": "C",
        "computed_tier": "C",
        "tier": "C",
    }
    return CustomerContribution(**values, **keys)


def _line(n: int, customer_id: int) -> SalesLine:
    return SalesLine(customer_id=customer_id, order_ref=f"SO-FK-{n}", order_date=datetime.date(
        2026, 6, 1), revenue=Decimal("10.00"), cost=Decimal("5.00"))  # fmt: skip


def _receivable(n: int, customer_id: int) -> Receivable:
    day = datetime.date(2026, 6, 1)
    return Receivable(customer_id=customer_id, invoice_ref=f"INV-FK-{n}", invoice_date=day,
                      due_date=day, amount=Decimal("10.00"))  # fmt: skip


# (table, column, referenced table, make(n, key) -> an unsaved row with that key, and the
# key of an existing referenced row)
KEYS = {
    "sales line → customer": (
        "accounts_salesline", "customer_id", "accounts_customer",
        _line, lambda: CustomerFactory().pk,
    ),
    "receivable → customer": (
        "accounts_receivable", "customer_id", "accounts_customer",
        _receivable, lambda: CustomerFactory().pk,
    ),
    "contribution → customer": (
        "tiers_customercontribution", "customer_id", "accounts_customer",
        lambda n, key: _contribution(run=_run(), customer_id=key), lambda: CustomerFactory().pk,
    ),
    "contribution → run": (
        "tiers_customercontribution", "run_id", "tiers_contributionrun",
        lambda n, key: _contribution(run_id=key, customer=CustomerFactory()), lambda: _run().pk,
    ),
}  # fmt: skip


def _refused(table: str, column: str, key: int):
    """The error a native key gives: IntegrityError, naming the table (and, on PostgreSQL,
    the key's value as its own DETAIL does)."""
    if connection.vendor == "postgresql":
        match = f'(?s)"{table}" violates foreign key.*Key \\({column}\\)=\\({key}\\)'
    else:
        match = f"FOREIGN KEY constraint failed: {table}.{column}"
    return pytest.raises(IntegrityError, match=match)


@pytest.mark.parametrize("name", KEYS)
def test_a_row_naming_a_missing_key_is_refused_and_nothing_is_written(name):
    table, column, _referenced, make, existing = KEYS[name]
    model = make(0, existing())
    before = type(model).objects.count()
    with _refused(table, column, MISSING), transaction.atomic():
        make(1, MISSING).save()
    # One bad row among good ones: the whole statement is refused.
    good = existing()
    with _refused(table, column, MISSING), transaction.atomic():
        type(model).objects.bulk_create([make(2, good), make(3, MISSING), make(4, good)])
    assert type(model).objects.count() == before
    make(5, good).save()  # and a good one is taken
    assert type(model).objects.count() == before + 1


@pytest.mark.parametrize("name", KEYS)
def test_changing_a_key_to_a_missing_one_is_refused(name):
    table, column, _referenced, make, existing = KEYS[name]
    row = make(0, existing())
    row.save()
    with _refused(table, column, MISSING), transaction.atomic():
        type(row).objects.filter(pk=row.pk).update(**{column: MISSING})
    row.refresh_from_db()
    assert getattr(row, column) != MISSING


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="on SQLite only the ORM refuses it (on_delete); see kam/foreign_keys.py",
)
@pytest.mark.parametrize("name", KEYS)
def test_deleting_a_referenced_row_past_the_orm_is_refused(name):
    table, column, referenced, make, existing = KEYS[name]
    key, spare = existing(), existing()
    row = make(0, key)
    row.save()
    q = connection.ops.quote_name
    if connection.vendor == "postgresql":
        match = f'(?s)"{referenced}" violates .*Key \\(id\\)=\\({key}\\) is still referenced'
    else:
        match = f"FOREIGN KEY constraint failed: {table}.{column}"
    with (
        pytest.raises(IntegrityError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # One statement over a referenced and an unreferenced row: refused as a whole.
        cursor.execute(f"DELETE FROM {q(referenced)} WHERE id IN (%s, %s)", [key, spare])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {q(referenced)} WHERE id IN (%s, %s)", [key, spare])
        assert cursor.fetchone()[0] == 2
        cursor.execute(f"DELETE FROM {q(table)} WHERE id = %s", [row.pk])
        cursor.execute(f"DELETE FROM {q(referenced)} WHERE id IN (%s, %s)", [key, spare])
        cursor.execute(f"SELECT COUNT(*) FROM {q(referenced)} WHERE id IN (%s, %s)", [key, spare])
        assert cursor.fetchone()[0] == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="as the test above")
def test_changing_a_referenced_customers_id_is_refused():
    line = SalesLineFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=line.customer_id).update(id=MISSING)
    assert Customer.objects.filter(pk=line.customer_id).exists()


def test_the_orm_still_protects_and_cascades():
    from django.db.models import ProtectedError

    line = SalesLineFactory()
    with pytest.raises(ProtectedError):
        line.customer.delete()
    run = _run()
    customer = CustomerFactory()
    _contribution(run=run, customer=customer).save()
    run.delete()  # on_delete=CASCADE: Django deletes the run's rows first
    assert not CustomerContribution.objects.filter(customer=customer).exists()
    ReceivableFactory(customer=customer)
    with pytest.raises(ProtectedError):
        customer.delete()


# -- PostgreSQL: a delete racing an insert -------------------------------------------------

postgresql_only = postgres_only("row locks between two sessions")


def _session(name: str):
    return connect(f"fk-{name}", autocommit=False)


def _insert_line(session, customer_id: int) -> None:
    session.execute(
        "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
        "product_code, quantity, revenue, cost, discount) "
        "VALUES (%s, 'SO-RACE', 1, '2026-06-01', '', 1, 100, 50, 0)",
        [customer_id],
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_delete_waits_for_an_open_insert_then_is_refused():
    customer = CustomerFactory()
    inserting, deleting = _session("inserting"), _session("deleting")
    try:
        # Not committed: the customer is locked FOR KEY SHARE, as by a native key.
        _insert_line(inserting, customer.pk)
        deleting.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleting.execute("DELETE FROM accounts_customer WHERE id = %s", [customer.pk])
        deleting.rollback()
        inserting.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="still referenced"):
            deleting.execute("DELETE FROM accounts_customer WHERE id = %s", [customer.pk])
    finally:
        inserting.close()
        deleting.close()
    assert SalesLine.objects.filter(customer=customer).count() == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_insert_waits_for_an_open_delete_then_is_refused():
    customer = CustomerFactory()
    deleting, inserting = _session("deleting"), _session("inserting")
    outcome = {}

    def insert():
        try:
            _insert_line(inserting, customer.pk)
            inserting.commit()
            outcome["result"] = "inserted"
        except psycopg.Error as error:
            outcome["result"] = error

    try:
        deleting.execute("DELETE FROM accounts_customer WHERE id = %s", [customer.pk])
        thread = threading.Thread(target=insert)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the insert should wait for the delete's transaction"
        deleting.commit()
        thread.join(10)
    finally:
        deleting.close()
        inserting.close()
    assert isinstance(outcome["result"], psycopg.errors.ForeignKeyViolation), outcome
    assert "is not present" in str(outcome["result"].diag.message_detail)
    assert not SalesLine.objects.exists()


def test_every_key_the_models_leave_to_these_checks_has_them():
    """A new `db_constraint=False` key without its CheckForeignKey migration (PostgreSQL)
    or a check lost to a table rebuild (SQLite) fails here."""
    from kam.foreign_keys import check_name, unconstrained_keys

    keys = unconstrained_keys()
    assert ("accounts_salesline", "customer_id", "accounts_customer", "id") in keys
    assert len(keys) == 4
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = {name for (name,) in cursor.fetchall()}
    for table, column, _referenced, _referenced_column in keys:
        name = check_name(table, column)
        expected = {f"{name}_insert", f"{name}_update"}
        if connection.vendor == "postgresql":
            expected |= {f"{name}_delete", f"{name}_key", f"{name}_truncate"}
        assert expected <= triggers, name


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite rebuilds tables to alter them")
@pytest.mark.django_db(transaction=True)
def test_a_migrate_that_rebuilds_the_tables_keeps_the_checks():
    """What a later migration altering a column does on SQLite: rebuild the table. A check
    trigger of another table naming it would make that fail, so migrate drops them first
    and makes them again after (the handlers connected in kam/apps.py)."""
    from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal

    emit_pre_migrate_signal(verbosity=0, interactive=False, db="default")
    with connection.schema_editor() as editor:
        editor._remake_table(SalesLine)
        editor._remake_table(Customer)
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    customer = CustomerFactory()
    _line(1, customer.pk).save()
    with _refused("accounts_salesline", "customer_id", MISSING), transaction.atomic():
        _line(2, MISSING).save()
    assert SalesLine.objects.count() == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_updating_other_columns_neither_checks_nor_locks_the_customer():
    line = SalesLineFactory()
    updating, locking = _session("updating"), _session("locking")
    try:
        updating.execute("UPDATE accounts_salesline SET revenue = revenue + 1")  # open
        locking.execute("SET lock_timeout = '300ms'")
        locking.execute("SELECT 1 FROM accounts_customer WHERE id = %s FOR UPDATE",
                        [line.customer_id])  # fmt: skip
        locking.rollback()  # (which undoes the SET too)
        updating.rollback()
        # Changing the key does lock the new customer, as a native key does.
        other = CustomerFactory()
        updating.execute("UPDATE accounts_salesline SET customer_id = %s", [other.pk])
        locking.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            locking.execute("SELECT 1 FROM accounts_customer WHERE id = %s FOR UPDATE",
                            [other.pk])  # fmt: skip
    finally:
        updating.close()
        locking.close()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_delete_under_repeatable_read_is_refused_rather_than_risk_an_orphan():
    customer = CustomerFactory()
    deleting = _session("deleting")
    try:
        deleting.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="READ COMMITTED"):
            deleting.execute("DELETE FROM accounts_customer WHERE id = %s", [customer.pk])
        deleting.rollback()
        deleting.execute("DELETE FROM accounts_customer WHERE id = %s", [customer.pk])
        deleting.commit()  # READ COMMITTED, nothing refers to it: deleted
    finally:
        deleting.close()
    assert not Customer.objects.filter(pk=customer.pk).exists()


@postgres_only("TRUNCATE's triggers")
@pytest.mark.django_db(transaction=True)  # and its flush truncates every table: allowed
def test_truncating_customers_with_sales_lines_is_refused():
    SalesLineFactory()
    with (
        pytest.raises(IntegrityError, match="still referenced"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE accounts_customer CASCADE")
    assert Customer.objects.exists()
