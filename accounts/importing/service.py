"""import_data: read, stage, check, upsert — all or nothing, the same report with --dry-run.

1. The file is checked for type and size, then read row by row (sources.py).
2. Each cell is parsed (schemas.py); valid rows go, in chunks, to a temporary staging
   table (COPY on PostgreSQL), so memory stays bounded however big the file is.
3. What needs the whole file or the database is checked there in SQL: duplicate keys
   inside the file, unknown customers and owners, parent cycles.
4. With no problem at all, the staged rows are upserted on the key in set-based SQL:
   an UPDATE of the rows that differ, then an INSERT of the new ones. Their row counts
   give `updated` and `created`; the rest is `unchanged`.
Everything runs in one transaction; a dry run or any problem rolls it back, so a
rejected file changes nothing and a dry run reports exactly what a real run would do.

On PostgreSQL a big CSV file of new sales lines is first offered to the bulk load
(bulk.py), which copies it straight into the table and builds its indexes again; a file
it cannot take whole comes back here untouched.
"""

import re
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.importing import bulk
from accounts.importing.schemas import ROW_RULES, SCHEMAS, CellError, Schema
from accounts.importing.sources import FileProblem, SizeLimits, open_table
from accounts.models import BuyingUnit, Contact, Customer, ImportRun, Receivable, SalesLine

STAGE = "kam_import_stage"
CHUNK_ROWS = 20_000


@dataclass
class ImportReport:
    kind: str
    file_name: str
    dry_run: bool
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None
    bulk_loaded: bool = False  # stored by the bulk load (bulk.py), not staged

    @property
    def accepted(self) -> bool:
        return self.problem_count == 0

    def add(self, row, column, message, value=None) -> None:
        """Record one problem as file:row:column: message (value); keep the first `cap`."""
        self.problem_count += 1
        if len(self.problems) < settings.KAM_IMPORT_MAX_PROBLEMS:
            where = f"{self.file_name}:{row if row is not None else '-'}:{column or '-'}"
            shown = "" if value is None else f" ({_printable(value)})"
            self.problems.append(f"{where}: {message}{shown}")

    def summary(self) -> str:
        if not self.accepted:
            shown = len(self.problems)
            more = self.problem_count - shown
            head = _("%(file)s: rejected, nothing was imported: %(count)s problem(s)") % {
                "file": self.file_name,
                "count": self.problem_count,
            }
            if more:
                head += _(" (the first %(shown)s are listed)") % {"shown": shown}
            return head
        verb = _("would import") if self.dry_run else _("imported")
        text = _(
            "%(file)s: %(verb)s %(kind)s: %(read)s rows read, %(created)s created, "
            "%(updated)s updated, %(unchanged)s unchanged"
        ) % {
            "file": self.file_name,
            "verb": verb,
            "kind": self.kind,
            "read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }
        if self.rows_read and self.rows_read == self.unchanged:
            text += _(" — the file was imported before; nothing changed")
        return text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _printable(value) -> str:
    """A cell as a person can read it; control characters (NUL…) shown as \\xNN escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


class _Rollback(Exception):
    """Raised inside the transaction to undo a dry run or a rejected file."""


def import_data(
    *, kind: str, path: str, file_name: str | None = None, user=None, dry_run: bool = False
) -> ImportReport:
    """Import one file of `kind` (customers, contacts, sales, payments) and record the run."""
    if kind not in SCHEMAS:
        raise ValueError(f"unknown import kind {kind!r}: expected one of {', '.join(SCHEMAS)}")
    schema = SCHEMAS[kind]
    file_name = file_name or path.rsplit("/", 1)[-1]
    report = ImportReport(kind=kind, file_name=file_name, dry_run=dry_run)
    started_at, started = timezone.now(), time.monotonic()
    limits = SizeLimits(
        csv_bytes=settings.KAM_IMPORT_MAX_CSV_BYTES, xlsx_bytes=settings.KAM_IMPORT_MAX_XLSX_BYTES
    )
    try:
        table = open_table(path, file_name=file_name, limits=limits)
    except FileProblem as problem:
        report.add(None, None, str(problem))
    else:
        try:
            with transaction.atomic():
                _run(schema, table, report, path)
                if dry_run or not report.accepted:
                    raise _Rollback
                # One event per import, written with the rows it describes.
                audit_record(
                    actor=user,
                    entity="import",
                    action="import",
                    summary=f"{kind} {file_name}",
                    changes={
                        "rows_read": report.rows_read,
                        "created": report.created,
                        "updated": report.updated,
                    },
                )
        except _Rollback:
            pass
        except FileProblem as problem:
            report.add(None, None, str(problem))
        finally:
            table.close()
            _drop_stage()
    if report.accepted:
        report.unchanged = report.rows_read - report.created - report.updated
    else:
        report.created = report.updated = report.unchanged = 0
    report.run_id = ImportRun.objects.create(
        kind=kind,
        file_name=file_name[:255],
        user=user,
        started_at=started_at,
        duration_ms=int((time.monotonic() - started) * 1000),
        dry_run=dry_run,
        status=ImportRun.Status.ACCEPTED if report.accepted else ImportRun.Status.REJECTED,
        rows_read=report.rows_read,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        problem_count=report.problem_count,
        problems=report.problems,
    ).pk
    return report


# -- reading and staging -----------------------------------------------------------------


def _run(schema: Schema, table, report: ImportReport, path: str) -> None:
    present = _read_header(schema, table.header, report)
    if not report.accepted:
        return
    if bulk.load(schema, table, path, present, report):
        return
    names = [column.name for column in schema.columns]
    width = len(table.header)
    parsers = [(index, schema.by_name[name]) for index, name in present]
    present_names = {name for _index, name in present}
    absent = {c.name: c.default for c in schema.columns if c.name not in present_names}
    fast = _fast_row(schema, present, absent)
    with _Stage(schema) as stage:
        if fast is not None:
            index_of = {name: index for index, name in present}
            missing = [c.name for c in schema.columns if c.name not in index_of]
            stage.set_text_layout(
                [index_of[n] if n in index_of else width + missing.index(n) for n in names],
                [absent[name] for name in missing],
                width,
            )
        for number, cells in table.rows:
            if fast is not None and len(cells) == width:
                joined = "\x1f".join(cells)
                if fast.match(joined):
                    # Every cell is already in its plainest valid form: stage the text as
                    # it is.
                    report.rows_read += 1
                    stage.add_text(number, cells, joined)
                    continue
            if not any(cell.strip() for cell in cells):
                continue  # a blank line between rows is not data
            report.rows_read += 1
            if len(cells) > width:
                report.add(
                    number,
                    None,
                    _("this row has %(cells)s cells but the header has %(columns)s")
                    % {"cells": len(cells), "columns": width},
                )
                continue
            values = dict(absent)
            ok = True
            for index, column in parsers:
                text = cells[index].strip() if index < len(cells) else ""
                if not text:
                    if column.required:
                        report.add(number, column.name, _("a value is required"), '""')
                        ok = False
                    values[column.name] = column.default
                    continue
                try:
                    values[column.name] = column.parse(text)
                except CellError as error:
                    report.add(number, column.name, str(error), text)
                    ok = False
            if ok:
                stage.add_values(number, [values[name] for name in names])
    if report.rows_read == 0:
        report.add(None, None, _("the file has a header but no data rows"))
        return
    _check_in_database(schema, report, present_names=present_names)
    if report.accepted:
        _APPLY[schema.kind](schema, report, present_names)


def _fast_row(schema: Schema, present, absent):
    """One pattern for a whole row of plain cells, or None when this file cannot use it.

    Only PostgreSQL stages text as it is (COPY parses it); only columns with a `fast`
    pattern qualify, and an absent column must have a default COPY can take as text.
    """
    if connection.vendor != "postgresql":
        return None
    if any(schema.by_name[name].fast is None for _index, name in present):
        return None
    if any(default is None for default in absent.values()):
        return None
    pattern = "\x1f".join(f"(?:{schema.by_name[name].fast})" for _index, name in present)
    return re.compile(pattern + r"\Z")


def _read_header(schema: Schema, header: list[str], report: ImportReport) -> list[tuple[int, str]]:
    """Map header cells to columns; unknown, duplicate and missing columns are problems."""
    known = schema.header_names()
    present: list[tuple[int, str]] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(header):
        label = raw.strip().lstrip("\ufeff")
        name = known.get(label.lower())
        if name is None:
            report.add(
                1,
                label or f"#{index + 1}",
                _("unknown column; the columns of a %(kind)s file are: %(columns)s")
                % {"kind": schema.kind, "columns": ", ".join(c.name for c in schema.columns)},
            )
        elif name in seen:
            report.add(1, label, _("the column %(name)s appears twice") % {"name": name})
        else:
            seen[name] = label
            present.append((index, name))
    for column in schema.columns:
        if column.required and column.name not in seen:
            report.add(1, column.name, _("required column is missing"))
    return present


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _money_sql(expression: str) -> str:
    """Staged money -> integer cents. PostgreSQL stages the file's decimal text as numeric
    (COPY parses it exactly); SQLite stages cents, parsed in Python."""
    if connection.vendor == "postgresql":
        return f"CAST({expression} * 100 AS bigint)"
    return expression


def _money_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


class _Stage:
    """The temporary staging table, filled in chunks (one COPY stream on PostgreSQL, so
    the server stores rows while Python reads the next ones)."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.columns = ["row_no", *(c.name for c in schema.columns)]
        self.money = [c.sql_type == "money" for c in schema.columns]
        self.postgres = connection.vendor == "postgresql"
        self.pending: list = []

    def __enter__(self):
        money = "numeric(20, 2)" if self.postgres else "bigint"
        decimal = "numeric(14, 3)" if self.postgres else "decimal"
        types = {"text": "text", "integer": "integer", "money": money, "date": "date"}
        types["decimal"] = decimal
        columns = ", ".join(f"{_q(c.name)} {types[c.sql_type]}" for c in self.schema.columns)
        self.cursor = connection.cursor()
        self.cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        self.cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} (row_no integer NOT NULL, {columns})")
        if self.postgres:
            quoted = ", ".join(_q(n) for n in self.columns)
            self._copy_context = self.cursor.copy(f"COPY {STAGE} ({quoted}) FROM STDIN")
            self.copy = self._copy_context.__enter__()
        return self

    def set_text_layout(self, positions: list[int], absent_defaults: list, width: int) -> None:
        """Where each staged column comes from in a fast-path row: a position among the
        file's cells followed by the absent columns' defaults."""
        self.positions = positions
        self.tail = [_copy_text(v) for v in absent_defaults]
        # The file has every column, in the stage's order: a row is its cells as they are.
        self.as_is = positions == list(range(width)) and not self.tail

    def add_text(self, number: int, cells: list[str], joined: str) -> None:
        """A fast-path row, staged as the text it is (PostgreSQL only). `joined` is the
        cells joined by \\x1f, which fast-path cells cannot hold, nor tabs."""
        if self.as_is:
            self.pending.append(f"{number}\t" + joined.replace("\x1f", "\t"))
        else:
            row = cells + self.tail
            self.pending.append(f"{number}\t" + "\t".join([row[i] for i in self.positions]))
        if len(self.pending) >= CHUNK_ROWS:
            self.flush()

    def add_values(self, number: int, values: list) -> None:
        """A parsed row: values in schema order (money in cents)."""
        if self.postgres:
            texts = [
                _money_text(v) if is_money and v is not None else _copy_text(v)
                for v, is_money in zip(values, self.money, strict=True)
            ]
            self.pending.append(f"{number}\t" + "\t".join(texts))
        else:
            self.pending.append((number, *values))
        if len(self.pending) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if self.postgres:
            self.pending.append("")
            self.copy.write("\n".join(self.pending))
        else:
            marks = ", ".join(["%s"] * len(self.columns))
            self.cursor.executemany(f"INSERT INTO {STAGE} VALUES ({marks})", self.pending)
        self.pending = []

    def __exit__(self, exc_type, exc, traceback):
        try:
            if exc_type is None:
                self.flush()
            if self.postgres:
                self._copy_context.__exit__(exc_type, exc, traceback)
                if exc_type is None:
                    # Temporary tables are never auto-analysed; the checks' plans need estimates.
                    self.cursor.execute(f"ANALYZE {STAGE}")
        finally:
            self.cursor.close()
        return False


def _drop_stage() -> None:
    # The stage lives on the connection; drop it so the next import starts clean.
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)  # int, Decimal, date: their str() is what COPY reads


# -- checks that need the whole file or the database ---------------------------------------


def _fetch_limited(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY 1 LIMIT {settings.KAM_IMPORT_MAX_PROBLEMS + 1}", params)
        return cursor.fetchall()


def _count(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS problems", params)
        return cursor.fetchone()[0]


def _report_rows(report, sql, column, message, *, money: bool = False) -> None:
    """Each (row_no, value) from `sql` is a problem on `column`; all are counted."""
    rows = _fetch_limited(sql)
    for row_no, value in rows[: settings.KAM_IMPORT_MAX_PROBLEMS]:
        report.add(row_no, column, message, _money_text(value) if money else value)
    if len(rows) > settings.KAM_IMPORT_MAX_PROBLEMS:
        # Listed ones are counted by add(); count the rest without fetching them.
        report.problem_count += _count(sql) - settings.KAM_IMPORT_MAX_PROBLEMS


def _check_in_database(schema: Schema, report: ImportReport, present_names: set[str]) -> None:
    customer = _q(Customer._meta.db_table)
    user = _q(get_user_model()._meta.db_table)
    key_match = " AND ".join(f"d.{_q(k)} = s.{_q(k)}" for k in schema.key)
    key_columns = ", ".join(_q(k) for k in schema.key)
    key_text = " || '/' || ".join(f"CAST(s.{_q(k)} AS TEXT)" for k in schema.key)
    _report_rows(
        report,
        f"SELECT s.row_no, {key_text} || ', first at row ' || CAST(d.first_row AS TEXT) "
        f"FROM {STAGE} s JOIN (SELECT {key_columns}, MIN(row_no) AS first_row FROM {STAGE} "
        f"GROUP BY {key_columns} HAVING COUNT(*) > 1) d ON {key_match} "
        f"WHERE s.row_no <> d.first_row",
        "+".join(schema.key),
        _("duplicate key: the same %(key)s appears earlier in the file")
        % {"key": " + ".join(schema.key)},
    )
    if schema.kind == "sales":
        _report_rows(
            report,
            f"SELECT row_no, {_money_sql('cost')} FROM {STAGE} WHERE {ROW_RULES['sales']}",
            "cost",
            _("negative cost on a sale with positive revenue"),
            money=True,
        )
    if schema.kind == "payments":
        _report_rows(
            report,
            f"SELECT row_no, due_date FROM {STAGE} WHERE {ROW_RULES['payments']}",
            "due_date",
            _("the due date is before the invoice date"),
        )
    if "customer_code" in schema.by_name:
        _report_rows(
            report,
            f"SELECT s.row_no, s.customer_code FROM {STAGE} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {customer} c WHERE c.code = s.customer_code)",
            "customer_code",
            _("unknown customer code (import the customers first)"),
        )
    if schema.kind == "customers":
        for column in ("parent_code", "referred_by_code"):
            if column in present_names:
                _report_rows(
                    report,
                    f"SELECT s.row_no, s.{column} FROM {STAGE} s WHERE s.{column} IS NOT NULL "
                    f"AND NOT EXISTS (SELECT 1 FROM {customer} c WHERE c.code = s.{column}) "
                    f"AND NOT EXISTS (SELECT 1 FROM {STAGE} f WHERE f.code = s.{column})",
                    column,
                    _("unknown customer code: not in KAM and not in this file"),
                )
        if "referred_by_code" in present_names:
            _report_rows(
                report,
                f"SELECT row_no, referred_by_code FROM {STAGE} WHERE referred_by_code = code",
                "referred_by_code",
                _("a customer cannot refer itself"),
            )
        if "owner" in present_names:
            _report_rows(
                report,
                f"SELECT s.row_no, s.owner FROM {STAGE} s WHERE s.owner IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {user} u WHERE u.username = s.owner "
                f"AND u.is_active)",
                "owner",
                _("unknown owner: no active user has this username"),
            )
        if "parent_code" in present_names and report.accepted:
            _check_cycles(report)


def _check_cycles(report: ImportReport) -> None:
    """The parent links after the import, KAM's and the file's together, must not loop."""
    customer = _q(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.code, p.code FROM {customer} c JOIN {customer} p ON p.id = c.parent_id"
        )
        parents = dict(cursor.fetchall())
        cursor.execute(f"SELECT row_no, code, parent_code FROM {STAGE}")
        staged = cursor.fetchall()
    rows = {}
    for row_no, code, parent_code in staged:
        rows[code] = row_no
        parents[code] = parent_code
    for row_no, code, _parent in sorted(staged):
        path, current = [code], parents.get(code)
        while current is not None and current not in path and len(path) <= 1000:
            path.append(current)
            current = parents.get(current)
        if current == code:
            report.add(
                row_no,
                "parent_code",
                _("this parent makes the group hierarchy a cycle: %(path)s")
                % {"path": " → ".join([*path, code])},
                parents[code],
            )


# -- applying: set-based upserts -----------------------------------------------------------


def _upsert(
    *,
    table: str,
    source: str,
    key: list,
    values: list,
    inserts: list = (),
    touch: list = (),
    versioned: bool = False,
) -> tuple:
    """UPDATE rows whose values differ, then INSERT the new ones; return (created, updated).

    `key` and `values` are (target column, source expression); `source` is the FROM clause
    over the stage (with joins); `inserts` are extra (column, expression) for new rows and
    `touch` are set on changed and new rows alike without being compared (updated_at).
    `versioned` tables count each change in their `version` column, so a person editing the
    row on a screen from before the import gets a conflict instead of overwriting it.
    """
    target = _q(table)
    match = " AND ".join(f"t.{_q(c)} = {e}" for c, e in key)
    updated = 0
    with connection.cursor() as cursor:
        if values:
            differs = " OR ".join(f"t.{_q(c)} IS DISTINCT FROM {e}" for c, e in values)
            assignments = ", ".join(f"{_q(c)} = {e}" for c, e in [*values, *touch])
            if versioned:
                assignments += ", version = t.version + 1"
            cursor.execute(
                f"UPDATE {target} AS t SET {assignments} FROM {source} "
                f"WHERE {match} AND ({differs})"
            )
            updated = cursor.rowcount
        columns = [*key, *values, *inserts, *touch]
        cursor.execute(
            f"INSERT INTO {target} ({', '.join(_q(c) for c, _e in columns)}) "
            f"SELECT {', '.join(e for _c, e in columns)} FROM {source} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {match})"
        )
        created = cursor.rowcount
    return created, updated


def _selected(schema: Schema, present: set[str], columns: list[tuple]) -> list[tuple]:
    """Only columns the file has are updated on existing rows; absent ones are left alone."""
    return [(target, expr) for target, expr, source_column in columns if source_column in present]


def _apply_customers(schema: Schema, report: ImportReport, present: set[str]) -> None:
    customer, user = _q(Customer._meta.db_table), _q(get_user_model()._meta.db_table)
    own = [
        ("name", "s.name", "name"),
        ("industry", "s.industry", "industry"),
        ("region", "s.region", "region"),
        ("relationship_level", "s.relationship_level", "relationship_level"),
        ("credit_limit", _money_sql("s.credit_limit"), "credit_limit"),
        ("payment_terms_days", "s.payment_terms_days", "payment_terms_days"),
        ("status", "s.status", "status"),
        ("owner_id", f"(SELECT u.id FROM {user} u WHERE u.username = s.owner)", "owner"),
    ]
    values = _selected(schema, present, own)
    absent = [(t, e) for t, e, source in own if source not in present]
    # Links to customers are written after the customers exist (a parent may be new in this
    # file), so they are compared by code, and changed rows are counted before any write.
    links = [
        (column, source)
        for column, source in (("parent_id", "parent_code"), ("referred_by_id", "referred_by_code"))
        if source in present
    ]
    differs = [f"t.{_q(c)} IS DISTINCT FROM {e}" for c, e in values]
    differs += [
        f"(SELECT p.code FROM {customer} p WHERE p.id = t.{column}) IS DISTINCT FROM s.{source}"
        for column, source in links
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {STAGE} s JOIN {customer} t ON t.code = s.code "
            f"WHERE {' OR '.join(differs)}"
        )
        changed = cursor.fetchone()[0]
    created, _updated = _upsert(
        table=Customer._meta.db_table,
        source=f"{STAGE} s",
        key=[("code", "s.code")],
        values=values,
        inserts=[*absent, ("created_at", "CURRENT_TIMESTAMP")],
        touch=[("updated_at", "CURRENT_TIMESTAMP")],
        versioned=True,
    )
    for column, source in links:
        found = f"(SELECT p.id FROM {customer} p WHERE p.code = s.{source})"
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {customer} SET {_q(column)} = {found}, version = {customer}.version + 1 "
                f"FROM {STAGE} s "
                f"WHERE {customer}.code = s.code "
                f"AND {customer}.{_q(column)} IS DISTINCT FROM {found}"
            )
    report.created, report.updated = created, changed


def _apply_contacts(schema: Schema, report: ImportReport, present: set[str]) -> None:
    customer, unit = _q(Customer._meta.db_table), _q(BuyingUnit._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {unit} (customer_id, name, kind) "
            f"SELECT DISTINCT c.id, s.buying_unit, 'department' FROM {STAGE} s "
            f"JOIN {customer} c ON c.code = s.customer_code "
            f"WHERE NOT EXISTS (SELECT 1 FROM {unit} b WHERE b.customer_id = c.id "
            f"AND b.name = s.buying_unit)"
        )
        if cursor.rowcount:
            report.notes.append(_("%(n)s new buying unit(s)") % {"n": cursor.rowcount})
    fields = ["title", "role", "influence", "attitude", "phone", "email", "birthday"]
    own = [(name, f"s.{name}", name) for name in fields]
    values = _selected(schema, present, own)
    absent = [(t, e) for t, e, source in own if source not in present]
    report.created, report.updated = _upsert(
        table=Contact._meta.db_table,
        source=(
            f"{STAGE} s JOIN {customer} c ON c.code = s.customer_code "
            f"JOIN {unit} b ON b.customer_id = c.id AND b.name = s.buying_unit"
        ),
        key=[("buying_unit_id", "b.id"), ("name", "s.name")],
        values=values,
        inserts=[*absent, ("personal_notes", "''"), ("is_active", "TRUE")],
        versioned=True,
    )


def _staged(schema: Schema, name: str) -> str:
    expression = f"s.{_q(name)}"
    return _money_sql(expression) if schema.by_name[name].sql_type == "money" else expression


def _apply_facts(model, key_names, value_names):
    def apply(schema: Schema, report: ImportReport, present: set[str]) -> None:
        customer = _q(Customer._meta.db_table)
        own = [("customer_id", "c.id", "customer_code")]
        own += [(name, _staged(schema, name), name) for name in value_names]
        values = _selected(schema, present, own)
        absent = [(t, e) for t, e, source in own if source not in present]
        report.created, report.updated = _upsert(
            table=model._meta.db_table,
            source=f"{STAGE} s JOIN {customer} c ON c.code = s.customer_code",
            key=[(name, f"s.{_q(name)}") for name in key_names],
            values=values,
            inserts=absent,
        )

    return apply


_APPLY = {
    "customers": _apply_customers,
    "contacts": _apply_contacts,
    "sales": _apply_facts(
        SalesLine,
        ["order_ref", "line_no"],
        ["order_date", "product_code", "quantity", "revenue", "cost", "discount"],
    ),
    "payments": _apply_facts(
        Receivable, ["invoice_ref"], ["invoice_date", "due_date", "amount", "paid_date"]
    ),
}
