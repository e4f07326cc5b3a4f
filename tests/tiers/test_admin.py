"""Policy versions and overrides through the admin: kept, scoped, manager-only."""

import pytest
from django.urls import reverse

from tiers.models import TierOverride, TierPolicy
from tiers.services.publication import policy_current

pytestmark = pytest.mark.django_db


def policy_form(**changes):
    data = {
        "window_days": 365, "a_cutoff": "0.80", "b_cutoff": "0.95",
        "one_off_lookback_days": 730, "one_off_max_months": 1, "one_off_cap": "C",
        "low_margin_ratio": "0.50", "low_margin_cap": "B", "squeezer_discount_rate": "0.15",
        "squeezer_return_rate": "0.10", "squeezer_days_late": 60, "squeezer_cap": "C",
        "note": "",
    }  # fmt: skip
    data.update(changes)
    return data


def test_a_manager_changes_the_policy_as_a_new_version(client, manager):
    first = policy_current()
    client.force_login(manager)
    response = client.post(
        reverse("admin:tiers_tierpolicy_add"), policy_form(squeezer_days_late=45, note="CFO")
    )
    assert response.status_code == 302
    assert TierPolicy.objects.count() == 2
    newest = policy_current()
    assert (newest.squeezer_days_late, newest.created_by, newest.note) == (45, manager, "CFO")
    first.refresh_from_db()
    assert first.squeezer_days_late == 60  # the old version is kept as it was
    change = client.post(
        reverse("admin:tiers_tierpolicy_change", args=[first.pk]), policy_form(window_days=1)
    )
    assert change.status_code == 403


def test_a_rep_cannot_change_the_policy(client, rep):
    client.force_login(rep)
    assert client.post(reverse("admin:tiers_tierpolicy_add"), policy_form()).status_code == 403


def test_a_manager_overrides_an_account_of_their_team_with_a_reason(
    client, manager, rep_customer, outsider_customer
):
    client.force_login(manager)
    url = reverse("admin:tiers_tieroverride_add")
    response = client.post(url, {"customer": rep_customer.pk, "tier": "A", "reason": "key deal"})
    assert response.status_code == 302
    assert TierOverride.objects.get().created_by == manager
    other = client.post(url, {"customer": outsider_customer.pk, "tier": "A", "reason": "x"})
    assert other.status_code == 200 and "customer" in other.context["adminform"].form.errors
    no_reason = client.post(url, {"customer": rep_customer.pk, "tier": "B", "reason": ""})
    assert "reason" in no_reason.context["adminform"].form.errors
    assert TierOverride.objects.count() == 1
