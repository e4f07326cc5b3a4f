"""Contribution and tiers (SPEC §3): policy versions, runs, per-customer figures, overrides."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from kam.money import MoneyField


class Tier(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"


def _ratio(verbose_name, default):
    return models.DecimalField(
        verbose_name, max_digits=6, decimal_places=4, default=Decimal(default)
    )


class TierPolicy(models.Model):
    """One version of the thresholds. Versions are never edited: a change adds a new one,
    so every run can say which policy it used and every change is kept."""

    window_days = models.PositiveIntegerField(_("window (days)"), default=365)
    a_cutoff = _ratio(_("A cut-off (share before)"), "0.80")
    b_cutoff = _ratio(_("B cut-off (share before)"), "0.95")
    one_off_lookback_days = models.PositiveIntegerField(_("one-off look-back (days)"), default=730)
    one_off_max_months = models.PositiveIntegerField(
        _("one-off: at most this many months"), default=1
    )
    one_off_cap = models.CharField(
        _("one-off caps the tier at"), max_length=1, choices=Tier, default="C"
    )
    low_margin_ratio = _ratio(_("low margin: below this × company margin"), "0.50")
    low_margin_cap = models.CharField(
        _("low margin caps the tier at"), max_length=1, choices=Tier, default="B"
    )
    squeezer_discount_rate = _ratio(_("squeezer: discount rate at least"), "0.15")
    squeezer_return_rate = _ratio(_("squeezer: return rate at least"), "0.10")
    squeezer_days_late = models.PositiveIntegerField(_("squeezer: days late at least"), default=60)
    squeezer_cap = models.CharField(
        _("squeezer caps the tier at"), max_length=1, choices=Tier, default="C"
    )
    note = models.CharField(_("why this change"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("tier policy")
        verbose_name_plural = _("tier policies")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(a_cutoff__gt=0) & Q(a_cutoff__lte=F("b_cutoff")) & Q(b_cutoff__lte=1),
                name="tier_policy_cutoffs_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.created_at:%Y-%m-%d %H:%M}" if self.pk else "new policy"


class ContributionRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        # A later run for the same as-of took its place; its rows stay until the next run
        # starts, so a reader that picked it as current a moment earlier still reads them.
        REPLACED = "replaced", _("Replaced")

    # Runs whose rows readers may read: the published ones, and one replaced by a same-date
    # run until the next run deletes it (a page that picked it a moment before finishes).
    PUBLISHED = (Status.SUCCEEDED, Status.REPLACED)

    as_of = models.DateField(_("as of"))
    policy = models.ForeignKey(TierPolicy, verbose_name=_("policy"), on_delete=models.PROTECT)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.RUNNING)
    is_current = models.BooleanField(_("current"), default=False)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    customer_count = models.PositiveIntegerField(_("customers"), default=0)
    total_revenue = MoneyField(_("total revenue"), default=0)
    total_gross_profit = MoneyField(_("total gross profit"), default=0)
    company_margin = models.DecimalField(
        _("company margin"), max_digits=30, decimal_places=6, null=True, blank=True
    )
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("contribution run")
        verbose_name_plural = _("contribution runs")
        ordering = ["-as_of", "-id"]
        constraints = [
            # Readers find the one current run; two can never be current at once.
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="one_current_run"
            )
        ]

    def __str__(self) -> str:
        return f"{self.as_of} ({self.get_status_display()})"


class CustomerContribution(models.Model):
    """One customer's figures and tiers in one run: the SPEC §5 report row, plus what each
    rule measured, so a screen can say why."""

    # Both keys are checked once per statement, not once per row (kam/foreign_keys.py; the
    # migration adds the checks): native ones took ~0.9 s of writing a run's 100,000 rows.
    run = models.ForeignKey(
        ContributionRun,
        on_delete=models.CASCADE,
        related_name="contributions",
        db_index=False,
        db_constraint=False,
    )
    customer = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.CASCADE,
        related_name="contributions",
        db_constraint=False,
    )
    revenue = MoneyField(_("revenue"))
    gross_profit = MoneyField(_("gross profit"))
    margin = models.DecimalField(_("margin"), max_digits=30, decimal_places=6, null=True)
    revenue_share = models.DecimalField(_("revenue share"), max_digits=30, decimal_places=6)
    profit_share = models.DecimalField(_("profit share"), max_digits=30, decimal_places=6)
    cumulative_profit_share = models.DecimalField(
        _("cumulative profit share"), max_digits=30, decimal_places=6, null=True
    )
    profit_rank = models.PositiveIntegerField(_("profit rank"), null=True)
    revenue_tier = models.CharField(_("revenue tier"), max_length=1, choices=Tier)
    profit_tier = models.CharField(_("profit tier"), max_length=1, choices=Tier)
    computed_tier = models.CharField(_("tier before override"), max_length=1, choices=Tier)
    tier = models.CharField(_("tier"), max_length=1, choices=Tier)
    previous_tier = models.CharField(_("previous tier"), max_length=1, choices=Tier, blank=True)
    excluded = models.BooleanField(_("excluded"), default=False)
    exclusion_rules = models.CharField(_("exclusion rules"), max_length=100, blank=True)
    override = models.CharField(_("override"), max_length=400, blank=True)
    # What the rules measured (for candidates; empty otherwise) and why they fired.
    order_months = models.PositiveIntegerField(_("buying months in look-back"), null=True)
    discount_rate = models.DecimalField(max_digits=30, decimal_places=6, null=True)
    return_rate = models.DecimalField(max_digits=30, decimal_places=6, null=True)
    avg_days_late = models.DecimalField(max_digits=30, decimal_places=2, null=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)

    class Meta:
        verbose_name = _("customer contribution")
        verbose_name_plural = _("customer contributions")
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="contribution_unique_customer")
        ]
        indexes = [models.Index(fields=["run", "tier"])]

    def __str__(self) -> str:
        return f"{self.customer_id} in run {self.run_id}: {self.tier}"


class TierOverride(models.Model):
    """A manager's decision to put a customer in a tier, with the reason. Never deleted:
    a newer override supersedes an older one; one ends by expiring or being revoked."""

    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.CASCADE, related_name="tier_overrides"
    )
    tier = models.CharField(_("tier"), max_length=1, choices=Tier)
    reason = models.CharField(_("reason"), max_length=300)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("tier override")
        verbose_name_plural = _("tier overrides")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="tier_override_reason_required")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.tier}"
