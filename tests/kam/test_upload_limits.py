"""Bounded uploads: an oversized body is refused with 413 before it is read, and nothing is
written; an import upload has its own, larger bound."""

import pytest
from django.test import Client

from accounts.models import ImportRun
from relationships.models import Visit

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_api_body_over_the_limit_is_refused_before_it_is_read(settings, rep, rep_customer):
    settings.KAM_MAX_REQUEST_BYTES = 1000
    purpose = "x" * 1200
    body = f'{{"customer": {rep_customer.pk}, "visit_date": "2026-01-05", "purpose": "{purpose}"}}'

    response = _client(rep).post("/api/visits/", body, content_type="application/json")
    assert response.status_code == 413
    assert "MB" in response.content.decode()
    assert not Visit.objects.exists()


def test_a_claimed_length_over_the_limit_is_enough_to_refuse(settings, rep):
    settings.KAM_MAX_REQUEST_BYTES = 10 * 1024 * 1024
    response = _client(rep).post(
        "/api/visits/", "{}", content_type="application/json", CONTENT_LENGTH=str(2**31)
    )
    assert response.status_code == 413


def test_a_garbled_length_is_a_bad_request(rep):
    response = _client(rep).post(
        "/api/visits/", "{}", content_type="application/json", CONTENT_LENGTH="lots"
    )
    assert response.status_code == 400


def test_an_import_may_be_larger_than_other_requests_but_is_bounded_too(
    settings, finance, tmp_path
):
    settings.KAM_MAX_REQUEST_BYTES = 1000
    settings.KAM_IMPORT_MAX_CSV_BYTES = 2000
    settings.KAM_IMPORT_MAX_XLSX_BYTES = 2000
    client = _client(finance)
    small = tmp_path / "customers.csv"
    small.write_text("code,name\nN1," + "n" * 1500 + "\n", encoding="utf-8")
    with small.open("rb") as handle:
        accepted = client.post("/imports/", {"kind": "customers", "file": handle})
    assert accepted.status_code in (200, 422)  # reached the importer, which decided
    assert ImportRun.objects.count() == 1
    with small.open("rb") as handle:
        refused = client.post(
            "/imports/",
            {"kind": "customers", "file": handle},
            CONTENT_LENGTH=str(2000 + 1024 * 1024 + 1),
        )
    assert refused.status_code == 413
    assert ImportRun.objects.count() == 1
