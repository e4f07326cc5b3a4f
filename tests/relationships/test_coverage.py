"""Coverage of the buying centre (SPEC §4): the pure assessment, table-driven, and the
manager's gap list against the database, scoped to the reader."""

import datetime

import pytest
from django.db.models import Q
from django.utils import translation

from accounts.models import Contact, Customer
from relationships.coverage import (
    FEW_BUYING_UNITS,
    NO_CONTACTS,
    NO_DECISION_MAKER,
    NO_SUPPORTER,
    SINGLE_THREADED,
    ContactFacts,
    coverage_assess,
    gap_text,
)
from relationships.selectors import coverage_gaps_visible_to
from tests.factories import BuyingUnitFactory, ContactFactory, CustomerFactory
from tests.relationships.factories import publish_tiers

DM = "decision_maker"
BUYER = "buyer"
USER = "user"
SUPPORTER = "supporter"
NEUTRAL = "neutral"


def facts(unit: int, role: str = BUYER, attitude: str = NEUTRAL, active: bool = True):
    return ContactFacts(buying_unit_id=unit, role=role, attitude=attitude, is_active=active)


# (tier, relationship level, contacts, expected gaps)
CASES = {
    "A-no-contacts": ("A", "ordinary", [], (NO_CONTACTS, NO_DECISION_MAKER, NO_SUPPORTER)),
    "A-single-threaded": ("A", "ordinary", [facts(1, DM, SUPPORTER)], (SINGLE_THREADED,)),
    "A-no-decision-maker": (
        "A",
        "ordinary",
        [facts(1, BUYER, SUPPORTER), facts(2, USER, NEUTRAL)],
        (NO_DECISION_MAKER,),
    ),
    "A-no-supporter": (
        "A",
        "ordinary",
        [facts(1, DM, NEUTRAL), facts(1, BUYER, NEUTRAL)],
        (NO_SUPPORTER,),
    ),
    "A-covered": ("A", "ordinary", [facts(1, DM, NEUTRAL), facts(2, BUYER, SUPPORTER)], ()),
    "A-partner-covered": ("A", "partner", [facts(1, DM, SUPPORTER), facts(1, BUYER)], ()),
    "strategic-two-units": (
        "B",
        "strategic",
        [facts(1, DM, SUPPORTER), facts(2, BUYER)],
        (FEW_BUYING_UNITS,),
    ),
    "strategic-no-tier-no-contacts": (
        None,
        "strategic",
        [],
        (NO_CONTACTS, NO_DECISION_MAKER, NO_SUPPORTER, FEW_BUYING_UNITS),
    ),
    "strategic-three-units": (
        "C",
        "strategic",
        [facts(1, DM, SUPPORTER), facts(2, BUYER), facts(3, USER)],
        (),
    ),
    "inactive-not-counted-single-threaded": (
        "A",
        "ordinary",
        [facts(1, DM, SUPPORTER), facts(2, DM, SUPPORTER, active=False)],
        (SINGLE_THREADED,),
    ),
    "inactive-only-is-no-contacts": (
        "A",
        "ordinary",
        [facts(1, DM, SUPPORTER, active=False), facts(1, BUYER, SUPPORTER, active=False)],
        (NO_CONTACTS, NO_DECISION_MAKER, NO_SUPPORTER),
    ),
    "inactive-decision-maker-not-counted": (
        "A",
        "ordinary",
        [facts(1, BUYER, SUPPORTER), facts(1, USER), facts(2, DM, SUPPORTER, active=False)],
        (NO_DECISION_MAKER,),
    ),
    "strategic-unit-with-only-inactive-contacts-not-counted": (
        "A",
        "strategic",
        [facts(1, DM, SUPPORTER), facts(2, BUYER), facts(3, USER, active=False)],
        (FEW_BUYING_UNITS,),
    ),
    "B-ordinary-not-tracked": ("B", "ordinary", [], ()),
    "C-partner-not-tracked": ("C", "partner", [facts(1)], ()),
    "no-tier-ordinary-not-tracked": (None, "ordinary", [], ()),
}


@pytest.mark.parametrize(
    ("tier", "level", "contacts", "gaps"), list(CASES.values()), ids=list(CASES)
)
def test_coverage_gaps(tier, level, contacts, gaps):
    coverage = coverage_assess(contacts, tier=tier, relationship_level=level)
    assert coverage.gaps == gaps


# (tier, relationship level, tracked, strategic)
TRACKING = {
    "A-ordinary": ("A", "ordinary", True, False),
    "A-partner": ("A", "partner", True, False),
    "B-ordinary": ("B", "ordinary", False, False),
    "C-partner": ("C", "partner", False, False),
    "untiered-ordinary": (None, "ordinary", False, False),
    "B-strategic": ("B", "strategic", True, True),
    "untiered-strategic": (None, "strategic", True, True),
}


@pytest.mark.parametrize(
    ("tier", "level", "tracked", "strategic"), list(TRACKING.values()), ids=list(TRACKING)
)
def test_which_accounts_are_tracked(tier, level, tracked, strategic):
    coverage = coverage_assess([], tier=tier, relationship_level=level)
    assert (coverage.tracked, coverage.strategic) == (tracked, strategic)
    assert bool(coverage.gaps) == tracked


def test_counts_are_of_active_contacts_only():
    contacts = [
        facts(1, DM, SUPPORTER),
        facts(1, BUYER, NEUTRAL),
        facts(2, DM, NEUTRAL),
        facts(3, USER, SUPPORTER, active=False),
        facts(4, "finance", SUPPORTER, active=False),
    ]
    coverage = coverage_assess(contacts, tier="A", relationship_level="ordinary")
    assert (
        coverage.active_contacts,
        coverage.decision_makers,
        coverage.supporters,
        coverage.buying_units,
        coverage.roles_held,
    ) == (3, 2, 1, 2, frozenset({DM, BUYER}))
    assert coverage.gaps == ()


def test_gap_texts_name_the_buying_units():
    coverage = coverage_assess([facts(1, DM, SUPPORTER)], tier=None, relationship_level="strategic")
    with translation.override("en"):
        assert coverage.gap_texts() == [
            "single-threaded: only one contact",
            "strategic account with contacts in fewer than 3 buying units (1 unit)",
        ]
        assert gap_text(FEW_BUYING_UNITS, buying_units=2).endswith("(2 units)")


# --- the manager's list, from the database ------------------------------------------------

AS_OF = datetime.date(2026, 6, 30)
ALL_GAPS = (NO_CONTACTS, NO_DECISION_MAKER, NO_SUPPORTER, FEW_BUYING_UNITS)


def contact(customer, unit_name, role=Contact.Role.BUYER, attitude="neutral", active=True):
    unit, _created = customer.buying_units.get_or_create(name=unit_name)
    return ContactFactory(buying_unit=unit, role=role, attitude=attitude, is_active=active)


@pytest.fixture
def book(rep, rep_customer, outsider_customer):
    """rep's accounts: R001 A by the run and single-threaded; R002 strategic with no
    contacts; R003 B and single-threaded (not tracked); R004 strategic and well covered;
    R005 strategic, closed. X001 is the outsider's strategic account with no contacts."""
    strategic = Customer.RelationshipLevel.STRATEGIC
    r002 = CustomerFactory(code="R002", owner=rep, relationship_level=strategic)
    r003 = CustomerFactory(code="R003", owner=rep)
    r004 = CustomerFactory(code="R004", owner=rep, relationship_level=strategic)
    CustomerFactory(
        code="R005", owner=rep, relationship_level=strategic, status=Customer.Status.CLOSED
    )
    outsider_customer.relationship_level = strategic
    outsider_customer.save()
    contact(rep_customer, "采购部", Contact.Role.DECISION_MAKER, "supporter")
    contact(rep_customer, "技术部", Contact.Role.DECISION_MAKER, "supporter", active=False)
    contact(r003, "采购部", Contact.Role.DECISION_MAKER, "supporter")
    contact(r004, "采购部", Contact.Role.DECISION_MAKER, "supporter")
    contact(r004, "技术部", Contact.Role.TECHNICAL)
    contact(r004, "生产部", Contact.Role.USER)
    BuyingUnitFactory(customer=r002, name="空部门")  # a unit without contacts counts for nothing
    tiers = publish_tiers(as_of=AS_OF, a=[rep_customer], b=[r003])
    assert (tiers[rep_customer.pk], tiers[r003.pk], tiers[r002.pk]) == ("A", "B", "C")


def listed(user):
    gaps, total = coverage_gaps_visible_to(user)
    assert total == len(gaps)
    return [(g.customer.code, g.tier, g.coverage.gaps) for g in gaps]


@pytest.mark.django_db
def test_rep_sees_the_gaps_of_own_tracked_accounts_only(book, rep):
    assert listed(rep) == [("R001", "A", (SINGLE_THREADED,)), ("R002", "C", ALL_GAPS)]


@pytest.mark.django_db
def test_the_outsiders_account_is_listed_for_its_own_team_only(
    book, outsider, manager, other_manager, finance
):
    assert listed(outsider) == [("X001", "C", ALL_GAPS)]
    assert [code for code, _tier, _gaps in listed(manager)] == ["R001", "R002"]
    assert [code for code, _tier, _gaps in listed(other_manager)] == ["X001"]
    assert [code for code, _tier, _gaps in listed(finance)] == ["R001", "R002", "X001"]


@pytest.mark.django_db
def test_coverage_counts_from_the_database(book, rep):
    gaps, _total = coverage_gaps_visible_to(rep)
    by_code = {g.customer.code: g.coverage for g in gaps}
    r001 = by_code["R001"]
    assert (r001.active_contacts, r001.decision_makers, r001.supporters, r001.buying_units) == (
        1,
        1,
        1,
        1,
    )
    r002 = by_code["R002"]
    assert (r002.active_contacts, r002.buying_units) == (0, 0)


@pytest.mark.django_db
def test_an_a_account_leaves_the_list_when_it_gets_a_second_contact(book, rep, rep_customer):
    contact(rep_customer, "财务部", Contact.Role.FINANCE)
    assert listed(rep) == [("R002", "C", ALL_GAPS)]


@pytest.mark.django_db
def test_a_strategic_account_with_an_inactive_third_unit_has_few_buying_units(book, rep):
    r004 = Customer.objects.get(code="R004")
    Contact.objects.filter(buying_unit__customer=r004, role=Contact.Role.USER).update(
        is_active=False
    )
    assert listed(rep)[-1] == ("R004", "C", (FEW_BUYING_UNITS,))


@pytest.mark.django_db
def test_the_list_can_be_narrowed_and_cut(book, manager):
    gaps, total = coverage_gaps_visible_to(manager, limit=1)
    assert ([g.customer.code for g in gaps], total) == (["R001"], 2)
    # X001 is outside the manager's scope: a filter naming it does not bring it in.
    narrowed = Q(code__in=["R002", "X001"])
    gaps, total = coverage_gaps_visible_to(manager, filters=narrowed)
    assert ([g.customer.code for g in gaps], total) == (["R002"], 1)
