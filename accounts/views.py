"""Screens of the customer master: home per role, customer list, customer page."""

import os
import tempfile

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from accounts import selectors
from accounts.forms import ImportForm
from accounts.importing.service import import_data
from kam.roles import Role, may_import, may_see_personal_data, primary_role


def home(request):
    """Each role lands on what it works with first."""
    user = request.user
    role = primary_role(user)
    today = timezone.localdate()
    context = {"role": role, "as_of": today}
    if role == Role.ADMIN:
        context["counts"] = selectors.master_data_counts()
    elif role == Role.FINANCE:
        context["region_totals"] = selectors.region_totals_visible_to(user, as_of=today)
    elif role == Role.MANAGER:
        context["members"] = selectors.team_members_with_account_counts(user)
        context["strategic"] = (
            selectors.customer_list_visible_to(user)
            .filter(relationship_level="strategic")
            .order_by("code")[:20]
        )
    if role in (Role.REP, Role.MANAGER):
        context["my_accounts"] = (
            selectors.customer_list_with_window_revenue(user, as_of=today)
            .filter(owner=user)
            .order_by("-window_revenue", "code")[:20]
        )
    return render(request, f"accounts/home_{role}.html", context)


def customer_detail(request, pk: int):
    user = request.user
    customer = selectors.customer_get_for_user(user, pk)
    contacts = selectors.contact_list_visible_to(user).select_related("reports_to").order_by("name")
    buying_units = (
        selectors.buying_unit_list_visible_to(user)
        .filter(customer=customer)
        .prefetch_related(Prefetch("contacts", queryset=contacts))
        .order_by("name")
    )
    return render(
        request,
        "accounts/customer_detail.html",
        {
            "customer": customer,
            "account_team": customer.account_team.order_by("username"),
            "group_tree": selectors.customer_group_tree(user=user, customer=customer),
            "buying_units": buying_units,
            "show_personal_data": may_see_personal_data(user),
        },
    )


IMPORTS_PER_PAGE = 25


def import_page(request):
    """Finance and admins upload ERP files here and see every import's outcome."""
    if not may_import(request.user):
        raise Http404
    report = None
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        report = _import_upload(
            upload,
            kind=form.cleaned_data["kind"],
            user=request.user,
            dry_run=form.cleaned_data["dry_run"],
        )
    history = Paginator(selectors.import_run_list(), IMPORTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "accounts/import_page.html",
        {"form": form, "report": report, "page": history},
        status=200 if report is None or report.accepted else 422,
    )


def _import_upload(upload, *, kind, user, dry_run):
    """Hand the upload to the importer as a file on disk (big uploads already are one)."""
    if hasattr(upload, "temporary_file_path"):
        return import_data(
            kind=kind,
            path=upload.temporary_file_path(),
            file_name=upload.name,
            user=user,
            dry_run=dry_run,
        )
    suffix = os.path.splitext(upload.name)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return import_data(
            kind=kind, path=handle.name, file_name=upload.name, user=user, dry_run=dry_run
        )
