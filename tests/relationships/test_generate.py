"""The daily follow-up job (SPEC §4): cadence by tier, birthdays and holidays, idempotence,
and the Celery task and management command that run it. Time is frozen in Asia/Shanghai."""

import datetime
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import Customer
from relationships.models import CadenceRule, FollowUp, Visit
from relationships.services import (
    GenerationSummary,
    follow_up_complete,
    follow_ups_generate,
    visit_log,
)
from relationships.tasks import generate_follow_ups_daily
from tests.factories import ContactFactory, CustomerFactory
from tests.relationships.factories import VisitFactory, publish_tiers

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CREATED = datetime.date(2026, 1, 5)  # every customer of these tests is created that day
LAST_VISIT = datetime.date(2026, 6, 1)
RUN_AS_OF = datetime.date(2026, 6, 30)


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def moment(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, 5, 30, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def clock():
    """Frozen at 05:30 in Shanghai on CREATED; tests move it with `generate(day)`."""
    with time_machine.travel(moment(CREATED), tick=False) as traveller:
        yield traveller


@pytest.fixture
def generate(clock):
    def run(day) -> GenerationSummary:
        day = d(day) if isinstance(day, str) else day
        clock.move_to(moment(day))
        return follow_ups_generate(today=day)

    return run


@pytest.fixture
def world(rep, teams):
    """A01 is A and B01 is B by a real run as of 30 June; C01 is C in that run; N01 was
    created after the run, so has no tier there. Each was last visited on 1 June."""
    a01 = CustomerFactory(code="A01", owner=rep)
    b01 = CustomerFactory(code="B01", owner=rep)
    c01 = CustomerFactory(code="C01", owner=rep)
    tiers = publish_tiers(as_of=RUN_AS_OF, a=[a01], b=[b01])
    n01 = CustomerFactory(code="N01", owner=rep)
    assert (tiers[a01.pk], tiers[b01.pk], tiers[c01.pk], n01.pk in tiers) == ("A", "B", "C", False)
    for customer in (a01, b01, c01, n01):
        VisitFactory(customer=customer, author=rep, visit_date=LAST_VISIT)
    return {c.code: c for c in (a01, b01, c01, n01)}


def open_cadence() -> dict[str, datetime.date]:
    return dict(
        FollowUp.objects.filter(kind=FollowUp.Kind.CADENCE, status=FollowUp.Status.OPEN)
        .order_by("customer__code")
        .values_list("customer__code", "due_date")
    )


def rows(kind) -> list[tuple]:
    return list(
        FollowUp.objects.filter(kind=kind)
        .order_by("due_date", "customer__code", "id")
        .values_list("customer__code", "due_date", "owner__username", "occasion")
    )


def birthday_contact(customer, birthday, *, name, active=True):
    unit, _created = customer.buying_units.get_or_create(name="采购部")
    return ContactFactory(buying_unit=unit, name=name, birthday=birthday, is_active=active)


# --- cadence ------------------------------------------------------------------------------

# (customer, days of its tier's cadence)
CADENCE = {
    "A-every-30-days": ("A01", 30),
    "B-every-60-days": ("B01", 60),
    "C-every-120-days": ("C01", 120),
    "not-in-the-run-counts-as-C": ("N01", 120),
}


@pytest.mark.parametrize(("code", "days"), list(CADENCE.values()), ids=list(CADENCE))
def test_cadence_comes_due_seven_days_ahead(world, generate, rep, code, days):
    assert settings.KAM_CADENCE_LEAD_DAYS == 7
    due = LAST_VISIT + datetime.timedelta(days=days)
    generate(due - datetime.timedelta(days=8))
    assert code not in open_cadence()
    generate(due - datetime.timedelta(days=7))
    assert open_cadence()[code] == due
    follow_up = FollowUp.objects.get(customer=world[code], kind=FollowUp.Kind.CADENCE)
    assert (follow_up.owner, follow_up.status, follow_up.dedupe_key) == (
        rep,
        FollowUp.Status.OPEN,
        f"cadence:{world[code].pk}:{due.isoformat()}",
    )


def test_cadence_timeline_over_the_summer(world, generate):
    timeline = [
        ("2026-06-23", 0, {}),
        ("2026-06-24", 1, {"A01": d("2026-07-01")}),
        ("2026-07-23", 0, {"A01": d("2026-07-01")}),
        ("2026-07-24", 1, {"A01": d("2026-07-01"), "B01": d("2026-07-31")}),
        ("2026-09-21", 0, {"A01": d("2026-07-01"), "B01": d("2026-07-31")}),
        (
            "2026-09-22",
            2,
            {
                "A01": d("2026-07-01"),
                "B01": d("2026-07-31"),
                "C01": d("2026-09-29"),
                "N01": d("2026-09-29"),
            },
        ),
    ]
    for day, created, expected in timeline:
        summary = generate(day)
        assert (summary.day, summary.cadence, open_cadence()) == (d(day), created, expected), day
    assert FollowUp.objects.filter(kind=FollowUp.Kind.CADENCE).count() == 4


def test_without_a_visit_the_cadence_counts_from_the_customer_s_creation(rep, generate):
    CustomerFactory(code="FRESH", owner=rep)  # created 2026-01-05, no run: C, due 2026-05-05
    assert generate("2026-04-27").cadence == 0
    assert generate("2026-04-28").cadence == 1
    assert open_cadence() == {"FRESH": d("2026-05-05")}


def test_an_overdue_account_gets_a_follow_up_due_in_the_past(world, generate):
    generate("2026-12-01")
    assert open_cadence() == {
        "A01": d("2026-07-01"),
        "B01": d("2026-07-31"),
        "C01": d("2026-09-29"),
        "N01": d("2026-09-29"),
    }


def test_an_edited_cadence_rule_changes_the_due_date(world, generate):
    assert generate("2026-06-04").cadence == 0
    CadenceRule.objects.filter(tier="A").update(days=10)
    summary = generate("2026-06-04")
    assert summary.cadence == 1
    assert open_cadence() == {"A01": d("2026-06-11")}


def test_a_longer_rule_for_c_pushes_its_accounts_out(world, generate):
    CadenceRule.objects.filter(tier="C").update(days=200)
    generate("2026-09-22")
    assert set(open_cadence()) == {"A01", "B01"}


def test_a_completed_cadence_follow_up_is_not_created_again(world, generate, rep):
    generate("2026-06-24")
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.CADENCE)
    follow_up_complete(user=rep, follow_up=follow_up)
    summary = generate("2026-06-25")
    assert summary.cadence == 0
    assert open_cadence() == {}
    assert list(
        FollowUp.objects.filter(kind=FollowUp.Kind.CADENCE).values_list("pk", "status", "due_date")
    ) == [(follow_up.pk, FollowUp.Status.DONE, d("2026-07-01"))]


def test_logging_a_visit_closes_the_open_cadence_follow_up(world, generate, rep, clock):
    generate("2026-06-24")
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.CADENCE, customer=world["A01"])
    clock.move_to(moment(d("2026-06-26")))
    visit = visit_log(
        user=rep,
        customer=world["A01"],
        visit_date=d("2026-06-26"),
        channel=Visit.Channel.PHONE,
        purpose="季度回顾",
    )
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.completed_visit) == (FollowUp.Status.DONE, visit)
    assert follow_up.completed_at is not None
    # The cadence now counts from the visit: due 26 July, created from 19 July.
    assert generate("2026-07-18").cadence == 0
    assert generate("2026-07-19").cadence == 1
    assert open_cadence() == {"A01": d("2026-07-26")}


def test_due_accounts_without_owner_are_counted_and_closed_ones_skipped(world, generate, rep):
    orphan = CustomerFactory(code="O01", owner=None)
    closed = CustomerFactory(code="Z01", owner=rep, status=Customer.Status.CLOSED)
    for customer in (orphan, closed):
        VisitFactory(customer=customer, author=rep, visit_date=LAST_VISIT)
    summary = generate("2026-09-22")
    assert (summary.cadence, summary.without_owner) == (4, 1)
    assert set(open_cadence()) == {"A01", "B01", "C01", "N01"}
    assert not FollowUp.objects.filter(customer__in=[orphan, closed]).exists()
    # Still due and still without owner the next day: counted again, nothing created.
    assert (generate("2026-09-23").cadence, generate("2026-09-23").without_owner) == (0, 1)


def test_an_account_not_yet_due_without_owner_is_not_counted(generate):
    CustomerFactory(code="O02", owner=None)  # due 2026-05-05
    assert generate("2026-04-27").without_owner == 0
    assert generate("2026-04-28").without_owner == 1


# --- birthdays ----------------------------------------------------------------------------


def test_birthdays_of_a_and_b_accounts_three_days_ahead(world, generate):
    assert settings.KAM_BIRTHDAY_LEAD_DAYS == 3
    a01, b01, c01, n01 = (world[code] for code in ("A01", "B01", "C01", "N01"))
    in_three_days = birthday_contact(a01, d("1975-09-23"), name="甲总")
    today = birthday_contact(a01, d("1980-09-20"), name="甲工")
    birthday_contact(a01, d("1980-09-24"), name="四天后")
    birthday_contact(a01, d("1980-09-19"), name="昨天")
    birthday_contact(a01, d("1980-09-22"), name="已离职", active=False)
    birthday_contact(a01, None, name="无生日")
    b_contact = birthday_contact(b01, d("1982-09-21"), name="乙经理")
    birthday_contact(c01, d("1982-09-21"), name="丙经理")
    birthday_contact(n01, d("1982-09-21"), name="新客户")

    summary = generate("2026-09-20")

    assert summary.birthday == 3
    made = FollowUp.objects.filter(kind=FollowUp.Kind.BIRTHDAY).order_by("due_date", "pk")
    assert [
        (f.contact.name, f.customer.code, f.owner.username, f.due_date, f.occasion_date)
        for f in made
    ] == [
        ("甲工", "A01", "rep", d("2026-09-20"), d("2026-09-20")),
        ("乙经理", "B01", "rep", d("2026-09-21"), d("2026-09-21")),
        ("甲总", "A01", "rep", d("2026-09-23"), d("2026-09-23")),
    ]
    assert {f.dedupe_key for f in made} == {
        f"birthday:{today.pk}:2026-09-20",
        f"birthday:{b_contact.pk}:2026-09-21",
        f"birthday:{in_three_days.pk}:2026-09-23",
    }
    assert {f.occasion for f in made} == {"birthday"}


def test_a_birthday_on_1_january_is_generated_on_30_december(world, generate):
    contact = birthday_contact(world["A01"], d("1970-01-01"), name="元旦生日")
    assert generate("2026-12-28").birthday == 0
    assert generate("2026-12-29").birthday == 1
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.BIRTHDAY)
    assert (follow_up.contact, follow_up.due_date, follow_up.dedupe_key) == (
        contact,
        d("2027-01-01"),
        f"birthday:{contact.pk}:2027-01-01",
    )
    assert generate("2026-12-30").birthday == 0
    assert generate("2026-12-31").birthday == 0
    assert FollowUp.objects.filter(kind=FollowUp.Kind.BIRTHDAY).count() == 1


def test_a_29_february_birthday_is_remembered_on_28_february(world, generate):
    birthday_contact(world["B01"], d("1988-02-29"), name="闰年生日")
    generate("2027-02-25")
    assert rows(FollowUp.Kind.BIRTHDAY) == [("B01", d("2027-02-28"), "rep", "birthday")]


# --- holidays -----------------------------------------------------------------------------


def test_holidays_only_for_a_accounts(world, generate):
    assert settings.KAM_HOLIDAY_LEAD_DAYS == 7
    summary = generate("2026-09-20")
    assert summary.holiday == 1
    assert rows(FollowUp.Kind.HOLIDAY) == [("A01", d("2026-09-25"), "rep", "mid_autumn")]
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.HOLIDAY)
    assert (follow_up.occasion_date, follow_up.dedupe_key) == (
        d("2026-09-25"),
        f"holiday:{world['A01'].pk}:mid_autumn:2026-09-25",
    )
    summary = generate("2026-09-24")
    assert summary.holiday == 1
    assert rows(FollowUp.Kind.HOLIDAY) == [
        ("A01", d("2026-09-25"), "rep", "mid_autumn"),
        ("A01", d("2026-10-01"), "rep", "national_day"),
    ]


def test_no_holiday_more_than_seven_days_ahead(world, generate):
    assert generate("2026-09-17").holiday == 0
    assert generate("2026-09-18").holiday == 1


def test_an_a_account_without_owner_gets_no_care_follow_ups(rep, teams, generate):
    a01 = CustomerFactory(code="A01", owner=None)
    publish_tiers(as_of=RUN_AS_OF, a=[a01])
    VisitFactory(customer=a01, author=rep, visit_date=d("2026-09-01"))
    birthday_contact(a01, d("1975-09-23"), name="甲总")
    assert generate("2026-09-20") == GenerationSummary(d("2026-09-20"), 0, 0, 0, 0)
    assert FollowUp.objects.count() == 0


# --- idempotence --------------------------------------------------------------------------


@pytest.fixture
def busy_day(world):
    """On 20 September: A01 and B01 due (cadence), a birthday on A01 on the 23rd, and
    Mid-Autumn on the 25th for A01."""
    birthday_contact(world["A01"], d("1975-09-23"), name="甲总")


def test_running_twice_the_same_day_creates_nothing_new(busy_day, generate):
    first = generate("2026-09-20")
    assert first == GenerationSummary(d("2026-09-20"), 2, 1, 1, 0)
    keys = set(FollowUp.objects.values_list("dedupe_key", flat=True))
    assert len(keys) == FollowUp.objects.count() == 4
    second = generate("2026-09-20")
    assert second == GenerationSummary(d("2026-09-20"), 0, 0, 0, 0)
    assert set(FollowUp.objects.values_list("dedupe_key", flat=True)) == keys
    assert FollowUp.objects.count() == 4


def test_running_the_next_day_does_not_duplicate(busy_day, generate):
    generate("2026-09-20")
    before = sorted(FollowUp.objects.values_list("pk", "kind", "customer__code", "due_date"))
    assert generate("2026-09-21") == GenerationSummary(d("2026-09-21"), 0, 0, 0, 0)
    after = sorted(FollowUp.objects.values_list("pk", "kind", "customer__code", "due_date"))
    assert after == before


def test_completed_care_follow_ups_are_not_created_again(busy_day, generate, rep):
    generate("2026-09-20")
    for follow_up in FollowUp.objects.all():
        follow_up_complete(user=rep, follow_up=follow_up)
    assert generate("2026-09-21") == GenerationSummary(d("2026-09-21"), 0, 0, 0, 0)
    assert FollowUp.objects.count() == 4
    assert not FollowUp.objects.filter(status=FollowUp.Status.OPEN).exists()


# --- the task and the command -------------------------------------------------------------


def test_the_celery_task_generates_for_the_given_day(busy_day, clock):
    clock.move_to(moment(d("2026-09-20")))
    result = generate_follow_ups_daily.apply(args=["2026-09-20"]).get()
    assert result == (
        "follow-ups for 2026-09-20: 2 cadence, 1 birthday, 1 holiday; 0 due accounts have no owner"
    )
    assert rows(FollowUp.Kind.HOLIDAY) == [("A01", d("2026-09-25"), "rep", "mid_autumn")]
    assert FollowUp.objects.count() == 4
    again = generate_follow_ups_daily.apply(args=["2026-09-20"]).get()
    assert again.startswith("follow-ups for 2026-09-20: 0 cadence, 0 birthday, 0 holiday")
    assert FollowUp.objects.count() == 4


def test_the_celery_task_defaults_to_today_in_shanghai(busy_day, clock):
    # 20 September 00:30 in Shanghai is still 19 September in UTC.
    clock.move_to(datetime.datetime(2026, 9, 20, 0, 30, tzinfo=SHANGHAI))
    assert generate_follow_ups_daily.apply().get().startswith("follow-ups for 2026-09-20:")
    assert rows(FollowUp.Kind.HOLIDAY) == [("A01", d("2026-09-25"), "rep", "mid_autumn")]


def test_the_management_command_generates_for_the_given_date(busy_day, clock):
    clock.move_to(moment(d("2026-09-20")))
    out = io.StringIO()
    call_command("generate_follow_ups", "--date", "2026-09-20", stdout=out)
    assert out.getvalue().strip() == (
        "follow-ups for 2026-09-20: 2 cadence, 1 birthday, 1 holiday; 0 due accounts have no owner"
    )
    assert sorted(FollowUp.objects.values_list("kind", "customer__code", "due_date")) == [
        (FollowUp.Kind.BIRTHDAY, "A01", d("2026-09-23")),
        (FollowUp.Kind.CADENCE, "A01", d("2026-07-01")),
        (FollowUp.Kind.CADENCE, "B01", d("2026-07-31")),
        (FollowUp.Kind.HOLIDAY, "A01", d("2026-09-25")),
    ]


def test_the_management_command_refuses_a_bad_date(world):
    with pytest.raises(CommandError):
        call_command("generate_follow_ups", "--date", "20.09.2026", stdout=io.StringIO())
    assert FollowUp.objects.count() == 0
