"""Faults with real processes (SPEC §6 "Runs publish atomically"; README "Production").

a. The nightly run in a real Celery worker is killed with SIGKILL at 20 seeded points:
   random moments spread over a run's duration, and moments held inside the publishing
   transaction. After every kill the previous run is still current, or, when the kill
   came after the publishing commit, the new run is current and complete; a reader
   polling all along never sees a partial run; the next run equals an uninterrupted one.
b. Ten `manage.py recompute_contribution` processes started at once: one computes, nine
   say a run is in progress and exit 0, one current run.
c. PostgreSQL (a private instance; the shared cluster is never touched) stopped and
   started under gunicorn while a client writes and reads: the same gunicorn processes
   recover on their own, and no write that was answered 2xx is lost.

PostgreSQL only; each test prints its figures (run with -s to see them).
"""

import datetime
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from accounts.models import Customer
from tests.factories import UserFactory
from tests.reliability.support import (
    PROJECT_DIR,
    Gunicorn,
    PrivatePostgres,
    connect,
    http,
    postgres_only,
    private_postgres_unavailable,
    production_env,
)
from tests.tiers.test_worker import _bulk_book, _database_url, _wait_for
from tiers.models import TierOverride
from tiers.services.publication import PUBLISH_LOCK_KEY
from tiers.services.recompute import RUN_LOCK_KEY

SEED = int(os.environ.get("KAM_FAULT_SEED", "20261124"))
D = datetime.date(2026, 7, 31)
RUNS = "tiers_contributionrun"
ROWS = "tiers_customercontribution"

# Every figure a run stores per customer: the next run must equal an uninterrupted one.
ROW_FIGURES = (
    "revenue, gross_profit, margin, revenue_share, profit_share, cumulative_profit_share, "
    "profit_rank, revenue_tier, profit_tier, computed_tier, tier, previous_tier, excluded, "
    "exclusion_rules, override, order_months, discount_rate, return_rate, avg_days_late, reasons"
)


# -- helpers -------------------------------------------------------------------------------


def _ready(worker) -> None:
    _wait_for(
        lambda: " ready." in worker.log(), seconds=90, interval=0.02,
        what="the worker to be ready", worker=worker,
    )  # fmt: skip


def _lock_free(conn, key: int) -> bool:
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]
    if got:
        conn.execute("SELECT pg_advisory_unlock(%s)", [key])
    return got


def _runs(conn) -> list[tuple]:
    """(id, status, is_current, customer_count, total_revenue, total_gross_profit, rows,
    Σ rows' revenue, Σ rows' gross profit) of every run as of D, in one snapshot."""
    return conn.execute(
        f"SELECT r.id, r.status, r.is_current, r.customer_count, r.total_revenue, "
        f"r.total_gross_profit, c.n, c.revenue, c.profit FROM {RUNS} r "
        f"LEFT JOIN LATERAL (SELECT count(*) AS n, COALESCE(sum(revenue), 0) AS revenue, "
        f"COALESCE(sum(gross_profit), 0) AS profit FROM {ROWS} WHERE run_id = r.id) c ON true "
        f"WHERE r.as_of = %s ORDER BY r.id",
        [D],
    ).fetchall()


def _figures(conn, run_id: int) -> dict:
    rows = conn.execute(
        f"SELECT customer_id, {ROW_FIGURES} FROM {ROWS} WHERE run_id = %s", [run_id]
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def _backend(conn, application_name: str) -> tuple | None:
    """What the worker's database session is doing: (state, wait event type, query)."""
    return conn.execute(
        "SELECT state, wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 58) "
        "FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        [application_name],
    ).fetchone()


class Reader(threading.Thread):
    """Polls the current run like a page would, in one statement (one snapshot): its row
    count must equal its customer_count and its totals the sums of its rows, always."""

    QUERY = (
        f"SELECT r.id, r.customer_count, r.total_revenue, r.total_gross_profit, c.n, c.revenue, "
        f"c.profit, (SELECT count(*) FROM {RUNS} WHERE is_current) FROM {RUNS} r "
        f"LEFT JOIN LATERAL (SELECT count(*) AS n, COALESCE(sum(revenue), 0) AS revenue, "
        f"COALESCE(sum(gross_profit), 0) AS profit FROM {ROWS} WHERE run_id = r.id) c ON true "
        f"WHERE r.is_current"
    )

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.polls = 0
        self.seen: set[int] = set()
        self.violations: list[str] = []

    def run(self):
        try:
            with connect("kam-fault-reader") as conn:
                while not self.stop.is_set():
                    self.poll(conn)
                    time.sleep(0.02)
        except Exception as error:  # reported by the test, not lost in the thread
            self.violations.append(f"the reader failed: {error!r}")

    def poll(self, conn) -> None:
        rows = conn.execute(self.QUERY).fetchall()
        self.polls += 1
        if len(rows) != 1 and (self.seen or rows):  # none only before the first run
            self.violations.append(f"{len(rows)} current runs")
        for run_id, count, revenue, profit, n, row_revenue, row_profit, currents in rows:
            self.seen.add(run_id)
            if currents != 1 or n != count or (row_revenue, row_profit) != (revenue, profit):
                self.violations.append(
                    f"run {run_id}: {n} rows of {count}, revenue {row_revenue} of "
                    f"{revenue}, profit {row_profit} of {profit}, {currents} current"
                )


class Gate:
    """Holds a run inside its publishing transaction, so a kill lands there for sure.

    publish-lock   the publication lock (overrides take it too): the run waits at the
                   transaction's first statement;
    current-row    the previous run's row: the run waits at "previous run not current",
                   after applying overrides;
    new-run-row    the new run's row: the run waits at its last statement, after the
                   previous run was already made not current in the same transaction.
    Row locks are FOR NO KEY UPDATE: they stop the run's UPDATE, not its rows' foreign keys.
    """

    KINDS = ("publish-lock", "current-row", "new-run-row")

    def __init__(self, kind: str):
        self.kind = kind
        self.session = connect("kam-fault-gate")  # session-level advisory lock
        self.tx = connect("kam-fault-gate-tx", autocommit=False)  # row locks

    def close_before(self, current_id: int) -> None:
        if self.kind == "publish-lock":
            self.session.execute("SELECT pg_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
        elif self.kind == "current-row":
            locked = self.tx.execute(
                f"SELECT id FROM {RUNS} WHERE id = %s AND is_current FOR NO KEY UPDATE",
                [current_id],
            ).fetchone()
            assert locked, f"run {current_id} is not current"

    def close_on_new_run(self, probe, after_id: int, worker) -> None:
        if self.kind != "new-run-row":
            return

        def running():
            return probe.execute(
                f"SELECT id FROM {RUNS} WHERE id > %s AND status = 'running'", [after_id]
            ).fetchone()

        (new_id,) = _wait_for(
            running, seconds=60, interval=0.003, what="the new run's row", worker=worker
        )
        locked = self.tx.execute(
            f"SELECT id FROM {RUNS} WHERE id = %s AND status = 'running' FOR NO KEY UPDATE",
            [new_id],
        ).fetchone()
        assert locked, f"run {new_id} finished before the gate closed: grow the book"

    def open(self) -> None:
        self.tx.rollback()
        self.session.execute("SELECT pg_advisory_unlock_all()")

    def close(self) -> None:
        self.tx.close()
        self.session.close()


def _kill_plan(rng: random.Random, duration: float) -> list[tuple[str, float]]:
    """20 kill points: 15 at random moments from 0 to 130 % of an uninterrupted run's
    duration (measured from sending the task), 5 held inside publication (each gate at
    least once) and killed a random 0-200 ms after the run reached the gate."""
    timed = [("timed", rng.uniform(0.0, 1.3) * duration) for _ in range(15)]
    gates = [*Gate.KINDS, rng.choice(Gate.KINDS), rng.choice(Gate.KINDS)]
    gated = [(kind, rng.uniform(0.0, 0.2)) for kind in gates]
    plan = timed + gated
    rng.shuffle(plan)
    return plan


# -- a. SIGKILL at 20 points ---------------------------------------------------------------


WORKERS_SHARE_THE_DATABASE = (
    "real processes must see the test's committed data, and runs are serialised by "
    "PostgreSQL advisory locks"
)


@pytest.fixture
def probe():
    """A session watching the test database from the side; closed before the flush."""
    conn = connect("kam-fault-probe")
    yield conn
    conn.close()


@pytest.fixture
def reader():
    """The polling reader; started by the test, stopped before the workers are cleaned up."""
    thread = Reader()
    yield thread
    thread.stop.set()
    if thread.is_alive():
        thread.join(timeout=30)


@postgres_only(WORKERS_SHARE_THE_DATABASE)
def test_nightly_run_killed_at_20_points_never_shows_a_partial_run(
    workers, probe, reader, monkeypatch
):
    rng = random.Random(SEED)
    started = time.monotonic()
    customers = int(os.environ.get("KAM_FAULT_CUSTOMERS", "30000"))
    lines_each = int(os.environ.get("KAM_FAULT_LINES", "25"))
    _bulk_book(customers=customers, lines_each=lines_each, as_of=D)
    # An override, so publication has something to apply (and the comparison checks it).
    manager = UserFactory(username="fault-manager", is_superuser=True)
    TierOverride.objects.create(
        customer=Customer.objects.get(code="BULK000007"), tier="A", reason="战略客户",
        created_by=manager,
    )  # fmt: skip
    connection.close()  # nothing of ours holds a session while workers run
    built = time.monotonic()

    names = iter(f"kam-fault-worker-{n}" for n in range(100))

    def start_worker():
        name = next(names)
        monkeypatch.setenv("PGAPPNAME", name)  # libpq names the worker's session
        worker = workers()
        worker.app_name = name
        return worker

    def current_run():
        return probe.execute(
            f"SELECT id FROM {RUNS} WHERE is_current AND status = 'succeeded' AND as_of = %s",
            [D],
        ).fetchone()

    # An uninterrupted run first: the reference result and the duration to spread kills on,
    # measured with the reader already polling, as during the kills.
    reader.start()
    worker = start_worker()
    _ready(worker)
    sent = time.monotonic()
    worker.enqueue(D)
    (reference_id,) = _wait_for(
        current_run, seconds=120, interval=0.005, what="the reference run", worker=worker
    )
    duration = time.monotonic() - sent
    reference = _figures(probe, reference_id)
    (reference_run,) = [r for r in _runs(probe) if r[0] == reference_id]
    assert len(reference) == customers == reference_run[3] == reference_run[6]
    worker.kill()

    plan = _kill_plan(rng, duration)
    outcomes = []
    print(
        f"\nbook: {customers} customers, {customers * lines_each} lines, built in "
        f"{built - started:.1f} s; uninterrupted run {duration:.2f} s from send to current "
        f"(run {reference_id}); seed {SEED}"
    )
    print(f"{'#':>3} {'kill point':<26} {'worker session at the kill':<66} outcome")
    worker = start_worker()
    gates = []
    try:
        for number, (kind, delay) in enumerate(plan, start=1):
            _ready(worker)
            before = _runs(probe)
            (previous,) = [r for r in before if r[2]]
            last_id = before[-1][0]
            gate = Gate(kind) if kind != "timed" else None
            gates.append(gate)
            if gate:
                gate.close_before(previous[0])
            sent = time.monotonic()
            worker.enqueue(D)
            if gate:
                gate.close_on_new_run(probe, last_id, worker)

                def waiting(name=worker.app_name):
                    session = _backend(probe, name)
                    return session is not None and session[1] == "Lock"

                _wait_for(
                    waiting, seconds=60, interval=0.002, what=f"the run at the {kind} gate",
                    worker=worker,
                )  # fmt: skip
                time.sleep(delay)
                point = f"{kind} +{delay * 1000:.0f} ms"
            else:
                time.sleep(max(0.0, sent + delay - time.monotonic()))
                point = f"{delay:.2f} s ({delay / duration:.0%} of a run)"
            session = _backend(probe, worker.app_name)
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=30)
            if gate:
                gate.open()
            worker = start_worker()  # boots while the dead one's session goes away
            _wait_for(
                lambda: _lock_free(probe, RUN_LOCK_KEY), seconds=30, interval=0.02,
                what="the killed worker's session to release the run lock",
            )  # fmt: skip

            after = _runs(probe)
            current = [r for r in after if r[2]]
            new = [r for r in after if r[0] > last_id]
            assert len(current) == 1, f"kill {number}: {len(current)} current runs: {after}"
            (current,) = current
            assert len(new) <= 1, f"kill {number}: more than one new run: {new}"
            if current[0] == previous[0]:
                assert current == previous, f"kill {number}: the previous run changed"
                if new:
                    assert new[0][1] == "running" and new[0][6] in (0, customers), new
                    state = "rows written" if new[0][6] else "no rows"
                    outcome = f"previous run {previous[0]} current; run {new[0][0]} dead ({state})"
                else:
                    outcome = f"previous run {previous[0]} current; no new run yet"
            else:
                assert new and current[0] == new[0][0], f"kill {number}: current is {current}"
                _, status, _, count, revenue, profit, rows, row_revenue, row_profit = current
                assert status == "succeeded" and count == rows == customers, current
                assert (revenue, profit) == (row_revenue, row_profit) == reference_run[4:6]
                outcome = f"run {current[0]} published and current, complete"
            if gate:
                assert current[0] == previous[0], f"kill {number} at {kind}: it published"
            doing = "no session" if session is None else f"{session[0]}: {session[2] or ''}"
            outcomes.append((number, point, doing, outcome))
            print(f"{number:>3} {point:<26} {doing[:66]:<66} {outcome}")
    finally:
        reader.stop.set()
        reader.join(timeout=30)
        for gate in filter(None, gates):
            gate.close()

    # The next run, uninterrupted, equals the reference customer by customer.
    _ready(worker)
    last_id = _runs(probe)[-1][0]
    worker.enqueue(D)
    (final_id,) = _wait_for(
        lambda: (row := current_run()) and row[0] > last_id and row,
        seconds=120, interval=0.01, what="the next run", worker=worker,
    )  # fmt: skip
    final = _figures(probe, final_id)
    different = [pk for pk in reference if final.get(pk) != reference[pk]]
    assert not different and len(final) == len(reference), (
        f"{len(different)} customers differ from the uninterrupted run, e.g. "
        + "; ".join(f"{pk}: {reference[pk]} vs {final.get(pk)}" for pk in different[:3])
    )
    runs = _runs(probe)
    (final_run,) = [r for r in runs if r[0] == final_id]
    assert final_run[3:6] == reference_run[3:6] and final_run[6:] == reference_run[6:]
    assert [r[0] for r in runs if r[2]] == [final_id]
    leftovers = [r for r in runs if r[0] != final_id]
    failed = [r for r in leftovers if r[1] == "failed"]
    replaced = [r for r in leftovers if r[1] == "replaced"]
    assert len(failed) + len(replaced) == len(leftovers), leftovers
    assert all(r[6] == 0 for r in failed), failed
    # The run the final one replaced keeps its rows until the next run starts (a reader
    # that picked it just before still reads it whole); earlier ones were deleted.
    assert len(replaced) <= 1 and all(r[6] == customers for r in replaced), replaced

    assert reader.polls > 50, f"the reader polled only {reader.polls} times"
    assert not reader.violations, f"a reader saw a partial run: {reader.violations[:5]}"
    published = sum("published" in o[3] for o in outcomes)
    print(
        f"reader: {reader.polls} polls, current runs seen {sorted(reader.seen)}, no partial "
        f"run; kills after the publishing commit: {published} of {len(outcomes)}; next run "
        f"{final_id} equals the uninterrupted run {reference_id} for all {len(final)} "
        f"customers; {time.monotonic() - started:.0f} s in all"
    )


# -- b. ten triggers at once ---------------------------------------------------------------

STAMPEDE_SCRIPT = r"""
import sys, time, pathlib
import django
django.setup()
from django.core.management import execute_from_command_line
from django.db import connection
import tiers.management.commands.recompute_contribution  # the imports, before the start
connection.ensure_connection()
go, ready, as_of = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
ready.touch()
while not go.exists():
    time.sleep(0.001)
execute_from_command_line(["manage.py", "recompute_contribution", "--as-of", as_of])
"""


@postgres_only(WORKERS_SHARE_THE_DATABASE)
def test_ten_recompute_commands_at_once_one_computes_nine_say_a_run_is_in_progress(
    transactional_db, tmp_path
):
    started = time.monotonic()
    _bulk_book(customers=3000, lines_each=20, as_of=D)
    connection.close()
    folder = tmp_path
    go = folder / "go"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "KAM_NO_DOTENV": "1",
        "DEBUG": "1",
        "CELERY_BROKER_URL": "",
        "PGAPPNAME": "kam-stampede",
        "PYTHONUNBUFFERED": "1",
    }
    processes = []
    for n in range(10):
        out = open(folder / f"{n}.out", "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [sys.executable, "-c", STAMPEDE_SCRIPT, str(go), str(folder / f"{n}.ready"), str(D)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append((process, out))
    gate = connect("kam-stampede-gate")
    try:
        _wait_for(
            lambda: all((folder / f"{n}.ready").exists() for n in range(10)),
            seconds=180, interval=0.05, what="ten processes to be ready",
        )  # fmt: skip
        # The winner is held at publication until the nine have answered: a caller that
        # came after it had finished would rightly compute again, which is not the point.
        gate.execute("SELECT pg_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
        go.touch()
        went = time.monotonic()
        _wait_for(
            lambda: sum(p.poll() is not None for p, _ in processes) >= 9,
            seconds=120, interval=0.01, what="nine processes to exit",
        )  # fmt: skip
        nine = time.monotonic()
        running = [p for p, _ in processes if p.poll() is None]
        assert len(running) == 1, f"{len(running)} processes still running"

        def waiting_to_publish():
            return gate.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'kam-stampede' AND wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()[0]

        _wait_for(
            waiting_to_publish, seconds=120, interval=0.02, what="the winner to reach publication"
        )
        assert waiting_to_publish() == 1
        gate.execute("SELECT pg_advisory_unlock(%s)", [PUBLISH_LOCK_KEY])
        running[0].wait(timeout=120)
        done = time.monotonic()
    finally:
        gate.close()
        for process, out in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
            out.close()

    outputs = [(folder / f"{n}.out").read_text(errors="replace") for n in range(10)]
    codes = [process.returncode for process, _ in processes]
    busy = "a contribution run is in progress; this one did nothing"
    computed = [n for n, text in enumerate(outputs) if f"as of {D}: 3000 customers" in text]
    declined = [n for n, text in enumerate(outputs) if busy in text]
    for n, text in enumerate(outputs):
        last = text.strip().splitlines()[-1] if text.strip() else "(nothing)"
        print(f"\nprocess {n}: exit {codes[n]}: {last}", end="")
    assert codes == [0] * 10, outputs
    assert len(computed) == 1 and len(declined) == 9, outputs
    assert set(computed) | set(declined) == set(range(10))

    with connect("kam-stampede-check") as probe:
        runs = _runs(probe)
    assert len(runs) == 1, f"{len(runs)} runs were created: {runs}"
    (run,) = runs
    assert run[1] == "succeeded" and run[2] and run[3] == run[6] == 3000
    print(
        f"\nbook built and ten processes ready in {went - started:.1f} s; nine answered "
        f"'in progress' within {nine - went:.2f} s of the start; the one run ({run[0]}) "
        f"published {done - nine:.2f} s after the gate opened"
    )


# -- c. PostgreSQL stopped and started under gunicorn --------------------------------------


@postgres_only("the service's connections (CONN_MAX_AGE, health checks) are PostgreSQL's")
def test_postgres_restart_under_gunicorn_recovers_without_restart_and_loses_no_write(tmp_path):
    reason = private_postgres_unavailable()
    if reason:
        pytest.skip(f"no private PostgreSQL instance: {reason}")
    started = time.monotonic()
    pg = PrivatePostgres()
    web = None
    try:
        pg.init().start()
        with pg.connect() as admin:
            admin.execute("CREATE DATABASE kam")
        env = production_env(DATABASE_URL=pg.url("kam"), CONN_MAX_AGE="60")
        manage = [sys.executable, "manage.py"]
        subprocess.run(
            [*manage, "migrate", "--noinput"], cwd=PROJECT_DIR, env=env, check=True,
            capture_output=True, timeout=300,
        )  # fmt: skip
        made = subprocess.run(
            [*manage, "shell", "-c", SETUP_SCRIPT], cwd=PROJECT_DIR, env=env, check=True,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        token, customer_id = made.stdout.split()[-2:]
        ready = time.monotonic()

        web = Gunicorn(env, tmp_path).start()
        master, pids = web.process.pid, web.worker_pids()
        client = Client(web.base, token, int(customer_id))
        client.start()
        _wait_for(
            lambda: client.ok_writes() >= 30, seconds=60, interval=0.05,
            what="30 writes before the restart",
        )  # fmt: skip
        down = time.monotonic()
        pg.stop("fast")
        stopped = time.monotonic()
        time.sleep(2.0)  # an outage long enough for every worker to meet it
        pg.start()
        up = time.monotonic()
        recovered = _wait_for(
            lambda: client.first_ok_write_after(up), seconds=30, interval=0.05,
            what="a successful write after PostgreSQL came back",
        )  # fmt: skip
        time.sleep(4.0)  # writes keep going on both workers
        client.stop.set()
        client.join(timeout=30)

        assert web.process.poll() is None and web.process.pid == master
        assert web.worker_pids() == pids, "gunicorn's workers were replaced"
        with pg.connect("kam") as conn:
            stored = {
                summary
                for (summary,) in conn.execute(
                    "SELECT summary FROM relationships_visit WHERE summary LIKE 'probe-%'"
                )
            }
            duplicates = conn.execute(
                "SELECT count(*) - count(DISTINCT summary) FROM relationships_visit"
            ).fetchone()[0]
    finally:
        if web is not None:
            web.stop()
        pg.destroy()

    writes = client.writes
    ok = [w for w in writes if w[2] is not None and 200 <= w[2] < 300]
    failed = [w for w in writes if w not in ok]
    lost = [w[0] for w in ok if w[0] not in stored]
    wrong = [w for w in failed if w[2] is not None and w[2] < 500]
    during = [w for w in writes if w[1] >= down and w[1] < recovered]
    after_recovery = [w for w in writes if w[1] >= recovered]
    unanswered_but_stored = [w[0] for w in failed if w[0] in stored]
    print(
        f"\nprivate PostgreSQL on port {pg.port}, migrated in {ready - started:.1f} s; "
        f"gunicorn master {master}, workers {sorted(pids)}\n"
        f"writes: {len(writes)} ({len(ok)} 2xx, {len(failed)} failed: "
        f"{sorted({str(w[2] or w[3]) for w in failed})}); reads: {client.reads} "
        f"({client.failed_reads} failed)\n"
        f"PostgreSQL down {stopped - down:.2f} s after the stop began, up again "
        f"{up - down:.1f} s after; first 2xx write {recovered - up:.2f} s after it was up; "
        f"{len(during)} writes in between, {len(after_recovery)} after (all 2xx: "
        f"{all(w in ok for w in after_recovery)}); lost 2xx writes: {len(lost)}; failed "
        f"writes that were stored anyway: {len(unanswered_but_stored)}; duplicates: "
        f"{duplicates}; {time.monotonic() - started:.0f} s in all"
    )
    assert failed, "no request met the outage: the restart came too late or too fast"
    assert not lost, f"writes answered 2xx are missing: {lost[:10]}"
    assert not wrong, f"failed writes got a non-5xx answer: {wrong[:5]}"
    assert recovered - up < 5, f"the first write succeeded {recovered - up:.1f} s after"
    assert all(w in ok for w in after_recovery), [w for w in after_recovery if w not in ok][:5]
    assert len(after_recovery) >= 10
    assert duplicates == 0


SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from accounts.models import Customer
rep = get_user_model().objects.create_user("probe-rep")  # no group: a sales rep
customer = Customer.objects.create(code="P0001", name="探针客户", owner=rep)
print(Token.objects.create(user=rep).key, customer.pk)
"""


class Client(threading.Thread):
    """Logs visits through the API (each with its own summary) and reads them back,
    one request at a time, recording every answer."""

    def __init__(self, base: str, token: str, customer_id: int):
        super().__init__(daemon=True)
        self.base, self.customer_id = base, customer_id
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.stop = threading.Event()
        self.visit_date = (datetime.date.today() - datetime.timedelta(days=2)).isoformat()
        self.writes: list[tuple] = []  # (summary, sent at, status or None, error)
        self.reads = self.failed_reads = 0

    def run(self):
        number = 0
        while not self.stop.is_set():
            number += 1
            summary = f"probe-{number:05d}"
            body = json.dumps(
                {
                    "customer": self.customer_id,
                    "visit_date": self.visit_date,
                    "channel": "phone",
                    "purpose": "reliability probe",
                    "summary": summary,
                }
            ).encode()
            sent = time.monotonic()
            status, answer = http(
                "POST", f"{self.base}/api/visits/", body=body, headers=self.headers
            )
            error = answer[:80].decode(errors="replace") if status is None else ""
            self.writes.append((summary, sent, status, error))
            status, _ = http("GET", f"{self.base}/api/visits/?page_size=5", headers=self.headers)
            self.reads += 1
            self.failed_reads += status != 200
            time.sleep(0.02)

    def ok_writes(self) -> int:
        return sum(1 for w in self.writes if w[2] is not None and 200 <= w[2] < 300)

    def first_ok_write_after(self, moment: float) -> float | None:
        times = [w[1] for w in self.writes if w[1] >= moment and w[2] == 201]
        return min(times) if times else None
