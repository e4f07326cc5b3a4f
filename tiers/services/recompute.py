"""contribution_recompute: aggregate in the database, decide in pandas, publish atomically.

1. A PostgreSQL advisory lock (session level) keeps two runs from overlapping; a worker
   that dies closes its connection and so releases it. A second caller gets RunInProgress.
2. A ContributionRun row is committed as "running"; readers only ever read the current run.
3. The sales days (the lines summed per customer and day, accounts/sales_days.py) of
   customers whose lines changed are summed afresh; a few SQL statements then aggregate
   the sales days and receivables to one row per customer, on two connections at once.
4. The pure functions (pareto, rules) decide tiers; pandas sees one row per customer.
5. The run's rows are written (COPY on PostgreSQL, by two connections at once, each slice
   as soon as it is decided), outside any reader's view.
6. One short transaction publishes: it applies managers' overrides as they are at that
   moment, makes this run current and the previous one not. Overrides and publication
   take the same transaction-level lock, so an override made during a run is never lost.
7. A same-date run this one replaces is marked "replaced" in that transaction; its rows, and
   those of runs that died, are deleted during the next run (a reader that picked the
   replaced run as current a moment before publication still reads all its rows).
"""

import gc
import json
import logging
import queue
import re
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Customer, Receivable, SalesDay
from accounts.sales_days import sales_days_refresh
from kam.money import from_cents
from kam.transactions import own_transaction, tuned_atomic
from tiers.models import ContributionRun, CustomerContribution, TierPolicy
from tiers.services.pareto import pareto_tiers
from tiers.services.publication import overrides_apply, policy_current, publish_lock
from tiers.services.rules import Policy, decide_tiers

logger = logging.getLogger(__name__)

# Advisory lock key: an arbitrary constant, unique to KAM within the database.
RUN_LOCK_KEY = 0x4B414D01


class RunInProgress(Exception):
    """Another contribution run holds the lock; this caller did nothing."""


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    as_of: date
    customers: int
    total_revenue: object
    total_gross_profit: object
    seconds: float
    tiers: dict

    def __str__(self) -> str:
        counts = ", ".join(f"{tier} {n}" for tier, n in sorted(self.tiers.items()))
        return (
            f"contribution run {self.run_id} as of {self.as_of}: {self.customers} customers "
            f"({counts}), revenue {self.total_revenue}, gross profit "
            f"{self.total_gross_profit}, {self.seconds:.1f} s"
        )


def policy_frozen(policy: TierPolicy) -> Policy:
    return Policy(
        window_days=policy.window_days,
        a_cutoff=Fraction(policy.a_cutoff),
        b_cutoff=Fraction(policy.b_cutoff),
        one_off_lookback_days=policy.one_off_lookback_days,
        one_off_max_months=policy.one_off_max_months,
        one_off_cap=policy.one_off_cap,
        low_margin_ratio=Fraction(policy.low_margin_ratio),
        low_margin_cap=policy.low_margin_cap,
        squeezer_discount_rate=Fraction(policy.squeezer_discount_rate),
        squeezer_return_rate=Fraction(policy.squeezer_return_rate),
        squeezer_days_late=policy.squeezer_days_late,
        squeezer_cap=policy.squeezer_cap,
    )


def contribution_recompute(*, as_of: date) -> RunSummary:
    """Compute and publish the run for `as_of`; raise RunInProgress if one is running."""
    with _run_lock(), _gc_paused():
        started_at, started = timezone.now(), time.monotonic()
        _fail_dead_runs()
        policy = policy_current()
        run = ContributionRun.objects.create(as_of=as_of, policy=policy, started_at=started_at)
        threads = _Threads()
        rows = _RowWriter(run, threads)
        try:
            sales_days_refresh()  # the sales days of customers whose lines changed
            with rows:
                frame, totals = _compute(
                    as_of=as_of, policy=policy_frozen(policy), threads=threads, write=rows.write
                )
            duration_ms = int((time.monotonic() - started) * 1000)
            _publish(run, frame, totals, duration_ms=duration_ms)
        except BaseException as error:
            # Whatever failed, and wherever: no thread of this run outlives it.
            threads.stop.set()
            threads.wait()
            # Unless it was published (an interruption landing just after _publish): the
            # database says so, and then the run stands.
            failed = ContributionRun.objects.filter(
                pk=run.pk, status=ContributionRun.Status.RUNNING
            ).update(status=ContributionRun.Status.FAILED, error=repr(error)[:2000])
            if failed:
                # Rows the writer's streams committed before the failure; if even this
                # fails, the next run's _delete_dead_rows deletes them.
                CustomerContribution.objects.filter(run=run).delete()
            raise
    summary = RunSummary(
        run_id=run.pk,
        as_of=as_of,
        customers=len(frame),
        total_revenue=totals["revenue"],
        total_gross_profit=totals["gross_profit"],
        seconds=time.monotonic() - started,
        tiers=frame["tier"].value_counts().to_dict(),
    )
    logger.info("%s", summary)
    return summary


@contextmanager
def _gc_paused():
    """Python's cycle collector off for the run: it builds hundreds of thousands of tuples,
    lists and dicts that live until the run ends, and each generation-2 collection they
    set off walks every object of the process again (~0.15 s of a 1.5 s run). The run makes
    no cycles worth collecting early; the collector resumes when it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- locking -------------------------------------------------------------------------------


class _run_lock:
    def __enter__(self):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    raise RunInProgress("a contribution run is in progress; this one did nothing")
        return self

    def __exit__(self, *exc):
        if connection.vendor == "postgresql" and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RUN_LOCK_KEY])
        return False


# -- aggregation in the database -----------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _compute(*, as_of: date, policy: Policy, threads, write) -> tuple[pd.DataFrame, dict]:
    """Every customer's row; each slice of rows is handed to write() once final."""
    alongside = threads.start(_beside_the_sales, as_of, policy.window_days)
    try:
        return _computed(as_of=as_of, policy=policy, alongside=alongside, write=write)
    finally:
        alongside.exception()  # waits: no query of ours outlives the run, even a failed one


def _computed(*, as_of, policy: Policy, alongside: Future, write) -> tuple[pd.DataFrame, dict]:
    sales = _sales_window(as_of, policy.window_days)
    customers, lateness, previous_tiers = alongside.result()
    frame = customers.join(sales, how="left")
    for column in ("revenue", "gross_profit", "pos_revenue", "returns", "pos_discount"):
        frame[column] = frame[column].fillna(0).astype("int64")
    company_revenue = int(frame["revenue"].sum())
    company_profit = int(frame["gross_profit"].sum())

    profit = pareto_tiers(
        frame["gross_profit"], frame["code"], a_cutoff=policy.a_cutoff, b_cutoff=policy.b_cutoff
    )
    revenue = pareto_tiers(
        frame["revenue"], frame["code"], a_cutoff=policy.a_cutoff, b_cutoff=policy.b_cutoff
    )
    frame["profit_tier"] = profit["tier"]
    frame["revenue_tier"] = revenue["tier"]
    frame["profit_share"] = profit["share"]
    frame["cumulative_profit_share"] = profit["cumulative"]
    frame["profit_rank"] = profit["rank"]
    frame["revenue_share"] = frame["revenue"] / company_revenue if company_revenue else 0.0

    candidate = frame["profit_tier"].isin(["A", "B"]) | (frame["revenue_tier"] == "A")
    # Buying in two calendar months of the window already means two or more in the
    # look-back: with the default of "at most one month", those need no counting.
    if policy.one_off_max_months < 2:
        candidate &= ~frame["several_months"].fillna(False).astype(bool)
    months = _order_months(as_of, policy, frame.index[candidate])
    frame["order_months"] = frame.index.map(months).astype(object)
    frame = frame.join(lateness, how="left")
    frame["late_amount"] = frame["late_amount"].fillna(0).astype("int64")
    frame["late_weighted"] = (
        frame["late_weighted"].astype(object).where(frame["late_weighted"].notna(), 0)
    )

    frame["margin"] = [
        profit_cents / revenue_cents if revenue_cents > 0 else None
        for profit_cents, revenue_cents in zip(frame["gross_profit"], frame["revenue"], strict=True)
    ]
    frame["previous_tier"] = previous_tiers.reindex(frame.index).fillna("")
    # The rules, a slice of customers at a time, each slice written as soon as it is
    # decided: PostgreSQL stores one while Python decides the next.
    parts = []
    for start in range(0, max(len(frame), 1), _DECIDE_ROWS):
        part = frame.iloc[start : start + _DECIDE_ROWS]
        part = part.join(
            decide_tiers(
                part, company_revenue=company_revenue, company_profit=company_profit, policy=policy
            )
        )
        part["tier"] = part["computed_tier"]
        write(part)
        parts.append(part)
    frame = pd.concat(parts)
    totals = {
        "revenue": from_cents(company_revenue),
        "gross_profit": from_cents(company_profit),
        "margin": company_profit / company_revenue if company_revenue > 0 else None,
    }
    return frame, totals


def _sales_window(as_of: date, window_days: int) -> pd.DataFrame:
    """The figures of SPEC §3 per customer, in integer cents, summed from the sales days in
    the window (one row per customer and day, kept from the lines: accounts/sales_days.py)."""
    start = as_of - timedelta(days=window_days)
    table = _q(SalesDay._meta.db_table)
    first = "MIN(day) FILTER (WHERE sold_lines > 0)"
    last = "MAX(day) FILTER (WHERE sold_lines > 0)"
    if connection.vendor == "postgresql":
        several = f"date_trunc('month', {first}) <> date_trunc('month', {last})"
    else:
        several = f"strftime('%%Y-%%m', {first}) <> strftime('%%Y-%%m', {last})"
    sql = (
        f"SELECT customer_id, {_sum('revenue')}, {_sum('gross_profit')}, "
        f"{_sum('returns')}, {_sum('sold_discount')}, "
        # Bought in two calendar months or more (see _compute); NULL: never bought.
        f"{several} "
        f"FROM {table} WHERE day > %s AND day <= %s GROUP BY customer_id"
    )
    rows = _aggregated(sql, [start, as_of])
    columns = ["customer_id", "revenue", "gross_profit", "returns", "pos_discount", "several"]
    frame = pd.DataFrame.from_records(rows, columns=columns).set_index("customer_id")
    for column in ("revenue", "gross_profit", "returns", "pos_discount"):
        frame[column] = frame[column].astype("int64")
    # Σ revenue of lines > 0 = Σ revenue + Σ |revenue| of returns.
    frame["pos_revenue"] = frame["revenue"] + frame["returns"]
    frame["several_months"] = frame.pop("several") == 1  # True (or 1 in SQLite); NULL: False
    return frame


def _sum(expression: str) -> str:
    """SQL for Σ expression as a bigint: kam_sum on PostgreSQL (tiers/migrations/0004_kam_sum.py,
    faster than SUM's numeric), SQLite's own SUM; both exact, both raise past 2^63."""
    return f"{'kam_sum' if connection.vendor == 'postgresql' else 'SUM'}({expression})"


def _fetched(sql: str, params=()) -> list:
    """Rows of a plain query (the ORM's per-row work took 0.05 s for 100,000 customers)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _aggregated(sql: str, params: list) -> list:
    """Rows of one aggregation. On PostgreSQL with room to group in memory (the default 4 MB
    spills to disk) and on one core: the two aggregations run side by side, each on a core
    of its own, and parallel workers would only contend with each other."""
    with tuned_atomic(work_mem="64MB", max_parallel_workers_per_gather="0") as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _order_months(as_of: date, policy: Policy, candidates: pd.Index) -> dict:
    """Distinct calendar months with a sale (revenue > 0) in the look-back, for the given
    customers only: the query reads their sales days by key. Customers left out get no
    count (None): the rule cannot fire for them."""
    if len(candidates) == 0:
        return {}
    start = as_of - timedelta(days=policy.one_off_lookback_days)
    table = _q(SalesDay._meta.db_table)
    if connection.vendor == "postgresql":
        month = "date_trunc('month', day)"
        where = "customer_id = ANY(%s)"
        params = [list(map(int, candidates)), start, as_of]
    else:
        month = "strftime('%%Y-%%m', day)"
        where = f"customer_id IN ({', '.join(str(int(pk)) for pk in candidates)})"
        params = [start, as_of]
    sql = (
        f"SELECT customer_id, COUNT(DISTINCT {month}) FROM {table} "
        f"WHERE {where} AND sold_lines > 0 AND day > %s AND day <= %s "
        f"GROUP BY customer_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        months = dict(cursor.fetchall())
    return {pk: int(months.get(pk, 0)) for pk in candidates}


def _side_by_side() -> bool:
    """Whether other connections may work beside this one: on PostgreSQL, and not where
    this connection is inside a transaction (tests in one, or autocommit turned off): the
    others would not see its uncommitted rows. SQLite has one writer: nothing to gain."""
    return connection.vendor == "postgresql" and own_transaction()


class _Threads:
    """The threads of a run, each with a connection of its own, working while the run's own
    connection goes on: the two aggregations side by side, then two streams storing the
    rows while Python decides and formats. The run waits for every one of them, however it
    ends, before it lets go of its lock; `stop`, set when it fails, tells the streams."""

    def __init__(self):
        self.started = []  # (future, thread)
        self.stop = threading.Event()

    def start(self, work, *args) -> Future:
        """work(*args) in a thread; `.result()` of the future waits for it. Here and now
        where not _side_by_side()."""
        future = Future()
        if not _side_by_side():
            try:
                future.set_result(work(*args))
            except BaseException as error:
                future.set_exception(error)
                raise
            return future

        def run():
            result, failure = None, None
            try:
                result = work(*args)
            except BaseException as error:  # handed to whoever waits on the future
                failure = error
            try:
                connection.close()  # this thread's own connection, not the caller's
            except Exception as error:
                failure = failure or error
            if failure is None:
                future.set_result(result)
            else:
                future.set_exception(failure)

        name = f"recompute-{getattr(work, '__name__', 'work').strip('_')}"
        thread = threading.Thread(target=run, name=name, daemon=True)
        self.started.append((future, thread))
        thread.start()
        return future

    def wait(self) -> None:
        """Until every thread has ended (their errors are their callers' to raise), or
        was never started (a failure between registering it and starting it)."""
        for future, thread in self.started:
            # A thread that started resolves its future, whatever happens in it.
            while not future.done() and thread.ident is not None:
                with suppress(TimeoutError):
                    future.exception(timeout=0.25)


def _beside_the_sales(as_of: date, window_days: int) -> tuple:
    """The run's work on a second connection while this one sums the sales days: read the
    customers, their receivables' lateness and their previous tiers; delete the rows of
    dead runs."""
    customers = pd.DataFrame.from_records(
        _fetched(f"SELECT id, code FROM {_q(Customer._meta.db_table)} ORDER BY id"),
        columns=["customer_id", "code"],
    ).set_index("customer_id")
    read = customers, _lateness(as_of, window_days), _previous_tiers(as_of)
    _delete_dead_rows()
    return read


def _lateness(as_of: date, window_days: int) -> pd.DataFrame:
    """Σ amount and Σ amount × days late of receivables invoiced in the window (SPEC §3)."""
    start = as_of - timedelta(days=window_days)
    table = _q(Receivable._meta.db_table)
    if connection.vendor == "postgresql":
        # end = the paid date when on or before D, else D (LEAST skips a NULL paid date).
        days = "GREATEST(0, LEAST(paid_date, %s::date) - due_date)"
    else:
        end = "CASE WHEN paid_date IS NOT NULL AND paid_date <= %s THEN paid_date ELSE %s END"
        days = f"MAX(0, CAST(julianday({end}) - julianday(due_date) AS INTEGER))"
    # amount × days is a bigint, summed as one (kam_sum): past 2^63 (92 trillion yuan late
    # by 1,000 days) an error, never a wrong figure.
    sql = (
        f"SELECT customer_id, {_sum('amount')}, {_sum(f'amount * {days}')} FROM {table} "
        f"WHERE invoice_date > %s AND invoice_date <= %s GROUP BY customer_id"
    )
    params = [as_of] if connection.vendor == "postgresql" else [as_of, as_of]
    rows = _aggregated(sql, [*params, start, as_of])
    frame = pd.DataFrame.from_records(
        rows, columns=["customer_id", "late_amount", "late_weighted"]
    ).set_index("customer_id")
    frame["late_amount"] = frame["late_amount"].astype("int64")
    frame["late_weighted"] = frame["late_weighted"].astype(object)  # Python ints: exact products
    return frame


def _previous_tiers(as_of: date) -> pd.Series:
    """Each customer's tier in the latest earlier successful run."""
    previous = (
        ContributionRun.objects.filter(status=ContributionRun.Status.SUCCEEDED, as_of__lt=as_of)
        .order_by("-as_of", "-id")
        .first()
    )
    if previous is None:
        return pd.Series(dtype=object)
    rows = _fetched(
        f"SELECT customer_id, tier FROM {_q(CustomerContribution._meta.db_table)} "
        "WHERE run_id = %s",
        [previous.pk],
    )
    return pd.Series(dict(rows), dtype=object)


# -- writing and publishing ----------------------------------------------------------------

_COLUMNS = [
    "customer_id", "revenue", "gross_profit", "margin", "revenue_share", "profit_share",
    "cumulative_profit_share", "profit_rank", "revenue_tier", "profit_tier", "computed_tier",
    "tier", "previous_tier", "excluded", "exclusion_rules", "override", "order_months",
    "discount_rate", "return_rate", "avg_days_late", "reasons",
]  # fmt: skip


_DECIDE_ROWS = 25_000  # customers decided, then written, at a time
_WRITE_ROWS = 10_000  # rows formatted at a time for COPY


class _RowWriter:
    """Writes a run's rows as _computed hands them over.

    Side by side (_side_by_side), two streams take the slices in turn: each a thread with
    a connection of its own and one COPY in one transaction, so PostgreSQL stores (parses,
    indexes, checks the keys of) two slices at once while Python decides and formats the
    next. When every slice is handed over, each stream ends its COPY (the keys are checked
    then) and waits; only when both have are they told to commit, so a stream that fails
    takes the other's rows with it. A run that fails tells them to roll back (`abort`),
    and waits for them. Readers see no row before _publish.

    Otherwise (SQLite, or inside a transaction) the slices are written at the end, on this
    connection."""

    STREAMS = 2

    def __init__(self, run: ContributionRun, threads: _Threads):
        self.run = run
        self.threads = threads
        self.parts = []  # to write at the end, on this connection
        self.streams = []
        self.turn = 0

    def __enter__(self):
        if _side_by_side():
            try:
                for _ in range(self.STREAMS):
                    self.streams.append(_Stream(self.run, self.threads))
            except BaseException:
                self.abort()
                raise
        return self

    def write(self, part: pd.DataFrame) -> None:
        if not self.streams:
            self.parts.append(part)
            return
        self.streams[self.turn % len(self.streams)].send(part)
        self.turn += 1

    def __exit__(self, kind, error, traceback):
        if error is not None:
            self.abort()
            return False
        try:
            for stream in self.streams:
                stream.send(_END)
            for stream in self.streams:
                stream.copied.result()  # raises the error of a stream whose COPY failed
            for stream in self.streams:
                stream.send(_COMMIT)
            for stream in self.streams:
                stream.ended.result()
        except BaseException:
            self.abort()
            raise
        if self.parts:
            _write_rows(self.run, pd.concat(self.parts))
        return False

    def abort(self) -> None:
        """Every stream told to roll back (one that has committed stays so) and waited for.
        Again and again if need be."""
        self.threads.stop.set()
        for stream in self.streams:
            stream.ended.exception()  # waits; a stream's own error is not the run's


_END, _COMMIT = object(), object()


class _Aborted(Exception):
    """The run stopped its stream, or left it waiting too long: its transaction rolls back."""


class _Stream:
    """One COPY of a run's rows on a connection of its own (see _RowWriter)."""

    IDLE_SECONDS = 600  # with no word from the run for this long, the stream gives up

    def __init__(self, run: ContributionRun, threads: _Threads):
        self.parts = queue.SimpleQueue()
        self.stop = threads.stop  # the run's: set when it fails
        self.copied = Future()
        self.ended = threads.start(_copy_stream, run, self)

    def send(self, item) -> None:
        if self.ended.done():  # before it was told to: it failed
            self.ended.result()
        self.parts.put(item)

    def next(self):
        """The next slice, _END or _COMMIT; raises _Aborted when stopped."""
        waited = 0.0
        while not self.stop.is_set():
            try:
                return self.parts.get(timeout=0.25)
            except queue.Empty:
                waited += 0.25
                if waited >= self.IDLE_SECONDS:
                    raise _Aborted(f"no word from the run for {self.IDLE_SECONDS} s") from None
        raise _Aborted("the run stopped")


def _copy_stream(run: ContributionRun, stream: _Stream) -> None:
    """A stream's thread: copies the slices it is sent until _END, then commits on _COMMIT."""
    try:
        with _copying() as (cursor, sql):
            with cursor.copy(sql) as copy:
                while (part := stream.next()) is not _END:
                    _copy_rows(copy, _rows(run, part))
            stream.copied.set_result(None)
            if stream.next() is not _COMMIT:
                raise _Aborted("told something else than to commit")
    except BaseException as error:
        if not stream.copied.done():
            stream.copied.set_exception(error)
        raise


# json.dumps(x, ensure_ascii=False), without making an encoder for every customer.
_json = json.JSONEncoder(ensure_ascii=False).encode


def _rows(run: ContributionRun, frame: pd.DataFrame) -> pd.DataFrame:
    """The table's rows, built column-wise (no Python per cell)."""
    out = pd.DataFrame(index=frame.index)
    out["run_id"] = run.pk
    out["customer_id"] = frame.index
    for column in _COLUMNS[1:]:
        out[column] = frame.get(column, "")
    out["excluded"] = frame["excluded"].astype(bool)
    out["profit_rank"] = frame["profit_rank"].astype("Int64")
    out["order_months"] = pd.to_numeric(frame["order_months"]).astype("Int64")
    for column in ("margin", "discount_rate", "return_rate", "avg_days_late"):
        out[column] = pd.to_numeric(frame[column]).astype(float)
    has_reasons = frame["excluded"].astype(bool)
    out["reasons"] = "[]"
    out.loc[has_reasons, "reasons"] = list(map(_json, frame.loc[has_reasons, "reasons"]))
    return out


def _write_rows(run: ContributionRun, frame: pd.DataFrame) -> None:
    """The run's rows on this connection: one COPY (PostgreSQL) or INSERTs (SQLite)."""
    out = _rows(run, frame)
    if connection.vendor == "postgresql":
        with _copying() as (cursor, sql), cursor.copy(sql) as copy:
            _copy_rows(copy, out)
        return
    for column in ("margin", "revenue_share", "profit_share", "cumulative_profit_share",
                   "discount_rate", "return_rate", "avg_days_late"):  # fmt: skip
        out[column] = out[column].round(6)
    records = out.astype(object).where(out.notna(), None)
    marks = ", ".join(["%s"] * len(out.columns))
    columns = ", ".join(_q(c) for c in out.columns)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_q(CustomerContribution._meta.db_table)} ({columns}) VALUES ({marks})",
            list(records.itertuples(index=False, name=None)),
        )


@contextmanager
def _copying():
    """(cursor, COPY statement) into the contributions, in a transaction of this thread's
    connection."""
    table = _q(CustomerContribution._meta.db_table)
    columns = ", ".join(_q(c) for c in ["run_id", *_COLUMNS])
    # Unquoted empty fields are NULL in CSV; these text columns mean "" instead.
    not_null = ", ".join(_q(c) for c in ("previous_tier", "exclusion_rules", "override"))
    # Not waiting for the WAL to reach the disk: no reader sees these rows before _publish,
    # whose commit waits for all of it (the WAL is one sequence). A crash before then loses
    # them and leaves the run "running": the next run fails it. wrap_database_errors:
    # COPY's errors become Django's (IntegrityError; OperationalError, which the nightly
    # task retries), as any other statement's do.
    with tuned_atomic(synchronous_commit="off") as cursor, connection.wrap_database_errors:
        yield (
            cursor,
            (f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({not_null}))"),
        )


def _copy_rows(copy, out: pd.DataFrame) -> None:
    # In slices: PostgreSQL stores one while Python formats the next.
    for start in range(0, len(out), _WRITE_ROWS):
        copy.write(_csv_text(out.iloc[start : start + _WRITE_ROWS]))


def _csv_text(out: pd.DataFrame) -> str:
    """The rows as COPY's CSV, a column at a time (pandas' to_csv formats cell by cell and
    took most of the write): integers as they are, floats in millionths (`_micros`), NaN
    and NA as an empty field, text quoted when it holds a comma, a quote or a line break."""
    cells = []
    for name in out.columns:
        column = out[name]
        values = column.to_numpy()
        if isinstance(column.dtype, pd.Int64Dtype):  # before "i": its kind is "i" too
            cells.append(["" if v is pd.NA else str(v) for v in column.tolist()])
        elif column.dtype.kind == "f":
            cells.append(_micros(values))
        elif column.dtype.kind == "b":
            cells.append(["t" if v else "f" for v in values.tolist()])
        elif column.dtype.kind in "iu":
            cells.append(list(map(str, values.tolist())))
        else:
            texts = list(map(str, column.tolist()))
            if column.hasnans:
                texts = ["" if m else v for v, m in zip(texts, column.isna().tolist(), strict=True)]
            # One search of the whole column (in C) before any cell's: tiers and rule names
            # never need quoting, most columns hold nothing that does.
            if _CSV_SPECIAL.search("\x00".join(texts)):
                texts = [_csv_quoted(v) if _CSV_SPECIAL.search(v) else v for v in texts]
            cells.append(texts)
    return "\n".join(map(",".join, zip(*cells, strict=True))) + "\n"


def _micros(values: np.ndarray) -> list[str]:
    """Floats for numeric columns of 6 places (or fewer: PostgreSQL rounds on input), as
    "%.6f" gives them (the double rounded to 6 places) but three times faster: as whole
    millionths with an exponent ("275067e-6" is 0.275067), rounded in numpy. Where that
    could differ from "%.6f", "%.6f" itself: magnitudes from 10^6 on (no share or rate;
    a margin that large has an absurd cost), where the product by 10^6 has lost precision,
    and products within 10^-4 of a half, where its rounding could have tipped it. NaN is
    an empty field (NULL)."""
    values = values.astype(np.float64, copy=False)
    missing = np.isnan(values)
    finite = np.isfinite(values)
    scaled = np.where(finite, values, 0.0) * 1e6
    micros = np.rint(scaled)
    exact = ~missing & (
        ~finite | (np.abs(values) >= 1e6) | (np.abs(np.abs(scaled - micros) - 0.5) < 1e-4)
    )
    micros = np.where(exact, 0.0, micros).astype(np.int64)
    if missing.any():
        texts = [
            "" if m else f"{v}e-6" for v, m in zip(micros.tolist(), missing.tolist(), strict=True)
        ]
    else:
        texts = [f"{v}e-6" for v in micros.tolist()]
    for i in np.flatnonzero(exact):
        texts[i] = f"{values[i]:.6f}"
    return texts


_CSV_SPECIAL = re.compile('[,"\n\r]')


def _csv_quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _publish(run: ContributionRun, frame, totals, *, duration_ms: int) -> None:
    with transaction.atomic():
        publish_lock()
        overrides_apply(run=run)
        # The current run is the newest date: a late or re-delivered run for an older date
        # is kept (exports can ask for it) but does not push a newer one aside.
        newer = ContributionRun.objects.filter(
            status=ContributionRun.Status.SUCCEEDED, as_of__gt=run.as_of
        ).exists()
        if not newer:
            ContributionRun.objects.filter(is_current=True).update(is_current=False)
        # Running again for the same as-of replaces that date's run.
        ContributionRun.objects.filter(
            as_of=run.as_of, status=ContributionRun.Status.SUCCEEDED
        ).exclude(pk=run.pk).update(status=ContributionRun.Status.REPLACED, is_current=False)
        ContributionRun.objects.filter(pk=run.pk).update(
            status=ContributionRun.Status.SUCCEEDED,
            is_current=not newer,
            finished_at=timezone.now(),
            duration_ms=duration_ms,
            customer_count=len(frame),
            total_revenue=totals["revenue"],
            total_gross_profit=totals["gross_profit"],
            company_margin=None if totals["margin"] is None else round(totals["margin"], 6),
        )


def _fail_dead_runs() -> None:
    """Runs left "running" by a worker that died (we hold the run lock, so none is live) are
    marked failed; their rows go with _delete_dead_rows."""
    ContributionRun.objects.filter(status=ContributionRun.Status.RUNNING).update(
        status=ContributionRun.Status.FAILED, error="the worker stopped mid-run"
    )


def _delete_dead_rows() -> None:
    """The rows of failed runs, which stay listed with their error, and of runs an earlier
    run replaced, which go too."""
    failed = ContributionRun.objects.filter(status=ContributionRun.Status.FAILED)
    CustomerContribution.objects.filter(run__in=failed).delete()
    replaced = ContributionRun.objects.filter(status=ContributionRun.Status.REPLACED)
    CustomerContribution.objects.filter(run__in=replaced).delete()
    replaced.delete()
