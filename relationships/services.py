"""Every write of the relationship work: buying centre, visits, follow-ups, plans, reassignment.

Callers fetch objects through the scoped selectors (404 outside the scope); these services
check what the scope alone does not: the role may write, foreign keys in the input are in
the same account and scope, and dates make sense.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_bulk, audit_record, changes_between, field_values
from accounts.models import AuditEvent, BuyingUnit, Contact, Customer
from accounts.selectors import customer_scope_q, people_managed_by
from kam.roles import manages_people, may_work_accounts, was_seen_by
from kam.versioning import version_claim
from relationships.care import birthdays_between, care_holidays_between
from relationships.models import (
    AccountHealth,
    AccountPlan,
    CadenceRule,
    FollowUp,
    PlanAction,
    PlanObjective,
    Reassignment,
    Visit,
)
from relationships.selectors import health_for_customers, last_touch_by_customer
from tiers.selectors import tiers_current


def _require_worker(user) -> None:
    if not may_work_accounts(user):
        raise PermissionDenied(_("Your role may read these accounts but not change them."))


def _sees_customer(user, customer_id) -> bool:
    return Customer.objects.filter(customer_scope_q(user), pk=customer_id).exists()


def _works_on(user, customer_id) -> bool:
    """May own work on the account: an active rep, manager or admin who sees it (finance
    sees every account but cannot complete, snooze or hand on a follow-up)."""
    return user.is_active and may_work_accounts(user) and _sees_customer(user, customer_id)


# --- buying centre ------------------------------------------------------------------------


def _stored_values(model, pk) -> dict | None:
    row = model.objects.filter(pk=pk).first() if pk else None
    return field_values(row) if row else None


@transaction.atomic
def buying_unit_save(*, user, unit: BuyingUnit) -> BuyingUnit:
    _require_worker(user)
    if not _sees_customer(user, unit.customer_id):
        raise PermissionDenied
    unit.full_clean()
    before = _stored_values(BuyingUnit, unit.pk)
    unit.save()
    audit_record(
        actor=user, entity="buying_unit", entity_id=unit.pk, customer=unit.customer,
        action="update" if before else "create", summary=unit.name,
        changes=changes_between(before, field_values(unit)),
    )  # fmt: skip
    return unit


@transaction.atomic
def contact_save(*, user, contact: Contact, expected_version: int | None = None) -> Contact:
    """Create or update a contact; its buying unit and reports-to must be in the same account.

    An update names the version the editor started from (`expected_version`); a save on top
    of someone else's is refused with kam.versioning.EditConflict."""
    _require_worker(user)
    unit = BuyingUnit.objects.filter(
        customer_scope_q(user, "customer__"), pk=contact.buying_unit_id
    ).first()
    if unit is None:
        raise ValidationError({"buying_unit": _("Choose a buying unit of one of your accounts.")})
    if contact.pk:
        current_customer = (
            Contact.objects.filter(pk=contact.pk).values_list("buying_unit__customer_id", flat=True)
        ).first()
        if current_customer is not None and current_customer != unit.customer_id:
            raise ValidationError(
                {"buying_unit": _("A contact moves only between buying units of one customer.")}
            )
    contact.full_clean()
    before = field_values(version_claim(contact, expected_version)) if contact.pk else None
    contact.save()
    audit_record(
        actor=user, entity="contact", entity_id=contact.pk, customer=unit.customer,
        action="update" if before else "create", summary=contact.name,
        changes=changes_between(before, field_values(contact)),
    )  # fmt: skip
    return contact


# --- visits -------------------------------------------------------------------------------


def _check_contacts(customer: Customer, contacts, *, seen_by=None) -> list:
    """The contacts (given as objects or ids) as loaded objects in the model's order, if all
    belong to `customer`; else a ValidationError.

    With `seen_by`, the account must also be in that user's sight (PermissionDenied): the
    same query checks both, so logging a visit with contacts costs one query for the two
    checks; the scope alone is asked only when no contact is named or a check fails. A
    customer the caller's scoped queryset has just fetched (an API field) is not asked again."""
    if seen_by is not None and was_seen_by(customer, seen_by):
        seen_by = None
    contacts = list(contacts)
    ids = {getattr(c, "pk", c) for c in contacts}
    if not ids:
        if seen_by is not None and not _sees_customer(seen_by, customer.pk):
            raise PermissionDenied
        return contacts
    found = Contact.objects.filter(pk__in=ids, buying_unit__customer_id=customer.pk)
    if seen_by is not None:
        found = found.filter(customer_scope_q(seen_by, "buying_unit__customer__"))
    found = list(found)  # in the model's order, as visit.contacts.all() lists them
    if {c.pk for c in found} != ids:
        if seen_by is not None and not _sees_customer(seen_by, customer.pk):
            raise PermissionDenied
        raise ValidationError(
            {"contacts": _("Choose only contacts of %(customer)s.") % {"customer": customer.name}}
        )
    return found


def _known_contacts(visit: Visit, contacts: list[Contact]) -> None:
    """A visit just logged has exactly these contacts (loaded, in the model's order): its
    `contacts.all()` answers from them, as after prefetch_related("contacts"), unread."""
    known = visit.contacts.all()
    known._result_cache = list(contacts)
    known._prefetch_done = True
    visit._prefetched_objects_cache = {"contacts": known}


def _check_visit_dates(visit_date: date, next_follow_up: date | None) -> None:
    today = timezone.localdate()
    if visit_date > today:
        raise ValidationError(
            {"visit_date": _("A visit is logged on or after the day it happened.")}
        )
    if next_follow_up is not None and next_follow_up < today:
        raise ValidationError({"next_follow_up": _("The next follow-up must be today or later.")})


@transaction.atomic
def visit_log(
    *,
    user,
    customer: Customer,
    visit_date: date,
    channel: str,
    purpose: str,
    contacts=(),
    summary: str = "",
    outcome: str = Visit.Outcome.NEUTRAL,
    next_step: str = "",
    next_follow_up: date | None = None,
    completes: FollowUp | None = None,
) -> Visit:
    """Log a touch. A next follow-up date creates a follow-up for the author; a follow-up being
    completed is closed with this visit; open cadence follow-ups of the account are met by it."""
    _require_worker(user)
    contacts = _check_contacts(customer, contacts, seen_by=user)
    _check_visit_dates(visit_date, next_follow_up)
    if completes is not None:
        if completes.customer_id != customer.pk:
            raise ValidationError({"completes": _("The follow-up belongs to another account.")})
        # Closing a follow-up by a visit is closing it: the same people as the Done button.
        _require_follow_up_actor(user, completes)
    # The touch before this one: an older, back-dated visit does not meet the cadence.
    previous_touch = last_touch_by_customer([customer.pk]).get(customer.pk)
    visit = Visit(
        customer=customer,
        author=user,
        visit_date=visit_date,
        channel=channel,
        purpose=purpose,
        summary=summary,
        outcome=outcome,
        next_step=next_step,
    )
    # customer and author are loaded objects already checked above: no existence queries
    visit.full_clean(exclude=["customer", "author"])
    visit.save()
    visit.contacts.add(*contacts)  # a new visit has none: no read of the current ones
    _known_contacts(visit, contacts)
    if next_follow_up is not None:
        FollowUp.objects.create(
            customer=customer,
            owner=user,
            kind=FollowUp.Kind.NEXT_STEP,
            due_date=next_follow_up,
            note=(next_step or purpose)[:300],
            source_visit=visit,
        )
    now = timezone.now()
    closing = Q(pk=completes.pk) if completes else Q(pk__in=[])
    if previous_touch is None or visit_date > previous_touch:
        closing |= Q(kind=FollowUp.Kind.CADENCE)
    done = FollowUp.objects.filter(closing, customer=customer, status=FollowUp.Status.OPEN)
    done.update(status=FollowUp.Status.DONE, completed_at=now, completed_visit=visit)
    return visit


@transaction.atomic
def visit_update(*, user, visit: Visit, contacts=None, **fields) -> Visit:
    """Only the author (or an admin) edits a visit; a manager reads the team's."""
    if visit.author_id != user.pk and not user.is_superuser:
        raise PermissionDenied(_("Only the person who logged a visit may change it."))
    allowed = {"visit_date", "channel", "purpose", "summary", "outcome", "next_step"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"visit_update cannot change {sorted(unknown)}")
    for name, value in fields.items():
        setattr(visit, name, value)
    _check_visit_dates(visit.visit_date, None)
    visit.full_clean()
    visit.save()
    if contacts is not None:
        visit.contacts.set(_check_contacts(visit.customer, contacts))
    return visit


# --- follow-ups ---------------------------------------------------------------------------


def _require_follow_up_actor(user, follow_up: FollowUp) -> None:
    _require_worker(user)
    if follow_up.owner_id != user.pk and not manages_people(user):
        raise PermissionDenied(_("Only the owner or a manager may change this follow-up."))
    if not follow_up.is_open:
        raise ValidationError(_("This follow-up is already closed."))


def follow_up_create(
    *, user, customer: Customer, due_date: date, note: str, owner=None
) -> FollowUp:
    _require_worker(user)
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": _("A new follow-up is due today or later.")})
    owner = owner or user
    for person in {user, owner}:
        if not _works_on(person, customer.pk):
            raise ValidationError(
                {
                    "owner": _("%(user)s does not work on this account.")
                    % {"user": person.get_username()}
                }
            )
    follow_up = FollowUp(
        customer=customer, owner=owner, kind=FollowUp.Kind.MANUAL, due_date=due_date, note=note
    )
    follow_up.full_clean()
    follow_up.save()
    return follow_up


@transaction.atomic
def follow_up_complete(*, user, follow_up: FollowUp, visit: Visit | None = None) -> FollowUp:
    _require_follow_up_actor(user, follow_up)
    if visit is not None and visit.customer_id != follow_up.customer_id:
        raise ValidationError({"visit": _("The visit belongs to another account.")})
    follow_up.status = FollowUp.Status.DONE
    follow_up.completed_at = timezone.now()
    follow_up.completed_visit = visit
    follow_up.save(update_fields=["status", "completed_at", "completed_visit"])
    return follow_up


@transaction.atomic
def follow_up_snooze(*, user, follow_up: FollowUp, until: date, reason: str) -> FollowUp:
    _require_follow_up_actor(user, follow_up)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the follow-up waits.")})
    if until <= max(follow_up.due_date, timezone.localdate() - timedelta(days=1)):
        raise ValidationError({"until": _("Snooze to a later day than the follow-up is due.")})
    follow_up.due_date = until
    follow_up.snooze_reason = reason[:300]
    follow_up.snooze_count += 1
    follow_up.save(update_fields=["due_date", "snooze_reason", "snooze_count"])
    return follow_up


@transaction.atomic
def follow_up_reassign(*, user, follow_up: FollowUp, to_user) -> FollowUp:
    """Hand a follow-up to someone who works on the account (owner, account team, manager)."""
    _require_follow_up_actor(user, follow_up)
    if not _works_on(to_user, follow_up.customer_id):
        raise ValidationError(
            {
                "to_user": _("%(user)s does not work on this account.")
                % {"user": to_user.get_username()}
            }
        )
    follow_up.owner = to_user
    follow_up.save(update_fields=["owner"])
    return follow_up


# --- the daily job ------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSummary:
    day: date
    cadence: int
    birthday: int
    holiday: int
    without_owner: int

    def __str__(self) -> str:
        return (
            f"follow-ups for {self.day}: {self.cadence} cadence, {self.birthday} birthday, "
            f"{self.holiday} holiday; {self.without_owner} due accounts have no owner"
        )


def _cadence_days() -> dict[str, int]:
    rules = dict(CadenceRule.objects.values_list("tier", "days"))
    return {tier: rules.get(tier, default) for tier, default in (("A", 30), ("B", 60), ("C", 120))}


@transaction.atomic
def follow_ups_generate(*, today: date) -> GenerationSummary:
    """Create the day's follow-ups from cadence, birthdays and holidays (SPEC §4).

    Each generated follow-up has a key naming what it is for (the account and due date, the
    contact and year, the account and holiday), and the key is unique: running twice for
    the same day, or a day later, creates nothing new.
    """
    cadence_lead = settings.KAM_CADENCE_LEAD_DAYS
    tiers = tiers_current()
    days_by_tier = _cadence_days()
    customers = list(
        Customer.objects.exclude(status=Customer.Status.CLOSED).values_list(
            "pk", "owner_id", "created_at"
        )
    )
    last_touch = last_touch_by_customer()
    open_cadence = set(
        FollowUp.objects.filter(
            kind=FollowUp.Kind.CADENCE, status=FollowUp.Status.OPEN
        ).values_list("customer_id", flat=True)
    )
    wanted: list[FollowUp] = []
    without_owner = 0
    for pk, owner_id, created_at in customers:
        tier = tiers.get(pk, "C")
        since = last_touch.get(pk) or timezone.localdate(created_at)
        due = since + timedelta(days=days_by_tier[tier])
        if due > today + timedelta(days=cadence_lead) or pk in open_cadence:
            continue
        if owner_id is None:
            without_owner += 1
            continue
        wanted.append(
            FollowUp(
                customer_id=pk,
                owner_id=owner_id,
                kind=FollowUp.Kind.CADENCE,
                due_date=due,
                dedupe_key=f"cadence:{pk}:{due.isoformat()}",
            )
        )
    cadence = _create_new(wanted)

    owners = {pk: owner_id for pk, owner_id, _created in customers if owner_id}
    end = today + timedelta(days=settings.KAM_BIRTHDAY_LEAD_DAYS)
    wanted = []
    ab_accounts = [pk for pk in owners if tiers.get(pk) in ("A", "B")]
    contacts = Contact.objects.filter(
        is_active=True, birthday__isnull=False, buying_unit__customer_id__in=ab_accounts
    ).values_list("pk", "birthday", "buying_unit__customer_id")
    for contact_id, birthday, customer_id in contacts:
        for day in birthdays_between(birthday, today, end):
            wanted.append(
                FollowUp(
                    customer_id=customer_id,
                    owner_id=owners[customer_id],
                    kind=FollowUp.Kind.BIRTHDAY,
                    due_date=day,
                    contact_id=contact_id,
                    occasion="birthday",
                    occasion_date=day,
                    dedupe_key=f"birthday:{contact_id}:{day.isoformat()}",
                )
            )
    birthdays = _create_new(wanted)

    wanted = []
    coming = care_holidays_between(today, today + timedelta(days=settings.KAM_HOLIDAY_LEAD_DAYS))
    a_accounts = [pk for pk in owners if tiers.get(pk) == "A"]
    for day, occasion in coming:
        for pk in a_accounts:
            wanted.append(
                FollowUp(
                    customer_id=pk,
                    owner_id=owners[pk],
                    kind=FollowUp.Kind.HOLIDAY,
                    due_date=day,
                    occasion=occasion,
                    occasion_date=day,
                    dedupe_key=f"holiday:{pk}:{occasion}:{day.isoformat()}",
                )
            )
    holidays = _create_new(wanted)
    return GenerationSummary(today, cadence, birthdays, holidays, without_owner)


def _create_new(follow_ups: list[FollowUp]) -> int:
    """Insert the follow-ups whose key is new; a concurrent run's inserts are skipped too."""
    if not follow_ups:
        return 0
    keys = [f.dedupe_key for f in follow_ups]
    existing = set()
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        existing.update(
            FollowUp.objects.filter(dedupe_key__in=chunk).values_list("dedupe_key", flat=True)
        )
    new = [f for f in follow_ups if f.dedupe_key not in existing]
    FollowUp.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    return len(new)


# --- account plans ------------------------------------------------------------------------


def plan_create(*, user, customer: Customer, year: int, strategy: str = "") -> AccountPlan:
    _require_worker(user)
    if not _sees_customer(user, customer.pk):
        raise PermissionDenied
    if AccountPlan.objects.filter(customer=customer, year=year).exists():
        raise ValidationError(
            {
                "year": _("%(customer)s already has a plan for %(year)s.")
                % {"customer": customer.name, "year": year}
            }
        )
    plan = AccountPlan(customer=customer, year=year, strategy=strategy, created_by=user)
    plan.full_clean()
    plan.save()
    return plan


def plan_update(*, user, plan: AccountPlan, strategy: str) -> AccountPlan:
    _require_worker(user)
    plan.strategy = strategy
    plan.save(update_fields=["strategy", "updated_at"])
    return plan


def plan_objective_save(*, user, objective: PlanObjective) -> PlanObjective:
    _require_worker(user)
    objective.full_clean()
    objective.save()
    return objective


def plan_action_save(*, user, action: PlanAction) -> PlanAction:
    """Add or change an action; its owner must work on the account, its objective be the plan's."""
    _require_worker(user)
    plan = action.plan
    if action.objective_id and action.objective.plan_id != plan.pk:
        raise ValidationError({"objective": _("Choose an objective of this plan.")})
    if not _works_on(action.owner, plan.customer_id):
        raise ValidationError(
            {
                "owner": _("%(user)s does not work on this account.")
                % {"user": action.owner.get_username()}
            }
        )
    if action.status == PlanAction.Status.DONE and action.completed_at is None:
        action.completed_at = timezone.now()
    elif action.status != PlanAction.Status.DONE:
        action.completed_at = None
    action.full_clean()
    action.save()
    return action


# --- a departing rep ----------------------------------------------------------------------


@transaction.atomic
def rep_reassign(*, by, from_user, to_user) -> Reassignment:
    """Move everything `from_user` holds in `by`'s scope to `to_user`, in one step, recorded:
    the accounts they own, their places on account teams, their open follow-ups and their
    open plan actions."""
    if not manages_people(by):
        raise PermissionDenied(_("Only a manager may reassign accounts."))
    people = people_managed_by(by)
    if not people_managed_by(by, include_inactive=True).filter(pk=from_user.pk).exists():
        raise ValidationError(
            {
                "from_user": _("%(user)s is not in a team you manage.")
                % {"user": from_user.get_username()}
            }
        )
    if not people.filter(pk=to_user.pk).exists():
        raise ValidationError(
            {
                "to_user": _("%(user)s is not an active member of a team you manage.")
                % {"user": to_user.get_username()}
            }
        )
    if from_user.pk == to_user.pk:
        raise ValidationError({"to_user": _("Choose someone else to take the accounts over.")})
    scope = customer_scope_q(by)
    accounts = Customer.objects.filter(scope, owner=from_user).select_for_update()
    moving = list(accounts.order_by("code").values_list("pk", "code"))
    codes = [code for _pk, code in moving]
    moved = accounts.update(owner=to_user, version=F("version") + 1)
    audit_bulk(
        [
            AuditEvent(
                actor=by, entity="customer", entity_id=str(pk), customer_id=pk, action="reassign",
                summary=code, changes={"owner": [str(from_user), str(to_user)]},
            )
            for pk, code in moving
        ]
    )  # fmt: skip

    through = Customer.account_team.through
    places = through.objects.filter(
        user=from_user, customer_id__in=Customer.objects.filter(scope).values("pk")
    )
    place_customers = list(places.values_list("customer_id", flat=True))
    already = set(
        through.objects.filter(user=to_user, customer_id__in=place_customers).values_list(
            "customer_id", flat=True
        )
    )
    places.delete()
    through.objects.bulk_create(
        [through(customer_id=pk, user=to_user) for pk in place_customers if pk not in already]
    )

    follow_ups = FollowUp.objects.filter(
        customer_scope_q(by, "customer__"), owner=from_user, status=FollowUp.Status.OPEN
    ).update(owner=to_user)
    actions = PlanAction.objects.filter(
        customer_scope_q(by, "plan__customer__"),
        owner=from_user,
        status__in=PlanAction.OPEN_STATUSES,
    ).update(owner=to_user)
    return Reassignment.objects.create(
        from_user=from_user,
        to_user=to_user,
        by_user=by,
        customer_count=moved,
        account_team_count=len(place_customers),
        follow_up_count=follow_ups,
        action_count=actions,
        customer_codes=codes,
    )


# --- health snapshot ----------------------------------------------------------------------

HEALTH_CHUNK = 2000


@dataclass(frozen=True)
class HealthSummary:
    as_of: date
    accounts: int
    flagged: int

    def __str__(self) -> str:
        return (
            f"account health as of {self.as_of}: {self.accounts} accounts, {self.flagged} flagged"
        )


def account_health_refresh(*, as_of: date) -> HealthSummary:
    """Recompute every open account's health and replace the snapshot in one transaction
    (readers see the old snapshot or the new one, never a mix)."""
    ids = list(
        Customer.objects.exclude(status=Customer.Status.CLOSED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    priority = {"A": 1, "B": 2, "C": 3}
    tiers = tiers_current()
    rows = []
    for start in range(0, len(ids), HEALTH_CHUNK):
        chunk = ids[start : start + HEALTH_CHUNK]
        for pk, health in health_for_customers(chunk, as_of=as_of).items():
            rows.append(
                AccountHealth(
                    customer_id=pk,
                    as_of=as_of,
                    revenue=health.revenue,
                    previous_revenue=health.previous_revenue,
                    growth=_rounded(health.growth, 6),
                    volatility=_rounded(health.volatility, 6),
                    avg_days_late=health.avg_days_late,
                    flags=list(health.codes),
                    flagged=bool(health.flags),
                    priority=priority.get(tiers.get(pk), 4),
                )
            )
    with transaction.atomic():
        AccountHealth.objects.all().delete()
        AccountHealth.objects.bulk_create(rows, batch_size=2000)
    return HealthSummary(as_of, len(rows), sum(1 for r in rows if r.flagged))


def _rounded(value, places: int):
    from decimal import Decimal

    return None if value is None else value.quantize(Decimal(1).scaleb(-places))
