"""Foreign keys checked once per statement instead of once per row.

PostgreSQL checks a foreign key with one trigger call and one query per inserted row: 5 µs
a row, which made it the largest single cost of importing a million sales lines (~5 s) and
of writing a contribution run's 100,000 rows (~0.9 s, two keys). The tables written in bulk
declare their key with `db_constraint=False` and get `CheckForeignKey` in a migration
instead: the same guarantees, checked set-wise.

On PostgreSQL:
- after each INSERT or UPDATE statement on the referencing table, one trigger reads the
  statement's new rows (a transition table), locks the referenced rows FOR KEY SHARE as a
  foreign key check does (a concurrent delete of one of them waits for this transaction,
  then fails the check below), and refuses the statement if a key is missing;
- after each DELETE statement on the referenced table, one trigger refuses it if a deleted
  key is still referenced (NO ACTION, as Django's own constraints: Django deletes or
  protects the referencing rows itself before deleting, per `on_delete`);
- an UPDATE that changes a referenced key is refused too (Django never does that).
The errors are PostgreSQL's own (SQLSTATE 23503, foreign_key_violation: an IntegrityError
in Django) with the same wording as a native foreign key.

On SQLite (development and demos) the same checks run per row, in the database as well, and
like SQLite's own foreign keys they follow `PRAGMA foreign_keys` (Django turns it off while
it flushes or loads fixtures). A table SQLite rebuilds in a later migration loses them:
tests/test_foreign_keys.py fails then.
"""

from django.db import migrations


class CheckForeignKey(migrations.operations.base.Operation):
    """Check `table.column` → `referenced.referenced_column` with statement-level triggers."""

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

    @property
    def name(self) -> str:
        # Short enough for PostgreSQL's 63-byte identifiers, unique per key.
        return f"kam_fk_{self.table}_{self.column}"[:50]

    def state_forwards(self, app_label, state):
        pass  # the models say db_constraint=False; nothing in the state changes

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        statements = (
            _postgresql_sql(self) if schema_editor.connection.vendor == "postgresql"
            else _sqlite_sql(self)
        )  # fmt: skip
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        q = schema_editor.quote_name
        if schema_editor.connection.vendor == "postgresql":
            for table, suffix in _TRIGGERS:
                target = self.table if table == "child" else self.referenced
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {self.name}_{suffix} ON {q(target)}")
            for suffix in ("child", "parent"):
                schema_editor.execute(f"DROP FUNCTION IF EXISTS {self.name}_{suffix}()")
        else:
            for _table, suffix in _TRIGGERS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {self.name}_{suffix}")


_TRIGGERS = [("child", "insert"), ("child", "update"), ("parent", "delete"), ("parent", "key")]


def _postgresql_sql(key: CheckForeignKey) -> list[str]:
    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    table, column = q(key.table), q(key.column)
    referenced, referenced_column = q(key.referenced), q(key.referenced_column)
    constraint = key.name
    child = f"""
CREATE OR REPLACE FUNCTION {key.name}_child() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys bigint[];
    locked bigint;
    missing bigint;
BEGIN
    SELECT array_agg(k) INTO keys FROM (SELECT DISTINCT {column} AS k FROM new_rows
        WHERE {column} IS NOT NULL) AS distinct_keys;
    IF keys IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM {referenced} AS r WHERE r.{referenced_column} = ANY (keys) FOR KEY SHARE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < cardinality(keys) THEN
        SELECT k INTO missing FROM unnest(keys) AS k WHERE NOT EXISTS
            (SELECT 1 FROM {referenced} AS r WHERE r.{referenced_column} = k) ORDER BY k LIMIT 1;
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "{key.table}" violates foreign key '
                || 'constraint "{constraint}"',
            DETAIL = 'Key ({key.column})=(' || missing || ') is not present in table '
                || '"{key.referenced}".',
            TABLE = '{key.table}', COLUMN = '{key.column}', CONSTRAINT = '{constraint}';
    END IF;
    RETURN NULL;
END $$"""
    parent = f"""
CREATE OR REPLACE FUNCTION {key.name}_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referencing bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT o.{referenced_column} INTO referencing FROM old_rows AS o WHERE EXISTS
            (SELECT 1 FROM {table} AS t WHERE t.{column} = o.{referenced_column})
            ORDER BY 1 LIMIT 1;
    ELSIF EXISTS (SELECT 1 FROM {table} AS t WHERE t.{column} = OLD.{referenced_column}) THEN
        referencing := OLD.{referenced_column};
    END IF;
    IF referencing IS NOT NULL THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'update or delete on table "{key.referenced}" violates foreign key '
                || 'constraint "{constraint}" on table "{key.table}"',
            DETAIL = 'Key ({key.referenced_column})=(' || referencing || ') is still '
                || 'referenced from table "{key.table}".',
            TABLE = '{key.referenced}', CONSTRAINT = '{constraint}';
    END IF;
    RETURN NULL;
END $$"""
    return [
        child,
        parent,
        f"CREATE TRIGGER {key.name}_insert AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {key.name}_child()",
        f"CREATE TRIGGER {key.name}_update AFTER UPDATE ON {table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {key.name}_child()",
        f"CREATE TRIGGER {key.name}_delete AFTER DELETE ON {referenced} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {key.name}_parent()",
        # Row-level, but its WHEN is false unless the key itself changes: free otherwise.
        f"CREATE TRIGGER {key.name}_key AFTER UPDATE OF {referenced_column} ON {referenced} "
        f"FOR EACH ROW WHEN (OLD.{referenced_column} IS DISTINCT FROM NEW.{referenced_column}) "
        f"EXECUTE FUNCTION {key.name}_parent()",
    ]


def _sqlite_sql(key: CheckForeignKey) -> list[str]:
    table, column = f'"{key.table}"', f'"{key.column}"'
    referenced, referenced_column = f'"{key.referenced}"', f'"{key.referenced_column}"'
    enforced = "(SELECT foreign_keys FROM pragma_foreign_keys) = 1"
    missing = (
        f"NEW.{column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {referenced} WHERE {referenced_column} = NEW.{column})"
    )
    referencing = f"EXISTS (SELECT 1 FROM {table} WHERE {column} = OLD.{referenced_column})"
    refused = f"SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {key.table}.{key.column}')"
    return [
        f"CREATE TRIGGER {key.name}_insert BEFORE INSERT ON {table} "
        f"WHEN {enforced} AND {missing} BEGIN {refused}; END",
        f"CREATE TRIGGER {key.name}_update BEFORE UPDATE OF {column} ON {table} "
        f"WHEN {enforced} AND {missing} BEGIN {refused}; END",
        f"CREATE TRIGGER {key.name}_delete BEFORE DELETE ON {referenced} "
        f"WHEN {enforced} AND {referencing} BEGIN {refused}; END",
        f"CREATE TRIGGER {key.name}_key BEFORE UPDATE OF {referenced_column} ON {referenced} "
        f"WHEN {enforced} AND OLD.{referenced_column} IS NOT NEW.{referenced_column} "
        f"AND {referencing} BEGIN {refused}; END",
    ]
