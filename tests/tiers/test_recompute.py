"""contribution_recompute against the database: runs, publication, overrides, exports."""

import csv
import datetime
import io
import threading
import time
from decimal import Decimal

import numpy as np
import openpyxl
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DataError, IntegrityError, OperationalError, connection
from django.http import QueryDict

from accounts import sales_days
from accounts.models import Customer, SalesDay, SalesLine
from tests.factories import CustomerFactory, ReceivableFactory, SalesLineFactory
from tiers.models import ContributionRun, CustomerContribution, TierOverride
from tiers.reports import report_queryset
from tiers.services import recompute
from tiers.services.export import COLUMNS
from tiers.services.overrides import tier_override_create, tier_override_revoke
from tiers.services.recompute import (
    _DECIDE_ROWS,
    _WRITE_ROWS,
    RUN_LOCK_KEY,
    RunInProgress,
    contribution_recompute,
)
from tiers.tasks import recompute_contribution_nightly

pytestmark = pytest.mark.django_db

D1 = datetime.date(2026, 6, 30)
D2 = datetime.date(2026, 7, 31)


def line(customer, revenue, cost="0", day=D1, months_back=0, **extra):
    date = day - datetime.timedelta(days=30 * months_back)
    return SalesLineFactory(
        customer=customer, revenue=Decimal(revenue), cost=Decimal(cost), order_date=date, **extra
    )


def row(customer, run=None):
    run = run or ContributionRun.objects.get(is_current=True)
    return CustomerContribution.objects.get(run=run, customer=customer)


@pytest.fixture
def book(rep):
    """Three steady customers (bought every month) and one that buys once."""
    big = CustomerFactory(code="BIG", owner=rep)
    mid = CustomerFactory(code="MID", owner=rep)
    small = CustomerFactory(code="SMALL", owner=rep)
    for months_back in range(12):
        line(big, "700.00", "300.00", months_back=months_back)
        line(mid, "200.00", "100.00", months_back=months_back)
        line(small, "100.00", "80.00", months_back=months_back)
    return big, mid, small


def test_totals_are_exact_and_every_customer_gets_a_row(book):
    idle = CustomerFactory(code="IDLE")
    line(book[0], "0.01", "0.00")
    line(book[0], "999.99", "0.00", day=D1 - datetime.timedelta(days=365))  # outside
    summary = contribution_recompute(as_of=D1)
    run = ContributionRun.objects.get(pk=summary.run_id)
    assert run.total_revenue == Decimal("12000.01")
    assert run.total_gross_profit == Decimal("6240.01")
    assert run.customer_count == 4 and run.is_current and run.status == "succeeded"
    assert (row(idle).tier, row(idle).revenue, row(idle).profit_rank) == ("C", 0, None)
    assert row(book[0]).revenue == Decimal("8400.01")


def test_an_empty_book_gives_a_run_with_every_customer_c():
    CustomerFactory(code="NOSALES")
    contribution_recompute(as_of=D1)
    assert list(CustomerContribution.objects.values_list("tier", "excluded")) == [("C", False)]


def test_the_planted_kinds_are_excluded_with_their_reasons(book):
    once = CustomerFactory(code="ONCE")
    line(once, "50000.00", "10000.00")
    contribution_recompute(as_of=D1)
    once_row = row(once)
    assert (once_row.profit_tier, once_row.tier) == ("A", "C")
    assert once_row.excluded and once_row.exclusion_rules == "one_off"
    assert once_row.reasons[0]["measure"] == "order_months" and once_row.order_months == 1


def test_previous_tier_and_movements(book):
    big, _mid, small = book
    contribution_recompute(as_of=D1)
    # In July, SMALL becomes the biggest customer.
    line(small, "100000.00", "10000.00", day=D2)
    line(small, "100.00", "10.00", day=D2, months_back=1)
    contribution_recompute(as_of=D2)
    current = ContributionRun.objects.get(is_current=True)
    assert current.as_of == D2
    assert (row(small).previous_tier, row(small).tier) == ("C", "A")
    assert (row(big).previous_tier, row(big).tier) == ("A", "B")


def test_running_again_for_the_same_date_replaces_that_run(book):
    first = contribution_recompute(as_of=D1).run_id
    line(book[2], "5000.00", "0.00")
    second = contribution_recompute(as_of=D1).run_id
    current = ContributionRun.objects.get(is_current=True)
    assert current.pk == second and current.status == ContributionRun.Status.SUCCEEDED
    assert row(book[2]).revenue == Decimal("6200.00")
    # The replaced run keeps its rows until the next run starts: a reader that took it as
    # current just before publication still reads every row of it.
    replaced = ContributionRun.objects.get(pk=first)
    assert (replaced.status, replaced.is_current) == (ContributionRun.Status.REPLACED, False)
    assert CustomerContribution.objects.filter(run_id=first).count() == 3
    _f, rows, chosen = report_queryset(
        customers=Customer.objects.all(), run=replaced, data=QueryDict()
    )
    assert chosen == replaced and rows.count() == 3  # the report page still shows it
    assert (
        ContributionRun.objects.filter(as_of=D1, status=ContributionRun.Status.SUCCEEDED).get().pk
        == second
    )
    third = contribution_recompute(as_of=D2).run_id
    assert set(ContributionRun.objects.values_list("pk", "status")) == {
        (second, ContributionRun.Status.SUCCEEDED),
        (third, ContributionRun.Status.SUCCEEDED),
    }
    assert not CustomerContribution.objects.filter(run_id=first).exists()


def test_a_first_run_with_no_previous_has_no_previous_tier(book):
    contribution_recompute(as_of=D1)
    assert set(CustomerContribution.objects.values_list("previous_tier", flat=True)) == {""}


class TestOverrides:
    def test_override_replaces_the_tier_and_the_report_says_so(self, book, manager):
        contribution_recompute(as_of=D1)
        small = book[2]
        tier_override_create(user=manager, customer=small, tier="A", reason="strategic 2027")
        assert (row(small).tier, row(small).computed_tier) == ("A", "C")
        assert row(small).override == "A: strategic 2027"
        # The next run keeps it.
        contribution_recompute(as_of=D2)
        assert row(small).tier == "A"

    def test_an_expired_override_does_not_apply(self, book, manager):
        small = book[2]
        TierOverride.objects.create(
            customer=small, tier="A", reason="old deal", created_by=manager,
            expires_on=D1 - datetime.timedelta(days=1),
        )  # fmt: skip
        contribution_recompute(as_of=D1)
        assert (row(small).tier, row(small).override) == ("C", "")

    def test_an_override_made_before_a_run_is_applied_when_it_publishes(self, book, manager):
        TierOverride.objects.create(customer=book[0], tier="C", reason="parked", created_by=manager)
        contribution_recompute(as_of=D1)
        assert (row(book[0]).tier, row(book[0]).computed_tier) == ("C", "A")

    def test_revoking_restores_the_computed_tier_and_keeps_history(self, book, manager):
        contribution_recompute(as_of=D1)
        override = tier_override_create(user=manager, customer=book[2], tier="A", reason="x")
        tier_override_revoke(user=manager, override=override)
        assert (row(book[2]).tier, row(book[2]).override) == ("C", "")
        assert TierOverride.objects.get().revoked_at is not None

    def test_reps_cannot_override_and_a_reason_is_required(self, book, rep, manager):
        from django.core.exceptions import PermissionDenied, ValidationError

        with pytest.raises(PermissionDenied):
            tier_override_create(user=rep, customer=book[2], tier="A", reason="please")
        with pytest.raises(ValidationError):
            tier_override_create(user=manager, customer=book[2], tier="A", reason="  ")
        assert not TierOverride.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_second_caller_exits_cleanly_while_a_run_holds_the_lock(book):
    import psycopg

    params = connection.get_connection_params()
    other = psycopg.connect(
        dbname=params["dbname"], host=params.get("host"), port=params.get("port"),
        user=params.get("user"), autocommit=True,
    )  # fmt: skip
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [RUN_LOCK_KEY])
        with pytest.raises(RunInProgress):
            contribution_recompute(as_of=D1)
        out = io.StringIO()
        call_command("recompute_contribution", "--as-of", "2026-06-30", stdout=out)
        assert "in progress" in out.getvalue()
        assert not ContributionRun.objects.exists()
    finally:
        other.close()
    contribution_recompute(as_of=D1)
    assert ContributionRun.objects.get().is_current


def test_the_celery_task_runs_the_same_service(book):
    result = recompute_contribution_nightly.apply(args=["2026-06-30"])
    assert "3 customers" in result.get()
    assert ContributionRun.objects.get(is_current=True).as_of == D1


def test_the_nightly_task_is_on_the_beat_schedule_at_two():
    entry = settings.CELERY_BEAT_SCHEDULE["recompute-contribution-nightly"]
    assert entry["task"] == recompute_contribution_nightly.name
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {0}
    assert (
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        > settings.KAM_RECOMPUTE_TIME_LIMIT
    )


class TestExport:
    def test_csv_has_the_spec_columns_a_bom_and_safe_cells(self, book, tmp_path, rep):
        evil = CustomerFactory(code="=1+2", name='=HYPERLINK("http://x")', owner=rep)
        line(evil, "10.00", "1.00")
        call_command("recompute_contribution", "--as-of", "2026-06-30", stdout=io.StringIO())
        path = tmp_path / "report.csv"
        call_command(
            "export_contribution", "--format", "csv", "--output", str(path), stdout=io.StringIO()
        )
        raw = path.read_bytes()
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert list(rows[0]) == COLUMNS
        assert [r["customer_code"] for r in rows] == ["BIG", "MID", "SMALL", "'=1+2"]
        assert rows[-1]["customer_name"].startswith("'=HYPERLINK")
        big = rows[0]
        assert (big["revenue"], big["gross_profit"], big["margin"]) == (
            "8400.00", "4800.00", "0.571429"
        )  # fmt: skip
        assert (big["profit_rank"], big["tier"], big["excluded"]) == ("1", "A", "false")

    def test_xlsx_opens_with_numbers_formats_and_a_frozen_header(self, book, tmp_path):
        contribution_recompute(as_of=D1)
        path = tmp_path / "report.xlsx"
        call_command(
            "export_contribution", "--format", "xlsx", "--output", str(path),
            "--as-of", "2026-06-30", stdout=io.StringIO(),
        )  # fmt: skip
        sheet = openpyxl.load_workbook(path).active
        assert [c.value for c in sheet[1]] == COLUMNS
        assert sheet.freeze_panes == "A2"
        revenue = sheet.cell(row=2, column=COLUMNS.index("revenue") + 1)
        assert revenue.value == 8400 and revenue.number_format == "#,##0.00"

    def test_export_without_a_run_says_what_to_do(self, tmp_path):
        with pytest.raises(CommandError, match="recompute_contribution"):
            call_command("export_contribution", "--format", "csv", "--output", str(tmp_path / "x"))

    def test_bad_as_of_names_the_parameter(self):
        with pytest.raises(CommandError, match="--as-of '2026-13-01'"):
            call_command("recompute_contribution", "--as-of", "2026-13-01")


def test_lateness_counts_unpaid_invoices_until_the_as_of_date(book):
    big = book[0]
    ReceivableFactory(
        customer=big, invoice_date=D1 - datetime.timedelta(days=100),
        due_date=D1 - datetime.timedelta(days=90), amount=Decimal("100.00"), paid_date=None,
    )  # fmt: skip
    contribution_recompute(as_of=D1)
    assert row(big).avg_days_late == Decimal("90.00")
    assert row(big).exclusion_rules == "squeezer"


def test_one_month_this_year_but_another_in_the_look_back_is_not_one_off(book):
    returning = CustomerFactory(code="RETURNING")
    line(returning, "50000.00", "10000.00")
    line(returning, "10.00", "1.00", day=D1 - datetime.timedelta(days=500))
    line(returning, "10.00", "1.00", day=D1 - datetime.timedelta(days=800))  # beyond 730
    contribution_recompute(as_of=D1)
    assert (row(returning).order_months, row(returning).excluded) == (2, False)
    assert row(returning).tier == "A"


def test_a_run_for_an_older_date_is_kept_but_does_not_become_current(book):
    contribution_recompute(as_of=D2)
    contribution_recompute(as_of=D1)  # e.g. a re-delivered task, or a backfill
    contribution_recompute(as_of=D1)
    assert ContributionRun.objects.get(is_current=True).as_of == D2
    older = ContributionRun.objects.get(as_of=D1, status=ContributionRun.Status.SUCCEEDED)
    assert older.contributions.count() == 3


def test_huge_margins_and_shares_are_stored(rep):
    """Total revenue of one cent makes shares and margins in the millions: still stored."""
    a = CustomerFactory(code="A")
    b = CustomerFactory(code="B")
    line(a, "50000.00", "0")
    line(a, "0.01", "1000000.00", months_back=1)
    line(b, "-50000.00", "0")
    contribution_recompute(as_of=D1)
    assert row(a).revenue_share == Decimal("5000001")
    assert row(a).margin == Decimal("-18.999996")


def _customers_with_one_line_each(count: int) -> None:
    """K00000, K00001, …: customer n bought (n + 1) cents on D1."""
    customers = Customer.objects.bulk_create(
        [Customer(code=f"K{n:05d}", name=f"客户{n}") for n in range(count)]
    )
    SalesLine.objects.bulk_create(
        SalesLine(customer=c, order_ref=f"SO-{n}", line_no=1, order_date=D1, quantity=1,
                  revenue=Decimal(n + 1) / 100, cost=0, discount=0)
        for n, c in enumerate(customers)
    )  # fmt: skip


def test_a_book_bigger_than_one_written_slice_gets_every_row_right():
    """The run's rows are written in slices (_WRITE_ROWS): none lost or shifted at a seam."""
    count = 2 * _WRITE_ROWS + 345
    _customers_with_one_line_each(count)
    run = ContributionRun.objects.get(pk=contribution_recompute(as_of=D1).run_id)
    stored = dict(
        CustomerContribution.objects.filter(run=run).values_list("customer__code", "revenue")
    )
    assert stored == {f"K{n:05d}": Decimal(n + 1) / 100 for n in range(count)}
    top = CustomerContribution.objects.filter(run=run).order_by("profit_rank")[:3]
    assert [c.customer.code for c in top] == [f"K{n:05d}" for n in range(count - 1, count - 4, -1)]


def test_a_sum_past_a_bigint_of_cents_fails_the_run_rather_than_coming_out_wrong(rep):
    """Window sums are bigints (kam_sum on PostgreSQL, SUM on SQLite): two lines of 50
    quadrillion yuan overflow them, and the run fails saying so; nothing is published."""
    huge = CustomerFactory(code="HUGE", owner=rep)
    line(huge, "50000000000000000.00", months_back=1)
    line(huge, "50000000000000000.00", months_back=2)
    with pytest.raises((DataError, OperationalError), match=r"out of range|overflow"):
        contribution_recompute(as_of=D1)
    run = ContributionRun.objects.get()
    assert run.status == ContributionRun.Status.FAILED and not run.is_current
    assert not CustomerContribution.objects.exists()


needs_two_sessions = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the run's rows are written by two connections at once on PostgreSQL only",
)


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("decide_rows", [_DECIDE_ROWS, 1_000], ids=["one slice", "many slices"])
def test_rows_copied_by_two_streams_side_by_side_are_every_row_once(monkeypatch, decide_rows):
    """Outside a transaction (as in the nightly task) the slices of decided rows go in turn
    to two connections, each copying its own: none lost, none twice, each where it
    belongs."""
    monkeypatch.setattr(recompute, "_DECIDE_ROWS", decide_rows)
    count = 2 * _WRITE_ROWS + 345
    _customers_with_one_line_each(count)
    run = ContributionRun.objects.get(pk=contribution_recompute(as_of=D1).run_id)
    assert run.is_current and run.customer_count == count
    stored = CustomerContribution.objects.filter(run=run).values_list("customer__code", "revenue")
    assert sorted(stored) == [(f"K{n:05d}", Decimal(n + 1) / 100) for n in range(count)]
    top = CustomerContribution.objects.filter(run=run).order_by("profit_rank")[:3]
    assert [c.customer.code for c in top] == [f"K{n:05d}" for n in range(count - 1, count - 4, -1)]
    # The float columns too: each share is its revenue over the total, to 6 places.
    total = count * (count + 1) // 2
    shares = CustomerContribution.objects.filter(run=run).values_list(
        "customer__code", "revenue_share", "margin"
    )
    assert sorted(shares) == [
        (f"K{n:05d}", Decimal(f"{(n + 1) / total:.6f}"), Decimal(1)) for n in range(count)
    ]


@pytest.fixture
def four(rep):
    """In pk order FIRST, BIG, MID, LAST; FIRST and LAST have no lines, so a user may delete
    them (lines protect their customer). Two customers a slice: FIRST and BIG go to the
    first stream, MID and LAST to the second."""
    CustomerFactory(code="FIRST", owner=rep)
    for code in ("BIG", "MID"):
        line(CustomerFactory(code=code, owner=rep), "700.00", "300.00")
    CustomerFactory(code="LAST", owner=rep)
    return contribution_recompute(as_of=D1).run_id


def _failed_without_rows(previous: int) -> ContributionRun:
    failed = ContributionRun.objects.get(as_of=D2)
    assert failed.status == ContributionRun.Status.FAILED
    assert not CustomerContribution.objects.filter(run=failed).exists()
    assert ContributionRun.objects.get(is_current=True).pk == previous
    # The run waited for its threads; each ends a moment after it says it has.
    threads = [t for t in threading.enumerate() if t.name.startswith("recompute")]
    for thread in threads:
        thread.join(timeout=10)
    assert not [t for t in threads if t.is_alive()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%'")
        assert cursor.fetchone()[0] == 0
    return failed


def _outcomes(monkeypatch) -> list:
    """How each stream of the runs that follow ended: None (committed) or its error."""
    outcomes = []
    copy_stream = recompute._copy_stream

    def recorded(*args):
        try:
            copy_stream(*args)
        except BaseException as error:
            outcomes.append(error)
            raise
        outcomes.append(None)

    monkeypatch.setattr(recompute, "_copy_stream", recorded)
    return outcomes


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("deleted", ["FIRST", "LAST"], ids=["first stream", "second stream"])
def test_a_stream_that_fails_fails_the_run_and_leaves_none_of_its_rows(four, monkeypatch, deleted):
    """A customer deleted after the run read it: the stream copying its row breaks its key
    and fails, whichever it is. The other rolls back rather than commit (the streams commit
    only when both have copied), the run is failed, the previous run stays current, and
    the next run completes."""
    monkeypatch.setattr(recompute, "_DECIDE_ROWS", 2)
    outcomes = _outcomes(monkeypatch)
    compute = recompute._compute

    def compute_then_delete(**kwargs):
        computed = compute(**kwargs)
        Customer.objects.get(code=deleted).delete()  # a user, between the read and the write
        return computed

    monkeypatch.setattr(recompute, "_compute", compute_then_delete)
    with pytest.raises(IntegrityError, match="violates foreign key"):
        contribution_recompute(as_of=D2)
    assert not Customer.objects.filter(code=deleted).exists()
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["IntegrityError", "_Aborted"]
    assert "violates foreign key" in _failed_without_rows(four).error

    monkeypatch.undo()
    summary = contribution_recompute(as_of=D2)
    assert ContributionRun.objects.get(is_current=True).pk == summary.run_id
    assert summary.customers == 3


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
def test_a_run_that_fails_while_its_streams_copy_rolls_them_back(four, monkeypatch):
    """The first slice is with a stream when deciding the second fails (a fault injected
    into the rules): both streams roll back, rather than commit, and end; nothing of the
    run is left."""
    monkeypatch.setattr(recompute, "_DECIDE_ROWS", 2)
    outcomes = _outcomes(monkeypatch)
    decide = recompute.decide_tiers
    calls = []

    def decide_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the rules broke on the second slice")
        return decide(*args, **kwargs)

    monkeypatch.setattr(recompute, "decide_tiers", decide_then_fail)
    with pytest.raises(RuntimeError, match="second slice"):
        contribution_recompute(as_of=D2)
    assert [type(outcome) for outcome in outcomes] == [recompute._Aborted] * 2
    assert "second slice" in _failed_without_rows(four).error


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
def test_a_run_that_fails_starting_its_streams_leaves_no_thread_or_copy_behind(four, monkeypatch):
    """The second stream cannot start (a fault injected where a thread or a connection
    could fail): the first, already copying, is stopped and waited for."""
    started = []
    stream = recompute._Stream

    def second_fails(*args):
        if started:
            raise RuntimeError("no second stream")
        started.append(stream(*args))
        return started[-1]

    monkeypatch.setattr(recompute, "_Stream", second_fails)
    with pytest.raises(RuntimeError, match="no second stream"):
        contribution_recompute(as_of=D2)
    assert isinstance(started[0].ended.exception(), recompute._Aborted)
    assert "no second stream" in _failed_without_rows(four).error


class Interrupted(BaseException):
    """Stands for what may land anywhere in a run: Celery's soft time limit, a Ctrl-C."""


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
def test_a_thread_that_cannot_start_fails_the_run_instead_of_hanging_it(four, monkeypatch):
    """The second stream's thread cannot start ("can't start new thread"): the run fails
    at once, the first stream stopped, nothing waiting on the one that never ran."""
    start = threading.Thread.start
    streams = []

    def second_stream_fails(thread):
        if thread.name == "recompute-copy_stream":
            streams.append(thread)
            if len(streams) == 2:
                raise RuntimeError("can't start new thread")
        return start(thread)

    monkeypatch.setattr(threading.Thread, "start", second_stream_fails)
    with pytest.raises(RuntimeError, match="can't start"):
        contribution_recompute(as_of=D2)
    monkeypatch.undo()
    _failed_without_rows(four)


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
def test_an_interruption_between_starting_a_stream_and_keeping_it_stops_it_at_once(
    four, monkeypatch
):
    """The second stream runs, but the run is interrupted before its writer holds it: the
    run's stop reaches it anyway, instead of its waiting for a word until it gives up."""
    monkeypatch.setattr(recompute._Stream, "IDLE_SECONDS", 60)
    made = []
    stream = recompute._Stream

    def second_interrupted(*args):
        made.append(stream(*args))
        if len(made) == 2:
            raise Interrupted
        return made[-1]

    monkeypatch.setattr(recompute, "_Stream", second_interrupted)
    started = time.monotonic()
    with pytest.raises(Interrupted):
        contribution_recompute(as_of=D2)
    assert time.monotonic() - started < 10
    assert all(isinstance(s.ended.exception(), recompute._Aborted) for s in made)
    _failed_without_rows(four)


@needs_two_sessions
@pytest.mark.django_db(transaction=True)
def test_an_interruption_just_after_publication_leaves_the_run_published(four, monkeypatch):
    """Published is published: the handler of a failed run does not undo one whose
    publication committed before the interruption landed."""
    publish = recompute._publish

    def publish_then_interrupted(*args, **kwargs):
        publish(*args, **kwargs)
        raise Interrupted

    monkeypatch.setattr(recompute, "_publish", publish_then_interrupted)
    with pytest.raises(Interrupted):
        contribution_recompute(as_of=D2)
    current = ContributionRun.objects.get(is_current=True)
    assert current.as_of == D2 and current.status == ContributionRun.Status.SUCCEEDED
    assert CustomerContribution.objects.filter(run=current).count() == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SET LOCAL is PostgreSQL's")
def test_a_run_inside_a_callers_transaction_leaves_its_settings_alone(book):
    """The run tunes its own transactions (memory for grouping, no WAL wait for its rows);
    inside a caller's transaction those settings would outlast the run."""
    contribution_recompute(as_of=D1)
    with connection.cursor() as cursor:
        for setting in ("synchronous_commit", "work_mem", "max_parallel_workers_per_gather"):
            cursor.execute(f"SELECT setting = reset_val FROM pg_settings WHERE name = '{setting}'")
            assert cursor.fetchone()[0], setting


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 0.275067123, -18.999996, 1 / 400000, 2.5e-6, 0.0000005, 1e-7, 999999.9999995,
     1e6 + 0.5, -176366841446.142853, 1e12, 5e15, float("inf"), float("-inf")]
    + [k / 2e6 for k in range(1, 2000, 37)]
    + [k / 4e5 for k in range(1, 400, 7)],
)  # fmt: skip
def test_floats_for_copy_are_what_percent_6f_gives(value):
    """Millionths with an exponent, or "%.6f" itself where numpy's rounding could differ
    (ties, big magnitudes): either way the number PostgreSQL stores is "%.6f"'s."""
    (text,) = recompute._micros(np.array([value]))
    expected = f"{value:.6f}"
    if "inf" in expected:
        assert text == expected
    else:
        assert Decimal(text) == Decimal(expected)
    assert recompute._micros(np.array([np.nan, value]))[0] == ""


def _report(run) -> list:
    fields = [f.name for f in CustomerContribution._meta.fields if f.name not in ("id", "run")]
    return list(CustomerContribution.objects.filter(run=run).order_by("customer").values(*fields))


def test_a_run_after_the_sales_days_were_kept_up_to_date_equals_one_from_days_summed_afresh(book):
    """The issue's stretch: a nightly run after one more day of lines sums only the days
    that changed (accounts/sales_days.py); its report must be the one every day summed
    again from the lines gives."""
    big, mid, small = book
    once = CustomerFactory(code="ONCE")
    contribution_recompute(as_of=D1)
    # The next days: new lines (one a return), a line moved to another customer, a changed
    # and a deleted one, a customer's only line.
    line(big, "300.00", "100.00", day=D2)
    line(mid, "-50.00", "-20.00", day=D2)
    line(once, "9000.00", "1000.00", day=D2, discount=Decimal("3000.00"))
    moved = SalesLine.objects.filter(customer=small).order_by("order_date").last()
    moved.customer = mid
    moved.save()
    SalesLine.objects.filter(customer=big).order_by("order_date").first().delete()
    SalesLine.objects.filter(customer=mid, order_date__lt=D1).update(cost=Decimal("150.00"))
    kept = ContributionRun.objects.get(pk=contribution_recompute(as_of=D2).run_id)

    SalesDay.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(sales_days._mark_all())
    afresh = ContributionRun.objects.get(pk=contribution_recompute(as_of=D2).run_id)
    assert SalesDay.objects.exists()
    assert _report(afresh) == _report(kept)
    assert [r["tier"] for r in _report(kept)] != ["C"] * 4  # a real book, not an empty one
