"""Benchmark: the contribution recompute on a big book vs the bare aggregation it needs.

    .venv/bin/python bench/contribution.py [--customers 100000] [--lines 10000000]
        [--as-of 2026-06-30] [--database-url postgres://postgres@127.0.0.1:5432/kam_bench_contrib]
        [--profile] [--keep | --reuse]

Builds a throwaway database (dropped at the end) with `manage.py migrate`, then fills it in
SQL: customers, sales lines over the two years ending at the as-of date (customers chosen
Pareto-skewed: a few buy most; 2 % of lines are returns; a few customers discount heavily
or buy in one month only), and receivables for 30 % of orders (some paid late, some not
yet). The tables keep exactly the indexes and constraints the migrations define: they are
dropped for the load and recreated from their own definitions, then checked (the customer
key checks are triggers, kam/foreign_keys.py: they stay and check the rows as they load). VACUUM
ANALYZE and a CHECKPOINT follow, as after autovacuum on a live database. The load marks
every customer's sales days stale (accounts/sales_days.py); they are summed once, timed
(days_refresh_seconds: what the first run after loading a whole history pays), and
vacuumed. Then:
  1. times contribution_recompute(as_of=D) (what `manage.py recompute_contribution` and the
     nightly Celery task call) in a child process, twice (the first run warms the caches;
     both are printed); the child's whole wall time (Python, Django and pandas starting) and
     peak RSS are printed too;
  2. times the floor, run twice, the second (warm) taken: the one aggregation no recompute
     can avoid, `SELECT customer_id, sum(revenue), sum(revenue - cost) ... GROUP BY
     customer_id` over the window;
  3. adds one more day of lines (as a nightly import would), times the recompute as of that
     day (which first sums the sales days of the customers those lines touch), then takes
     the day out again;
  4. with --profile, runs the recompute twice more: once with its phases and SQL statements
     timed from outside, once under cProfile; and prints where its time goes.
Prints ratio_to_floor= (warm recompute / warm floor) and peak_rss_mb=.
Goal: ratio <= 1.5, peak RSS <= 1 GB.
"""

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg
from _support import database, manage

TABLES = ("accounts_salesline", "accounts_receivable")


# -- building the data ---------------------------------------------------------------------


def unit(order: str, seed: int) -> str:
    """SQL for a uniform number in [0, 1) fixed by an order number: every line of an order
    gets the same customer and date."""
    return f"((hashint8extended({order}, {seed}) & 2147483647)::float8 / 2147483648.0)"


def order_customer(order: str, first_id: int, customers: int) -> str:
    # u^7 puts most orders on the low ids: the top 20 % of customers place 80 % of them.
    index = f"floor({customers} * power({unit(order, 1)}, 7))::int"
    return f"({first_id} + least({customers - 1}, {index}))"


def order_date(order: str, as_of: date, customer: str, customers: int) -> str:
    # The two years ending at as_of; one customer in 1,000 buys in the last 20 days only
    # (a one-off buyer), so the one_off rule has candidates to check.
    one_off = f"mod({customer}, 1000) = 7 AND ({customer}) > {customers // 2}"
    return (
        f"('{as_of}'::date - CASE WHEN {one_off} THEN floor(20 * {unit(order, 2)})::int "
        f"ELSE floor(730 * {unit(order, 2)})::int END)"
    )


def build_lines(url: str, first: int, last: int, args, first_id: int) -> None:
    """Sales lines first..last: three lines to an order."""
    customer = order_customer("n / 3", first_id, args.customers)
    day = order_date("n / 3", args.as_of, customer, args.customers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(
            "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
            "product_code, quantity, revenue, cost, discount) "
            f"SELECT c, 'SO-' || lpad((n / 3)::text, 9, '0'), mod(n, 3) + 1, {day}, "
            "'P' || lpad(floor(random() * 500)::text, 4, '0'), 1 + floor(random() * 1000), "
            "CASE WHEN ret THEN -rev ELSE rev END, "
            "CASE WHEN ret THEN -1 ELSE 1 END * (rev * (0.55 + random() * 0.35))::bigint, "
            # One customer in 97 squeezes: a 20 % discount; the others 0 to 5 %.
            "CASE WHEN ret THEN 0 WHEN mod(c, 97) = 0 THEN rev / 4 "
            "ELSE (rev * random() * 0.05)::bigint END "
            f"FROM (SELECT n, {customer} AS c, random() < 0.02 AS ret, "
            "(100 + power(random(), 2) * 2000000)::bigint AS rev "
            "FROM generate_series(%s::bigint, %s::bigint) AS n) AS line",
            (first, last),
        )


def build_receivables(url: str, first: int, last: int, args, first_id: int) -> None:
    """A receivable for 30 % of orders first..last: 60 % paid around the due date, 25 %
    late, 15 % not yet paid (some of those not yet due)."""
    customer = order_customer("o", first_id, args.customers)
    day = order_date("o", args.as_of, customer, args.customers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(
            "INSERT INTO accounts_receivable (customer_id, invoice_ref, invoice_date, due_date, "
            "amount, paid_date) "
            "SELECT c, 'INV-' || lpad(o::text, 9, '0'), d, d + 30, "
            "(100 + power(random(), 2) * 6000000)::bigint, "
            "CASE WHEN p < 0.60 THEN least(d + 20 + floor(random() * 15)::int, %s::date) "
            "WHEN p < 0.85 THEN d + 30 + floor(random() * 150)::int END "
            f"FROM (SELECT o, {customer} AS c, {day} AS d, {unit('o', 4)} AS p "
            "FROM generate_series(%s::bigint, %s::bigint) AS o "
            f"WHERE {unit('o', 3)} < 0.3) AS invoice",
            (args.as_of, first, last),
        )


def add_next_day(url: str, args) -> int:
    """One more day of sales lines (a 730th of the book, on as_of + 1), as a nightly import
    brings; returns how many customers they mark stale."""
    with psycopg.connect(url, autocommit=True) as conn:
        first_id = conn.execute("SELECT min(id) FROM accounts_customer").fetchone()[0]
        customer = order_customer("n / 3", first_id, args.customers)
        first = args.lines + 3  # order numbers after the book's
        conn.execute(
            "INSERT INTO accounts_salesline (customer_id, order_ref, line_no, order_date, "
            "product_code, quantity, revenue, cost, discount) "
            f"SELECT {customer}, 'SO-NEXT-' || (n / 3), mod(n, 3) + 1, %s::date + 1, 'P0001', "
            "1, rev, (rev * 0.7)::bigint, 0 "
            "FROM (SELECT n, (100 + power(random(), 2) * 2000000)::bigint AS rev "
            "FROM generate_series(%s::bigint, %s::bigint) AS n) AS line",
            (args.as_of, first, first + args.lines // 730 - 1),
        )
        return conn.execute("SELECT count(*) FROM accounts_salesdaystale").fetchone()[0]


def remove_next_day(url: str, as_of: date) -> None:
    """Back to the book as built, so that --reuse measures the same again."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM accounts_salesline WHERE order_ref LIKE 'SO-NEXT-%%'")
        runs = "SELECT id FROM tiers_contributionrun WHERE as_of > %s"
        conn.execute(f"DELETE FROM tiers_customercontribution WHERE run_id IN ({runs})", (as_of,))
        conn.execute(f"DELETE FROM tiers_contributionrun WHERE id IN ({runs})", (as_of,))
        conn.execute(
            "UPDATE tiers_contributionrun SET is_current = true WHERE id = "
            "(SELECT max(id) FROM tiers_contributionrun WHERE status = 'succeeded')"
        )


def secondary_definitions(conn, table: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The table's indexes (not the primary key's) and its unique and foreign-key
    constraints, as (CREATE INDEX statements, [(name, definition)])."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
        (table,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass) ORDER BY indexname",
        (table, table),
    ).fetchall()
    return [row[0] for row in indexes], constraints


def drop_secondary(conn, table: str) -> tuple[list[str], list[tuple[str, str]]]:
    indexes, constraints = secondary_definitions(conn, table)
    for name, _definition in reversed(constraints):  # foreign keys first
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for statement in indexes:
        name = statement.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
        conn.execute(f"DROP INDEX {name}")
    return indexes, constraints


def restore_secondary(conn, table: str, indexes, constraints) -> None:
    for statement in indexes:
        conn.execute(statement)
    for name, definition in constraints:  # unique constraints first, then foreign keys
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    if secondary_definitions(conn, table) != (indexes, constraints):
        sys.exit(f"{table}: the indexes and constraints came back different")


def build(url: str, args) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            "INSERT INTO accounts_customer (code, name, industry, region, status, "
            "relationship_level, created_at, updated_at) "
            "SELECT 'B' || lpad(n::text, 6, '0'), '客户' || n, '', '', 'active', 'ordinary', "
            "now(), now() FROM generate_series(0, %s) AS n",
            (args.customers - 1,),
        )
        first_id, last_id = conn.execute(
            "SELECT min(id), max(id) FROM accounts_customer"
        ).fetchone()
        if last_id - first_id + 1 != args.customers:
            sys.exit("customer ids are not contiguous: is the database fresh?")
        saved = {table: drop_secondary(conn, table) for table in TABLES}

        # The load in parallel parts, one connection each.
        parts = max(1, min(os.cpu_count() or 1, 8))
        orders = (args.lines + 2) // 3
        with ThreadPoolExecutor(parts) as pool:
            jobs = []
            for part in range(parts):
                first, last = args.lines * part // parts, args.lines * (part + 1) // parts - 1
                jobs.append(pool.submit(build_lines, url, first, last, args, first_id))
                first, last = orders * part // parts, orders * (part + 1) // parts - 1
                jobs.append(pool.submit(build_receivables, url, first, last, args, first_id))
            for job in jobs:
                job.result()

        for table in TABLES:
            restore_secondary(conn, table, *saved[table])
        conn.execute(
            "VACUUM (ANALYZE) accounts_customer, accounts_salesline, accounts_receivable, "
            "accounts_salesdaystale"
        )
        conn.execute("CHECKPOINT")
        stored = conn.execute("SELECT count(*) FROM accounts_salesline").fetchone()[0]
        receivables = conn.execute("SELECT count(*) FROM accounts_receivable").fetchone()[0]
        size = conn.execute("SELECT pg_total_relation_size('accounts_salesline') / 1e6").fetchone()[
            0
        ]
    if stored != args.lines:
        sys.exit(f"stored {stored} sales lines, expected {args.lines}")
    print(f"built {args.customers:,} customers, {stored:,} sales lines ({size:,.0f} MB with "
          f"indexes), {receivables:,} receivables")  # fmt: skip


# -- measuring ------------------------------------------------------------------------------

FLOOR = (
    "SELECT customer_id, sum(revenue), sum(revenue - cost) FROM accounts_salesline "
    "WHERE order_date > %(as_of)s::date - %(days)s AND order_date <= %(as_of)s "
    "GROUP BY customer_id"
)


# Run in the child by `manage.py shell -c`: the service call alone is timed (a Celery
# worker is a long-lived process: the nightly task pays no start-up); the child's whole
# wall time and peak RSS are reported too.
RUN = """
import time
from datetime import date, timedelta
from tiers.services.recompute import contribution_recompute

started = time.perf_counter()
summary = contribution_recompute(as_of=date.fromisoformat(AS_OF))
print(f"RECOMPUTE {time.perf_counter() - started:.3f}")
print(summary)
"""


REFRESH = """
import time
from accounts.sales_days import sales_days_refresh

started = time.perf_counter()
customers = sales_days_refresh()
print(f"REFRESH {time.perf_counter() - started:.3f} {customers}")
"""


def days_refresh(env: dict) -> float | None:
    """Seconds to sum the sales days of every customer the load marked stale (what the first
    recompute after loading a whole history does first); None if none was stale."""
    _process_s, _rss, output = manage(env, "shell", "-c", REFRESH)
    line = next(line for line in output.splitlines() if line.startswith("REFRESH"))
    seconds, customers = line.split()[1:]
    print(f"sales days of {int(customers):,} customers summed in {float(seconds):.2f} s")
    return float(seconds) if int(customers) else None


def recompute(env: dict, as_of: date) -> tuple[float, float, int]:
    """(seconds of contribution_recompute, seconds of the whole child, its peak RSS)."""
    process_s, rss, output = manage(env, "shell", "-c", RUN.replace("AS_OF", repr(str(as_of))))
    lines = output.splitlines()
    print("\n".join(line for line in lines if line.startswith("contribution run")))
    seconds = float(next(line for line in lines if line.startswith("RECOMPUTE")).split()[1])
    return seconds, process_s, rss


def floor_seconds(url: str, as_of: date) -> tuple[float, float, int]:
    timings = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(2):
            started = time.perf_counter()
            rows = conn.execute(FLOOR, {"as_of": as_of, "days": 365}).fetchall()
            timings.append(time.perf_counter() - started)
    return timings[0], timings[1], len(rows)


# Run in the child by `manage.py shell -c`: times the recompute's phases and its SQL
# statements from outside (wrappers around the module's functions, an execute wrapper on
# the connection), without changing the code measured.
PHASES = """
import functools
import time
from django.db import connection
from django.core.management import call_command
from tiers.services import recompute

phases, statements = [], []

def timed(name, function):
    @functools.wraps(function)  # the run names its threads after what they run
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases.append((name, time.perf_counter() - started))
    return wrapper

for name in ("_compute", "_sales_window", "_order_months", "_beside_the_sales", "_lateness",
             "_previous_tiers", "pareto_tiers", "decide_tiers", "_copy_stream", "_write_rows",
             "_publish", "_fail_dead_runs", "_delete_dead_rows", "policy_current"):
    setattr(recompute, name, timed(name, getattr(recompute, name)))

def sql_timer(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        statements.append((time.perf_counter() - started, " ".join(sql.split())))

started = time.perf_counter()
with connection.execute_wrapper(sql_timer):
    call_command("recompute_contribution", as_of=AS_OF)
print(f"PHASE total in-process {time.perf_counter() - started:.2f}")
for name, seconds in phases:
    print(f"PHASE {name} {seconds:.2f}")
print(f"SQL {len(statements)} statements of the run's own connection (not its threads'), "
      f"{sum(s for s, _ in statements):.2f} s in all")
for seconds, sql in sorted(statements, reverse=True)[:6]:
    print(f"SQL {seconds:.2f} {sql[:180]}")
"""


def profile(env: dict, as_of: date) -> None:
    """Where a recompute's time goes: its phases and SQL timed from outside, then cProfile."""
    import pstats

    code = PHASES.replace("AS_OF", repr(str(as_of)))
    seconds, _rss, output = manage(env, "shell", "-c", code)
    print(f"\n-- profile: a recompute with phase timers took {seconds:.2f} s (child process)")
    for line in output.splitlines():
        if line.startswith(("PHASE", "SQL")):
            print("  ", line)
    with tempfile.TemporaryDirectory() as folder:
        stats_path = Path(folder) / "recompute.prof"
        seconds, _rss, output = manage(
            env,
            "recompute_contribution",
            f"--as-of={as_of}",
            python=("-m", "cProfile", "-o", str(stats_path)),
        )
        print(f"\n-- profile: the recompute under cProfile took {seconds:.2f} s")
        stats = pstats.Stats(str(stats_path))
        stats.sort_stats("cumulative").print_stats(r"tiers|psycopg/cursor|frame.py", 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/kam_bench_contrib"
    )
    parser.add_argument("--profile", action="store_true", help="also show where the time goes")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse", action="store_true", help="measure on a kept database")
    args = parser.parse_args()

    with database(args) as env:
        started = time.perf_counter()
        if not args.reuse:
            build(args.database_url, args)
        build_s = time.perf_counter() - started
        print(f"build_seconds={build_s:.1f}")

        refresh_s = days_refresh(env)
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            # As autovacuum does after a big write, before the nightly run (see the module).
            conn.execute("VACUUM (ANALYZE) accounts_salesday, accounts_salesdaystale")
        runs = [recompute(env, args.as_of) for _ in range(2)]  # cold, then warm
        floor_cold_s, floor_s, floor_rows = floor_seconds(args.database_url, args.as_of)
        touched = add_next_day(args.database_url, args)
        next_s, _process_s, _rss = recompute(env, args.as_of + timedelta(days=1))
        remove_next_day(args.database_url, args.as_of)
        days_refresh(env)
        if args.profile:
            profile(env, args.as_of)

    (cold_s, cold_process_s, _rss), (warm_s, warm_process_s, rss) = runs
    print(f"\ncustomers={args.customers} lines={args.lines} as_of={args.as_of}")
    print(f"build_seconds={build_s:.1f}")
    if refresh_s is not None:
        print(f"days_refresh_seconds={refresh_s:.2f} (every customer's sales days summed from "
              f"the lines loaded: once, before the first run)")  # fmt: skip
    print(f"recompute_seconds cold={cold_s:.2f} warm={warm_s:.2f}")
    print(f"floor_seconds cold={floor_cold_s:.2f} warm={floor_s:.2f} ({floor_rows:,} customers)")
    print(f"ratio_to_floor={warm_s / floor_s:.2f}")
    print(
        f"with the process around it (manage.py start, Django and pandas imported): "
        f"cold={cold_process_s:.2f} warm={warm_process_s:.2f} s, "
        f"ratio {warm_process_s / floor_s:.2f}"
    )
    print(f"next_day_recompute_seconds={next_s:.2f} (as of the next day, after one more day of "
          f"lines: {args.lines // 730:,} lines, their {touched:,} customers' days summed "
          f"again; ratio {next_s / floor_s:.2f})")  # fmt: skip
    print(f"peak_rss_mb={rss / 1e6:.0f}")
    ok = warm_s / floor_s <= 1.5 and rss <= 1e9
    print("goal (ratio <= 1.5, peak RSS <= 1 GB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
