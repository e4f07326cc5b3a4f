"""/healthz/ answers without a sign-in and checks the database; nothing else is public."""

import pytest


@pytest.mark.django_db
def test_healthz_is_public_and_checks_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_is_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz/").status_code == 200
    assert client.get("/login/").status_code == 301  # everything else goes to HTTPS
