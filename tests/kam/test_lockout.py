"""Sign-in lockout (django-axes), through the real sign-in forms.

Failures are counted per username *and* address: AXES_FAILURE_LIMIT (5) wrong passwords for
alice from 10.0.0.1 lock exactly that pair for AXES_COOLOFF_TIME (15 minutes), with a 429
and a page that says so; alice elsewhere and bob from the same office address sign in as
usual. The admin's sign-in page is covered by the same count.
"""

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]
OFFICE = "10.0.0.1"
MESSAGE_EN = "Too many failed sign-ins for this user from this address. Try again in 15 minutes."
MESSAGE_ZH = "该用户从此地址登录失败次数过多，请在 15 分钟后再试。"


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


def sign_in(client, username, password, address=OFFICE, url="/login/", **headers):
    """POST the sign-in form from `address`; English pages unless a test asks otherwise."""
    headers.setdefault("HTTP_ACCEPT_LANGUAGE", "en")
    form = {"username": username, "password": password}
    if url.startswith("/admin/"):
        form["next"] = "/admin/"
    response = client.post(url, form, REMOTE_ADDR=address, **headers)
    client.logout()  # each attempt starts signed out, like a new visitor
    return response


def signed_in(response) -> bool:
    """The form accepted the password: a redirect onwards, with the user signed in."""
    return response.status_code == 302 and response.wsgi_request.user.is_authenticated


def fail(client, username, times, address=OFFICE, url="/login/", **headers):
    for attempt in range(1, times + 1):
        response = sign_in(client, username, "wrong", address, url, **headers)
        assert response.status_code in (200, 429), (attempt, response.status_code)
    return response


def test_the_fifth_failure_locks_the_pair_and_then_even_the_right_password_is_refused(
    client, alice
):
    for attempt in range(1, 5):
        response = sign_in(client, "alice", "wrong")
        assert response.status_code == 200, attempt  # the form again, with its error
        assert MESSAGE_EN not in response.content.decode()
    fifth = sign_in(client, "alice", "wrong")
    assert fifth.status_code == 429
    sixth = sign_in(client, "alice", PASSWORD)
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert MESSAGE_EN in page
    assert 'id="locked-out"' in page
    assert sixth.wsgi_request.user.is_anonymous


def test_the_lockout_page_speaks_chinese_by_default(client, alice):
    fail(client, "alice", 5)
    response = sign_in(client, "alice", PASSWORD, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 429
    assert MESSAGE_ZH in response.content.decode()
    assert response["Content-Language"] == "zh-hans"


def test_alice_from_another_address_still_signs_in(client, alice):
    fail(client, "alice", 5)
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    assert signed_in(sign_in(client, "alice", PASSWORD, address="10.0.0.2"))


def test_bob_behind_the_same_office_address_still_signs_in(client, alice, bob):
    fail(client, "alice", 5)
    assert signed_in(sign_in(client, "bob", PASSWORD))


def test_alice_signs_in_again_after_the_cool_off(client, alice):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        fail(client, "alice", 5)
        clock.shift(datetime.timedelta(minutes=14))
        assert sign_in(client, "alice", PASSWORD).status_code == 429
        # That refused try started the cool-off again: the page's "15 minutes" holds.
        clock.shift(datetime.timedelta(minutes=14))
        assert sign_in(client, "alice", PASSWORD).status_code == 429
        clock.shift(datetime.timedelta(minutes=15, seconds=1))
        assert signed_in(sign_in(client, "alice", PASSWORD))


def test_a_success_resets_the_count(client, alice):
    fail(client, "alice", 4)
    assert signed_in(sign_in(client, "alice", PASSWORD))
    fail(client, "alice", 4)  # 8 failures in all, but only 4 since the success
    assert signed_in(sign_in(client, "alice", PASSWORD))


def test_the_admin_sign_in_counts_and_locks_the_same_pair(client, alice):
    admin_login = reverse("admin:login")
    fail(client, "alice", 3, url=admin_login)
    fail(client, "alice", 2)  # the same pair on KAM's own page: 5 in all
    response = sign_in(client, "alice", PASSWORD, url=admin_login)
    assert response.status_code == 429
    assert MESSAGE_EN in response.content.decode()
    assert sign_in(client, "alice", PASSWORD).status_code == 429


def test_the_admin_sign_in_alone_locks_too(client, alice):
    admin_login = reverse("admin:login")
    last = fail(client, "alice", 5, url=admin_login)
    assert last.status_code == 429
    assert sign_in(client, "alice", PASSWORD, url=admin_login).status_code == 429


def test_no_password_is_stored_with_the_failures(client, alice):
    from axes.models import AccessAttempt

    sign_in(client, "alice", "my-secret-guess")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "alice" and attempt.ip_address == OFFICE
    assert "my-secret-guess" not in attempt.post_data


# --- which address counts --------------------------------------------------------------------


def test_without_the_proxy_setting_x_forwarded_for_is_ignored(client, alice):
    """A client could write any address into the header; unless told a proxy sets it, KAM
    reads REMOTE_ADDR, so changing the header does not buy new tries."""
    for n in range(5):
        sign_in(client, "alice", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = sign_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429


@pytest.fixture
def behind_proxy(settings):
    """What KAM_TRUST_X_FORWARDED_FOR=1 sets (test_the_proxy_setting_comes_from_the_environment)."""
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    settings.AXES_IPWARE_PROXY_COUNT = 0


PROXY = "172.18.0.5"  # the reverse proxy: every request comes from it


def test_behind_the_proxy_the_forwarded_address_counts(client, alice, behind_proxy):
    fail(client, "alice", 5, address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    locked = sign_in(client, "alice", PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert locked.status_code == 429
    elsewhere = sign_in(
        client, "alice", PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.4"
    )
    assert signed_in(elsewhere)


def test_behind_the_proxy_a_padded_header_buys_no_new_tries(client, alice, behind_proxy):
    """The proxy appends the address it saw; entries before it came from the client. A chain
    longer than the proxy leaves is not believed: such tries all count against the proxy's
    own address, so rotating made-up entries does not escape the lockout."""
    for n in range(5):
        sign_in(
            client, "alice", "wrong", address=PROXY, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7"
        )
    padded = sign_in(
        client, "alice", PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7"
    )
    assert padded.status_code == 429
    honest = sign_in(client, "alice", PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert signed_in(honest)


def _axes_address_settings(**env) -> dict:
    code = (
        "import json, kam.settings as s;"
        "print(json.dumps({'order': s.AXES_IPWARE_META_PRECEDENCE_ORDER,"
        " 'count': getattr(s, 'AXES_IPWARE_PROXY_COUNT', None),"
        " 'limit': s.AXES_FAILURE_LIMIT, 'cooloff': s.AXES_COOLOFF_TIME.total_seconds()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "KAM_NO_DOTENV": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_proxy_setting_comes_from_the_environment():
    default = _axes_address_settings(DEBUG="1")
    assert default == {"order": ["REMOTE_ADDR"], "count": None, "limit": 5, "cooloff": 900}
    proxied = _axes_address_settings(
        DEBUG="1", KAM_TRUST_X_FORWARDED_FOR="1", AXES_FAILURE_LIMIT="8", AXES_COOLOFF_MINUTES="30"
    )
    assert proxied == {
        "order": ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"],
        "count": 0,
        "limit": 8,
        "cooloff": 1800,
    }
