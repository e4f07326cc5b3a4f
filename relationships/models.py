"""The work with people (SPEC §2, §4): visits, follow-ups, cadence, account plans."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kam.money import MoneyField
from tiers.models import Tier


class Visit(models.Model):
    """A logged touch: a visit, call, video meeting, event, WeChat or email exchange."""

    class Channel(models.TextChoices):
        ONSITE = "onsite", _("On-site visit")
        PHONE = "phone", _("Phone")
        VIDEO = "video", _("Video")
        EVENT = "event", _("Event")
        WECHAT = "wechat", _("WeChat")
        EMAIL = "email", _("Email")

    class Outcome(models.TextChoices):
        POSITIVE = "positive", _("Positive")
        NEUTRAL = "neutral", _("Neutral")
        NEGATIVE = "negative", _("Negative")

    customer = models.ForeignKey(
        "accounts.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="visits",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("logged by"),
        on_delete=models.PROTECT,
        related_name="visits",
    )
    visit_date = models.DateField(_("date"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel, default=Channel.ONSITE)
    contacts = models.ManyToManyField(
        "accounts.Contact", verbose_name=_("contacts met"), related_name="visits", blank=True
    )
    purpose = models.CharField(_("purpose"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome, default=Outcome.NEUTRAL
    )
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("logged"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-visit_date", "-id"]
        # The timeline and "last touch" of one account.
        indexes = [models.Index(fields=["customer", "visit_date"])]

    def __str__(self) -> str:
        return f"{self.visit_date} {self.get_channel_display()}: {self.purpose}"


class FollowUp(models.Model):
    """A planned touch. Generated ones carry a `dedupe_key`, so the daily job never makes the
    same follow-up twice, even after it was completed or cancelled."""

    class Kind(models.TextChoices):
        NEXT_STEP = "next_step", _("Next step of a visit")
        CADENCE = "cadence", _("Cadence")
        BIRTHDAY = "birthday", _("Birthday")
        HOLIDAY = "holiday", _("Holiday")
        MANUAL = "manual", _("Manual")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    customer = models.ForeignKey(
        "accounts.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="follow_ups",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="follow_ups",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.MANUAL)
    due_date = models.DateField(_("due"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    contact = models.ForeignKey(
        "accounts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="follow_ups",
    )
    occasion = models.CharField(_("occasion"), max_length=30, blank=True)
    occasion_date = models.DateField(_("occasion date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.OPEN)
    source_visit = models.ForeignKey(
        Visit,
        verbose_name=_("from visit"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="next_follow_ups",
    )
    completed_visit = models.ForeignKey(
        Visit,
        verbose_name=_("completed by visit"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="completed_follow_ups",
    )
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    snooze_count = models.PositiveIntegerField(_("times snoozed"), default=0)
    snooze_reason = models.CharField(_("snooze reason"), max_length=300, blank=True)
    dedupe_key = models.CharField(
        max_length=100, unique=True, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_date", "id"]
        indexes = [
            models.Index(fields=["owner", "status", "due_date"]),
            models.Index(fields=["customer", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.due_date} {self.get_kind_display()}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class CadenceRule(models.Model):
    """How often an account of a tier must be touched (SPEC §4: A 30, B 60, C 120 days)."""

    tier = models.CharField(_("tier"), max_length=1, choices=Tier, unique=True)
    days = models.PositiveIntegerField(
        _("touch at least every (days)"), validators=[MinValueValidator(1), MaxValueValidator(730)]
    )

    class Meta:
        verbose_name = _("cadence rule")
        verbose_name_plural = _("cadence rules")
        ordering = ["tier"]
        constraints = [
            models.CheckConstraint(condition=Q(days__gte=1), name="cadence_days_positive")
        ]

    def __str__(self) -> str:
        return f"{self.tier}: {self.days}"


class AccountPlan(models.Model):
    customer = models.ForeignKey(
        "accounts.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="plans",
    )
    year = models.PositiveSmallIntegerField(
        _("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)]
    )
    strategy = models.TextField(_("strategy"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("account plan")
        verbose_name_plural = _("account plans")
        ordering = ["-year", "customer"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "year"], name="account_plan_one_per_year")
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.year}"


class PlanObjective(models.Model):
    plan = models.ForeignKey(AccountPlan, on_delete=models.CASCADE, related_name="objectives")
    title = models.CharField(_("objective"), max_length=200)
    revenue_target = MoneyField(_("revenue target"), null=True, blank=True)
    profit_target = MoneyField(_("gross profit target"), null=True, blank=True)

    class Meta:
        verbose_name = _("objective")
        verbose_name_plural = _("objectives")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class PlanAction(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS)

    plan = models.ForeignKey(AccountPlan, on_delete=models.CASCADE, related_name="actions")
    objective = models.ForeignKey(
        PlanObjective,
        verbose_name=_("objective"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="actions",
    )
    title = models.CharField(_("action"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="plan_actions",
    )
    due_date = models.DateField(_("due"))
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.OPEN)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("plan action")
        verbose_name_plural = _("plan actions")
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return self.title


class Reassignment(models.Model):
    """A manager moved a departing rep's accounts, open follow-ups and plan actions."""

    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("from"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("when"), auto_now_add=True)
    customer_count = models.PositiveIntegerField(_("accounts"), default=0)
    account_team_count = models.PositiveIntegerField(_("account-team places"), default=0)
    follow_up_count = models.PositiveIntegerField(_("follow-ups"), default=0)
    action_count = models.PositiveIntegerField(_("plan actions"), default=0)
    customer_codes = models.JSONField(_("accounts moved"), default=list, blank=True)

    class Meta:
        verbose_name = _("reassignment")
        verbose_name_plural = _("reassignments")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_user} → {self.to_user}"


class AccountHealth(models.Model):
    """Each account's health as of the last daily refresh, so lists over thousands of
    accounts (the dashboard, the attention page) read one row per account instead of
    aggregating two years of sales lines per request. The account page computes it live."""

    customer = models.OneToOneField(
        "accounts.Customer", on_delete=models.CASCADE, related_name="health", primary_key=True
    )
    as_of = models.DateField(_("as of"))
    revenue = MoneyField(_("revenue"))
    previous_revenue = MoneyField(_("previous revenue"))
    growth = models.DecimalField(_("growth"), max_digits=30, decimal_places=6, null=True)
    volatility = models.DecimalField(_("volatility"), max_digits=30, decimal_places=6, null=True)
    avg_days_late = models.DecimalField(
        _("average days late"), max_digits=30, decimal_places=2, null=True
    )
    flags = models.JSONField(_("flags"), default=list, blank=True)
    flagged = models.BooleanField(_("has a warning"), default=False)
    # The account's tier at refresh time as a sort key (1 A, 2 B, 3 C, 4 not in the run), so
    # lists take "A and B first" from an index instead of sorting every flagged account.
    priority = models.PositiveSmallIntegerField(default=4)

    class Meta:
        verbose_name = _("account health")
        verbose_name_plural = _("account health")
        indexes = [models.Index(fields=["flagged", "priority", "customer"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.as_of}: {','.join(self.flags) or 'ok'}"
