"""Tiers and rules in words, for screens: "paid 74 days late on average"."""

from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def _percent(value) -> str:
    return f"{float(value) * 100:.1f} %"


def reason_text(reason: dict) -> str:
    """One fired rule (as stored in CustomerContribution.reasons) as a sentence."""
    measure, value, threshold = reason["measure"], reason["value"], reason["threshold"]
    if measure == "order_months":
        months = round(reason.get("lookback_days", 730) / 30.4)
        return ngettext(
            "one buying month in %(months)s months",
            "%(count)s buying months in %(months)s months",
            value,
        ) % {"count": value, "months": months}
    if measure == "margin":
        return _("margin %(margin)s vs company %(company)s") % {
            "margin": _percent(value),
            "company": _percent(reason.get("company_margin", threshold * 2)),
        }
    if measure == "discount_rate":
        return _("discounts %(rate)s of list value (limit %(limit)s)") % {
            "rate": _percent(value),
            "limit": _percent(threshold),
        }
    if measure == "return_rate":
        return _("returns %(rate)s of sales (limit %(limit)s)") % {
            "rate": _percent(value),
            "limit": _percent(threshold),
        }
    if measure == "avg_days_late":
        return _("paid %(days)s days late on average (limit %(limit)s)") % {
            "days": f"{float(value):.0f}",
            "limit": threshold,
        }
    return f"{reason['rule']}: {measure} {value}"


def contribution_explained(contribution) -> list[str]:
    """Why a customer has its tier, one sentence per reason, overrides included."""
    lines = [reason_text(reason) for reason in contribution.reasons]
    if contribution.override:
        lines.append(_("tier set by a manager: %(override)s") % {"override": contribution.override})
    return lines
