"""Foreign keys checked once per statement instead of once per row.

PostgreSQL checks a foreign key with one trigger call and one query per inserted row: 5 µs
a row, which made it the largest single cost of importing a million sales lines (~5 s) and
of writing a contribution run's 100,000 rows (~0.9 s, two keys). The tables written in bulk
declare their key with `db_constraint=False`; on PostgreSQL `CheckForeignKey`, in a
migration, adds the same guarantees, checked set-wise:
- after each INSERT statement on the referencing table, one trigger reads the statement's
  new rows (a transition table), locks the referenced rows FOR KEY SHARE as a native check
  does (a concurrent delete of one of them waits for this transaction, then fails its own
  check), and refuses the statement if a key is missing;
- an UPDATE that changes a key is checked row by row, as natively, and only then: an update
  of other columns neither checks nor locks anything;
- a DELETE statement on the referenced table is refused if a deleted key is still
  referenced (NO ACTION; Django deletes or protects the referencing rows itself first, per
  `on_delete`), and so is an UPDATE of a referenced key (Django never does that) and a
  TRUNCATE that leaves referencing rows (Django's flush truncates every table in one
  statement: allowed);
- the errors are PostgreSQL's own: SQLSTATE 23503, foreign_key_violation (IntegrityError in
  Django), worded as a native key's.
Two differences from a native key, both outside what KAM does: the checks are immediate,
never deferred to the commit (fixtures must list customers before their lines), and a
DELETE on the referenced table is refused outright under REPEATABLE READ or SERIALIZABLE (a
snapshot older than a concurrent insert could not see its rows). KAM's connections use
READ COMMITTED, Django's default.

On SQLite (development and demos), row triggers check inserted and changed keys after each
row, like SQLite's own keys only while `PRAGMA foreign_keys` is on. Deleting a referenced row
is left to the ORM there (`on_delete`: PROTECT or CASCADE), not checked by the database:
SQLite has no deferred triggers, and an immediate check would refuse Django's flush, which
deletes the customers before their lines inside one transaction. SQLite rebuilds a table to
alter it, which a trigger of another table that names it would break, so these triggers
are not made by migrations there: `sqlite_checks_drop` runs before every `migrate` and
`sqlite_checks_install` after it, for every key the models declare with
`db_constraint=False` (kam/apps.py connects them). tests/kam/test_foreign_keys.py checks
both databases against the models.

The SQL is built here, not frozen into the migrations: a change to it reaches a database
only through a new migration (PostgreSQL) or the next `migrate` (SQLite).
"""

from django.db import migrations


class CheckForeignKey(migrations.operations.base.Operation):
    """Check `table.column` → `referenced.referenced_column` with statement-level triggers
    (PostgreSQL; a no-op on SQLite, whose checks follow the models: see the module)."""

    reversible = True

    def __init__(self, *, table: str, column: str, referenced: str, referenced_column="id"):
        self.table = table
        self.column = column
        self.referenced = referenced
        self.referenced_column = referenced_column

    def deconstruct(self):
        kwargs = {
            "table": self.table,
            "column": self.column,
            "referenced": self.referenced,
            "referenced_column": self.referenced_column,
        }
        return self.__class__.__qualname__, [], kwargs

    def describe(self) -> str:
        return f"Check {self.table}.{self.column} → {self.referenced} once per statement"

    @property
    def migration_name_fragment(self) -> str:
        return f"check_{self.table}_{self.column}"

    def state_forwards(self, app_label, state):
        pass  # the models say db_constraint=False; nothing in the state changes

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            for statement in postgresql_sql(self.table, self.column, self.referenced,
                                            self.referenced_column):  # fmt: skip
                schema_editor.execute(statement, params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            name = check_name(self.table, self.column)
            for target, suffix in _POSTGRESQL_TRIGGERS:
                table = self.table if target == "child" else self.referenced
                schema_editor.execute(f'DROP TRIGGER IF EXISTS {name}_{suffix} ON "{table}"')
            for suffix in ("child", "child_row", "parent"):
                schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}_{suffix}()")


def check_name(table: str, column: str) -> str:
    # Short enough for PostgreSQL's 63-byte identifiers with a suffix; unique per key.
    return f"kam_fk_{table}_{column}"[:50]


_POSTGRESQL_TRIGGERS = [
    ("child", "insert"), ("child", "update"),
    ("parent", "delete"), ("parent", "key"), ("parent", "truncate"),
]  # fmt: skip


def postgresql_sql(table: str, column: str, referenced: str, referenced_column: str) -> list:
    name = check_name(table, column)
    t, c, r, rc = (f'"{n}"' for n in (table, column, referenced, referenced_column))
    missing_error = f"""
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "{table}" violates foreign key '
                || 'constraint "{name}"',
            DETAIL = 'Key ({column})=(' || COALESCE(missing::text, '?') || ') is not '
                || 'present in table "{referenced}".',
            TABLE = '{table}', COLUMN = '{column}', CONSTRAINT = '{name}';"""
    child = f"""
CREATE OR REPLACE FUNCTION {name}_child() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys bigint[];
    locked bigint;
    missing bigint;
BEGIN
    SELECT array_agg(k) INTO keys FROM (SELECT DISTINCT {c} AS k FROM new_rows
        WHERE {c} IS NOT NULL) AS distinct_keys;
    IF keys IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM {r} AS p WHERE p.{rc} = ANY (keys) FOR KEY SHARE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < cardinality(keys) THEN
        SELECT k INTO missing FROM unnest(keys) AS k WHERE NOT EXISTS
            (SELECT 1 FROM {r} AS p WHERE p.{rc} = k) ORDER BY k LIMIT 1;{missing_error}
    END IF;
    RETURN NULL;
END $$"""
    child_row = f"""
CREATE OR REPLACE FUNCTION {name}_child_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM 1 FROM {r} AS p WHERE p.{rc} = NEW.{c} FOR KEY SHARE;
    IF NOT FOUND THEN
        missing := NEW.{c};{missing_error}
    END IF;
    RETURN NULL;
END $$"""
    parent = f"""
CREATE OR REPLACE FUNCTION {name}_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referencing text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
            RETURN NULL;
        END IF;
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE feature_not_supported USING
                MESSAGE = 'delete on table "{referenced}" needs READ COMMITTED isolation: '
                    || 'its key "{name}" is checked by a trigger that must see rows '
                    || 'inserted concurrently';
        END IF;
        SELECT o.{rc}::text INTO referencing FROM old_rows AS o WHERE EXISTS
            (SELECT 1 FROM {t} AS ch WHERE ch.{c} = o.{rc}) ORDER BY o.{rc} LIMIT 1;
    ELSIF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM {t}) THEN
            referencing := 'any';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM {t} AS ch WHERE ch.{c} = OLD.{rc}) THEN
        referencing := OLD.{rc}::text;
    END IF;
    IF referencing IS NOT NULL THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'update or delete on table "{referenced}" violates foreign key '
                || 'constraint "{name}" on table "{table}"',
            DETAIL = 'Key ({referenced_column})=(' || referencing || ') is still '
                || 'referenced from table "{table}".',
            TABLE = '{referenced}', CONSTRAINT = '{name}';
    END IF;
    RETURN NULL;
END $$"""
    return [
        child,
        child_row,
        parent,
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {t} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}_child()",
        # Row-level, but its WHEN is false unless the key itself changes: free otherwise.
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {c} ON {t} FOR EACH ROW "
        f"WHEN (NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c}) "
        f"EXECUTE FUNCTION {name}_child_row()",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {r} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}_parent()",
        f"CREATE TRIGGER {name}_key AFTER UPDATE OF {rc} ON {r} FOR EACH ROW "
        f"WHEN (OLD.{rc} IS DISTINCT FROM NEW.{rc}) EXECUTE FUNCTION {name}_parent()",
        f"CREATE TRIGGER {name}_truncate AFTER TRUNCATE ON {r} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_parent()",
    ]


# -- SQLite: per row, made after every migrate from the models -----------------------------


# KAM's own apps. Other apps' unconstrained keys mean something else (a history table's
# key may outlive the row it names).
KAM_APPS = ("kam", "accounts", "tiers", "relationships")


def unconstrained_keys() -> list[tuple[str, str, str, str]]:
    """(table, column, referenced table, referenced column) of every foreign key KAM's
    models declare with db_constraint=False: the keys these checks stand in for."""
    from django.apps import apps

    keys = []
    for model in apps.get_models():
        if model._meta.app_label not in KAM_APPS:
            continue
        for field in model._meta.local_fields:
            if field.many_to_one and not field.db_constraint:
                target = field.target_field
                keys.append((model._meta.db_table, field.column,
                             target.model._meta.db_table, target.column))  # fmt: skip
    return sorted(keys)


def sqlite_checks_drop(*, using: str = "default", **kwargs) -> None:
    """pre_migrate: drop every check trigger, so a migration may rebuild any table."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'kam_fk_%'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')


def sqlite_checks_install(*, using: str = "default", **kwargs) -> None:
    """post_migrate: (re)make the check triggers of every key whose tables exist."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table, column, referenced, referenced_column in unconstrained_keys():
            if table in tables and referenced in tables:
                for statement in sqlite_sql(table, column, referenced, referenced_column):
                    cursor.execute(statement)


def sqlite_sql(table: str, column: str, referenced: str, referenced_column: str) -> list:
    name = check_name(table, column)
    t, c, r, rc = (f'"{n}"' for n in (table, column, referenced, referenced_column))
    enforced = "(SELECT foreign_keys FROM pragma_foreign_keys) = 1"
    missing = f"NEW.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {r} WHERE {rc} = NEW.{c})"
    refused = f"SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column}')"
    # AFTER, not BEFORE: an upsert's insert that turns into an update is not checked as an
    # insert (its update is, if it changes the key).
    triggers = {
        "insert": f"AFTER INSERT ON {t} WHEN {enforced} AND {missing}",
        "update": f"AFTER UPDATE OF {c} ON {t} WHEN {enforced} AND {missing}",
    }
    statements = []
    for suffix, when in triggers.items():
        statements.append(f'DROP TRIGGER IF EXISTS "{name}_{suffix}"')
        statements.append(f'CREATE TRIGGER "{name}_{suffix}" {when} BEGIN {refused}; END')
    return statements
