"""Benchmark: import N sales lines through the real import path vs a raw PostgreSQL COPY.

    .venv/bin/python bench/import_sales.py [--lines 1000000] [--customers 10000]
        [--database-url postgres://postgres@127.0.0.1:5432/kam_bench_import]

Builds a throwaway database (dropped at the end), creates the customers, writes the CSV,
then in the same run:
  1. times `manage.py import_data sales FILE` in a child process (the real command; a
     file of a million new plain lines takes the bulk load of accounts/importing/bulk.py:
     checked a block at a time, copied straight into the table, its indexes built again)
     and reads the child's peak RSS;
  2. times a bare `COPY bare FROM FILE (FORMAT csv, HEADER)` of the same file into an
     unindexed table with the same column types: the floor any import is compared with.
  3. re-imports the same file (nothing changes: the staged way, which finds every line
     stored) and times that too; then empties the table and imports the file the staged
     way (the bulk load switched off): parse, stage, check, upsert, commit;
  4. times storing alone: the COPY's rows inserted into an empty table with
     accounts_salesline's indexes and its key check (the statement-level triggers of
     kam/foreign_keys.py), and once more with no key check at all, to show what the
     target table itself costs.
Prints lines/s, peak RSS and ratio_to_copy=. Goal: ratio <= 5, peak RSS <= 500 MB.
"""

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from _support import manage, throwaway_database


def write_csv(path: Path, lines: int, customers: int) -> None:
    rng = random.Random(42)
    start = date(2024, 11, 25)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["customer_code", "order_ref", "line_no", "order_date", "product_code", "quantity",
             "revenue", "cost", "discount"]
        )  # fmt: skip
        for n in range(lines):
            revenue = rng.randrange(1_00, 500_000_00)
            cost = revenue * rng.randrange(55, 90) // 100
            out.writerow(
                [
                    f"B{rng.randrange(customers):06d}",
                    f"SO-{n // 3:08d}",
                    n % 3 + 1,
                    (start + timedelta(days=rng.randrange(730))).isoformat(),
                    f"P{rng.randrange(500):04d}",
                    rng.randrange(1, 1000),
                    f"{revenue // 100}.{revenue % 100:02d}",
                    f"{cost // 100}.{cost % 100:02d}",
                    f"{revenue // 2000}.{revenue % 100:02d}",
                ]
            )


def store(conn, *, checked: bool) -> float:
    """Seconds to insert the bare table's rows into a fresh copy of accounts_salesline
    (its columns and indexes; with `checked`, its customer key check too)."""
    conn.execute("DROP TABLE IF EXISTS indexed")
    conn.execute("CREATE TABLE indexed (LIKE accounts_salesline INCLUDING ALL)")
    if checked:
        triggers = conn.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = 'accounts_salesline'::regclass AND NOT tgisinternal"
        ).fetchall()
        if not triggers:
            sys.exit("accounts_salesline has no key check: were the migrations applied?")
        for (definition,) in triggers:
            conn.execute(
                definition.replace("TRIGGER kam_", "TRIGGER indexed_kam_").replace(
                    " ON public.accounts_salesline ", " ON indexed "
                )
            )
    conn.execute("CHECKPOINT")
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(
            "INSERT INTO indexed (customer_id, order_ref, line_no, order_date, "
            "product_code, quantity, revenue, cost, discount) "
            "SELECT c.id, b.order_ref, b.line_no, b.order_date, b.product_code, "
            "b.quantity, (b.revenue * 100)::bigint, (b.cost * 100)::bigint, "
            "(b.discount * 100)::bigint FROM bare b "
            "JOIN accounts_customer c ON c.code = b.customer_code"
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/kam_bench_import"
    )
    args = parser.parse_args()

    with throwaway_database(args.database_url, KAM_IMPORT_MAX_CSV_BYTES=str(10 * 1024**3)) as env:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO accounts_customer (code, name, industry, region, status, "
                "relationship_level, created_at, updated_at) "
                "SELECT 'B' || lpad(n::text, 6, '0'), '客户' || n, '', '', 'active', 'ordinary', "
                "now(), now() FROM generate_series(0, %s) AS n",
                (args.customers - 1,),
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sales.csv"
            os.chmod(folder, 0o755)  # the PostgreSQL server reads the file for the COPY floor
            started = time.perf_counter()
            write_csv(path, args.lines, args.customers)
            size = path.stat().st_size
            print(f"wrote {args.lines:,} lines, {size / 1e6:.1f} MB in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip

            import_s, rss, output = manage(env, "import_data", "sales", str(path))
            print(output)
            reimport_s, _rss, output = manage(env, "import_data", "sales", str(path))
            print(output)
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute("TRUNCATE accounts_salesline")
                conn.execute("CHECKPOINT")
            staged_env = {**env, "KAM_IMPORT_BULK_MIN_ROWS": str(10**12)}
            staged_s, staged_rss, output = manage(staged_env, "import_data", "sales", str(path))
            print(output)

            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(
                    "CREATE TABLE bare (customer_code text, order_ref text, line_no integer, "
                    "order_date date, product_code text, quantity numeric(14,3), "
                    "revenue numeric(14,2), cost numeric(14,2), discount numeric(14,2))"
                )
                started = time.perf_counter()
                conn.execute(f"COPY bare FROM '{path}' (FORMAT csv, HEADER)")
                copy_s = time.perf_counter() - started
                stored = conn.execute("SELECT count(*) FROM accounts_salesline").fetchone()[0]
                # What storing alone costs: the already-parsed rows inserted into an empty
                # table with accounts_salesline's indexes and key check, no other checks.
                indexed_s = store(conn, checked=True)
                unchecked_s = store(conn, checked=False)

    if stored != args.lines:
        sys.exit(f"stored {stored} sales lines, expected {args.lines}")
    print(f"lines={args.lines} customers={args.customers}")
    print(f"import_seconds={import_s:.2f} lines_per_second={args.lines / import_s:,.0f}")
    print(f"reimport_seconds={reimport_s:.2f} (same file again: nothing changes)")
    print(f"staged_import_seconds={staged_s:.2f} (the bulk load off; peak RSS "
          f"{staged_rss / 1e6:.0f} MB; ratio {staged_s / copy_s:.2f})")  # fmt: skip
    print(f"copy_seconds={copy_s:.2f}")
    print(f"indexed_insert_seconds={indexed_s:.2f} (parsed rows into the indexed table and its "
          "key check, no other checks)")  # fmt: skip
    print(f"unchecked_insert_seconds={unchecked_s:.2f} (the same without the key check)")
    print(f"peak_rss_mb={rss / 1e6:.0f}")
    print(f"ratio_to_copy={import_s / copy_s:.2f}")
    print(f"indexed_insert_ratio_to_copy={indexed_s / copy_s:.2f}")
    print(f"unchecked_insert_ratio_to_copy={unchecked_s / copy_s:.2f}")
    ok = import_s / copy_s <= 5 and rss <= 500e6
    print("goal (ratio <= 5, peak RSS <= 500 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
