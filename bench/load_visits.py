"""Benchmark: concurrent reps log visits through the REST API (POST /api/visits/) under load.

    .venv/bin/python bench/load_visits.py [--seconds 60] [--clients 50] [--quick]
        [--workers 3] [--threads 1] [--baseline-seconds 10] [--database-url URL] [--keep]

Issue: "50 concurrent reps log visits for 60 s against gunicorn on loopback; prints
throughput, p95 and errors; afterwards the number of stored visits equals the number
acknowledged. Goal: 0 errors, p95 <= 500 ms."

Builds a throwaway PostgreSQL database (kam_bench_visits_<pid>, dropped at the end unless
--keep) with `manage.py migrate`, then fills it through the ORM's bulk_create, relative to the
app's "today" (timezone.localdate() in TIME_ZONE, asked of Django):
  - one rep (group "Sales rep", no password, a DRF token) per client: load_rep001 …, each
    owning --customers-per-rep customers (20) with one buying unit and 3 contacts, and an
    open cadence follow-up on each (so logging a visit has follow-ups to meet);
  - background: 10 other reps owning --other-customers customers (3,000; a third with a unit
    and 1-2 contacts), --other-visits past visits (20,000) over all customers with the contact
    met, --other-follow-ups open follow-ups (2,000); then VACUUM ANALYZE and a CHECKPOINT.
Then it starts gunicorn (kam.wsgi:application) on a free loopback port as in production:
DEBUG=0, SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, whitenoise with collected static files, access
log on, CONN_MAX_AGE left at its default; only HTTPS is off (SECURE_SSL_REDIRECT=0,
SESSION_COOKIE_SECURE=0, CSRF_COOKIE_SECURE=0: plain HTTP on loopback). Default workers: 3
sync workers, what the Dockerfile's CMD and docker-compose.yml's web command run; --threads N
makes them gthread workers with N threads each.

Each client is a thread with its own HTTP/1.1 connection (http.client; kept alive where the
worker allows it: sync workers close after every response, gthread ones keep it) and a
rep's token. After a warm-up (a GET /healthz/ and 2 visits each) it measures
  1. the baseline: GET /healthz/ (the Django stack and a `SELECT 1`), all clients in a loop
     for --baseline-seconds;
  2. the load: every client POSTs /api/visits/ in a loop, without pause, for --seconds: one of
     its own customers, 1-2 of that customer's contacts, today's date, a channel, a purpose
     and a summary; every 5th request of a client also asks for a next follow-up (3-30
     days ahead).
Latency = wall time from sending the request to having read the whole response, on the
client. With N clients looping without pause, the server always has N requests in hand, so
latency ~= N / throughput (Little's law): p95 <= 500 ms with 50 clients needs >= ~100
visits/s from the machine.
Printed: requests, throughput, p50/p95/p99/max latency, errors by kind, per-10-s windows;
p95 of the load / p95 of the baseline; the CPU seconds the run cost (gunicorn, this
database's PostgreSQL backends, PostgreSQL's background processes, this load generator, and
the rest of the machine) per request; then, from the database: the visits stored since the
start equal the ids acknowledged with 201 (none missing, none extra; customer, author,
contacts and date as sent), the follow-ups asked for were created once each, the cadence
follow-ups met; the 201s in gunicorn's access log. Finally one POST in-process (Django's
test client, same settings) with its SQL queries, and the in-process median time per POST.
Exit status 1 if any request failed or the database does not match what was acknowledged.
The load generator runs on the same machine as gunicorn and PostgreSQL and shares its cores;
a WARNING says when other processes took more than 10 % of the machine during the load.
"""

import argparse
import http.client
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import psycopg
from _support import ROOT, child_env, gunicorn_running, manage, throwaway_database
from pages import free_port, percentile

GOAL_P95_MS = 500
SEED = 20261125
TIMEOUT_S = 120  # a client gives up on a request after this long (an error "TimeoutError")
WARM_UP_VISITS = 2
FOLLOW_UP_EVERY = 5
WINDOW_S = 10

PURPOSES = ["季度回访", "新品介绍", "报价跟进", "技术交流", "合同续签", "售后回访", "样品反馈"]
SUMMARIES = ["了解需求, 介绍新品", "客户关注交期和价格", "讨论年度框架协议", "处理质量投诉", ""]
NEXT_STEPS = ["发送报价", "安排技术交流", "寄送样品", "确认订单"]
CHANNELS = ["onsite", "phone", "video", "wechat", "email", "event"]
OUTCOMES = ["positive", "neutral", "negative"]


# -- building the data ---------------------------------------------------------------------

BUILD = r"""
import json, os, random
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from accounts.models import BuyingUnit, Contact, Customer
from relationships.models import FollowUp, Visit

p = json.loads(os.environ["BENCH_PARAMS"])
rng = random.Random(p["seed"])
User = get_user_model()
today = timezone.localdate()
REGIONS = ["华东", "华南", "华北", "华中", "西南", "东北"]
INDUSTRIES = ["机械制造", "电子", "化工", "汽车零部件", "医疗器械", "食品饮料", "建材", "物流"]
CITIES = ["上海", "苏州", "深圳", "广州", "北京", "天津", "武汉", "成都", "重庆", "杭州"]
WORDS = ["恒达", "鑫源", "宏远", "瑞丰", "天成", "永盛", "卓越", "新力", "精工", "凯旋", "明德"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳"]
TITLES = ["总经理", "采购经理", "采购专员", "技术总监", "财务经理", "生产经理"]
PURPOSES = ["季度回访", "新品介绍", "报价跟进", "技术交流"]
CHANNELS = ["onsite", "phone", "video", "wechat", "email", "event"]
OUTCOMES = ["positive", "neutral", "negative"]
LEVELS = ["ordinary"] * 8 + ["partner", "strategic"]


def customer(code, owner):
    return Customer(
        code=code, name=f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(INDUSTRIES)}有限公司",
        industry=rng.choice(INDUSTRIES), region=rng.choice(REGIONS), owner=owner,
        relationship_level=rng.choice(LEVELS),
    )


def contact(unit, k):
    return Contact(
        buying_unit=unit, name=f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{k}",
        title=rng.choice(TITLES), phone=f"139{rng.randrange(10**8):08d}",
    )


unusable = make_password(None)
with transaction.atomic():
    users = User.objects.bulk_create(
        [User(username=f"load_rep{i:03d}", password=unusable) for i in range(1, p["reps"] + 1)]
        + [User(username=f"other_rep{i:02d}", password=unusable) for i in range(1, 11)]
    )
    Group.objects.get(name="Sales rep").user_set.add(*users)
    load_reps, other_reps = users[: p["reps"]], users[p["reps"]:]
    tokens = Token.objects.bulk_create(
        [Token(user=u, key=Token.generate_key()) for u in load_reps]
    )

    customers = [
        customer(f"L{r:03d}-{j:03d}", u)
        for r, u in enumerate(load_reps, 1) for j in range(p["per_rep"])
    ]
    n_load = len(customers)
    customers += [
        customer(f"B{j:06d}", rng.choice(other_reps)) for j in range(p["other_customers"])
    ]
    Customer.objects.bulk_create(customers, batch_size=2000)
    with_unit = customers[:n_load] + [c for c in customers[n_load:] if rng.random() < 1 / 3]
    units = BuyingUnit.objects.bulk_create(
        [BuyingUnit(customer=c, name="采购部") for c in with_unit], batch_size=2000
    )
    contacts, contacts_of = [], {}
    for i, unit in enumerate(units):
        people = [contact(unit, k) for k in range(3 if i < n_load else rng.choice((1, 2)))]
        contacts += people
        contacts_of[unit.customer_id] = people
    Contact.objects.bulk_create(contacts, batch_size=2000)

    # Past visits (up to yesterday) of all customers, the author their owner, the first
    # contact met; open follow-ups: a cadence one on every load customer, others elsewhere.
    visits = []
    for _i in range(p["other_visits"]):
        c = rng.choice(customers)
        visits.append(Visit(
            customer=c, author_id=c.owner_id, visit_date=today - timedelta(rng.randint(1, 730)),
            channel=rng.choice(CHANNELS), purpose=rng.choice(PURPOSES), summary="了解需求",
            outcome=rng.choice(OUTCOMES),
        ))
    Visit.objects.bulk_create(visits, batch_size=2000)
    Through = Visit.contacts.through
    Through.objects.bulk_create(
        [Through(visit_id=v.pk, contact_id=contacts_of[v.customer_id][0].pk)
         for v in visits if v.customer_id in contacts_of],
        batch_size=5000,
    )
    follow_ups = [
        FollowUp(customer=c, owner_id=c.owner_id, kind="cadence", note="按节奏回访",
                 due_date=today + timedelta(rng.randint(-30, 30)))
        for c in customers[:n_load]
    ] + [
        FollowUp(customer=c, owner_id=c.owner_id, kind="manual", note="跟进报价",
                 due_date=today + timedelta(rng.randint(-60, 60)))
        for c in rng.choices(customers[n_load:] or customers, k=p["other_follow_ups"])
    ]
    FollowUp.objects.bulk_create(follow_ups, batch_size=2000)

token_of = {t.user_id: t.key for t in tokens}
reps = []
for r, u in enumerate(load_reps):
    own = customers[r * p["per_rep"] : (r + 1) * p["per_rep"]]
    reps.append({
        "id": u.pk, "username": u.username, "token": token_of[u.pk],
        "customers": [[c.pk, [x.pk for x in contacts_of[c.pk]]] for c in own],
    })
counts = {
    "customers": len(customers), "buying units": len(units), "contacts": len(contacts),
    "visits": len(visits), "open follow-ups": len(follow_ups),
}
with open(os.environ["BENCH_OUT"], "w") as out:
    json.dump({"today": today.isoformat(), "reps": reps, "counts": counts}, out)
"""


def build(env: dict, url: str, args, folder: Path) -> dict:
    started = time.perf_counter()
    params = {
        "seed": SEED, "reps": args.clients, "per_rep": args.customers_per_rep,
        "other_customers": args.other_customers, "other_visits": args.other_visits,
        "other_follow_ups": args.other_follow_ups,
    }  # fmt: skip
    out = folder / "build.json"
    manage({**env, "BENCH_PARAMS": json.dumps(params), "BENCH_OUT": str(out)}, "shell", "-c", BUILD)
    data = json.loads(out.read_text())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    counts = ", ".join(f"{n:,} {what}" for what, n in data["counts"].items())
    print(f"  {args.clients} reps with {args.customers_per_rep} customers each (1 buying unit, "
          f"3 contacts, an open cadence follow-up); in all {counts}; today is {data['today']}; "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    return data


# -- the server --------------------------------------------------------------------------


def server_env(url: str, folder: Path) -> dict:
    """Production settings (DEBUG off, a real SECRET_KEY, one allowed host) except HTTPS; our
    settings module only moves STATIC_ROOT (a fixed path in kam/settings.py) into `folder`."""
    (folder / "bench_visits_settings.py").write_text(
        f"from kam.settings import *  # noqa: F403\nSTATIC_ROOT = {str(folder / 'static')!r}\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-load-visits-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "KAM_NO_DOTENV": "1",
        # No task is sent on logging a visit; without a broker nothing can reach a shared Redis.
        "CELERY_BROKER_URL": "",
        "DJANGO_SETTINGS_MODULE": "bench_visits_settings",
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
    }
    return env


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@contextmanager
def server(env: dict, folder: Path, workers: int, threads: int):
    """gunicorn on a free loopback port; yields (port, process, access log path)."""
    manage(env, "collectstatic", "--noinput", "-v0")
    port = free_port()
    access = folder / "access.log"
    kind = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    argv = ["kam.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            *kind, "--access-logfile", str(access), "--chdir", str(ROOT)]  # fmt: skip
    with gunicorn_running(
        argv,
        env=env,
        log_path=folder / "gunicorn.log",
        ready=lambda: get(port, "/healthz/") == 200,
        error_marks=("Traceback", "ERROR", "WORKER TIMEOUT"),
    ) as process:
        yield port, process, access


# -- CPU accounting from /proc -----------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += process_tree(int(child))
    return pids


def postgres_background() -> list[int]:
    """The server's own processes (WAL writer, checkpointer, autovacuum …), shared by every
    database on it."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmdline.startswith("postgres: ") and re.search(
            r"walwriter|checkpointer|background writer|autovacuum|stats|logical", cmdline
        ):
            pids.append(int(entry.name))
    return pids


def machine_busy() -> float:
    """CPU seconds spent not idle by the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


class CpuMeter:
    """CPU seconds between start() and stop() by part: gunicorn (master and workers), this
    database's PostgreSQL backends, PostgreSQL's background processes, this load generator,
    and everything else on the machine (other users' work included)."""

    def __init__(self, url: str, server_pid: int):
        self.url, self.server_pid = url, server_pid
        self.watch = psycopg.connect(url, autocommit=True)

    def backends(self) -> list[int]:
        return [
            row[0]
            for row in self.watch.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]

    def _sample(self, extra_backends=()) -> dict:
        groups = {
            "gunicorn": process_tree(self.server_pid),
            "postgres": sorted(set(self.backends()) | set(extra_backends)),
            "pg_background": postgres_background(),
        }
        sample = {name: {pid: process_cpu(pid) for pid in pids} for name, pids in groups.items()}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sample["client"] = usage.ru_utime + usage.ru_stime
        sample["machine"] = machine_busy()
        sample["wall"] = time.perf_counter()
        return sample

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict:
        after = self._sample(self.before["postgres"])
        self.watch.close()
        spent = {}
        for name in ("gunicorn", "postgres", "pg_background"):
            spent[name] = sum(
                cpu - (self.before[name].get(pid) or 0.0)
                for pid, cpu in after[name].items()
                if cpu is not None
            )
        spent["client"] = after["client"] - self.before["client"]
        machine = after["machine"] - self.before["machine"]
        spent["other"] = max(0.0, machine - sum(spent.values()))
        spent["machine"] = machine
        spent["wall"] = after["wall"] - self.before["wall"]
        return spent


# -- the clients ---------------------------------------------------------------------------


class Rep:
    """One client: a rep with a token and an HTTP connection of their own."""

    def __init__(self, port: int, rep: dict, today: date, index: int):
        self.rep, self.today = rep, today
        self.rng = random.Random(SEED + index)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        self.headers = {
            "Authorization": f"Token {rep['token']}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.sequence = 0
        self.acknowledged = {}  # visit id -> (customer, author, contacts, next follow-up)
        self.reset()

    def reset(self) -> None:
        self.latencies = []  # (finished at, ms) of each request that got an answer
        self.unanswered = 0  # requests that ended in an exception
        self.errors = Counter()
        self.samples = []  # the first answers of each kind of error

    def _send(self, method: str, path: str, body: bytes | None):
        """(status, body) or raises; the latency is recorded for every answer."""
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
            content = response.read()
        except Exception:
            self.conn.close()  # the next request opens a new connection
            self.unanswered += 1
            raise
        finished = time.perf_counter()
        self.latencies.append((finished, (finished - started) * 1000))
        return response.status, content

    def _error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if self.errors[kind] <= 2:
            self.samples.append(f"{self.rep['username']}: {kind}: {detail[:300]}")

    def healthz(self) -> None:
        status, content = self._send("GET", "/healthz/", None)
        if status != 200:
            self._error(f"HTTP {status}", content.decode("utf-8", "replace"))

    def visit(self) -> None:
        self.sequence += 1
        rng = self.rng
        customer, contacts = rng.choice(self.rep["customers"])
        met = rng.sample(contacts, rng.choice((1, 2)))
        payload = {
            "customer": customer,
            "visit_date": self.today.isoformat(),
            "channel": rng.choice(CHANNELS),
            "contacts": met,
            "purpose": rng.choice(PURPOSES),
            "summary": rng.choice(SUMMARIES),
            "outcome": rng.choice(OUTCOMES),
        }
        follow_up = None
        if self.sequence % FOLLOW_UP_EVERY == 0:
            follow_up = (self.today + timedelta(days=rng.randint(3, 30))).isoformat()
            payload["next_follow_up"] = follow_up
            payload["next_step"] = rng.choice(NEXT_STEPS)
        status, content = self._send("POST", "/api/visits/", json.dumps(payload).encode())
        if status != 201:
            self._error(f"HTTP {status}", content.decode("utf-8", "replace"))
            return
        try:
            pk = json.loads(content)["id"]
        except (ValueError, KeyError, TypeError):
            self._error("201 without an id", content.decode("utf-8", "replace"))
            return
        self.acknowledged[pk] = (customer, self.rep["id"], len(met), follow_up)

    def attempt(self, action) -> None:
        try:
            action()
        except Exception as error:
            self._error(type(error).__name__, str(error) or repr(error))


def together(clients: list[Rep], job, seconds: float | None = None) -> tuple[float, float]:
    """Run `job(client, deadline)` in a thread per client, all released at once; the deadline
    is `seconds` after the release. Returns (release time, wall seconds to the last end)."""
    clock = {}

    def release():
        clock["start"] = time.perf_counter()
        clock["deadline"] = clock["start"] + (seconds or 0)

    gate = threading.Barrier(len(clients), action=release)

    def run(client):
        gate.wait()
        try:
            job(client, clock["deadline"])
        except Exception:
            client._error("client crash", traceback.format_exc())

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for client in clients:
        client.reset()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clock["start"], time.perf_counter() - clock["start"]


def timed(clients: list[Rep], action_name: str, seconds: float) -> dict:
    """Every client does `action_name` in a loop for `seconds`; the figures."""

    def job(client, deadline):
        action = getattr(client, action_name)
        while time.perf_counter() < deadline:
            client.attempt(action)

    started, wall = together(clients, job, seconds)
    latencies = [ms for c in clients for _t, ms in c.latencies]
    errors = Counter()
    for c in clients:
        errors.update(c.errors)
    windows = {}  # by end time; requests that end after the deadline are the tail
    for c in clients:
        for finished, ms in c.latencies:
            at = finished - started
            windows.setdefault(int(at // WINDOW_S) if at < seconds else "tail", []).append(ms)
    result = {
        "answered": len(latencies),
        "requests": len(latencies) + sum(c.unanswered for c in clients),
        "seconds": wall,
        "errors": errors,
        "samples": [s for c in clients for s in c.samples][:6],
        "windows": windows,
        "planned": seconds,
    }
    if latencies:
        result.update(
            p50=percentile(latencies, 0.50), p95=percentile(latencies, 0.95),
            p99=percentile(latencies, 0.99), max=max(latencies),
            mean=statistics.fmean(latencies),
        )  # fmt: skip
    return result


def warm_up(clients: list[Rep]) -> None:
    """A GET /healthz/ and WARM_UP_VISITS visits per client, all at once; then new connections."""

    def job(client, _deadline):
        client.attempt(client.healthz)
        for _i in range(WARM_UP_VISITS):
            client.attempt(client.visit)
        client.conn.close()

    together(clients, job)
    errors = Counter()
    for c in clients:
        errors.update(c.errors)
    if errors:
        samples = "\n".join(s for c in clients for s in c.samples[:1])
        sys.exit(f"warm-up failed: {dict(errors)}\n{samples}")


# -- checking the database -------------------------------------------------------------------


def high_water(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM relationships_visit), "
            "(SELECT coalesce(max(id), 0) FROM relationships_followup)"
        ).fetchone()


def check_database(url: str, marks: tuple[int, int], acknowledged: dict, today: date) -> dict:
    """Compare what is stored since `marks` with the acknowledged visits."""
    visit_mark, follow_up_mark = marks
    with psycopg.connect(url) as conn:
        stored = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT v.id, v.customer_id, v.author_id, v.visit_date, count(vc.id) "
                "FROM relationships_visit v LEFT JOIN relationships_visit_contacts vc "
                "ON vc.visit_id = v.id WHERE v.id > %s GROUP BY v.id",
                (visit_mark,),
            )
        }
        follow_ups = conn.execute(
            "SELECT source_visit_id, owner_id, due_date, kind FROM relationships_followup "
            "WHERE id > %s",
            (follow_up_mark,),
        ).fetchall()
        cadence_open_before, cadence_met = conn.execute(
            "SELECT count(*) FILTER (WHERE id <= %(mark)s AND kind = 'cadence' AND "
            "(status = 'open' OR completed_visit_id > %(visit)s)), "
            "count(*) FILTER (WHERE kind = 'cadence' AND completed_visit_id > %(visit)s) "
            "FROM relationships_followup",
            {"mark": follow_up_mark, "visit": visit_mark},
        ).fetchone()
    acked, kept = set(acknowledged), set(stored)
    differ = [
        pk
        for pk in acked & kept
        if (acknowledged[pk][0], acknowledged[pk][1], today, acknowledged[pk][2])
        != tuple(stored[pk])
    ]
    wanted = {
        pk: (sent[1], date.fromisoformat(sent[3]))
        for pk, sent in acknowledged.items()
        if sent[3] is not None
    }
    made = Counter(row[0] for row in follow_ups)
    follow_up_wrong = [
        row for row in follow_ups
        if row[0] not in wanted or row[3] != "next_step" or (row[1], row[2]) != wanted[row[0]]
    ]  # fmt: skip
    return {
        "stored": len(kept),
        "missing": sorted(acked - kept),
        "extra": sorted(kept - acked),
        "differ": sorted(differ),
        "follow_ups_wanted": len(wanted),
        "follow_ups_made": len(follow_ups),
        "follow_ups_missing": sorted(set(wanted) - set(made)),
        "follow_ups_twice": sorted(pk for pk, n in made.items() if n > 1),
        "follow_ups_wrong": len(follow_up_wrong),
        "cadence_open_before": cadence_open_before,
        "cadence_met": cadence_met,
    }


def access_log_statuses(path: Path) -> Counter:
    statuses = Counter()
    pattern = re.compile(r'"POST /api/visits/ HTTP/1\.[01]" (\d{3}) ')
    for line in path.read_text(errors="replace").splitlines():
        match = pattern.search(line)
        if match:
            statuses[match.group(1)] += 1
    return statuses


# -- one request in-process -----------------------------------------------------------------

IN_PROCESS = r"""
import json, os, statistics, time
from django.db import connection
from rest_framework.test import APIClient

p = json.loads(os.environ["BENCH_PARAMS"])
client = APIClient(HTTP_HOST="127.0.0.1")
client.credentials(HTTP_AUTHORIZATION="Token " + p["token"])
statements = []


def timed_sql(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        statements.append((sql, (time.perf_counter() - started) * 1000))


def post(body):
    response = client.post("/api/visits/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, (response.status_code, response.content[:300])


with connection.execute_wrapper(timed_sql):
    for body in p["bodies"][:3]:
        post(body)
    queries = {}
    for name, body in (("plain", p["bodies"][0]), ("follow_up", p["bodies"][1])):
        statements.clear()
        post(body)
        queries[name] = list(statements)
    wall, cpu, sql = [], [], []
    for i in range(p["n"]):
        statements.clear()
        started, started_cpu = time.perf_counter(), time.process_time()
        post(p["bodies"][i % 2])
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        sql.append(sum(ms for _s, ms in statements))
print("RESULT " + json.dumps({"queries": queries, "wall": statistics.median(wall),
                              "cpu": statistics.median(cpu), "sql": statistics.median(sql),
                              "n": p["n"]}))
"""


def in_process(env: dict, rep: dict, today: date, n: int = 50) -> dict:
    customer, contacts = rep["customers"][0]
    plain = {"customer": customer, "visit_date": today.isoformat(), "channel": "phone",
             "contacts": contacts[:2], "purpose": "季度回访", "summary": "了解需求"}  # fmt: skip
    follow_up = {**plain, "next_follow_up": (today + timedelta(days=7)).isoformat(),
                 "next_step": "发送报价"}  # fmt: skip
    params = {"token": rep["token"], "bodies": [plain, follow_up], "n": n}
    _s, _rss, output = manage(
        {**env, "BENCH_PARAMS": json.dumps(params)}, "shell", "-c", IN_PROCESS
    )
    return json.loads(output.split("RESULT ", 1)[1].splitlines()[0])


# -- reporting ---------------------------------------------------------------------------------


def print_phase(label: str, result: dict, clients: int) -> None:
    rate = result["answered"] / result["seconds"]
    print(f"\n{label}: {clients} clients, {result['seconds']:.1f} s, {result['requests']:,} "
          f"requests, {rate:,.1f} req/s")  # fmt: skip
    if "p95" in result:
        print(
            f"  latency ms: p50 {result['p50']:.1f}, p95 {result['p95']:.1f}, "
            f"p99 {result['p99']:.1f}, max {result['max']:.1f} (mean {result['mean']:.1f})"
        )
    errors = sum(result["errors"].values())
    kinds = ", ".join(f"{kind} × {n}" for kind, n in result["errors"].most_common())
    print(f"  errors: {errors}" + (f" ({kinds})" if kinds else ""))
    for sample in result["samples"]:
        print(f"    e.g. {sample}")


def print_windows(result: dict) -> None:
    parts = []
    for n in sorted(k for k in result["windows"] if k != "tail"):
        ms = result["windows"][n]
        length = min(WINDOW_S, result["planned"] - n * WINDOW_S)
        parts.append(
            f"{n * WINDOW_S}-{n * WINDOW_S + length:g} s {len(ms) / length:.0f}/s "
            f"p95 {percentile(ms, 0.95):.0f}"
        )
    tail = result["windows"].get("tail", [])
    print(f"  by {WINDOW_S} s window of end time (req/s, p95 ms): " + "; ".join(parts))
    if tail:
        print(f"  after the deadline: {len(tail)} requests in flight finished "
              f"(p95 {percentile(tail, 0.95):.0f} ms)")  # fmt: skip


def print_cpu(spent: dict, requests: int, cores: int, clients: int) -> None:
    wall = spent["wall"]
    names = {
        "gunicorn": "gunicorn (Django, DRF)",
        "postgres": "PostgreSQL backends of this database",
        "pg_background": "PostgreSQL background processes (shared)",
        "client": f"this load generator ({clients} threads)",
        "other": "everything else on the machine (other users)",
    }
    print(
        f"\nCPU during the load ({cores} cores × {wall:.1f} s = {cores * wall:.0f} CPU s "
        f"available; used {spent['machine']:.1f} s = {spent['machine'] / (cores * wall):.0%}):"
    )
    share = spent["other"] / (cores * wall)
    if share > 0.10:
        print(f"  WARNING: other processes took {share:.0%} of the machine during the load: "
              "the figures are not those of a quiet machine; run again when it is")  # fmt: skip
    for key, label in names.items():
        seconds = spent[key]
        per = seconds / requests * 1000 if requests else 0
        print(f"  {label:<50} {seconds:6.1f} s {seconds / (cores * wall):5.0%}  "
              f"{per:6.2f} ms per request")  # fmt: skip


def print_queries(result: dict) -> None:
    for name, label in (("plain", "a visit"), ("follow_up", "a visit with next_follow_up")):
        queries = result["queries"][name]
        total = sum(ms for _sql, ms in queries)
        kinds = Counter(sql.split(None, 1)[0].upper() for sql, _ms in queries)
        print(
            f"  {label}: {len(queries)} SQL statements, {total:.1f} ms in the database "
            f"({', '.join(f'{k} {n}' for k, n in kinds.most_common())})"
        )
    print("  the statements of a visit with next_follow_up:")
    for sql, ms in result["queries"]["follow_up"]:
        text = re.sub(r"\s+", " ", sql)
        text = re.sub(r'^SELECT (?!%s AS|1 AS)(.{60,}?) FROM "', 'SELECT … FROM "', text)
        print(f"    {ms:5.2f} ms  {text[:140]}{'…' if len(text) > 140 else ''}")
    print(f"  in-process, one at a time, median of {result['n']}: {result['wall']:.1f} ms wall, "
          f"{result['cpu']:.1f} ms CPU of the Django process, {result['sql']:.1f} ms in SQL "
        "statements (wall, PostgreSQL and the round trip)")  # fmt: skip


# -- main ----------------------------------------------------------------------------------


@contextmanager
def database(url: str, keep: bool):
    if not keep:
        with throwaway_database(url) as env:
            yield env
        return
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    env = child_env(url)
    manage(env, "migrate", "--noinput", "-v0")
    yield env
    print(f"\nkept the database {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the load (60)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent reps (50)")
    parser.add_argument("--quick", action="store_true", help="a 10 s smoke run")
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3, as deployed)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker; > 1: gthread workers"
    )
    parser.add_argument("--customers-per-rep", type=int, default=20)
    parser.add_argument("--other-customers", type=int, default=3000)
    parser.add_argument("--other-visits", type=int, default=20000)
    parser.add_argument("--other-follow-ups", type=int, default=2000)
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/kam_bench_visits_{os.getpid()}",
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.baseline_seconds = 10, 5
    cores = os.cpu_count() or 1
    url = args.database_url
    if args.threads > 1:
        how = (f"{args.workers} gthread workers × {args.threads} threads "
               "(--workers/--threads; deployed: 3 sync workers)")  # fmt: skip
    elif args.workers == 3:
        how = (
            "3 sync workers: what the Dockerfile's CMD and docker-compose.yml's web "
            "command run (--workers 3, gunicorn's default sync worker and 30 s timeout)"
        )
    else:
        how = f"{args.workers} sync workers (--workers; deployed: 3)"
    print(
        f"load_visits: {args.clients} clients × {args.seconds:g} s, gunicorn {how}; "
        f"database {urlparse(url).path.lstrip('/')}"
    )
    print(f"machine: {cores} cores, shared by gunicorn, PostgreSQL and this load generator "
          f"(and whatever else runs); load average before: "
          f"{Path('/proc/loadavg').read_text().split()[0]}")  # fmt: skip

    failed = False
    with tempfile.TemporaryDirectory() as tmp, database(url, args.keep) as env:
        folder = Path(tmp)
        print("building:", flush=True)
        data = build(env, url, args, folder)
        today = date.fromisoformat(data["today"])
        marks = high_water(url)
        senv = server_env(url, folder)
        with server(senv, folder, args.workers, args.threads) as (port, process, access):
            clients = [Rep(port, rep, today, i) for i, rep in enumerate(data["reps"])]
            print(f"gunicorn up on 127.0.0.1:{port} (pid {process.pid}); warming up …",
                  flush=True)  # fmt: skip
            warm_up(clients)
            print(f"measuring the baseline, GET /healthz/ × {args.baseline_seconds:g} s …",
                  flush=True)  # fmt: skip
            baseline = timed(clients, "healthz", args.baseline_seconds)
            for client in clients:
                client.conn.close()
            print(f"measuring the load, POST /api/visits/ × {args.seconds:g} s …", flush=True)
            meter = CpuMeter(url, process.pid)
            meter.start()
            load = timed(clients, "visit", args.seconds)
            spent = meter.stop()
            for client in clients:
                client.conn.close()
            conn_max_age = senv.get("CONN_MAX_AGE", "60 (default)")
        statuses = access_log_statuses(access)

        acknowledged = {}
        for client in clients:
            acknowledged.update(client.acknowledged)
        check = check_database(url, marks, acknowledged, today)
        diagnosis = in_process(senv, data["reps"][0], today)

    # -- the report
    print(f"\nserver: gunicorn {how}; DEBUG=0, CONN_MAX_AGE={conn_max_age}, "
          "access log on, loopback HTTP")  # fmt: skip
    print(
        f"client: {args.clients} threads, one HTTP/1.1 connection each (http.client), no pause "
        "between requests; latency = send to last byte read, measured in the client"
    )
    print(f"NOTE: {cores} cores shared by the load generator, gunicorn and PostgreSQL (and "
          "other users' processes, see CPU below): figures are a lower bound for a dedicated "
          "server")  # fmt: skip
    print_phase("baseline GET /healthz/", baseline, args.clients)
    print_phase("load POST /api/visits/", load, args.clients)
    print_windows(load)
    ratio = load["p95"] / baseline["p95"] if "p95" in load and "p95" in baseline else float("nan")
    print(f"  p95 visit / p95 baseline: {ratio:.1f}x")
    errors = sum(load["errors"].values())
    p95 = load.get("p95", float("inf"))
    print(f"  goal 0 errors: {'met' if errors == 0 else 'NOT met'}; goal p95 <= {GOAL_P95_MS} ms: "
          f"{'met' if p95 <= GOAL_P95_MS else 'NOT met'} ({p95:.0f} ms)")  # fmt: skip
    print_cpu(spent, load["answered"], cores, args.clients)

    warmed = len(clients) * WARM_UP_VISITS
    print(f"\ndatabase (visits since the build: {warmed} warm-up + the load):")
    print(f"  acknowledged (201 with an id): {len(acknowledged):,}; stored: {check['stored']:,}; "
          f"missing {len(check['missing'])}, extra {len(check['extra'])}, stored otherwise than "
          f"sent {len(check['differ'])}")  # fmt: skip
    for label in ("missing", "extra", "differ"):
        if check[label]:
            print(f"    {label}: {check[label][:20]}")
    print(
        f"  follow-ups asked for: {check['follow_ups_wanted']:,}; created: "
        f"{check['follow_ups_made']:,}; missing {len(check['follow_ups_missing'])}, twice "
        f"{len(check['follow_ups_twice'])}, other than asked {check['follow_ups_wrong']}"
    )
    print(f"  cadence follow-ups met by the run: {check['cadence_met']:,} of "
          f"{check['cadence_open_before']:,} open")  # fmt: skip
    print(
        "  gunicorn's access log, POST /api/visits/: "
        + ", ".join(f"{s} × {n:,}" for s, n in sorted(statuses.items()))
    )
    stored_ok = (
        len(acknowledged) == check["stored"]
        and not (check["missing"] or check["extra"] or check["differ"])
        and not (check["follow_ups_missing"] or check["follow_ups_twice"])
        and check["follow_ups_wrong"] == 0
        and check["follow_ups_made"] == check["follow_ups_wanted"]
    )
    print(f"  stored == acknowledged: {'yes' if stored_ok else 'NO'}")

    print("\none POST /api/visits/ in-process (Django's test client, same settings, no load):")
    print_queries(diagnosis)

    failed = errors > 0 or not stored_ok or statuses.get("201", 0) != len(acknowledged)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
