"""The OpenAPI document and Swagger UI (SPEC §5 URLs: /api/schema/, /api/docs/)."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS

pytestmark = pytest.mark.django_db


def test_the_schema_is_an_openapi_3_document(rep):
    client = Client()
    client.force_login(rep)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "KAM API"
    assert "/api/customers/{id}/" in document["paths"]
    assert "/api/follow-ups/{id}/complete/" in document["paths"]
    # Token and session authentication are documented for integrations.
    assert {"tokenAuth", "cookieAuth"} <= set(document["components"]["securitySchemes"])
    # The version check is documented on versioned updates.
    patch = document["paths"]["/api/customers/{id}/"]["patch"]
    assert {"409", "412", "428"} <= set(patch["responses"])
    assert any(p["name"] == "If-Match" for p in patch["parameters"])

    yaml = client.get("/api/schema/")
    assert yaml.status_code == 200
    assert yaml.content.startswith(b"openapi: 3.")


def test_spectacular_validates_without_warnings(tmp_path):
    GENERATOR_STATS.reset()  # count this run's warnings only (the cache is process-wide)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yaml"),
        stdout=out,
        stderr=err,
    )
    assert "Warning" not in err.getvalue() + out.getvalue()
    assert "Error" not in err.getvalue() + out.getvalue()
    assert (tmp_path / "schema.yaml").read_text(encoding="utf-8").startswith("openapi: 3.")


def test_swagger_ui_for_a_signed_in_user(rep):
    client = Client()
    client.force_login(rep)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_need_a_signed_in_user(url):
    """Deny by default (kam/settings.py: every view needs a signed-in user unless marked
    login_not_required). BUG (reported): both answer 200 to anyone — DRF views opt out of
    LoginRequiredMiddleware and drf-spectacular serves with AllowAny by default
    (SPECTACULAR_SETTINGS has no SERVE_PERMISSIONS)."""
    response = Client().get(url)
    assert response.status_code in (302, 401, 403)
