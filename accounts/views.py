"""Screens of the customer master that need nothing from the other apps: imports.

The home page and the account page show tiers and relationships too: relationships/views.py."""

import os
import tempfile

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from accounts import selectors
from accounts.forms import ImportForm
from accounts.importing.service import import_data
from kam.roles import may_import

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
