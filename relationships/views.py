"""Screens of the rep's day and the account: they show all three apps, so they live here.

Every object is fetched through a scoped selector (404 outside the scope); writes go through
relationships.services, whose ValidationError lands on the form and PermissionDenied is 403.
"""

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts.models import BuyingUnit, Contact
from kam.roles import (
    Role,
    manages_people,
    may_see_personal_data,
    may_work_accounts,
    primary_role,
)
from kam.versioning import EditConflict
from relationships import selectors, services
from relationships.care import OCCASION_LABELS
from relationships.forms import (
    ActionForm,
    BuyingUnitForm,
    ContactForm,
    CustomerChoiceForm,
    DashboardFilterForm,
    FollowUpForm,
    ObjectiveForm,
    PlanForm,
    ReassignFollowUpForm,
    RepReassignForm,
    SnoozeForm,
    VisitForm,
)
from relationships.models import PlanAction, PlanObjective
from tiers import selectors as tier_selectors
from tiers.explain import contribution_explained, reason_text
from tiers.selectors import contribution_current_for, run_current


def _require_worker(user):
    if not may_work_accounts(user):
        raise PermissionDenied


def _apply_errors(form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: on its field if the form has it."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- home ---------------------------------------------------------------------------------


def home(request):
    """Each role lands on what it works with first; reps and managers on their day."""
    user = request.user
    role = primary_role(user)
    today = timezone.localdate()
    context = {"role": role, "as_of": today}
    if role == Role.ADMIN:
        context["counts"] = account_selectors.master_data_counts()
    elif role == Role.FINANCE:
        context["region_totals"] = account_selectors.region_totals_visible_to(user, as_of=today)
    elif role == Role.MANAGER:
        context["members"] = account_selectors.team_members_with_account_counts(user)
        context["strategic"] = (
            account_selectors.customer_list_visible_to(user)
            .filter(relationship_level="strategic")
            .order_by("code")[:20]
        )
    if role in (Role.REP, Role.MANAGER):
        context["day"] = selectors.my_day(user=user, today=today)
        context["my_accounts"] = (
            account_selectors.customer_list_with_window_revenue(user, as_of=today)
            .filter(owner=user)
            .annotate(tier=tier_selectors.current_tier_subquery())
            .order_by("-window_revenue", "code")[:20]
        )
    return render(request, f"accounts/home_{role}.html", context)


# --- the account page ---------------------------------------------------------------------

# The change history's words for what changed and how.
AUDIT_LABELS = {
    "customer": _lazy("Customer"),
    "contact": _lazy("Contact"),
    "buying_unit": _lazy("Buying unit"),
    "buyingunit": _lazy("Buying unit"),
    "tier_override": _lazy("Tier override"),
    "create": _lazy("added"),
    "update": _lazy("changed"),
    "delete": _lazy("deleted"),
    "reassign": _lazy("handed over"),
    "revoke": _lazy("revoked"),
}


def account_detail(request, pk: int):
    user = request.user
    customer = account_selectors.customer_get_for_user(user, pk)
    contacts = (
        account_selectors.contact_list_visible_to(user)
        .select_related("reports_to")
        .order_by("-is_active", "name")
    )
    buying_units = list(
        account_selectors.buying_unit_list_visible_to(user)
        .filter(customer=customer)
        .prefetch_related(Prefetch("contacts", queryset=contacts))
        .order_by("name")
    )
    all_contacts = [c for unit in buying_units for c in unit.contacts.all()]
    contribution = contribution_current_for(customer)
    tier = contribution.tier if contribution else None
    today = timezone.localdate()
    health = selectors.health_for_customers([customer.pk], as_of=today)[customer.pk]
    visible = account_selectors.customer_list_visible_to(user)
    referred_by = (
        visible.filter(pk=customer.referred_by_id).first() if customer.referred_by_id else None
    )
    plan = selectors.plan_list_visible_to(user).filter(customer=customer, year=today.year).first()
    return render(
        request,
        "relationships/account_detail.html",
        {
            "customer": customer,
            "account_team": customer.account_team.order_by("username"),
            "group_tree": account_selectors.customer_group_tree(user=user, customer=customer),
            "buying_units": buying_units,
            "coverage": selectors.coverage_for_customer(
                customer=customer, contacts=all_contacts, tier=tier
            ),
            "contribution": contribution,
            "explained": contribution_explained(contribution) if contribution else None,
            "health": health,
            "visits": selectors.visit_timeline(user=user, customer=customer, limit=20),
            "follow_ups": selectors.follow_ups_open_for_customer(user=user, customer=customer),
            "plan": plan,
            "referred_by": referred_by,
            "referrals": visible.filter(referred_by=customer).order_by("code"),
            "show_personal_data": may_see_personal_data(user),
            "may_work": may_work_accounts(user),
            "occasions": OCCASION_LABELS,
            "today": today,
            "history": account_selectors.audit_event_list_for_customer(
                user=user, customer=customer
            ),
            "audit_labels": AUDIT_LABELS,
            "monthly": [
                [m["month"], float(m["revenue"]), float(m["profit"])]
                for m in account_selectors.monthly_figures(customer=customer, as_of=today)
            ],
        },
    )


# --- buying centre ------------------------------------------------------------------------


def _form_page(request, *, title, form, back, submit=None, intro=None, status=200):
    return render(
        request,
        "relationships/form.html",
        {"title": title, "form": form, "back": back, "submit": submit or _("Save"), "intro": intro},
        status=status,
    )


def buying_unit_edit(request, customer_pk: int | None = None, pk: int | None = None):
    user = request.user
    _require_worker(user)
    if pk is not None:
        unit = account_selectors.buying_unit_list_visible_to(user).select_related("customer")
        unit = _get_or_404(unit, pk)
        customer = unit.customer
    else:
        customer = account_selectors.customer_get_for_user(user, customer_pk)
        unit = BuyingUnit(customer=customer)
    form = BuyingUnitForm(request.POST or None, instance=unit)
    back = customer.get_absolute_url()
    if request.method == "POST" and form.is_valid():
        try:
            services.buying_unit_save(user=user, unit=form.instance)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Buying unit saved."))
            return redirect(back)
    title = (
        _("Edit buying unit") if pk else _("New buying unit at %(name)s") % {"name": customer.name}
    )
    return _form_page(
        request, title=title, form=form, back=back, status=422 if form.errors else 200
    )


def contact_edit(request, customer_pk: int | None = None, pk: int | None = None):
    user = request.user
    _require_worker(user)
    if pk is not None:
        contact = _get_or_404(
            account_selectors.contact_list_visible_to(user).select_related("buying_unit__customer"),
            pk,
        )
        customer = contact.buying_unit.customer
    else:
        customer = account_selectors.customer_get_for_user(user, customer_pk)
        contact = Contact()
        unit = request.GET.get("unit")
        if unit and unit.isdigit():
            contact.buying_unit = BuyingUnit.objects.filter(customer=customer, pk=unit).first()
    form = ContactForm(request.POST or None, instance=contact, customer=customer)
    back = customer.get_absolute_url()
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_save(
                user=user,
                contact=form.instance,
                expected_version=form.cleaned_data.get("expected_version"),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        except EditConflict as conflict:
            form.show_conflict(conflict.current)
            form.add_error(None, form.conflict_message)
        else:
            messages.success(request, _("Contact saved."))
            return redirect(back)
    title = _("Edit contact") if pk else _("New contact at %(name)s") % {"name": customer.name}
    status = 409 if form.conflict else 422 if form.errors else 200
    return _form_page(request, title=title, form=form, back=back, status=status)


def _get_or_404(queryset, pk):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError):
        raise Http404 from None


# --- visits -------------------------------------------------------------------------------

VISITS_PER_PAGE = 50


def visit_list(request):
    from django.core.paginator import Paginator

    visits = selectors.visit_list_visible_to(request.user).order_by("-visit_date", "-id")
    mine = request.GET.get("mine") == "1"
    if mine:
        visits = visits.filter(author=request.user)
    page = Paginator(visits, VISITS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "relationships/visit_list.html", {"page": page, "mine": mine})


def visit_create(request):
    """Log a visit. Picking the customer first (?customer=) lists only its contacts."""
    user = request.user
    _require_worker(user)
    visible = account_selectors.customer_list_visible_to(user).exclude(status="closed")
    follow_up = None
    follow_up_id = request.GET.get("follow_up") or request.POST.get("follow_up")
    if follow_up_id:
        follow_up = selectors.follow_up_get_for_user(user, follow_up_id)
    customer_id = request.GET.get("customer") or (follow_up.customer_id if follow_up else None)
    if not customer_id:
        chooser = CustomerChoiceForm(request.GET or None, customers=visible.order_by("code"))
        return render(request, "relationships/visit_choose_customer.html", {"form": chooser})
    customer = _get_or_404(visible, customer_id)  # closed accounts get no new visits
    form = VisitForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visit = services.visit_log(
                user=user,
                customer=customer,
                visit_date=data["visit_date"],
                channel=data["channel"],
                purpose=data["purpose"],
                contacts=data["contacts"],
                summary=data["summary"],
                outcome=data["outcome"],
                next_step=data["next_step"],
                next_follow_up=data["next_follow_up"],
                completes=follow_up,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Visit logged."))
            if data["next_follow_up"]:
                messages.info(
                    request,
                    _("Follow-up set for %(day)s.") % {"day": data["next_follow_up"].isoformat()},
                )
            # The top of the account page: the confirmation shows there, above the timeline.
            return redirect(visit.customer.get_absolute_url())
    return render(
        request,
        "relationships/visit_form.html",
        {"form": form, "customer": customer, "follow_up": follow_up, "editing": False},
        status=422 if form.errors else 200,
    )


def visit_detail(request, pk: int):
    visit = selectors.visit_get_for_user(request.user, pk)
    return render(
        request,
        "relationships/visit_detail.html",
        {
            "visit": visit,
            "may_edit": visit.author_id == request.user.pk or request.user.is_superuser,
        },
    )


def visit_edit(request, pk: int):
    user = request.user
    visit = selectors.visit_get_for_user(user, pk)
    if visit.author_id != user.pk and not user.is_superuser:
        raise PermissionDenied
    initial = {
        "visit_date": visit.visit_date,
        "channel": visit.channel,
        "contacts": list(visit.contacts.all()),
        "purpose": visit.purpose,
        "summary": visit.summary,
        "outcome": visit.outcome,
        "next_step": visit.next_step,
    }
    form = VisitForm(request.POST or None, initial=initial, customer=visit.customer, editing=True)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        contacts = data.pop("contacts")
        try:
            services.visit_update(user=user, visit=visit, contacts=contacts, **data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Visit saved."))
            return redirect("relationships:visit-detail", pk=visit.pk)
    return render(
        request,
        "relationships/visit_form.html",
        {"form": form, "customer": visit.customer, "visit": visit, "editing": True},
        status=422 if form.errors else 200,
    )


# --- follow-ups ---------------------------------------------------------------------------


def my_day(request):
    day = selectors.my_day(user=request.user, today=timezone.localdate())
    return render(request, "relationships/my_day.html", {"day": day, "occasions": OCCASION_LABELS})


def follow_up_create(request, customer_pk: int):
    user = request.user
    _require_worker(user)
    customer = account_selectors.customer_get_for_user(user, customer_pk)
    form = FollowUpForm(request.POST or None, customer=customer, initial={"owner": user})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.follow_up_create(
                user=user,
                customer=customer,
                due_date=data["due_date"],
                note=data["note"],
                owner=data["owner"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Follow-up added."))
            return redirect(customer.get_absolute_url() + "#follow-ups")
    return _form_page(
        request,
        title=_("New follow-up for %(name)s") % {"name": customer.name},
        form=form,
        back=customer.get_absolute_url(),
        status=422 if form.errors else 200,
    )


def _next(request, default):
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only paths on this site: never redirect a signed-in user elsewhere.
    return target if target.startswith("/") and not target.startswith("//") else default


@require_POST
def follow_up_complete(request, pk: int):
    follow_up = selectors.follow_up_get_for_user(request.user, pk)
    try:
        services.follow_up_complete(user=request.user, follow_up=follow_up)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Follow-up done."))
    return redirect(_next(request, reverse("relationships:my-day")))


def follow_up_snooze(request, pk: int):
    follow_up = selectors.follow_up_get_for_user(request.user, pk)
    form = SnoozeForm(request.POST or None)
    back = _next(request, reverse("relationships:my-day"))
    if request.method == "POST" and form.is_valid():
        try:
            services.follow_up_snooze(
                user=request.user,
                follow_up=follow_up,
                until=form.cleaned_data["until"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Follow-up moved."))
            return redirect(back)
    return _form_page(
        request,
        title=_("Snooze follow-up"),
        intro=f"{follow_up.customer} · {follow_up.due_date:%Y-%m-%d}",
        form=form,
        back=back,
        status=422 if form.errors else 200,
    )


def follow_up_reassign(request, pk: int):
    follow_up = selectors.follow_up_get_for_user(request.user, pk)
    form = ReassignFollowUpForm(request.POST or None, customer=follow_up.customer)
    back = _next(request, reverse("relationships:my-day"))
    if request.method == "POST" and form.is_valid():
        try:
            services.follow_up_reassign(
                user=request.user, follow_up=follow_up, to_user=form.cleaned_data["to_user"]
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Follow-up handed over."))
            return redirect(back)
    return _form_page(
        request,
        title=_("Hand over follow-up"),
        intro=f"{follow_up.customer} · {follow_up.due_date:%Y-%m-%d}",
        form=form,
        back=back,
        status=422 if form.errors else 200,
    )


# --- account plans ------------------------------------------------------------------------


def plan_for_customer(request, customer_pk: int):
    """This year's plan of an account, or the form to start one."""
    user = request.user
    customer = account_selectors.customer_get_for_user(user, customer_pk)
    year = timezone.localdate().year
    plan = selectors.plan_list_visible_to(user).filter(customer=customer, year=year).first()
    if plan and request.method == "GET" and "new" not in request.GET:
        return redirect("relationships:plan-detail", pk=plan.pk)
    _require_worker(user)
    form = PlanForm(request.POST or None, initial={"year": year})
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.plan_create(
                user=user,
                customer=customer,
                year=form.cleaned_data["year"],
                strategy=form.cleaned_data["strategy"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect("relationships:plan-detail", pk=plan.pk)
    return _form_page(
        request,
        title=_("New account plan for %(name)s") % {"name": customer.name},
        form=form,
        back=customer.get_absolute_url(),
        status=422 if form.errors else 200,
    )


def plan_detail(request, pk: int):
    user = request.user
    plan = selectors.plan_get_for_user(user, pk)
    objectives, actions, progress = selectors.plan_detail(user=user, plan=plan)
    may_work = may_work_accounts(user)
    objective_form = ObjectiveForm(prefix="objective") if may_work else None
    action_form = ActionForm(prefix="action", plan=plan) if may_work else None
    if request.method == "POST":
        _require_worker(user)
        if "objective-title" in request.POST:
            objective_form = ObjectiveForm(
                request.POST, prefix="objective", instance=PlanObjective(plan=plan)
            )
            if objective_form.is_valid():
                services.plan_objective_save(user=user, objective=objective_form.instance)
                messages.success(request, _("Objective added."))
                return redirect("relationships:plan-detail", pk=plan.pk)
        else:
            action_form = ActionForm(
                request.POST, prefix="action", plan=plan, instance=PlanAction(plan=plan)
            )
            if action_form.is_valid():
                try:
                    services.plan_action_save(user=user, action=action_form.instance)
                except ValidationError as error:
                    _apply_errors(action_form, error)
                else:
                    messages.success(request, _("Action added."))
                    return redirect("relationships:plan-detail", pk=plan.pk)
    invalid = (objective_form and objective_form.errors) or (action_form and action_form.errors)
    return render(
        request,
        "relationships/plan_detail.html",
        {
            "plan": plan,
            "objectives": objectives,
            "actions": actions,
            "progress": progress,
            "objective_form": objective_form,
            "action_form": action_form,
            "may_work": may_work,
            "other_years": selectors.plan_list_visible_to(user)
            .filter(customer=plan.customer)
            .exclude(pk=plan.pk)
            .order_by("-year"),
        },
        status=422 if invalid else 200,
    )


def plan_action_edit(request, pk: int):
    user = request.user
    action = selectors.plan_action_get_for_user(user, pk)
    _require_worker(user)
    form = ActionForm(request.POST or None, plan=action.plan, instance=action)
    back = reverse("relationships:plan-detail", args=[action.plan_id])
    if request.method == "POST" and form.is_valid():
        try:
            services.plan_action_save(user=user, action=form.instance)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Action saved."))
            return redirect(back)
    return _form_page(
        request,
        title=_("Edit action"),
        form=form,
        back=back,
        status=422 if form.errors else 200,
    )


def plan_edit(request, pk: int):
    user = request.user
    plan = selectors.plan_get_for_user(user, pk)
    _require_worker(user)
    form = PlanForm(request.POST or None, instance=plan)
    form.fields["year"].disabled = True
    back = reverse("relationships:plan-detail", args=[plan.pk])
    if request.method == "POST" and form.is_valid():
        services.plan_update(user=user, plan=plan, strategy=form.cleaned_data["strategy"])
        return redirect(back)
    return _form_page(request, title=_("Edit plan"), form=form, back=back)


# --- managers -----------------------------------------------------------------------------


def rep_reassign(request):
    """A manager hands a departing rep's accounts and open work to another rep."""
    user = request.user
    if not manages_people(user):
        raise Http404
    form = RepReassignForm(
        request.POST or None,
        people=account_selectors.people_managed_by(user, include_inactive=True),
    )
    form.fields["to_user"].queryset = account_selectors.people_managed_by(user)
    if request.method == "POST" and form.is_valid():
        try:
            done = services.rep_reassign(
                by=user,
                from_user=form.cleaned_data["from_user"],
                to_user=form.cleaned_data["to_user"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "%(accounts)d accounts, %(places)d account-team places, %(follow_ups)d "
                    "follow-ups and %(actions)d plan actions moved to %(user)s."
                )
                % {
                    "accounts": done.customer_count,
                    "places": done.account_team_count,
                    "follow_ups": done.follow_up_count,
                    "actions": done.action_count,
                    "user": done.to_user.get_username(),
                },
            )
            return redirect("relationships:reassign")
    return render(
        request,
        "relationships/reassign.html",
        {
            "form": form,
            "history": selectors.reassignment_list_visible_to(user)[:20],
        },
        status=422 if form.errors else 200,
    )


ATTENTION_ROWS = 200


def attention(request):
    """Accounts that need a manager's eye: buying-centre gaps and health warnings."""
    user = request.user
    warnings, total, as_of = selectors.health_warnings_visible_to(user, limit=ATTENTION_ROWS)
    return render(
        request,
        "relationships/attention.html",
        {
            "gaps": selectors.coverage_gaps_visible_to(user)[0],
            "warnings": warnings,
            "warnings_total": total,
            "as_of": as_of,
        },
    )


def referrals(request):
    return render(
        request,
        "relationships/referrals.html",
        {"summary": selectors.referral_summary_visible_to(request.user)},
    )


# A dashboard shows the top of each list; the full lists are on /attention/ and the report.
DASHBOARD_ROWS = 20


def _pareto_cached(run, customers, *, user, form):
    """A run's Pareto curve never changes (gross profit is fixed when the run publishes; an
    override moves tiers, not profit), so it is computed once per run, scope and filter."""
    chosen = form.cleaned_data if form.is_valid() else {}
    team = chosen.get("team")
    scope = "all" if customers is None else f"user{user.pk}"
    key = "kam:pareto:{}:{}:{}:{}:{}".format(
        run.pk, scope, team.pk if team else "", chosen.get("region", ""), chosen.get("industry", "")
    )
    return cache.get_or_set(
        key, lambda: tier_selectors.pareto_points(run, customers), PARETO_CACHE_SECONDS
    )


PARETO_CACHE_SECONDS = 24 * 3600


def dashboard(request):
    """The KAM manager's dashboard: who the key accounts are, who moved, who is not what they
    seem, and where the relationships or the follow-up are thin (in the reader's scope)."""
    user = request.user
    today = timezone.localdate()
    # The filter's choices change when customers are imported, not from one request to the
    # next: kept for ten minutes per reader.
    regions, industries = cache.get_or_set(
        f"kam:dashboard-choices:{user.pk}",
        lambda: account_selectors.customer_regions_and_industries_visible_to(user),
        600,
    )
    form = DashboardFilterForm(
        request.GET or None,
        teams=account_selectors.sales_team_list_visible_to(user),
        regions=regions,
        industries=industries,
    )
    filters = form.filters()
    # None when the reader sees every customer and filters nothing: no per-customer filter.
    customers = account_selectors.customer_ids_visible_to(user, filters)
    run = run_current()
    context = {"form": form, "run": run, "today": today}
    if run is not None:
        summary = tier_selectors.run_summary(run, customers)
        fake_big, fake_big_total = tier_selectors.fake_big_list(
            run, customers, limit=DASHBOARD_ROWS, summary=summary
        )
        context.update(
            run_age=(today - run.as_of).days,
            tiers=summary["tiers"],
            key_accounts=tier_selectors.key_account_list(run, customers, limit=DASHBOARD_ROWS),
            pareto=_pareto_cached(run, customers, user=user, form=form),
            movements=tier_selectors.tier_movements(
                run, customers, limit=DASHBOARD_ROWS, summary=summary
            ),
            fake_big=[(row, [reason_text(r) for r in row.reasons]) for row in fake_big],
            fake_big_total=fake_big_total,
        )
    gaps, gaps_total = selectors.coverage_gaps_visible_to(
        user, filters=filters, limit=DASHBOARD_ROWS, run=run
    )
    warnings, warnings_total, health_as_of = selectors.health_warnings_visible_to(
        user, filters=filters, limit=DASHBOARD_ROWS, run=run
    )
    context.update(
        gaps=gaps,
        gaps_total=gaps_total,
        warnings=warnings,
        warnings_total=warnings_total,
        health_as_of=health_as_of,
        overdue=selectors.overdue_follow_ups_by_owner(user, filters=filters, today=today),
    )
    return render(request, "relationships/dashboard.html", context)
