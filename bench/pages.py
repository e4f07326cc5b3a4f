"""Benchmark: server time of the busiest pages, and the report exports, on a big book.

    .venv/bin/python bench/pages.py [--customers 100000] [--lines 2000000] [--requests 50]
        [--database-url postgres://postgres@127.0.0.1:5432/kam_bench_pages] [--keep] [--reuse]

Builds a throwaway database (dropped at the end unless --keep) with `manage.py migrate`, then
fills it, relative to the app's "today" (timezone.localdate() in TIME_ZONE, asked of Django):
  - 60 users: bench_admin (superuser), bench_finance (Finance), 5 KAM managers (bench_manager
    is one) each with a sales team of 10 reps (bench_rep is in bench_manager's team); the
    four bench_* users sign in with PASSWORD, the others cannot sign in;
  - customers (COPY from Python): codes, Chinese names, 6 regions and 8 industries (weighted),
    ~5 % strategic, ~1 % in a group (parent), ~5 % referred by another, every one owned by a
    rep picked at random (~2,000 a rep), ~3 % with a second rep on the account team;
  - buying units and contacts: ~20 % of customers have 2 units and 3 contacts (3 units for
    most strategic ones), a third of the others 1 unit and 1 contact, the rest none;
  - sales lines over the two years ending today and receivables for ~30 % of orders, by
    bench/contribution.py's own SQL (build_lines, build_receivables: customers Pareto-skewed,
    the low ids buy most; the indexes are dropped for the load and recreated, then checked);
  - visits (bigger customers get more) with the contact met, open follow-ups due from 60 days
    ago to 60 days ahead (half overdue), this year's plan of each strategic account;
  - `manage.py recompute_contribution` as of today - 30 days and as of today (so the current
    run has a previous run and tier movements: a rerun for the same date has neither), then
    `manage.py refresh_account_health --as-of today`, VACUUM ANALYZE and a CHECKPOINT.
Then it starts gunicorn (kam.wsgi:application, 2 sync workers, DEBUG=0, static files collected
into a temporary STATIC_ROOT) on a free loopback port, signs each user in through POST /login/
and requests every page --requests times, one at a time, after 5 warm-up requests. The time
of a request is the wall time from sending it to having read the whole response, over
loopback: server time plus a negligible transport. Printed per page: n, p50, p95, max and the
ratio of its p50 to the baseline (GET /login/ without a session: the Django stack, no query).
Then it downloads the full report (every customer) as CSV and as XLSX, twice each, counts the
rows and prints the seconds.
Goals: p95 <= 300 ms for every page; export of 100,000 rows: CSV <= 3 s, XLSX <= 15 s.
--keep leaves the database in place; --reuse measures again on a kept database, no build
(after `migrate`). The server and its connections inherit this process's environment, so e.g.
PGOPTIONS reaches them (KAM's settings turn JIT off in their connection options unless
KAM_PG_JIT=1); the "PostgreSQL jit=…" line shows this script's own connection.
"""

import argparse
import csv
import math
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from types import SimpleNamespace
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import psycopg
from _support import ROOT, database, gunicorn_running, manage
from contribution import (
    TABLES,
    build_lines,
    build_receivables,
    drop_secondary,
    restore_secondary,
)

PASSWORD = "bench-pages-password"
SEED = 20261124
GOAL_MS = 300
GOAL_CSV_S = 3
GOAL_XLSX_S = 15
WARM_UP = 5

TEAMS = ["华东一组", "华南二组", "华北三组", "华中四组", "西南五组"]
REPS_PER_TEAM = 10

# region, weight, cities
REGIONS = [
    ("华东", 30, ["上海", "苏州", "杭州", "宁波", "无锡", "南京"]),
    ("华南", 22, ["深圳", "广州", "东莞", "佛山", "厦门"]),
    ("华北", 16, ["北京", "天津", "石家庄", "太原"]),
    ("华中", 12, ["武汉", "长沙", "郑州"]),
    ("西南", 12, ["成都", "重庆", "昆明"]),
    ("东北", 8, ["沈阳", "大连", "长春"]),
]
# industry, weight, name suffixes
INDUSTRIES = [
    ("机械制造", 18, ["精密机械", "重工机械", "自动化设备"]),
    ("电子", 16, ["电子科技", "微电子"]),
    ("化工", 12, ["化工", "新材料"]),
    ("汽车零部件", 15, ["汽车零部件", "汽车配件"]),
    ("医疗器械", 9, ["医疗器械", "医疗科技"]),
    ("食品饮料", 10, ["食品", "饮品"]),
    ("建材", 10, ["建材", "建筑材料"]),
    ("物流", 10, ["物流", "供应链管理"]),
]
WORDS = [
    "恒达", "鑫源", "宏远", "瑞丰", "天成", "永盛", "卓越", "新力", "精工", "凯旋", "明德", "同创",
    "佳美", "华宇", "远航", "蓝天", "金桥", "恒信",
]  # fmt: skip
SURNAMES = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
    "马", "朱", "胡", "郭", "何", "林", "高", "罗",
]  # fmt: skip
GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
    "杰", "娟", "涛", "明", "超", "秀", "霞", "平",
]  # fmt: skip
TITLES = ["总经理", "采购经理", "采购专员", "技术总监", "财务经理", "生产经理", "项目经理"]
# buying role, weight
ROLES = [("decision_maker", 15), ("influencer", 20), ("buyer", 20), ("user", 15),
         ("technical", 10), ("finance", 10), ("gatekeeper", 5), ("other", 5)]  # fmt: skip
ATTITUDES = [("supporter", 30), ("neutral", 40), ("opponent", 10), ("unknown", 20)]


# -- building the data ---------------------------------------------------------------------

PEOPLE = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from accounts.models import SalesTeam

User = get_user_model()
group = {name: Group.objects.get(name=name) for name in ("Sales rep", "KAM manager", "Finance")}
User.objects.create_superuser("bench_admin", "", PASSWORD)
User.objects.create_user("bench_finance", password=PASSWORD).groups.add(group["Finance"])
number = 0
for t, team_name in enumerate(TEAMS):
    name = "bench_manager" if t == 0 else f"manager{t + 1}"
    manager = User.objects.create_user(name, password=PASSWORD if t == 0 else None)
    manager.groups.add(group["KAM manager"])
    team = SalesTeam.objects.create(name=team_name, manager=manager)
    for r in range(REPS_PER_TEAM):
        number += 1
        name = "bench_rep" if number == 1 else f"rep{number:02d}"
        rep = User.objects.create_user(name, password=PASSWORD if number == 1 else None)
        rep.groups.add(group["Sales rep"])
        team.members.add(rep)
print("TODAY", timezone.localdate().isoformat())
"""


def create_people(env: dict) -> date:
    """The users and teams (through Django, for the password hashes); returns the app's today."""
    code = (
        PEOPLE.replace("PASSWORD", repr(PASSWORD))
        .replace("TEAMS", repr(TEAMS))
        .replace("REPS_PER_TEAM", str(REPS_PER_TEAM))
    )
    _seconds, _rss, output = manage(env, "shell", "-c", code)
    return date.fromisoformat(output.split("TODAY ", 1)[1].split()[0])


def weighted(rng: random.Random, choices):
    return rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0]


def build_customers(conn, customers: int, rng: random.Random) -> list[int]:
    """Customers 1..N by COPY (explicit ids, so the lines' SQL can address them), their
    account teams, buying units and contacts. Returns the reps' ids."""
    reps = [
        row[0]
        for row in conn.execute(
            "SELECT u.id FROM auth_user u JOIN auth_user_groups ug ON ug.user_id = u.id "
            "JOIN auth_group g ON g.id = ug.group_id WHERE g.name = 'Sales rep' ORDER BY u.id"
        )
    ]
    region_weights = [r[1] for r in REGIONS]
    industry_weights = [i[1] for i in INDUSTRIES]
    team_rows, units = [], []
    with conn.cursor() as cursor:
        with cursor.copy(
            "COPY accounts_customer (id, code, name, industry, region, status, "
            "relationship_level, credit_limit, payment_terms_days, owner_id, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for cid in range(1, customers + 1):
                region, _w, cities = rng.choices(REGIONS, weights=region_weights)[0]
                industry, _w, suffixes = rng.choices(INDUSTRIES, weights=industry_weights)[0]
                name = f"{rng.choice(cities)}{rng.choice(WORDS)}{rng.choice(suffixes)}有限公司"
                u = rng.random()
                status = "active" if u < 0.955 else "dormant" if u < 0.99 else "closed"
                # The big buyers (low ids, see contribution.order_customer) are strategic
                # more often; ~5 % in all.
                strategic = rng.random() < (0.30 if cid <= 1000 else 0.048)
                level = (
                    "strategic" if strategic else "partner" if rng.random() < 0.10 else "ordinary"
                )
                owner = rng.choice(reps)
                copy.write_row(
                    (cid, f"C{cid:06d}", name, industry, region, status, level,
                     rng.choice([None, 5_000_000, 20_000_000, 100_000_000]),
                     rng.choice([None, 30, 60, 90]), owner, "now", "now")
                )  # fmt: skip
                if rng.random() < 0.03:
                    team_rows.append((cid, rng.choice([r for r in reps if r != owner])))
                # Buying centre: ~20 % well covered (most strategic ones, with the 3 units
                # relationships.coverage asks of them), others less.
                if strategic and rng.random() < 0.80:
                    units.append((cid, ["采购部", "生产部", "技术部"], [0, 1, 2]))
                elif rng.random() < 0.17:
                    units.append((cid, ["采购部", "生产部"], [0, 0, 1]))
                elif rng.random() < 0.33:
                    units.append((cid, ["采购部"], [0]))
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('accounts_customer', 'id'), %s)", (customers,)
        )
        # Groups: ~1 % of customers belong to one of the 200 biggest; ~5 % were referred.
        conn.execute(
            "UPDATE accounts_customer SET parent_id = "
            "1 + mod(hashint8extended(id, 11) & 2147483647, 200) "
            "WHERE id > 200 AND (hashint8extended(id, 12) & 1023) < 10"
        )
        conn.execute(
            "UPDATE accounts_customer SET referred_by_id = 1 + "
            "mod(hashint8extended(id, 13) & 2147483647, id - 1) "
            "WHERE id > 1 AND (hashint8extended(id, 14) & 1023) < 51"
        )
        with cursor.copy(
            "COPY accounts_customer_account_team (customer_id, user_id) FROM STDIN"
        ) as copy:
            for row in team_rows:
                copy.write_row(row)
        unit_id = contact_id = 0
        with cursor.copy(
            "COPY accounts_buyingunit (id, customer_id, name, kind) FROM STDIN"
        ) as copy:
            for cid, names, _people in units:
                for name in names:
                    unit_id += 1
                    copy.write_row((unit_id, cid, name, "department"))
        unit_id = 0
        with cursor.copy(
            "COPY accounts_contact (id, buying_unit_id, name, title, role, influence, attitude, "
            "phone, email, birthday, personal_notes, is_active) FROM STDIN"
        ) as copy:
            for _cid, names, people in units:
                first_unit = unit_id + 1
                unit_id += len(names)
                for index, unit in enumerate(people):
                    contact_id += 1
                    birthday = (
                        date(1965 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28))
                        if rng.random() < 0.5
                        else None
                    )
                    copy.write_row(
                        (contact_id, first_unit + unit,
                         f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{index or ''}",
                         rng.choice(TITLES), weighted(rng, ROLES),
                         rng.choice(["high", "medium", "low"]), weighted(rng, ATTITUDES),
                         f"139{rng.randrange(10**8):08d}", "", birthday, "",
                         rng.random() < 0.9)
                    )  # fmt: skip
        for table in ("accounts_buyingunit", "accounts_contact"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
    return reps


def build_work(conn, customers: int, today: date, visits: int, follow_ups: int) -> None:
    """Visits (bigger customers more often; author: the owner) with the first contact of the
    customer met, open follow-ups of the owners, and this year's plan of strategic accounts."""
    conn.execute("SELECT setseed(0.25)")
    conn.execute(
        "INSERT INTO relationships_visit (customer_id, author_id, visit_date, channel, purpose, "
        "summary, outcome, next_step, created_at, updated_at) "
        "SELECT c.id, c.owner_id, %(today)s::date - floor(730 * random())::int, "
        "(ARRAY['onsite','phone','video','event','wechat','email'])[1 + floor(6 * random())::int], "
        "'季度回访', '了解需求, 介绍新品', "
        "(ARRAY['positive','neutral','negative'])[1 + floor(3 * random())::int], '', now(), now() "
        "FROM (SELECT 1 + floor(%(n)s * power(random(), 2))::int AS cid "
        "FROM generate_series(1, %(visits)s)) AS v JOIN accounts_customer c ON c.id = v.cid",
        {"today": today, "n": customers, "visits": visits},
    )
    conn.execute(
        "INSERT INTO relationships_visit_contacts (visit_id, contact_id) "
        "SELECT v.id, first.contact_id FROM relationships_visit v JOIN ("
        "  SELECT DISTINCT ON (b.customer_id) b.customer_id, ct.id AS contact_id "
        "  FROM accounts_contact ct JOIN accounts_buyingunit b ON b.id = ct.buying_unit_id "
        "  ORDER BY b.customer_id, ct.id) AS first ON first.customer_id = v.customer_id"
    )
    conn.execute(
        "INSERT INTO relationships_followup (customer_id, owner_id, kind, due_date, note, "
        "occasion, status, snooze_count, snooze_reason, created_at) "
        "SELECT c.id, c.owner_id, "
        "(ARRAY['cadence','next_step','manual'])[1 + floor(3 * random())::int], "
        "%(today)s::date - 60 + floor(121 * random())::int, '跟进报价', '', 'open', 0, '', now() "
        "FROM (SELECT 1 + floor(%(n)s * random())::int AS cid "
        "FROM generate_series(1, %(follow_ups)s)) AS f JOIN accounts_customer c ON c.id = f.cid",
        {"today": today, "n": customers, "follow_ups": follow_ups},
    )
    conn.execute(
        "INSERT INTO relationships_accountplan (customer_id, year, strategy, created_by_id, "
        "created_at, updated_at) SELECT id, %s, '扩大份额, 进入新产线', owner_id, now(), now() "
        "FROM accounts_customer WHERE relationship_level = 'strategic'",
        (today.year,),
    )


def load_sales(url: str, customers: int, lines: int, today: date) -> None:
    """bench/contribution.py's load: lines and receivables in parallel parts, without the
    secondary indexes and constraints, which are recreated afterwards."""
    args = SimpleNamespace(customers=customers, lines=lines, as_of=today)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        saved = {table: drop_secondary(conn, table) for table in TABLES}
        parts = max(1, min(os.cpu_count() or 1, 8))
        orders = (lines + 2) // 3
        with ThreadPoolExecutor(parts) as pool:
            jobs = []
            for part in range(parts):
                first, last = lines * part // parts, lines * (part + 1) // parts - 1
                jobs.append(pool.submit(build_lines, url, first, last, args, 1))
                first, last = orders * part // parts, orders * (part + 1) // parts - 1
                jobs.append(pool.submit(build_receivables, url, first, last, args, 1))
            for job in jobs:
                job.result()
        for table in TABLES:
            restore_secondary(conn, table, *saved[table])


def build(env: dict, url: str, args) -> date:
    """Everything above; prints each phase's seconds. Returns the as-of date (today)."""
    timings = []

    def phase(name, started=None, seconds=None):
        seconds = time.perf_counter() - started if seconds is None else seconds
        timings.append((name, seconds))
        print(f"  {name}: {seconds:.1f} s", flush=True)

    print("building:", flush=True)
    started = time.perf_counter()
    today = create_people(env)
    phase(f"users and teams (today is {today})", started)

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        build_customers(conn, args.customers, random.Random(SEED))
    phase("customers, account teams, buying units, contacts", started)

    started = time.perf_counter()
    load_sales(url, args.customers, args.lines, today)
    phase("sales lines and receivables (indexes recreated)", started)

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        build_work(conn, args.customers, today, args.visits, args.follow_ups)
        conn.execute("VACUUM (ANALYZE)")
    phase("visits, follow-ups, plans; VACUUM ANALYZE", started)

    for as_of in (today - timedelta(days=30), today):
        seconds, _rss, output = manage(env, "recompute_contribution", f"--as-of={as_of}")
        phase(f"recompute_contribution --as-of {as_of}", seconds=seconds)
        print(f"    {output.splitlines()[-1]}")
    seconds, _rss, output = manage(env, "refresh_account_health", f"--as-of={today}")
    phase(f"refresh_account_health --as-of {today}", seconds=seconds)
    print(f"    {output.splitlines()[-1]}")

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    phase("VACUUM ANALYZE, CHECKPOINT", started)
    print(f"  build total: {sum(s for _n, s in timings):.1f} s", flush=True)
    return today


def describe(url: str) -> None:
    with psycopg.connect(url) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "accounts_customer", "accounts_salesline", "accounts_receivable",
                "accounts_buyingunit", "accounts_contact", "relationships_visit",
                "relationships_followup", "relationships_accounthealth",
            )
        }  # fmt: skip
        run = conn.execute(
            "SELECT id, as_of FROM tiers_contributionrun WHERE is_current"
        ).fetchone()
        moved, excluded = conn.execute(
            "SELECT count(*) FILTER (WHERE previous_tier <> '' AND previous_tier <> tier), "
            "count(*) FILTER (WHERE excluded) FROM tiers_customercontribution WHERE run_id = %s",
            (run[0],),
        ).fetchone()
        size = conn.execute("SELECT pg_database_size(current_database()) / 1e6").fetchone()[0]
        settings = conn.execute(
            "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) "
            "FROM pg_settings "
            "WHERE name IN ('jit', 'max_parallel_workers_per_gather', 'shared_buffers', "
            "'work_mem')"
        ).fetchone()[0]
    print(
        f"PostgreSQL {settings} (this script's connection; KAM's own connections run with "
        "jit=off unless KAM_PG_JIT=1, see kam/settings.py)"
    )
    print(", ".join(f"{n:,} {t.split('_', 1)[1]}" for t, n in counts.items()))
    print(f"current run as of {run[1]}: {moved:,} tier movements, {excluded:,} excluded; "
          f"database {size:,.0f} MB")  # fmt: skip


# -- the server and the client -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(url: str, folder: Path):
    """gunicorn on loopback as in production (DEBUG off, whitenoise with a manifest), 2 sync
    workers. STATIC_ROOT is a fixed path in kam/settings.py, so a settings module of ours in
    `folder` moves it there; collectstatic fills it. Yields (base URL, gunicorn process)."""
    (folder / "bench_pages_settings.py").write_text(
        f"from kam.settings import *  # noqa: F403\nSTATIC_ROOT = {str(folder / 'static')!r}\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        # Plain HTTP on loopback: no redirect to HTTPS, cookies not limited to HTTPS.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECRET_KEY": "bench-pages-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "KAM_NO_DOTENV": "1",
        "CELERY_BROKER_URL": "",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "bench_pages_settings",
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
    }
    manage(env, "collectstatic", "--noinput", "-v0")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = ["kam.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--timeout", "600", "--chdir", str(ROOT)]  # fmt: skip
    with gunicorn_running(
        argv,
        env=env,
        log_path=folder / "gunicorn.log",
        ready=lambda: Client(base).get("/login/")[0] == 200,
        error_marks=("Traceback", "ERROR"),
    ) as process:
        yield base, process


def worker_peak_rss(process) -> list[float]:
    """Each gunicorn worker's peak RSS (VmHWM) in MB, read from /proc while they run."""
    peaks = []
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        return peaks
    for pid in children:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return peaks


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as an HTTPError with its status


class Client:
    """A browser of one user: cookies, CSRF, no redirects followed, one request at a time."""

    def __init__(self, base: str):
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def request(self, path: str, data: dict | None = None, sink=None):
        """(status, body or None when streamed into `sink`, seconds to the last byte)."""
        body = urlencode(data).encode() if data is not None else None
        request = Request(self.base + path, data=body)
        started = time.perf_counter()
        try:
            response = self.opener.open(request, timeout=600)
        except HTTPError as error:
            error.read()
            return error.code, None, time.perf_counter() - started
        with response:
            if sink is None:
                content = response.read()
            else:
                content = None
                while chunk := response.read(1 << 16):
                    sink.write(chunk)
        return response.status, content, time.perf_counter() - started

    def get(self, path: str):
        return self.request(path)

    def login(self, username: str) -> "Client":
        status, page, _s = self.get("/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page or b"")
        if status != 200 or not token:
            sys.exit(f"GET /login/ gave {status} without a CSRF token")
        data = {"username": username, "password": PASSWORD, "next": "",
                "csrfmiddlewaretoken": token.group(1).decode()}  # fmt: skip
        status, _page, _s = self.request("/login/", data)
        if status != 302:
            sys.exit(f"signing in as {username} failed (status {status})")
        return self


# -- measuring ------------------------------------------------------------------------------


def padded(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (a Chinese character takes two)."""
    wide = sum(unicodedata.east_asian_width(char) in "WF" for char in text)
    return text + " " * max(0, width - len(text) - wide)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def timed(client: Client, paths: list[str], warm_up: list[str]) -> list[float]:
    for path in warm_up:
        status, _body, _s = client.get(path)
        if status != 200:
            sys.exit(f"GET {path}: status {status}")
    timings = []
    for path in paths:
        status, _body, seconds = client.get(path)
        if status != 200:
            sys.exit(f"GET {path}: status {status}")
        timings.append(seconds * 1000)
    return timings


def sql_baselines(url: str, n: int) -> tuple[float, float]:
    """Median ms of `SELECT count(*) FROM accounts_customer` on an open connection, and of
    connecting + `SELECT 1` (what each request pays with CONN_MAX_AGE=0)."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT count(*) FROM accounts_customer").fetchone()
        count_ms = []
        for _i in range(n):
            started = time.perf_counter()
            conn.execute("SELECT count(*) FROM accounts_customer").fetchone()
            count_ms.append((time.perf_counter() - started) * 1000)
    connect_ms = []
    for _i in range(n):
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute("SELECT 1").fetchone()
        connect_ms.append((time.perf_counter() - started) * 1000)
    return statistics.median(count_ms), statistics.median(connect_ms)


def account_pages(url: str, n: int) -> tuple[list[str], list[str], int, int]:
    """bench_rep's customers at n evenly spaced ranks by number of sales lines (the biggest
    first, so the heaviest account is among them), and 5 others for the warm-up."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.id, (SELECT count(*) FROM accounts_salesline s WHERE s.customer_id = c.id) "
            "AS lines FROM accounts_customer c JOIN auth_user u ON u.id = c.owner_id "
            "WHERE u.username = 'bench_rep' ORDER BY lines DESC, c.id"
        ).fetchall()
    if len(rows) < n + WARM_UP:
        sys.exit(f"bench_rep owns {len(rows)} customers: too few for {n} requests")
    picked = [rows[i * len(rows) // n] for i in range(n)]
    others = [row for row in rows if row not in picked][len(rows) // 3 :][:WARM_UP]
    paths = [f"/customers/{pk}/" for pk, _lines in picked]
    return paths, [f"/customers/{pk}/" for pk, _lines in others], len(rows), picked[0][1]


def export(client: Client, kind: str, folder: Path) -> tuple[float, int, float]:
    """Download the full report as `kind`; (seconds to the last byte, data rows, MB)."""
    target = folder / f"report.{kind}"
    with open(target, "wb") as sink:
        status, _body, seconds = client.request(f"/reports/contribution/?export={kind}", sink=sink)
    if status != 200:
        sys.exit(f"export {kind}: status {status}")
    if kind == "csv":
        with open(target, encoding="utf-8-sig", newline="") as handle:
            rows = sum(1 for _row in csv.reader(handle)) - 1
    else:
        from openpyxl import load_workbook

        book = load_workbook(target, read_only=True)
        rows = sum(1 for _row in book.worksheets[0].iter_rows(values_only=True)) - 1
        book.close()
    return seconds, rows, target.stat().st_size / 1e6


def measure(url: str, n: int) -> None:
    describe(url)
    with psycopg.connect(url) as conn:
        region = conn.execute(
            "SELECT region FROM accounts_customer GROUP BY region ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    count_ms, connect_ms = sql_baselines(url, n)
    account_paths, account_warm_up, rep_customers, biggest = account_pages(url, n)

    def same(path):
        return [path] * n, [path] * WARM_UP

    with tempfile.TemporaryDirectory() as folder, server(url, Path(folder)) as (base, process):
        anonymous = Client(base)
        clients = {
            name: Client(base).login(name)
            for name in ("bench_admin", "bench_manager", "bench_finance", "bench_rep")
        }
        results = [("GET /login/ (no session; baseline)", timed(anonymous, *same("/login/")))]
        pages = [
            ("dashboard, bench_admin (all customers)", "bench_admin", same("/dashboard/")),
            ("dashboard, bench_manager (one team)", "bench_manager", same("/dashboard/")),
            ("customer list p.1, bench_finance", "bench_finance", same("/customers/")),
            (f"customer list ?tier=A&region={region}", "bench_finance",
             same("/customers/?" + urlencode({"tier": "A", "region": region}))),
            (f"account page, bench_rep ({n} of {rep_customers} accounts)", "bench_rep",
             (account_paths, account_warm_up)),
            ("contribution report, bench_finance", "bench_finance",
             same("/reports/contribution/")),
            ("report ?sort=-revenue", "bench_finance",
             same("/reports/contribution/?sort=-revenue")),
            (f"report ?region={region}", "bench_finance",
             same("/reports/contribution/?" + urlencode({"region": region}))),
        ]  # fmt: skip
        for label, user, (paths, warm_up) in pages:
            print(f"  measuring {label} …", flush=True)
            results.append((label, timed(clients[user], paths, warm_up)))

        exports = []
        for kind in ("csv", "xlsx", "csv", "xlsx"):
            print(f"  exporting {kind} …", flush=True)
            exports.append((kind, *export(clients["bench_finance"], kind, Path(folder))))
        peaks = worker_peak_rss(process)

    baseline = statistics.median(results[0][1])
    print("\nserver time = wall time from sending the request to the last byte of the response,")
    conn_max_age = os.environ.get("CONN_MAX_AGE") or "60 (default)"
    print(f"over loopback; gunicorn, 2 sync workers, DEBUG=0, CONN_MAX_AGE={conn_max_age}; "
          f"one request at a time, after {WARM_UP} warm-ups")  # fmt: skip
    print(f"baseline: GET /login/ p50 {baseline:.1f} ms; SELECT count(*) FROM accounts_customer "
          f"{count_ms:.1f} ms; connect + SELECT 1 {connect_ms:.1f} ms")  # fmt: skip
    print(f"account pages: bench_rep's customers at evenly spaced ranks by sales lines, the "
          f"biggest ({biggest:,} lines) included")  # fmt: skip
    print(f"\n{'page':<46} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50/base':>9}")
    for label, timings in results:
        p50, p95 = statistics.median(timings), percentile(timings, 0.95)
        goal = "" if label.startswith("GET /login/") else (
            f"  goal p95<={GOAL_MS}ms: {'met' if p95 <= GOAL_MS else 'NOT met'}"
        )  # fmt: skip
        print(f"{padded(label, 46)} {len(timings):>3} {p50:>8.1f} {p95:>8.1f} {max(timings):>8.1f} "
              f"{p50 / baseline:>8.1f}x{goal}")  # fmt: skip
    print()
    for kind, seconds, rows, size in exports:
        goal = GOAL_CSV_S if kind == "csv" else GOAL_XLSX_S
        print(f"export {kind:<4} {rows:>8,} rows {size:>6.1f} MB {seconds:>6.2f} s  "
              f"goal <={goal} s: {'met' if seconds <= goal else 'NOT met'}")  # fmt: skip
    if peaks:
        print("gunicorn workers' peak RSS: " + ", ".join(f"{mb:.0f} MB" for mb in peaks))


# -- the database ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--visits", type=int, default=300_000)
    parser.add_argument("--follow-ups", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/kam_bench_pages"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse", action="store_true", help="measure on a kept database")
    args = parser.parse_args()

    with database(args) as env:
        if not args.reuse:
            build(env, args.database_url, args)
        print("\nmeasuring:", flush=True)
        measure(args.database_url, args.requests)


if __name__ == "__main__":
    main()
