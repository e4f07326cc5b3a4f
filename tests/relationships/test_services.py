"""The writes of the relationship work: visits, follow-ups, plans, a departing rep's hand-over,
and the referral summary. Outcomes are asserted on database rows."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Customer
from kam.roles import mark_seen_by
from relationships.models import AccountPlan, FollowUp, PlanAction, Reassignment, Visit
from relationships.selectors import referral_summary_visible_to
from relationships.services import (
    follow_up_complete,
    follow_up_reassign,
    follow_up_snooze,
    follow_ups_generate,
    plan_action_save,
    plan_create,
    rep_reassign,
    visit_log,
    visit_update,
)
from tests.factories import (
    BuyingUnitFactory,
    ContactFactory,
    CustomerFactory,
    SalesLineFactory,
)
from tests.relationships.factories import (
    AccountPlanFactory,
    FollowUpFactory,
    PlanActionFactory,
    PlanObjectiveFactory,
    VisitFactory,
)
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 10)


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture(autouse=True)
def frozen():
    """09:00 in Shanghai on TODAY: `timezone.localdate()` is TODAY in every service."""
    with time_machine.travel(
        datetime.datetime(2026, 6, 10, 9, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False
    ):
        yield


def counts() -> tuple[int, int]:
    return Visit.objects.count(), FollowUp.objects.count()


# --- visits -------------------------------------------------------------------------------


@pytest.fixture
def second_contact(rep_contact):
    unit = BuyingUnitFactory(customer=rep_contact.buying_unit.customer, name="技术部")
    return ContactFactory(buying_unit=unit, name="李工")


def log(user, customer, **fields):
    fields.setdefault("visit_date", TODAY)
    fields.setdefault("channel", Visit.Channel.ONSITE)
    fields.setdefault("purpose", "季度回顾")
    return visit_log(user=user, customer=customer, **fields)


def test_a_visit_with_two_contacts_and_a_next_date_makes_one_next_step(
    rep, rep_customer, rep_contact, second_contact
):
    visit = log(
        rep,
        rep_customer,
        visit_date=days(-1),
        contacts=[rep_contact, second_contact],
        summary="谈了明年的框架协议",
        outcome=Visit.Outcome.POSITIVE,
        next_step="寄送报价",
        next_follow_up=days(7),
    )
    visit.refresh_from_db()
    assert (visit.customer, visit.author, visit.visit_date, visit.outcome) == (
        rep_customer,
        rep,
        days(-1),
        Visit.Outcome.POSITIVE,
    )
    assert set(visit.contacts.all()) == {rep_contact, second_contact}
    follow_up = FollowUp.objects.get()
    assert (
        follow_up.kind,
        follow_up.owner,
        follow_up.customer,
        follow_up.due_date,
        follow_up.note,
        follow_up.source_visit,
        follow_up.status,
    ) == (
        FollowUp.Kind.NEXT_STEP,
        rep,
        rep_customer,
        days(7),
        "寄送报价",
        visit,
        FollowUp.Status.OPEN,
    )


def test_a_visit_without_next_date_makes_no_follow_up(rep, rep_customer):
    log(rep, rep_customer)
    assert counts() == (1, 0)


def test_a_next_follow_up_due_today_is_accepted(rep, rep_customer):
    log(rep, rep_customer, next_follow_up=TODAY)
    assert FollowUp.objects.get().due_date == TODAY


def test_another_customer_s_contact_is_refused_and_nothing_changes(
    rep, rep_customer, rep_contact, outsider_contact
):
    with pytest.raises(ValidationError) as error:
        log(rep, rep_customer, contacts=[rep_contact, outsider_contact], next_follow_up=days(3))
    assert "contacts" in error.value.message_dict
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"visit_date": days(1)}, "visit_date"),
        ({"next_follow_up": days(-1)}, "next_follow_up"),
    ],
    ids=["visit-tomorrow", "next-follow-up-yesterday"],
)
def test_dates_that_make_no_sense_are_refused(rep, rep_customer, fields, field):
    with pytest.raises(ValidationError) as error:
        log(rep, rep_customer, **fields)
    assert field in error.value.message_dict
    assert counts() == (0, 0)


def test_finance_may_not_log_a_visit(finance, rep_customer):
    with pytest.raises(PermissionDenied):
        log(finance, rep_customer)
    assert counts() == (0, 0)


def test_a_rep_may_not_log_on_an_account_outside_their_scope(rep, outsider_customer):
    with pytest.raises(PermissionDenied):
        log(rep, outsider_customer, next_follow_up=days(1))
    assert counts() == (0, 0)


def test_naming_the_accounts_own_contacts_does_not_open_an_account_outside_the_scope(
    rep, outsider_customer, outsider_contact
):
    """The scope and the contacts are checked in one query: contacts that do belong to the
    account do not stand in for the scope."""
    with pytest.raises(PermissionDenied):
        log(rep, outsider_customer, contacts=[outsider_contact])
    assert counts() == (0, 0)


def test_a_customer_marked_as_seen_by_someone_else_is_checked_again(
    rep, outsider, outsider_customer, outsider_contact
):
    """An API field marks the customer it fetched through the caller's scope; a mark for
    another user (the outsider, who does see it) counts for nothing."""
    mark_seen_by(outsider_customer, outsider)
    with pytest.raises(PermissionDenied):
        log(rep, outsider_customer, contacts=[outsider_contact])
    assert counts() == (0, 0)
    assert (
        log(outsider, outsider_customer, contacts=[outsider_contact]).customer == outsider_customer
    )


def test_an_account_team_member_may_log_and_owns_the_next_step(teammate, rep_customer):
    rep_customer.account_team.add(teammate)
    visit = log(teammate, rep_customer, next_follow_up=days(2))
    assert visit.author == teammate
    assert FollowUp.objects.get().owner == teammate


def test_a_visit_that_completes_a_follow_up_closes_it_and_the_open_cadence(rep, rep_customer):
    manual = FollowUpFactory(customer=rep_customer, owner=rep, due_date=days(-2))
    cadence = FollowUpFactory(customer=rep_customer, owner=rep, kind=FollowUp.Kind.CADENCE)
    other = FollowUpFactory(customer=rep_customer, owner=rep, kind=FollowUp.Kind.BIRTHDAY)
    visit = log(rep, rep_customer, completes=manual)
    closed = dict(FollowUp.objects.values_list("pk", "status"))
    assert closed == {
        manual.pk: FollowUp.Status.DONE,
        cadence.pk: FollowUp.Status.DONE,
        other.pk: FollowUp.Status.OPEN,
    }
    assert set(FollowUp.objects.filter(completed_visit=visit).values_list("pk", flat=True)) == {
        manual.pk,
        cadence.pk,
    }


def test_a_follow_up_of_another_account_cannot_be_completed_by_a_visit(
    rep, rep_customer, teammate_customer
):
    teammate_customer.account_team.add(rep)
    elsewhere = FollowUpFactory(customer=teammate_customer, owner=rep)
    with pytest.raises(ValidationError):
        log(rep, rep_customer, completes=elsewhere)
    assert counts() == (0, 1)
    elsewhere.refresh_from_db()
    assert elsewhere.status == FollowUp.Status.OPEN


@pytest.fixture
def reps_visit(rep, rep_customer, rep_contact):
    return VisitFactory(
        customer=rep_customer, author=rep, visit_date=days(-3), contacts=[rep_contact]
    )


@pytest.mark.parametrize("who", ["teammate", "manager", "finance"])
def test_only_the_author_may_edit_a_visit(request, reps_visit, rep_customer, who):
    user = request.getfixturevalue(who)
    rep_customer.account_team.add(request.getfixturevalue("teammate"))
    with pytest.raises(PermissionDenied):
        visit_update(user=user, visit=reps_visit, purpose="改了")
    reps_visit.refresh_from_db()
    assert reps_visit.purpose != "改了"


def test_the_author_edits_the_visit_and_its_contacts(rep, reps_visit, second_contact):
    visit_update(
        user=rep,
        visit=reps_visit,
        contacts=[second_contact],
        purpose="技术交流",
        visit_date=days(-2),
        outcome=Visit.Outcome.NEGATIVE,
    )
    reps_visit.refresh_from_db()
    assert (reps_visit.purpose, reps_visit.visit_date, reps_visit.outcome) == (
        "技术交流",
        days(-2),
        Visit.Outcome.NEGATIVE,
    )
    assert list(reps_visit.contacts.all()) == [second_contact]


def test_an_admin_may_edit_a_visit(admin_user, reps_visit):
    visit_update(user=admin_user, visit=reps_visit, summary="补充记录")
    reps_visit.refresh_from_db()
    assert reps_visit.summary == "补充记录"


def test_the_author_cannot_move_a_visit_into_the_future_or_name_foreign_contacts(
    rep, reps_visit, rep_contact, outsider_contact
):
    with pytest.raises(ValidationError):
        visit_update(user=rep, visit=reps_visit, visit_date=days(1))
    with pytest.raises(ValidationError):
        visit_update(user=rep, visit=reps_visit, contacts=[outsider_contact], purpose="换人")
    with pytest.raises(TypeError):
        visit_update(user=rep, visit=reps_visit, customer_id=1)
    reps_visit.refresh_from_db()
    assert reps_visit.visit_date == days(-3)
    assert reps_visit.purpose != "换人"
    assert list(reps_visit.contacts.all()) == [rep_contact]


# --- follow-ups ---------------------------------------------------------------------------


@pytest.fixture
def reps_follow_up(rep, teammate, rep_customer):
    """rep's open follow-up on their own account, on which teammate is on the account team."""
    rep_customer.account_team.add(teammate)
    return FollowUpFactory(customer=rep_customer, owner=rep, due_date=days(2))


def reloaded(follow_up) -> FollowUp:
    return FollowUp.objects.get(pk=follow_up.pk)


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
def test_the_owner_or_a_manager_completes_a_follow_up(request, reps_follow_up, who):
    user = request.getfixturevalue(who)
    follow_up_complete(user=user, follow_up=reps_follow_up)
    follow_up = reloaded(reps_follow_up)
    assert follow_up.status == FollowUp.Status.DONE
    assert follow_up.completed_at == datetime.datetime(
        2026, 6, 10, 9, tzinfo=ZoneInfo("Asia/Shanghai")
    )


@pytest.mark.parametrize(
    ("who", "error"),
    [("teammate", PermissionDenied), ("finance", PermissionDenied)],
    ids=["non-owner-rep", "finance"],
)
def test_others_may_not_complete_a_follow_up(request, reps_follow_up, who, error):
    with pytest.raises(error):
        follow_up_complete(user=request.getfixturevalue(who), follow_up=reps_follow_up)
    assert reloaded(reps_follow_up).status == FollowUp.Status.OPEN


def test_a_closed_follow_up_cannot_be_completed_again(rep, reps_follow_up):
    follow_up_complete(user=rep, follow_up=reps_follow_up)
    with pytest.raises(ValidationError):
        follow_up_complete(user=rep, follow_up=reloaded(reps_follow_up))


def test_completing_with_a_visit_of_another_account_is_refused(
    rep, reps_follow_up, teammate, teammate_customer
):
    visit = VisitFactory(customer=teammate_customer, author=teammate)
    with pytest.raises(ValidationError):
        follow_up_complete(user=rep, follow_up=reps_follow_up, visit=visit)
    assert reloaded(reps_follow_up).status == FollowUp.Status.OPEN


@pytest.mark.parametrize(
    ("until", "reason", "field"),
    [
        (days(5), "", "reason"),
        (days(5), "   ", "reason"),
        (days(2), "客户出差", "until"),  # the day it is due already
        (days(1), "客户出差", "until"),  # earlier than due
    ],
    ids=["no-reason", "blank-reason", "same-day", "earlier-day"],
)
def test_a_snooze_needs_a_reason_and_a_later_day(rep, reps_follow_up, until, reason, field):
    with pytest.raises(ValidationError) as error:
        follow_up_snooze(user=rep, follow_up=reps_follow_up, until=until, reason=reason)
    assert field in error.value.message_dict
    follow_up = reloaded(reps_follow_up)
    assert (follow_up.due_date, follow_up.snooze_count, follow_up.snooze_reason) == (days(2), 0, "")


def test_a_snooze_moves_the_due_date_and_counts(rep, manager, reps_follow_up):
    follow_up_snooze(user=rep, follow_up=reps_follow_up, until=days(9), reason="  客户出差  ")
    follow_up_snooze(
        user=manager, follow_up=reloaded(reps_follow_up), until=days(20), reason="展会"
    )
    follow_up = reloaded(reps_follow_up)
    assert (follow_up.due_date, follow_up.snooze_count, follow_up.snooze_reason) == (
        days(20),
        2,
        "展会",
    )


def test_an_overdue_follow_up_snoozes_to_today_at_the_earliest(rep, rep_customer):
    overdue = FollowUpFactory(customer=rep_customer, owner=rep, due_date=days(-5))
    with pytest.raises(ValidationError):
        follow_up_snooze(user=rep, follow_up=overdue, until=days(-1), reason="忙")
    follow_up_snooze(user=rep, follow_up=overdue, until=TODAY, reason="忙")
    assert reloaded(overdue).due_date == TODAY


def test_a_non_owner_rep_may_not_snooze(teammate, reps_follow_up):
    with pytest.raises(PermissionDenied):
        follow_up_snooze(user=teammate, follow_up=reps_follow_up, until=days(9), reason="忙")


def test_reassign_to_a_teammate_on_the_account_team(rep, teammate, reps_follow_up):
    follow_up_reassign(user=rep, follow_up=reps_follow_up, to_user=teammate)
    assert reloaded(reps_follow_up).owner == teammate


def test_a_manager_may_reassign_a_reps_follow_up(manager, teammate, reps_follow_up):
    follow_up_reassign(user=manager, follow_up=reps_follow_up, to_user=teammate)
    assert reloaded(reps_follow_up).owner == teammate


def test_reassign_to_someone_outside_the_account_is_refused(
    rep, teammate, outsider, rep_customer, reps_follow_up
):
    with pytest.raises(ValidationError) as error:
        follow_up_reassign(user=rep, follow_up=reps_follow_up, to_user=outsider)
    assert "to_user" in error.value.message_dict
    rep_customer.account_team.remove(teammate)
    with pytest.raises(ValidationError):
        follow_up_reassign(user=rep, follow_up=reps_follow_up, to_user=teammate)
    assert reloaded(reps_follow_up).owner == rep


def test_reassign_to_someone_who_left_is_refused(rep, teammate, reps_follow_up):
    teammate.is_active = False
    teammate.save()
    with pytest.raises(ValidationError):
        follow_up_reassign(user=rep, follow_up=reps_follow_up, to_user=teammate)
    assert reloaded(reps_follow_up).owner == rep


def test_a_non_owner_rep_may_not_reassign(teammate, reps_follow_up):
    with pytest.raises(PermissionDenied):
        follow_up_reassign(user=teammate, follow_up=reps_follow_up, to_user=teammate)
    assert reloaded(reps_follow_up).owner.username == "rep"


def test_a_follow_up_cannot_be_handed_to_finance(rep, finance, reps_follow_up):
    with pytest.raises(ValidationError):
        follow_up_reassign(user=rep, follow_up=reps_follow_up, to_user=finance)


# --- a departing rep ----------------------------------------------------------------------


@pytest.fixture
def departing(rep, teammate, manager, outsider, rep_customer, teammate_customer, outsider_customer):
    """Everything rep holds, inside and outside the East manager's scope."""
    r002 = CustomerFactory(code="R002", owner=rep)
    teammate_customer.account_team.add(rep)  # M001: rep on teammate's account team
    shared = CustomerFactory(code="S001", owner=manager, account_team=[rep, teammate])
    follow_ups = {
        "rep-open-R001": FollowUpFactory(customer=rep_customer, owner=rep),
        "rep-open-M001": FollowUpFactory(customer=teammate_customer, owner=rep),
        "rep-done-R001": FollowUpFactory(
            customer=rep_customer, owner=rep, status=FollowUp.Status.DONE
        ),
        "rep-cancelled-R002": FollowUpFactory(
            customer=r002, owner=rep, status=FollowUp.Status.CANCELLED
        ),
        "teammate-open-R001": FollowUpFactory(customer=rep_customer, owner=teammate),
        "manager-open-R002": FollowUpFactory(customer=r002, owner=manager),
        "rep-open-X001-outside": FollowUpFactory(customer=outsider_customer, owner=rep),
    }
    plan = AccountPlanFactory(customer=rep_customer)
    outside_plan = AccountPlanFactory(customer=outsider_customer)
    status = PlanAction.Status
    actions = {
        "rep-open": PlanActionFactory(plan=plan, owner=rep),
        "rep-in-progress": PlanActionFactory(plan=plan, owner=rep, status=status.IN_PROGRESS),
        "rep-done": PlanActionFactory(plan=plan, owner=rep, status=status.DONE),
        "rep-cancelled": PlanActionFactory(plan=plan, owner=rep, status=status.CANCELLED),
        "teammate-open": PlanActionFactory(plan=plan, owner=teammate),
        "rep-open-X001-outside": PlanActionFactory(plan=outside_plan, owner=rep),
    }
    return shared, follow_ups, actions


def state(follow_ups, actions):
    customers = dict(Customer.objects.values_list("code", "owner__username"))
    teams = {
        customer.code: sorted(customer.account_team.values_list("username", flat=True))
        for customer in Customer.objects.order_by("code")
    }
    follow_up_owners = {
        name: FollowUp.objects.get(pk=f.pk).owner.username for name, f in follow_ups.items()
    }
    action_owners = {
        name: PlanAction.objects.get(pk=a.pk).owner.username for name, a in actions.items()
    }
    return customers, teams, follow_up_owners, action_owners


def test_a_manager_hands_a_departing_rep_s_work_to_a_teammate(departing, rep, teammate, manager):
    _shared, follow_ups, actions = departing
    before = state(follow_ups, actions)
    assert before == (
        {"R001": "rep", "R002": "rep", "M001": "teammate", "S001": "manager", "X001": "outsider"},
        {"M001": ["rep"], "R001": [], "R002": [], "S001": ["rep", "teammate"], "X001": []},
        {
            "rep-open-R001": "rep",
            "rep-open-M001": "rep",
            "rep-done-R001": "rep",
            "rep-cancelled-R002": "rep",
            "teammate-open-R001": "teammate",
            "manager-open-R002": "manager",
            "rep-open-X001-outside": "rep",
        },
        {
            "rep-open": "rep",
            "rep-in-progress": "rep",
            "rep-done": "rep",
            "rep-cancelled": "rep",
            "teammate-open": "teammate",
            "rep-open-X001-outside": "rep",
        },
    )
    rep.is_active = False  # the rep has left; the hand-over still works
    rep.save()

    record = rep_reassign(by=manager, from_user=rep, to_user=teammate)

    assert state(follow_ups, actions) == (
        {
            "R001": "teammate",
            "R002": "teammate",
            "M001": "teammate",
            "S001": "manager",
            "X001": "outsider",
        },
        {"M001": ["teammate"], "R001": [], "R002": [], "S001": ["teammate"], "X001": []},
        {
            "rep-open-R001": "teammate",
            "rep-open-M001": "teammate",
            "rep-done-R001": "rep",
            "rep-cancelled-R002": "rep",
            "teammate-open-R001": "teammate",
            "manager-open-R002": "manager",
            "rep-open-X001-outside": "rep",
        },
        {
            "rep-open": "teammate",
            "rep-in-progress": "teammate",
            "rep-done": "rep",
            "rep-cancelled": "rep",
            "teammate-open": "teammate",
            "rep-open-X001-outside": "rep",
        },
    )
    assert Reassignment.objects.get() == record
    assert (
        record.from_user,
        record.to_user,
        record.by_user,
        record.customer_count,
        record.account_team_count,
        record.follow_up_count,
        record.action_count,
        record.customer_codes,
    ) == (rep, teammate, manager, 2, 2, 2, 2, ["R001", "R002"])


def test_another_team_s_manager_cannot_reassign_the_rep(
    departing, rep, teammate, outsider, other_manager
):
    _shared, follow_ups, actions = departing
    before = state(follow_ups, actions)
    with pytest.raises(ValidationError) as error:
        rep_reassign(by=other_manager, from_user=rep, to_user=outsider)
    assert "from_user" in error.value.message_dict
    assert state(follow_ups, actions) == before
    assert not Reassignment.objects.exists()


@pytest.mark.parametrize(
    ("to", "field"),
    [("outsider", "to_user"), ("rep", "to_user")],
    ids=["to-another-team", "to-themselves"],
)
def test_the_hand_over_goes_to_an_active_member_of_the_manager_s_team(
    request, departing, rep, manager, to, field
):
    _shared, follow_ups, actions = departing
    before = state(follow_ups, actions)
    with pytest.raises(ValidationError) as error:
        rep_reassign(by=manager, from_user=rep, to_user=request.getfixturevalue(to))
    assert field in error.value.message_dict
    assert state(follow_ups, actions) == before


@pytest.mark.parametrize("who", ["rep", "teammate", "finance"])
def test_only_managers_reassign(request, departing, rep, teammate, who):
    _shared, follow_ups, actions = departing
    before = state(follow_ups, actions)
    with pytest.raises(PermissionDenied):
        rep_reassign(by=request.getfixturevalue(who), from_user=rep, to_user=teammate)
    assert state(follow_ups, actions) == before
    assert not Reassignment.objects.exists()


def test_an_admin_moves_everything_including_other_teams_accounts(
    departing, rep, teammate, admin_user
):
    _shared, follow_ups, _actions = departing
    record = rep_reassign(by=admin_user, from_user=rep, to_user=teammate)
    assert (record.follow_up_count, record.action_count) == (3, 3)
    assert FollowUp.objects.get(pk=follow_ups["rep-open-X001-outside"].pk).owner == teammate


# --- plans --------------------------------------------------------------------------------


def test_one_plan_per_account_and_year(rep, rep_customer):
    plan = plan_create(user=rep, customer=rep_customer, year=2026, strategy="提高份额")
    assert (plan.customer, plan.year, plan.created_by) == (rep_customer, 2026, rep)
    with pytest.raises(ValidationError) as error:
        plan_create(user=rep, customer=rep_customer, year=2026)
    assert "year" in error.value.message_dict
    plan_create(user=rep, customer=rep_customer, year=2027)
    assert sorted(AccountPlan.objects.values_list("year", flat=True)) == [2026, 2027]


@pytest.mark.parametrize("who", ["outsider", "finance"])
def test_a_plan_is_created_by_someone_who_works_the_account(request, rep_customer, who):
    with pytest.raises(PermissionDenied):
        plan_create(user=request.getfixturevalue(who), customer=rep_customer, year=2026)
    assert not AccountPlan.objects.exists()


@pytest.fixture
def plan(rep_customer):
    return AccountPlanFactory(customer=rep_customer)


def test_an_action_owner_outside_the_account_is_refused(rep, outsider, teammate, plan):
    with pytest.raises(ValidationError) as error:
        plan_action_save(
            user=rep, action=PlanAction(plan=plan, title="拜访", owner=outsider, due_date=days(5))
        )
    assert "owner" in error.value.message_dict
    with pytest.raises(ValidationError):  # teammate is not on this account's team
        plan_action_save(
            user=rep, action=PlanAction(plan=plan, title="拜访", owner=teammate, due_date=days(5))
        )
    assert not PlanAction.objects.exists()


def test_an_action_owned_by_someone_on_the_account_team_is_saved(rep, teammate, plan):
    plan.customer.account_team.add(teammate)
    action = plan_action_save(
        user=rep, action=PlanAction(plan=plan, title="技术交流", owner=teammate, due_date=days(5))
    )
    assert PlanAction.objects.get() == action
    assert (action.owner, action.status, action.completed_at) == (teammate, "open", None)


def test_an_objective_of_another_plan_is_refused(rep, rep_customer, plan):
    other = PlanObjectiveFactory(plan=AccountPlanFactory(customer=rep_customer, year=2025))
    with pytest.raises(ValidationError) as error:
        plan_action_save(
            user=rep,
            action=PlanAction(plan=plan, objective=other, title="x", owner=rep, due_date=days(5)),
        )
    assert "objective" in error.value.message_dict
    assert not PlanAction.objects.exists()


def test_done_stamps_the_completion_and_reopening_clears_it(rep, plan):
    action = plan_action_save(
        user=rep,
        action=PlanAction(
            plan=plan, title="签约", owner=rep, due_date=days(5), status=PlanAction.Status.DONE
        ),
    )
    stamped = PlanAction.objects.get(pk=action.pk).completed_at
    assert stamped == datetime.datetime(2026, 6, 10, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    action.status = PlanAction.Status.IN_PROGRESS
    plan_action_save(user=rep, action=action)
    assert PlanAction.objects.get(pk=action.pk).completed_at is None


def test_finance_may_not_save_actions(finance, rep, plan):
    with pytest.raises(PermissionDenied):
        plan_action_save(
            user=finance, action=PlanAction(plan=plan, title="x", owner=rep, due_date=days(5))
        )
    assert not PlanAction.objects.exists()


# --- referrals ----------------------------------------------------------------------------


@pytest.fixture
def referrals(rep, rep_customer, outsider_customer):
    """rep: R001 referred R002; X001 (the outsider's) referred R003; R004 came by itself.
    Gross profit in the run: R001 400, R002 300, R003 200, R004 100, X001 5000."""
    r002 = CustomerFactory(code="R002", owner=rep, referred_by=rep_customer)
    r003 = CustomerFactory(code="R003", owner=rep, referred_by=outsider_customer)
    r004 = CustomerFactory(code="R004", owner=rep)
    for customer, revenue, cost in (
        (rep_customer, "1000.00", "600.00"),
        (r002, "500.00", "200.00"),
        (r003, "800.00", "600.00"),
        (r004, "300.00", "200.00"),
        (outsider_customer, "10000.00", "5000.00"),
    ):
        SalesLineFactory(
            customer=customer,
            order_date=datetime.date(2026, 6, 1),
            revenue=Decimal(revenue),
            cost=Decimal(cost),
        )
    contribution_recompute(as_of=datetime.date(2026, 6, 9))
    return r002, r003, r004


def named(summary):
    return [
        (referrer.code if referrer else None, [c.code for c in children], profit)
        for referrer, children, profit in summary.referrers
    ]


def test_referral_shares_for_a_rep(referrals, rep):
    summary = referral_summary_visible_to(rep)
    assert (summary.customers, summary.referred) == (4, 2)
    assert (summary.profit_total, summary.profit_referred) == (
        Decimal("1000.00"),
        Decimal("500.00"),
    )
    assert (summary.customer_share, summary.profit_share) == (Decimal("0.5"), Decimal("0.5"))
    assert summary.as_of == datetime.date(2026, 6, 9)
    # X001 is outside rep's scope: R003's referrer is not named.
    assert named(summary) == [
        ("R001", ["R002"], Decimal("300.00")),
        (None, ["R003"], Decimal("200.00")),
    ]


def test_referral_summary_for_the_outsider_and_finance(referrals, rep, outsider, finance, manager):
    outside = referral_summary_visible_to(outsider)
    assert (outside.customers, outside.referred, outside.profit_total) == (
        1,
        0,
        Decimal("5000.00"),
    )
    assert (outside.profit_referred, outside.profit_share, named(outside)) == (0, 0, [])
    everything = referral_summary_visible_to(finance)
    assert (everything.customers, everything.referred, everything.profit_total) == (
        5,
        2,
        Decimal("6000.00"),
    )
    assert named(everything) == [
        ("R001", ["R002"], Decimal("300.00")),
        ("X001", ["R003"], Decimal("200.00")),
    ]
    assert named(referral_summary_visible_to(manager)) == named(referral_summary_visible_to(rep))


def test_referral_summary_without_a_run(rep, rep_customer):
    CustomerFactory(code="R002", owner=rep, referred_by=rep_customer)
    summary = referral_summary_visible_to(rep)
    assert (summary.customers, summary.referred, summary.customer_share) == (2, 1, Decimal("0.5"))
    assert summary.profit_total is None
    assert (summary.profit_referred, summary.profit_share) == (None, None)
    assert summary.as_of is None
    assert named(summary) == [("R001", ["R002"], Decimal(0))]


# --- the cadence and a back-dated visit ---------------------------------------------------


def test_a_back_dated_visit_older_than_the_last_touch_leaves_the_cadence_open(rep, rep_customer):
    VisitFactory(customer=rep_customer, author=rep, visit_date=datetime.date(2026, 2, 1))
    # Not in any run: C, every 120 days: due 1 June, generated long ago, still open.
    follow_ups_generate(today=TODAY)
    assert FollowUp.objects.get(kind=FollowUp.Kind.CADENCE).due_date == datetime.date(2026, 6, 1)
    log(rep, rep_customer, visit_date=datetime.date(2026, 1, 10), purpose="补录一月的电话")
    follow_ups_generate(today=TODAY)
    assert FollowUp.objects.filter(kind=FollowUp.Kind.CADENCE, status=FollowUp.Status.OPEN).exists()
