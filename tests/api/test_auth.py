"""Token authentication for integrations, and nothing without signing in.

`manage.py drf_create_token <username>` makes a key; requests with `Authorization: Token
<key>` act as that user, scoped exactly like the user's browser session. A wrong key, or
the key of someone who has left, is 401.
"""

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.operations import OPERATIONS
from tests.api.world import day, snapshot

pytestmark = pytest.mark.django_db


def _token_for(username: str) -> str:
    out = io.StringIO()
    call_command("drf_create_token", username, stdout=out)
    key = Token.objects.get(user__username=username).key
    assert key in out.getvalue()
    return key


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_a_token_authenticates_and_is_scoped_like_the_session(world):
    key = _token_for("rep")
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    session = APIClient()
    session.force_login(world.users["rep"])

    for url in ("/api/customers/", "/api/contacts/", "/api/visits/", "/api/contributions/"):
        assert _ids(token.get(url)) == _ids(session.get(url)), url
    assert _ids(token.get("/api/customers/")) == {world.mine.customer.pk}

    other = world.accounts["outsider"]
    assert token.get(f"/api/customers/{other.customer.pk}/").status_code == 404
    assert token.get(f"/api/contacts/{other.contact.pk}/").status_code == 404
    assert token.get("/api/runs/").status_code == 403

    # A write with a token needs no CSRF token (there is no cookie to forge).
    response = token.post(
        "/api/visits/",
        {
            "customer": world.mine.customer.pk,
            "visit_date": day(0),
            "channel": "phone",
            "purpose": "令牌记录",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["author"] == "rep"


def test_the_session_of_a_browser_needs_its_csrf_token_to_write(world):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(world.users["rep"])
    before = snapshot()
    response = browser.post(
        "/api/follow-ups/",
        {"customer": world.mine.customer.pk, "due_date": day(1), "note": "跨站"},
        format="json",
    )
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(
    "header",
    ["Token 0123456789abcdef0123456789abcdef01234567", "Token ", "Token a b"],
    ids=["unknown-key", "empty", "two-words"],
)
def test_a_bad_token_is_401(world, header):
    """BUG (reported): answers 403. SessionAuthentication comes first in the settings and
    has no WWW-Authenticate challenge, so DRF turns every authentication failure into 403."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/customers/")
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Token")


def test_the_token_of_someone_who_has_left_is_401(world):
    """BUG (reported): 403, for the reason above; the point is that it is refused."""
    key = _token_for("teammate")
    teammate = world.users["teammate"]
    teammate.is_active = False
    teammate.save(update_fields=["is_active"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/customers/").status_code == 401


def test_without_credentials_every_operation_is_refused(world):
    """No sign-in, no answer: 401 or 403 for every operation, never data, never a write."""
    client = APIClient()
    before = snapshot()
    wrong = []
    for op in OPERATIONS:
        body = op.body(world, world.mine) if op.body else None
        response = getattr(client, op.method)(op.url(world, world.mine), body, format="json")
        if response.status_code not in (401, 403):
            wrong.append(f"{op.name}: {response.status_code}")
    assert wrong == []
    assert snapshot() == before
