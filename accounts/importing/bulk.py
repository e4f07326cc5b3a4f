"""The bulk load: a big CSV file of new sales lines, straight into their table.

Storing a million rows into a table that keeps three indexes up to date costs PostgreSQL
about five times what building those indexes afresh costs once the rows are in, and
staging the rows before storing them reads everything twice. So, on PostgreSQL, a CSV
file that
- holds at least KAM_IMPORT_BULK_MIN_ROWS rows (estimated from its size) and at least as
  many as the table already holds,
- has a plain header line and, in every row, cells in their plainest valid form (the
  staged path's fast patterns, without commas or quotes: no cell needs parsing),
- names only known customers and, in its first block, only new keys
is copied straight into the table: the table is locked against readers and writers until
the import commits (if another session holds it for more than _LOCK_WAIT, the file is
staged instead: a waiting lock request would queue every new reader behind it), the
customers' codes are read and held (FOR KEY SHARE: a rename or delete waits for the
import), the table's indexes and the unique and primary keys they back are dropped, the
rows are streamed in with COPY (customer codes become ids and amounts cents on the way),
the row rules run over the new rows, and the keys and indexes are built again, which is
where a key stored already or twice in the file shows. A dry run is always staged: the
same report, no lock. Building an index again keeps its definition and name, not what
was set on it besides (CLUSTER, REPLICA IDENTITY, statistics targets, comments: KAM sets
none).

Anything else — a cell the patterns do not take, an unknown customer, a stored or
repeated key, a broken rule, a value too long for its column — rolls everything back to
the savepoint taken first, and the import goes the staged way (service.py), which reports
every problem or upserts the rows. The stored rows and the report are the same either
way; only the time differs, and a declined file pays for the attempt.
"""

import os
import re
from operator import itemgetter

from django.conf import settings
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from psycopg import errors as pg_errors

from accounts.importing.schemas import (
    FAST_DATE,
    FAST_MONEY,
    FAST_POSITIVE_INT,
    FAST_QUANTITY,
    ROW_RULES,
    Schema,
    fast_text,
)
from accounts.models import Customer, SalesLine

# Receivables are far fewer, and their paid date (empty while unpaid) is parsed cell by cell.
TABLES = {"sales": SalesLine}
_CHUNK_CHARS = 1 << 20
_LOCK_KEY = 0x4B414D42  # "KAMB": bulk loads wait for one another before counting rows
_LOCK_WAIT = "2s"  # for the table's exclusive lock, before leaving the file to the staged way

# Each fast pattern as a bulk cell: the same cells, minus commas and double quotes (a
# plain line is split on its commas), written possessively so that one pattern over a
# whole block of lines runs in C without backtracking. A text's length is left to its
# column (a longer one fails the COPY, and the file goes the staged way).
_TEXT = r'(?!\s)[^,"\\\x00-\x1f]++(?<!\s)'
_BULK_CELLS = {
    FAST_MONEY: r"-?+[0-9]{1,15}+(?:\.[0-9]{1,2}+)?+",
    FAST_QUANTITY: r"-?+[0-9]{1,11}+(?:\.[0-9]{1,3}+)?+",
    FAST_POSITIVE_INT: r"[1-9][0-9]{0,8}+",
    FAST_DATE: FAST_DATE,
    fast_text(50): _TEXT,
    fast_text(50, allow_empty=True): f"(?:{_TEXT})?+",
}


class _Decline(Exception):
    """This file goes the staged way; the savepoint undoes what the bulk load did."""


def load(schema: Schema, table, path: str, present: list[tuple[int, str]], report) -> bool:
    """Bulk-load the file if it qualifies and every row is stored; return whether it did.

    `present` is the header mapped to columns (index in the file, column name), with no
    problem found in it. Nothing is left changed when this returns False.
    """
    model = TABLES.get(schema.kind)
    if model is None or connection.vendor != "postgresql" or table.file_type != "csv":
        return False
    if report.dry_run:
        return False  # the staged way gives the same report without locking the table
    layout = _Layout.of(schema, model, present, width=len(table.header))
    if layout is None:
        return False
    with open(path, encoding=table.encoding, newline="") as handle:
        if handle.readline().rstrip("\r\n").split(",") != table.header:
            return False  # the header spans lines or quotes its cells: not a plain file
        first = _read_block(handle)
        if not first or not layout.valid(first):
            return False
        size = os.path.getsize(path)
        estimate = size * first.count("\n") // max(len(first.encode(table.encoding)), 1)
        if estimate < settings.KAM_IMPORT_BULK_MIN_ROWS:
            return False
        try:
            with transaction.atomic():
                stored = _store(layout, schema.kind, model, handle, first, estimate)
        except _Decline:
            return False
    report.rows_read = report.created = stored
    report.bulk_loaded = True
    return True


class _Layout:
    """How a file's plain lines become the table's COPY rows."""

    def __init__(self, pattern, positions, customer_at, money_at, tail, columns, keys):
        self.block = re.compile(f"(?:{pattern}\n)*+")
        self.pick = itemgetter(*positions)
        self.customer_at = customer_at
        self.money_at = money_at
        self.tail = tail
        self.columns = columns  # the table's columns, in COPY order
        self.keys = keys  # (position in a line's cells + tail, table column, database type)

    @classmethod
    def of(cls, schema: Schema, model, present, *, width: int):
        cells = []
        for _index, name in present:
            cell = _BULK_CELLS.get(schema.by_name[name].fast)
            if cell is None:
                return None
            cells.append(cell)
        index_of = {name: index for index, name in present}
        if "customer_code" not in index_of:
            return None
        positions, tail, columns = [], [], []
        for column in schema.columns:
            target = "customer_id" if column.name == "customer_code" else column.name
            columns.append(target)
            if column.name in index_of:
                positions.append(index_of[column.name])
            elif column.default is None:
                return None  # a NULL for an absent column: the staged path's business
            else:
                positions.append(width + len(tail))
                tail.append(str(column.default))  # money defaults are cents already
        money_at = tuple(
            index for index, name in present if schema.by_name[name].sql_type == "money"
        )
        where = {
            column.name: position
            for column, position in zip(schema.columns, positions, strict=True)
        }
        keys = [
            (where[name], name, model._meta.get_field(name).db_type(connection))
            for name in schema.key
        ]
        return cls(
            ",".join(cells), positions, index_of["customer_code"], money_at, tail, columns, keys
        )

    def valid(self, block: str) -> bool:
        return self.block.match(block).end() == len(block)

    def rows(self, block: str, ids: dict) -> str:
        """The block's lines as COPY text rows (a KeyError names an unknown customer)."""
        customer_at, money_at, tail, pick = self.customer_at, self.money_at, self.tail, self.pick
        out = []
        for line in block[:-1].split("\n"):
            cells = line.split(",")
            cells[customer_at] = ids[cells[customer_at]]
            for index in money_at:
                whole, _dot, cents = cells[index].partition(".")
                cells[index] = whole + (cents + "00")[:2]
            if tail:
                cells += tail
            out.append("\t".join(pick(cells)))
        out.append("")
        return "\n".join(out)


def _read_block(handle) -> str:
    """About a megabyte of whole lines, each ending in \\n (a \\r\\n becomes \\n)."""
    block = handle.read(_CHUNK_CHARS)
    if block and not block.endswith("\n"):
        block += handle.readline()
    if "\r" in block:
        block = block.replace("\r\n", "\n")  # a lone \r stays and fails the pattern
    if block and not block.endswith("\n"):
        block += "\n"  # the last line of a file without a final newline
    return block


def _store(layout: _Layout, kind: str, model, handle, first: str, estimate: int) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    customers = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS t", [estimate])
        if cursor.fetchone()[0] >= estimate:
            raise _Decline  # the table holds more: keeping its indexes up to date is cheaper
        if _any_stored(cursor, table, layout, first):
            raise _Decline  # a re-import: the staged path updates what changed
        # Waiting for the table queues every new reader behind this import: wait briefly,
        # else leave the file to the staged way, which only needs a row lock.
        cursor.execute(f"SET LOCAL lock_timeout = '{_LOCK_WAIT}'")
        try:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        except OperationalError:
            raise _Decline from None
        cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
        # Codes to ids as they are now, held until the import commits: a code renamed or a
        # customer deleted meanwhile waits, as a native foreign key would make it.
        cursor.execute(f"SELECT code, id FROM {customers} FOR KEY SHARE")
        ids = {code: str(pk) for code, pk in cursor.fetchall()}
        # Every row the COPY adds takes a later id than this one: the rule checks read those.
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [model._meta.db_table])
        before = cursor.fetchone()[0]
        remake = _drop_indexes(cursor, model._meta.db_table)
        stored = 0
        columns = ", ".join(connection.ops.quote_name(c) for c in layout.columns)
        try:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                block = first
                while block:
                    if not layout.valid(block):
                        raise _Decline
                    try:
                        copy.write(layout.rows(block, ids))
                    except KeyError:
                        raise _Decline from None
                    stored += block.count("\n")
                    block = _read_block(handle)
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id > %s AND {ROW_RULES[kind]})",
                [before],
            )
            if cursor.fetchone()[0]:
                raise _Decline
            for statement in remake:
                cursor.execute(statement)
        except (DataError, IntegrityError, pg_errors.DataError, pg_errors.IntegrityError):
            raise _Decline from None
    return stored


def _any_stored(cursor, table: str, layout: _Layout, block: str) -> bool:
    """Whether a key of the block's lines is in the table already."""
    lines = [line.split(",") + layout.tail for line in block[:-1].split("\n")]
    arrays = [[cells[index] for cells in lines] for index, _name, _type in layout.keys]
    names = ", ".join(f"k{n}" for n in range(len(arrays)))
    unnest = ", ".join(["%s::text[]"] * len(arrays))
    match = " AND ".join(
        f"t.{connection.ops.quote_name(name)} = k.k{n}::{db_type}"
        for n, (_index, name, db_type) in enumerate(layout.keys)
    )
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM unnest({unnest}) AS k({names}) JOIN {table} t ON {match})",
        arrays,
    )
    return cursor.fetchone()[0]


def _drop_indexes(cursor, table: str) -> list[str]:
    """Drop the table's indexes, with the primary and unique keys they back; one that
    another constraint leans on (a foreign key elsewhere, an exclusion) stays. Return the
    statements that make them again."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, c.conname, pg_get_indexdef(i.indexrelid), "
        "pg_get_constraintdef(c.oid) "
        "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
        "AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u') "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint o "
        "WHERE o.conindid = i.indexrelid "
        "AND NOT (o.conrelid = i.indrelid AND o.contype IN ('p', 'u'))) ORDER BY 1",
        [table],
    )
    quoted = connection.ops.quote_name(table)
    remake = []
    # Keys first when made again: a key stored already or twice shows before other builds.
    found = sorted(cursor.fetchall(), key=lambda row: row[1] is None)
    for index, constraint, index_definition, constraint_definition in found:
        if constraint:
            name = connection.ops.quote_name(constraint)
            cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {name}")
            remake.append(f"ALTER TABLE {quoted} ADD CONSTRAINT {name} {constraint_definition}")
        else:
            cursor.execute(f"DROP INDEX {index}")
            remake.append(index_definition)
    return remake
