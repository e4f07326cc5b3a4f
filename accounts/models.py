"""The customer master and the ERP facts (SPEC §2)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from kam.money import MoneyField

# How deep a group hierarchy may be walked; deeper means bad data, not a real group.
MAX_HIERARCHY_DEPTH = 50


class SalesTeam(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager"),
        on_delete=models.PROTECT,
        related_name="managed_teams",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), related_name="sales_teams", blank=True
    )

    class Meta:
        verbose_name = _("sales team")
        verbose_name_plural = _("sales teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DORMANT = "dormant", _("Dormant")
        CLOSED = "closed", _("Closed")

    class RelationshipLevel(models.TextChoices):
        ORDINARY = "ordinary", _("Ordinary")
        PARTNER = "partner", _("Partner")
        STRATEGIC = "strategic", _("Strategic")

    code = models.CharField(_("customer code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="owned_customers",
    )
    account_team = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account team"),
        related_name="team_customers",
        blank=True,
    )
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.ACTIVE)
    relationship_level = models.CharField(
        _("relationship level"),
        max_length=20,
        choices=RelationshipLevel,
        default=RelationshipLevel.ORDINARY,
    )
    credit_limit = MoneyField(_("credit limit"), null=True, blank=True)
    payment_terms_days = models.PositiveIntegerField(
        _("payment terms (days)"), null=True, blank=True
    )
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
    )
    # Raised by every save through accounts.services / relationships.services: a save that
    # started from an older version is refused, so concurrent edits are never silently lost.
    version = models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["code"]
        indexes = [
            models.Index(fields=["owner", "code"]),
            models.Index(fields=["region"]),
            models.Index(fields=["industry"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("customer-detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        if self.referred_by_id is not None and self.referred_by_id == self.pk:
            raise ValidationError({"referred_by": _("A customer cannot refer itself.")})
        if self.parent_id is None:
            return
        # Walk up from the new parent; meeting ourselves means the change closes a cycle.
        seen = {self.pk} if self.pk else set()
        current = self.parent_id
        for _depth in range(MAX_HIERARCHY_DEPTH):
            if current is None:
                return
            if current in seen:
                raise ValidationError(
                    {
                        "parent": ValidationError(
                            _("This parent would make the group hierarchy a cycle."),
                            code="hierarchy_cycle",
                        )
                    }
                )
            seen.add(current)
            current = (
                Customer.objects.filter(pk=current).values_list("parent_id", flat=True).first()
            )
        raise ValidationError({"parent": _("The group hierarchy is deeper than allowed.")})


class BuyingUnit(models.Model):
    """A department, plant, subsidiary or project inside a customer that takes part in buying."""

    class Kind(models.TextChoices):
        DEPARTMENT = "department", _("Department")
        PLANT = "plant", _("Plant")
        SUBSIDIARY = "subsidiary", _("Subsidiary")
        PROJECT = "project", _("Project")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="buying_units"
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind, default=Kind.DEPARTMENT)

    class Meta:
        verbose_name = _("buying unit")
        verbose_name_plural = _("buying units")
        ordering = ["customer", "name"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name"], name="buying_unit_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    class Role(models.TextChoices):
        DECISION_MAKER = "decision_maker", _("Decision maker")
        INFLUENCER = "influencer", _("Influencer")
        BUYER = "buyer", _("Buyer")
        USER = "user", _("User")
        TECHNICAL = "technical", _("Technical gatekeeper")
        FINANCE = "finance", _("Finance approver")
        GATEKEEPER = "gatekeeper", _("Gatekeeper")
        OTHER = "other", _("Other")

    class Influence(models.TextChoices):
        HIGH = "high", _("High")
        MEDIUM = "medium", _("Medium")
        LOW = "low", _("Low")

    class Attitude(models.TextChoices):
        SUPPORTER = "supporter", _("Supporter")
        NEUTRAL = "neutral", _("Neutral")
        OPPONENT = "opponent", _("Opponent")
        UNKNOWN = "unknown", _("Unknown")

    # Fields finance must not see (SPEC §6): personal data, not figures.
    PERSONAL_FIELDS = ("phone", "email", "birthday", "personal_notes")

    buying_unit = models.ForeignKey(
        BuyingUnit, verbose_name=_("buying unit"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("title"), max_length=100, blank=True)
    role = models.CharField(_("buying role"), max_length=20, choices=Role, default=Role.OTHER)
    influence = models.CharField(
        _("influence"), max_length=10, choices=Influence, default=Influence.MEDIUM
    )
    attitude = models.CharField(
        _("attitude"), max_length=10, choices=Attitude, default=Attitude.UNKNOWN
    )
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    email = models.EmailField(_("email"), blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    personal_notes = models.TextField(_("personal notes"), blank=True)
    reports_to = models.ForeignKey(
        "self",
        verbose_name=_("reports to"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Off when the person has left.")
    )
    # See Customer.version.
    version = models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["buying_unit", "name"]
        constraints = [
            models.UniqueConstraint(fields=["buying_unit", "name"], name="contact_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.reports_to_id and self.buying_unit_id:
            if self.reports_to_id == self.pk:
                raise ValidationError({"reports_to": _("A contact cannot report to themselves.")})
            same_customer = Contact.objects.filter(
                pk=self.reports_to_id, buying_unit__customer_id=self.buying_unit.customer_id
            ).exists()
            if not same_customer:
                raise ValidationError(
                    {
                        "reports_to": ValidationError(
                            _("A contact can only report to someone at the same customer."),
                            code="other_customer",
                        )
                    }
                )


class SalesLine(models.Model):
    """One ERP order line. Returns are negative lines."""

    # No index of its own: the (customer, order_date) index serves lookups by customer too.
    # The key is checked once per statement, not once per line (kam/foreign_keys.py; the
    # migration adds the check): a native one took ~5 s of a million-line import.
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="sales_lines",
        db_index=False,
        db_constraint=False,
    )
    order_ref = models.CharField(_("order ref"), max_length=50)
    line_no = models.PositiveIntegerField(_("line no"), default=1)
    order_date = models.DateField(_("order date"))
    product_code = models.CharField(_("product code"), max_length=50, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3, default=0)
    revenue = MoneyField(_("net revenue"))
    cost = MoneyField(_("cost"))
    discount = MoneyField(_("discount"), default=0)

    class Meta:
        verbose_name = _("sales line")
        verbose_name_plural = _("sales lines")
        # No default ordering: sorting millions of lines must be asked for, never implied.
        constraints = [
            models.UniqueConstraint(fields=["order_ref", "line_no"], name="sales_line_unique_ref")
        ]
        # One customer's window (account page, health) and the per-customer aggregation.
        # No index on order_date alone: a year out of the history is read by a scan anyway,
        # and every extra index slows the million-line imports.
        indexes = [models.Index(fields=["customer", "order_date"])]

    def __str__(self) -> str:
        return f"{self.order_ref}/{self.line_no}"


class SalesDay(models.Model):
    """One customer's sales lines of one day, summed (integer cents): what the contribution
    recompute reads instead of the lines. Summed afresh from the lines of customers marked
    stale, never written otherwise: see accounts/sales_days.py."""

    pk = models.CompositePrimaryKey("customer_id", "day")
    # A plain column, not a key: a day exists only while a line of that customer does.
    customer_id = models.BigIntegerField()
    day = models.DateField()
    revenue = models.BigIntegerField()
    gross_profit = models.BigIntegerField()
    returns = models.BigIntegerField()  # Σ -revenue of the returns (lines with revenue < 0)
    sold_discount = models.BigIntegerField()  # Σ discount of the sales (revenue > 0)
    sold_lines = models.IntegerField()  # lines with revenue > 0
    lines = models.IntegerField()

    class Meta:
        verbose_name = _("sales day")
        verbose_name_plural = _("sales days")

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.day}"


class SalesDayStale(models.Model):
    """A mark: a customer's sales lines between two days changed since its sales days were
    summed. Inserted by triggers on the lines (one per statement and customer; SQLite: per
    line), never updated, deleted by sales_days_refresh (accounts/sales_days.py)."""

    # Indexed for SQLite's refresh, which looks a day's marks up by customer.
    customer_id = models.BigIntegerField(db_index=True)
    first_day = models.DateField()
    last_day = models.DateField()

    class Meta:
        verbose_name = _("stale sales days")
        verbose_name_plural = _("stale sales days")

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.first_day}..{self.last_day}"


class Receivable(models.Model):
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="receivables",
        db_index=False,  # covered by the (customer, invoice_date) index
        db_constraint=False,  # checked once per statement, as SalesLine.customer
    )
    invoice_ref = models.CharField(_("invoice ref"), max_length=50, unique=True)
    invoice_date = models.DateField(_("invoice date"))
    due_date = models.DateField(_("due date"))
    amount = MoneyField(_("amount"))
    paid_date = models.DateField(_("paid date"), null=True, blank=True)

    class Meta:
        verbose_name = _("receivable")
        verbose_name_plural = _("receivables")
        indexes = [models.Index(fields=["customer", "invoice_date"])]

    def __str__(self) -> str:
        return self.invoice_ref


class ImportRun(models.Model):
    """One import of one file: who, when, what, and how it ended (accepted or rejected)."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        CONTACTS = "contacts", _("Contacts")
        SALES = "sales", _("Sales lines")
        PAYMENTS = "payments", _("Payments")

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    file_name = models.CharField(_("file"), max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    problem_count = models.PositiveIntegerField(_("problems"), default=0)
    problems = models.JSONField(_("problem list"), default=list, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.file_name} ({self.status})"


class AuditEvent(models.Model):
    """One recorded change: who, when, what, old and new values (field -> [old, new]).

    Written by accounts.audit.audit_record from every write path of customers, contacts,
    buying units, ownership, overrides, the tier policy and imports (an import is one event
    with its counts). Never edited."""

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,  # covered by the (customer, at) index
    )
    entity = models.CharField(_("what"), max_length=30)
    entity_id = models.CharField(_("id"), max_length=64, blank=True)
    action = models.CharField(_("action"), max_length=20)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("change")
        verbose_name_plural = _("change history")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.entity} {self.action}"
