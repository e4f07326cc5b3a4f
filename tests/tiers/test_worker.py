"""The nightly run in a real Celery worker process, against PostgreSQL and Redis (SPEC §6).

Nothing of ours is mocked: the test commits a book (transactional_db), starts
`celery -A kam worker` in its own process group on a queue no other test uses, sends
the task through Redis and watches the database. One test kills the worker with SIGKILL
while its run says "running" and checks that the previous run stays current, that the
advisory lock is released by the dead worker's closed connection, and that the next
run completes. Skipped, with the reason, on SQLite or when Redis does not answer.
"""

import contextlib
import datetime
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from celery.result import EagerResult
from django.conf import settings
from django.db import connection

from accounts.models import Customer, SalesLine
from kam.celery import app as celery_app
from tests.factories import CustomerFactory, SalesLineFactory
from tiers.models import ContributionRun, CustomerContribution
from tiers.services.recompute import RUN_LOCK_KEY, contribution_recompute
from tiers.tasks import recompute_contribution_nightly

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a real worker needs PostgreSQL (another process must see the committed test "
    "data, and runs are serialised by a PostgreSQL advisory lock); set DATABASE_URL",
)

PROJECT_DIR = Path(settings.BASE_DIR)
FALLBACK_BROKER = "redis://127.0.0.1:6379/15"
WAIT_SECONDS = 60

D1 = datetime.date(2026, 6, 30)
D2 = datetime.date(2026, 7, 31)


# -- helpers -------------------------------------------------------------------------------


def _database_url() -> str:
    """The URL of the *test* database this process uses, for the worker's DATABASE_URL."""
    s = connection.settings_dict
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = quote(s.get("HOST") or "", safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(s['NAME'], safe='')}"


def _psycopg_connect():
    import psycopg

    params = connection.get_connection_params()
    return psycopg.connect(
        dbname=params["dbname"],
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        password=params.get("password"),
        autocommit=True,
    )


class Worker:
    """One `celery worker` process (solo pool) in its own session, logging to a file."""

    def __init__(self, broker_url: str, log_dir: Path):
        self.broker_url = broker_url
        self.queue = f"kam-test-{uuid.uuid4().hex[:12]}"
        self.log_path = log_dir / f"{self.queue}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "KAM_NO_DOTENV": "1",
            "DEBUG": "1",
            "SECRET_KEY": "kam-worker-test-secret-key-not-for-production",
            "DJANGO_SETTINGS_MODULE": "kam.settings",
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "kam", "worker",
            "--pool=solo", "--concurrency=1", "-Q", self.queue, "-n", f"{self.queue}@%h",
            "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def enqueue(self, as_of: datetime.date):
        """Send the nightly task for `as_of` to this worker's queue, through Redis."""
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = False
        try:
            with (
                celery_app.connection_for_write(self.broker_url) as broker,
                broker.Producer() as producer,
            ):
                result = recompute_contribution_nightly.apply_async(
                    args=[as_of.isoformat()], queue=self.queue, producer=producer
                )
        finally:
            celery_app.conf.task_always_eager = eager
        assert not isinstance(result, EagerResult), "the task ran in-process, not in the worker"
        return result

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no handler, no clean-up, like a crashed host."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def forget_queue(self) -> None:
        """Best effort: drop this queue's list, binding and unacknowledged messages from
        Redis, so a killed worker's message is never restored into a queue nobody reads."""
        try:
            import json

            import redis

            client = redis.Redis.from_url(self.broker_url, socket_timeout=2)
            for tag, payload in client.hscan_iter("unacked"):
                try:
                    _message, exchange, routing_key = json.loads(payload)
                except ValueError:
                    continue
                if self.queue in (exchange, routing_key):
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
            client.delete(
                self.queue,
                f"_kombu.binding.{self.queue}",
                f"_kombu.binding_permanent.{self.queue}",
            )
            client.close()
        except Exception as error:
            print(f"could not clean up the Redis queue {self.queue}: {error}")


def _wait_for(predicate, *, seconds: float, interval: float, what: str, worker=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and not worker.alive():
            pytest.fail(f"the worker exited while waiting for {what}:\n{worker.tail()}")
        time.sleep(interval)
    log = f"\n--- worker log (last lines)\n{worker.tail()}" if worker else ""
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}{log}")


def _wait_other_sessions_gone(seconds: float = 20) -> None:
    """Wait until no other session uses the test database, so the flush after the test and
    the final DROP DATABASE are not blocked by a killed worker's backend."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.1)


def _runs(as_of):
    return list(ContributionRun.objects.filter(as_of=as_of).order_by("id"))


def _window_totals(as_of: datetime.date) -> tuple[Decimal, Decimal, int]:
    """Σ revenue and Σ (revenue − cost) of the window's lines, and the number of customers,
    straight from SQL (integer cents), independently of the service."""
    lines = connection.ops.quote_name(SalesLine._meta.db_table)
    customers = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM(revenue), 0), COALESCE(SUM(revenue - cost), 0) FROM {lines} "
            f"WHERE order_date > %s::date - 365 AND order_date <= %s::date",
            [as_of, as_of],
        )
        revenue, profit = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {customers}")
        (count,) = cursor.fetchone()
    cent = Decimal("0.01")
    return (
        Decimal(revenue).scaleb(-2).quantize(cent),
        Decimal(profit).scaleb(-2).quantize(cent),
        count,
    )


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def broker_url():
    """The Redis the test process and the worker share; skip when it does not answer."""
    import redis

    url = settings.CELERY_BROKER_URL or FALLBACK_BROKER
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as error:
        pytest.skip(
            f"a real worker needs Redis: PING to {url} failed ({type(error).__name__}: {error})"
        )
    if settings.CELERY_BROKER_URL:
        # Started with a broker: the producer side must really publish, never run eagerly.
        assert settings.CELERY_TASK_ALWAYS_EAGER is False
        assert celery_app.conf.task_always_eager is False
    return url


@pytest.fixture
def workers(transactional_db, broker_url, tmp_path, request):
    """Start workers with `workers()`; all are killed afterwards, their logs printed when
    the test failed, and the test database is left free for the flush."""
    started: list[Worker] = []
    failed_before = request.session.testsfailed

    def start() -> Worker:
        worker = Worker(broker_url, tmp_path).start()
        started.append(worker)
        return worker

    yield start

    for worker in started:
        worker.kill()
    for worker in started:
        worker.forget_queue()
    if request.session.testsfailed > failed_before:
        for worker in started:
            print(f"\n===== worker {worker.queue} log =====\n{worker.log()}")
    connection.close()
    _wait_other_sessions_gone()


# -- tests ---------------------------------------------------------------------------------


def test_a_real_worker_runs_the_nightly_task_and_the_run_becomes_current(workers):
    a = CustomerFactory(code="WA")
    b = CustomerFactory(code="WB")
    CustomerFactory(code="WC")  # no sales: still one row in the run

    def line(customer, day, revenue, cost):
        SalesLineFactory(
            customer=customer, order_date=day, revenue=Decimal(revenue), cost=Decimal(cost)
        )

    line(a, D1, "1000.01", "600.00")
    line(a, D1 - datetime.timedelta(days=364), "500.50", "200.25")  # first day in the window
    line(a, D1 - datetime.timedelta(days=365), "9999.99", "1.00")  # just outside
    line(b, datetime.date(2026, 1, 15), "250.00", "100.00")
    line(b, datetime.date(2026, 2, 15), "-50.00", "-20.00")  # a return
    line(b, D1 + datetime.timedelta(days=1), "777.77", "0.00")  # after as-of

    started = time.monotonic()
    worker = workers()
    worker.enqueue(D1)

    def succeeded():
        return ContributionRun.objects.filter(
            as_of=D1, status=ContributionRun.Status.SUCCEEDED, is_current=True
        ).first()

    run = _wait_for(
        succeeded, seconds=WAIT_SECONDS, interval=0.1, what=f"a current run as of {D1}",
        worker=worker,
    )  # fmt: skip
    print(f"\nworker run as of {D1} current after {time.monotonic() - started:.1f} s")

    assert run.customer_count == 3
    assert run.total_revenue == Decimal("1700.51")
    assert run.total_gross_profit == Decimal("820.26")
    assert run.finished_at is not None and run.error == ""
    assert ContributionRun.objects.filter(is_current=True).count() == 1
    rows = CustomerContribution.objects.filter(run=run)
    assert rows.count() == 3
    assert sum(r.revenue for r in rows) == Decimal("1700.51")
    _wait_for(
        lambda: f"contribution run {run.pk} as of {D1}" in worker.log(), seconds=10,
        interval=0.1, what="the worker to log the run it computed",
    )  # fmt: skip


def _bulk_book(*, customers: int, lines_each: int, as_of: datetime.date) -> None:
    """Many customers with many lines, inserted by SQL in a few seconds. Dates spread from
    10 days after `as_of` back to ~800 days before it, so the window cuts through them;
    every 40th line is a return."""
    Customer.objects.bulk_create(
        [Customer(code=f"BULK{i:06d}", name=f"批量客户{i}") for i in range(customers)],
        batch_size=5000,
    )
    lines = connection.ops.quote_name(SalesLine._meta.db_table)
    table = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {lines} (customer_id, order_ref, line_no, order_date, product_code,
                                 quantity, revenue, cost, discount)
            SELECT id, 'BULK-' || id || '-' || g, 1, order_date, 'P' || (g %% 17), 1,
                   revenue, (revenue * 3) / 5, CASE WHEN revenue > 0 THEN revenue / 20 ELSE 0 END
            FROM (
                SELECT c.id, g,
                       %s::date + 10 - ((g * 7 + c.id) %% 810)::int AS order_date,
                       CASE WHEN g %% 40 = 0 THEN -((c.id * 131 + g * 17) %% 5000 + 1)
                            ELSE (c.id * 131 + g * 17) %% 500000 + 100 END::bigint AS revenue
                FROM {table} c CROSS JOIN generate_series(1, %s) AS g
                WHERE c.code LIKE 'BULK%%'
            ) AS source
            """,
            [as_of, lines_each],
        )
        cursor.execute(f"ANALYZE {lines}")


def test_worker_killed_mid_run_leaves_the_previous_run_current_and_the_next_run_completes(
    workers,
):
    started = time.monotonic()
    # A current run as of D1, computed in this process.
    first = CustomerFactory(code="FIRST")
    SalesLineFactory(customer=first, order_date=D1, revenue=Decimal("123.45"), cost=Decimal("100"))
    previous = ContributionRun.objects.get(pk=contribution_recompute(as_of=D1).run_id)
    assert previous.is_current and previous.total_revenue == Decimal("123.45")

    # Enough lines and customers that the run as of D2 takes a while.
    _bulk_book(customers=6000, lines_each=60, as_of=D2)
    built = time.monotonic()

    other = _psycopg_connect()  # a separate session, to look at the advisory lock
    try:

        def lock_free() -> bool:
            got = other.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY]).fetchone()[0]
            if got:
                other.execute("SELECT pg_advisory_unlock(%s)", [RUN_LOCK_KEY])
            return got

        worker = workers()
        worker.enqueue(D2)

        def running():
            statuses = [run.status for run in _runs(D2)]
            if ContributionRun.Status.SUCCEEDED in statuses:
                pytest.fail(
                    f"the run as of {D2} finished before it could be killed: grow the data "
                    f"in _bulk_book\n{worker.tail()}"
                )
            return ContributionRun.Status.RUNNING in statuses

        _wait_for(
            running, seconds=WAIT_SECONDS, interval=0.005, what=f"a running run as of {D2}",
            worker=worker,
        )  # fmt: skip
        lock_held_by_worker = not lock_free()
        os.killpg(worker.process.pid, signal.SIGKILL)
        assert worker.process.wait(timeout=30) == -signal.SIGKILL
        killed = time.monotonic()

        # SIGKILL leaves no chance to write: the row still says running, so the worker
        # really died mid-run (had it finished, the row would say succeeded).
        (dead,) = _runs(D2)
        assert dead.status == ContributionRun.Status.RUNNING, (
            f"the worker was not killed mid-run: the run as of {D2} says {dead.status!r}"
        )
        assert lock_held_by_worker, "the running worker did not hold the run's advisory lock"

        # The previous run is still the one and only current run, untouched.
        current = ContributionRun.objects.get(is_current=True)
        assert current.pk == previous.pk
        assert current.status == ContributionRun.Status.SUCCEEDED
        assert current.total_revenue == Decimal("123.45")
        assert not dead.is_current

        # The dead worker's closed connection releases the advisory lock.
        _wait_for(lock_free, seconds=15, interval=0.1, what="the advisory lock to be free")
        released = time.monotonic()
    finally:
        other.close()

    # The next nightly run, in a fresh worker, completes and becomes the only current run.
    after = workers()
    after.enqueue(D2)

    def next_current():
        return ContributionRun.objects.filter(
            as_of=D2, status=ContributionRun.Status.SUCCEEDED, is_current=True
        ).first()

    run = _wait_for(
        next_current, seconds=WAIT_SECONDS, interval=0.1, what=f"the next run as of {D2}",
        worker=after,
    )  # fmt: skip
    finished = time.monotonic()
    _wait_for(
        lambda: f"contribution run {run.pk} as of {D2}" in after.log(), seconds=10,
        interval=0.1, what="the fresh worker to log the run it computed",
    )  # fmt: skip

    revenue, profit, customers = _window_totals(D2)
    assert customers == 6001
    assert run.pk != dead.pk
    assert run.customer_count == customers
    assert run.total_revenue == revenue
    assert run.total_gross_profit == profit
    assert list(ContributionRun.objects.filter(is_current=True)) == [run]
    rows = CustomerContribution.objects.filter(run=run)
    assert rows.count() == customers
    assert sum(rows.values_list("revenue", flat=True)) == revenue
    # The dead run never became current and kept no rows; D1's run is history now.
    dead_now = ContributionRun.objects.filter(pk=dead.pk).first()
    if dead_now is not None:
        assert dead_now.status == ContributionRun.Status.FAILED and not dead_now.is_current
        assert not CustomerContribution.objects.filter(run=dead_now).exists()
    previous.refresh_from_db()
    assert previous.status == ContributionRun.Status.SUCCEEDED and not previous.is_current

    print(
        f"\nbook built in {built - started:.1f} s; killed mid-run after "
        f"{killed - built:.1f} s; lock free {released - killed:.2f} s after the kill; "
        f"next run current after {finished - released:.1f} s (it computed for "
        f"{run.duration_ms} ms: revenue {revenue}, {customers} customers)"
    )
