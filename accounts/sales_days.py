"""Sales days: each customer's sales lines of one day, summed, for the contribution recompute.

The recompute needs, per customer and window, Σ revenue, Σ gross profit, Σ returns, Σ
discount of sales and the months with a sale. Summed from the lines, that is a scan of half
the sales table every night (1.7 s of 10 M lines); summed from the sales days (one row per
customer and day with a line) it reads a fifth as many rows. Every figure is a sum, so the
days give exactly what the lines give, for any window.

The days are brought up to date by `sales_days_refresh`, which the recompute calls first:
- Whatever writes sales lines (imports, the ORM, the admin, raw SQL) marks each customer it
  touches stale with the first and last day touched, by a trigger, in the same
  transaction. On PostgreSQL one trigger per statement (INSERT, UPDATE, DELETE) reads the
  statement's rows (transition tables) and inserts one mark per customer; on SQLite, row
  triggers, a mark per line. Marking is all an import pays: summing the days in the trigger
  itself took 5 s of a million-line import, marking each (customer, month) ~1 s, a mark per
  customer ~0.3 s. The days between, not the customer's whole history: a day of lines for
  the biggest customers would otherwise have all their lines summed again (7.7 s in the
  benchmark).
- The marks are a log: only inserted by writers, never updated, so writers never wait for
  each other or for a refresh (an upserted mark, one row per customer, made two imports of
  the same customers wait for each other, and deadlock with a refresh). The refresh reads
  the marks, sums each marked customer's days between its first and last marked day afresh
  from the lines, and deletes exactly the marks it read, in one transaction. A mark it reads
  is committed, so its lines are too, and the refresh's later statements see them; a mark
  of a writer still in progress is not read, stays, and is summed next time. Refreshes
  themselves take turns (a transaction-level advisory lock).
- TRUNCATE of the lines empties the days.
SQLite rebuilds a table to alter it, so, as with the foreign-key checks (kam/foreign_keys.py),
its triggers are dropped before every `migrate` and made again after it, and every customer
with lines or days is marked stale then, over all of them. tests/accounts/test_sales_days.py
compares the days with the lines after every kind of write, on both databases.
"""

from django.db import connection, migrations, transaction

from kam.transactions import tuned_atomic

LINES = "accounts_salesline"
DAYS = "accounts_salesday"
STALE = "accounts_salesdaystale"
PREFIX = "kam_sales_day"

# The figures a day keeps, as SQL over the lines `l`, in the order of the days' columns
# after (customer_id, day).
_FIGURES = {
    "revenue": "SUM(l.revenue)",
    "gross_profit": "SUM(l.revenue - l.cost)",
    "returns": "SUM(CASE WHEN l.revenue < 0 THEN -l.revenue ELSE 0 END)",
    "sold_discount": "SUM(CASE WHEN l.revenue > 0 THEN l.discount ELSE 0 END)",
    "sold_lines": "SUM(CASE WHEN l.revenue > 0 THEN 1 ELSE 0 END)",
    "lines": "COUNT(*)",
}
_COLUMNS = ", ".join(["customer_id", "day", *_FIGURES])


def _summed(join: str = "", where: str = "") -> str:
    # In key order: the days' primary key is then filled at its right edge, as fast as
    # building it afresh (in hash order, a full refresh took 22 s more).
    sums = ", ".join(_FIGURES.values())
    return (
        f"INSERT INTO {DAYS} ({_COLUMNS}) SELECT l.customer_id, l.order_date, {sums} "
        f"FROM {LINES} AS l {join} {where} GROUP BY l.customer_id, l.order_date "
        f"ORDER BY l.customer_id, l.order_date"
    )


# A refresh of at least this share of the customers, and at least this many, sums every day
# afresh (PostgreSQL): one scan of the lines into an emptied table, instead of an index
# lookup per customer and a delete of each day before it is written again (which
# makes every new day's key check visit the old one).
FULL_REFRESH_SHARE = 0.1
FULL_REFRESH_MIN = 10_000


# Refreshes take turns (only the recompute, under its own run lock, calls one; a second
# caller waits): the key is an arbitrary constant, unique to KAM within the database.
REFRESH_LOCK_KEY = 0x4B414D44


def sales_days_refresh() -> int:
    """Sum the days of every stale customer afresh, between the first and last day marked;
    return how many customers that was."""
    # A big refresh sums millions of lines in one hash table.
    with tuned_atomic(work_mem="512MB") as cursor:
        postgresql = connection.vendor == "postgresql"
        if postgresql:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK_KEY])
            # The lines first, before the days or the marks: a TRUNCATE of the lines (whose
            # trigger empties both) or a bulk load then runs wholly before or after this
            # refresh, never between its reads and writes (a deadlock, or marks gone).
            cursor.execute(f"LOCK TABLE {LINES} IN ACCESS SHARE MODE")
        cursor.execute(f"SELECT id FROM {STALE}")
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        if not postgresql:  # SQLite: one writer at a time, nobody marks meanwhile
            marked = (
                f"EXISTS (SELECT 1 FROM {STALE} AS m WHERE m.customer_id = {{row}}.customer_id "
                f"AND {{row}}.{{day}} BETWEEN m.first_day AND m.last_day)"
            )
            cursor.execute(f"SELECT COUNT(DISTINCT customer_id) FROM {STALE}")
            customers = cursor.fetchone()[0]
            cursor.execute(f"DELETE FROM {DAYS} WHERE " + marked.format(row=DAYS, day="day"))
            cursor.execute(_summed(where="WHERE " + marked.format(row="l", day="order_date")))
            cursor.execute(f"DELETE FROM {STALE}")
            return customers
        # Each customer's marks (those just read: not one committed since) as one range.
        cursor.execute(
            f"SELECT array_agg(customer_id), array_agg(first), array_agg(last) FROM "
            f"(SELECT customer_id, MIN(first_day) AS first, MAX(last_day) AS last "
            f"FROM {STALE} WHERE id = ANY(%s) GROUP BY customer_id) AS marked",
            [ids],
        )
        # Not empty: only a refresh or a TRUNCATE of the lines deletes marks, and both wait
        # for the locks taken above.
        ranges = list(cursor.fetchone())
        cursor.execute("SELECT COUNT(*) FROM accounts_customer")
        if len(ranges[0]) >= max(FULL_REFRESH_SHARE * cursor.fetchone()[0], FULL_REFRESH_MIN):
            sum_all(cursor)
        else:
            stale = "unnest(%s::bigint[], %s::date[], %s::date[]) AS m(customer_id, first, last)"
            cursor.execute(
                f"DELETE FROM {DAYS} AS d USING {stale} WHERE d.customer_id = m.customer_id "
                f"AND d.day BETWEEN m.first AND m.last",
                ranges,
            )
            join = (
                f"JOIN {stale} ON l.customer_id = m.customer_id "
                f"AND l.order_date BETWEEN m.first AND m.last"
            )
            cursor.execute(_summed(join), ranges)
        cursor.execute(f"DELETE FROM {STALE} WHERE id = ANY(%s)", [ids])
        return len(ranges[0])


def sum_all(cursor) -> None:
    """Every day summed afresh from the lines (PostgreSQL). TRUNCATE, not DELETE: deleted
    rows left in the table make each new row's key check visit them. Only the recompute
    reads the days, and it is the caller (or the migration that makes them)."""
    cursor.execute(f"TRUNCATE {DAYS}")
    cursor.execute(_summed())


def _mark_all() -> str:
    """SQL: every customer with lines or days is stale over all of them (summed again at
    the next refresh; a day whose lines went while the triggers were away goes too)."""
    return (
        f"INSERT INTO {STALE} (customer_id, first_day, last_day) SELECT customer_id, "
        f"MIN(day), MAX(day) FROM (SELECT customer_id, order_date AS day FROM {LINES} "
        f"UNION ALL SELECT customer_id, day FROM {DAYS}) AS known GROUP BY customer_id"
    )


# -- PostgreSQL: statement triggers, made by a migration ------------------------------------


def postgresql_sql() -> list[str]:
    def mark(rows: str) -> str:
        return (
            f"INSERT INTO {STALE} (customer_id, first_day, last_day) SELECT customer_id, "
            f"MIN(order_date), MAX(order_date) FROM {rows} GROUP BY customer_id"
        )

    # An update marks the days a line left and the days it went to.
    moved = "(SELECT customer_id, order_date FROM old_rows UNION ALL SELECT customer_id, "
    moved += "order_date FROM new_rows) AS r"
    function = f"""
CREATE OR REPLACE FUNCTION {PREFIX}_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {mark("new_rows")};
    ELSIF TG_OP = 'DELETE' THEN
        {mark("old_rows")};
    ELSE
        {mark(moved)};
    END IF;
    RETURN NULL;
END $$"""
    truncate = f"""
CREATE OR REPLACE FUNCTION {PREFIX}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Not TRUNCATE: Django's flush truncates these tables in one statement, and a table
    -- cannot be truncated again while that statement is using it.
    DELETE FROM {DAYS};
    DELETE FROM {STALE};
    RETURN NULL;
END $$"""
    return [
        function,
        truncate,
        f"CREATE TRIGGER {PREFIX}_insert AFTER INSERT ON {LINES} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {PREFIX}_mark()",
        f"CREATE TRIGGER {PREFIX}_update AFTER UPDATE ON {LINES} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {PREFIX}_mark()",
        f"CREATE TRIGGER {PREFIX}_delete AFTER DELETE ON {LINES} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {PREFIX}_mark()",
        f"CREATE TRIGGER {PREFIX}_truncate AFTER TRUNCATE ON {LINES} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {PREFIX}_truncate()",
    ]


def postgresql_drop_sql() -> list[str]:
    return [
        *(
            f"DROP TRIGGER IF EXISTS {PREFIX}_{event} ON {LINES}"
            for event in ("insert", "update", "delete", "truncate")
        ),
        f"DROP FUNCTION IF EXISTS {PREFIX}_mark()",
        f"DROP FUNCTION IF EXISTS {PREFIX}_truncate()",
    ]


class KeepSalesDays(migrations.operations.base.Operation):
    """Make the triggers that mark customers stale (PostgreSQL; SQLite's follow every
    migrate) and sum the days of the lines already stored (PostgreSQL; SQLite marks every
    customer with lines stale)."""

    reversible = True

    def deconstruct(self):
        return self.__class__.__qualname__, [], {}

    def describe(self) -> str:
        return "Keep the sales days from the sales lines"

    @property
    def migration_name_fragment(self) -> str:
        return "keep_sales_days"

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            # The days of the lines already stored are summed here, not by the first run.
            for statement in postgresql_sql():
                schema_editor.execute(statement, params=None)
            with schema_editor.connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '512MB'")
                sum_all(cursor)
        else:
            schema_editor.execute(_mark_all(), params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            for statement in postgresql_drop_sql():
                schema_editor.execute(statement, params=None)


# -- SQLite: row triggers, made after every migrate ----------------------------------------


def sqlite_sql() -> list[str]:
    def mark(row: str) -> str:
        return (
            f"INSERT INTO {STALE} (customer_id, first_day, last_day) VALUES "
            f"({row}.customer_id, {row}.order_date, {row}.order_date);"
        )

    watched = "customer_id, order_date, revenue, cost, discount"
    bodies = {
        "insert": ("AFTER INSERT", mark("NEW")),
        "update": (f"AFTER UPDATE OF {watched}", mark("OLD") + " " + mark("NEW")),
        "delete": ("AFTER DELETE", mark("OLD")),
    }
    statements = []
    for event, (when, body) in bodies.items():
        statements.append(f'DROP TRIGGER IF EXISTS "{PREFIX}_{event}"')
        statements.append(f'CREATE TRIGGER "{PREFIX}_{event}" {when} ON {LINES} BEGIN {body} END')
    return statements


def sqlite_days_drop(*, using: str = "default", **kwargs) -> None:
    """pre_migrate: drop the triggers, so a migration may rebuild either table."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for event in ("insert", "update", "delete"):
            cursor.execute(f'DROP TRIGGER IF EXISTS "{PREFIX}_{event}"')


def sqlite_days_install(*, using: str = "default", **kwargs) -> None:
    """post_migrate: make the triggers again and mark every customer with lines stale."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    if not {LINES, DAYS, STALE} <= set(connection.introspection.table_names()):
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for statement in [*sqlite_sql(), _mark_all()]:
            cursor.execute(statement)
