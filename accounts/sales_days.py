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
  statement's rows (transition tables) and upserts one mark per customer, in key order,
  widening a mark already there; on SQLite, row triggers. Marking is all an import pays:
  summing the days in the trigger itself took 5 s of a million-line import, marking each
  (customer, month) ~1 s, a mark per customer ~0.3 s. The days between, not the customer's
  whole history: a day of lines for the biggest customers would otherwise have all their
  lines summed again (7.7 s in the benchmark).
- The refresh takes the marks (locked in key order, then deleted) and sums the days between
  their first and last day afresh from the lines, in one transaction. A writer still in
  progress holds its marks' rows: the refresh waits for it and then sees its lines (the
  mark is an update that locks even when the customer was already marked); a writer that
  starts later marks again.
- TRUNCATE of the lines empties the days.
SQLite rebuilds a table to alter it, so, as with the foreign-key checks (kam/foreign_keys.py),
its triggers are dropped before every `migrate` and made again after it, and every customer
with lines is marked stale then, over all its days. tests/accounts/test_sales_days.py
compares the days with the lines after every kind of write, on both databases.
"""

from django.db import connection, migrations, transaction

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
# afresh (PostgreSQL): one scan of the lines into an emptied table, instead of a lock and an
# index lookup per customer and a delete of each day before it is written again (which
# makes every new day's key check visit the old one).
FULL_REFRESH_SHARE = 0.1
FULL_REFRESH_MIN = 10_000


def sales_days_refresh() -> int:
    """Sum the days of every stale customer afresh, between the first and last day marked;
    return how many customers that was."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {STALE}")
        count = cursor.fetchone()[0]
        if count == 0:
            return 0
        if connection.vendor != "postgresql":  # SQLite: one writer, nobody marks meanwhile
            marked = (
                f"EXISTS (SELECT 1 FROM {STALE} AS m WHERE m.customer_id = {{row}}.customer_id "
                f"AND {{row}}.{{day}} BETWEEN m.first_day AND m.last_day)"
            )
            cursor.execute(f"DELETE FROM {DAYS} WHERE " + marked.format(row=DAYS, day="day"))
            cursor.execute(_summed(where="WHERE " + marked.format(row="l", day="order_date")))
            cursor.execute(f"DELETE FROM {STALE}")
            return count
        # A big refresh sums millions of lines in one hash table.
        cursor.execute("SET LOCAL work_mem = '512MB'")
        cursor.execute("SELECT COUNT(*) FROM accounts_customer")
        if count >= max(FULL_REFRESH_SHARE * cursor.fetchone()[0], FULL_REFRESH_MIN):
            return _full_refresh(cursor)
        # Locked in key order, as the triggers mark them: no deadlock with a writer.
        cursor.execute(
            f"SELECT array_agg(customer_id), array_agg(first_day), array_agg(last_day) FROM "
            f"(SELECT * FROM {STALE} ORDER BY customer_id FOR UPDATE) AS stale"
        )
        marks = list(cursor.fetchone())
        stale = "unnest(%s::bigint[], %s::date[], %s::date[]) AS m(customer_id, first, last)"
        cursor.execute(
            f"DELETE FROM {DAYS} AS d USING {stale} WHERE d.customer_id = m.customer_id "
            f"AND d.day BETWEEN m.first AND m.last",
            marks,
        )
        join = (
            f"JOIN {stale} ON l.customer_id = m.customer_id "
            f"AND l.order_date BETWEEN m.first AND m.last"
        )
        cursor.execute(_summed(join), marks)
        # Only the marks locked above: one made since (by a writer that committed after the
        # lock) stays, and its days are summed again next time.
        cursor.execute(f"DELETE FROM {STALE} WHERE customer_id = ANY(%s)", marks[:1])
        return len(marks[0])


def _full_refresh(cursor) -> int:
    """Every day summed afresh (PostgreSQL); return how many customers were marked.

    The marks' table is locked against writers instead of each mark (as TRUNCATE would
    lock it, but before counting): one whose mark is not committed yet is waited for, one
    that marks later waits for this transaction and its mark stays. TRUNCATE, not DELETE,
    of the days: deleted rows left in the table make each new row's key check visit them.
    Only the recompute reads the days, and it is the caller.
    """
    cursor.execute(f"LOCK TABLE {STALE} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"SELECT COUNT(*) FROM {STALE}")
    count = cursor.fetchone()[0]
    cursor.execute(f"TRUNCATE {DAYS}, {STALE}")
    cursor.execute(_summed())
    return count


def _mark_all() -> str:
    """SQL: every customer with lines is stale over all its days (summed at the next
    refresh)."""
    return (
        f"INSERT INTO {STALE} (customer_id, first_day, last_day) SELECT customer_id, "
        f"MIN(order_date), MAX(order_date) FROM {LINES} GROUP BY customer_id "
        f"ON CONFLICT (customer_id) DO UPDATE SET first_day = excluded.first_day, "
        f"last_day = excluded.last_day"
    )


# -- PostgreSQL: statement triggers, made by a migration ------------------------------------


def postgresql_sql() -> list[str]:
    def mark(rows: str) -> str:
        # DO UPDATE, which locks an existing mark too, so a refresh running meanwhile waits
        # for this transaction and then sees its lines (see the module).
        return (
            f"INSERT INTO {STALE} AS s (customer_id, first_day, last_day) SELECT customer_id, "
            f"MIN(order_date), MAX(order_date) FROM {rows} GROUP BY customer_id ORDER BY 1 "
            f"ON CONFLICT (customer_id) DO UPDATE SET first_day = LEAST(s.first_day, "
            f"excluded.first_day), last_day = GREATEST(s.last_day, excluded.last_day)"
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
                _full_refresh(cursor)
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
            f"({row}.customer_id, {row}.order_date, {row}.order_date) ON CONFLICT (customer_id) "
            f"DO UPDATE SET first_day = MIN(first_day, excluded.first_day), "
            f"last_day = MAX(last_day, excluded.last_day);"
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
