"""Coverage of an account's buying centre (SPEC §4). Pure: no ORM, no settings.

Which buying roles are held by active contacts, and the named gaps. Gaps count for
A-tier and strategic accounts: those are the relationships that must not hang on one
person. Other accounts show their coverage without being listed as gaps.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

NO_CONTACTS = "no_contacts"
SINGLE_THREADED = "single_threaded"
NO_DECISION_MAKER = "no_decision_maker"
NO_SUPPORTER = "no_supporter"
FEW_BUYING_UNITS = "few_buying_units"

GAP_KINDS = (NO_CONTACTS, SINGLE_THREADED, NO_DECISION_MAKER, NO_SUPPORTER, FEW_BUYING_UNITS)

# A strategic account is expected to have contacts in at least this many buying units.
STRATEGIC_MIN_BUYING_UNITS = 3


@dataclass(frozen=True)
class ContactFacts:
    buying_unit_id: int
    role: str
    attitude: str
    is_active: bool = True


@dataclass(frozen=True)
class Coverage:
    active_contacts: int
    decision_makers: int
    supporters: int
    buying_units: int  # buying units with at least one active contact
    roles_held: frozenset[str]
    tracked: bool  # A-tier or strategic: gaps are listed for the manager
    strategic: bool
    gaps: tuple[str, ...]

    def gap_texts(self) -> list[str]:
        return [gap_text(gap, buying_units=self.buying_units) for gap in self.gaps]


def coverage_from_counts(
    *,
    active_contacts: int,
    decision_makers: int,
    supporters: int,
    buying_units: int,
    tier: str | None,
    relationship_level: str,
    roles_held: frozenset[str] = frozenset(),
) -> Coverage:
    strategic = relationship_level == "strategic"
    tracked = strategic or tier == "A"
    gaps: list[str] = []
    if tracked:
        if active_contacts == 0:
            gaps.append(NO_CONTACTS)
        elif active_contacts == 1:
            gaps.append(SINGLE_THREADED)
        if decision_makers == 0:
            gaps.append(NO_DECISION_MAKER)
        if supporters == 0:
            gaps.append(NO_SUPPORTER)
        if strategic and buying_units < STRATEGIC_MIN_BUYING_UNITS:
            gaps.append(FEW_BUYING_UNITS)
    return Coverage(
        active_contacts=active_contacts,
        decision_makers=decision_makers,
        supporters=supporters,
        buying_units=buying_units,
        roles_held=roles_held,
        tracked=tracked,
        strategic=strategic,
        gaps=tuple(gaps),
    )


def coverage_assess(
    contacts: Iterable[ContactFacts], *, tier: str | None, relationship_level: str
) -> Coverage:
    active = [c for c in contacts if c.is_active]
    return coverage_from_counts(
        active_contacts=len(active),
        decision_makers=sum(1 for c in active if c.role == "decision_maker"),
        supporters=sum(1 for c in active if c.attitude == "supporter"),
        buying_units=len({c.buying_unit_id for c in active}),
        roles_held=frozenset(c.role for c in active),
        tier=tier,
        relationship_level=relationship_level,
    )


_GAP_TEXT = {
    NO_CONTACTS: _("no contacts at all"),
    SINGLE_THREADED: _("single-threaded: only one contact"),
    NO_DECISION_MAKER: _("no decision maker"),
    NO_SUPPORTER: _("no supporter"),
}


def gap_text(gap: str, *, buying_units: int = 0) -> str:
    if gap == FEW_BUYING_UNITS:
        return ngettext(
            "strategic account with contacts in fewer than 3 buying units (%(count)d unit)",
            "strategic account with contacts in fewer than 3 buying units (%(count)d units)",
            buying_units,
        ) % {"count": buying_units}
    return str(_GAP_TEXT[gap])
