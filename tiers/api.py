"""REST endpoints of tiers: customers (with their current tier, as on the customer list),
contribution runs and contributions (read-only), tier overrides and the tier policy."""

from datetime import UTC

import django_filters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Customer
from accounts.selectors import customer_list_visible_to, customer_scope_q, people_managed_by
from accounts.services import customer_create, customer_update
from kam.api import (
    ADMINS,
    MANAGERS,
    READ_ALL,
    AddOnlyViewSet,
    EditableViewSet,
    ModelSerializer,
    RoleScopedMixin,
    VersionedUpdateMixin,
    VersionField,
    scoped_related,
    versioned_update_schema,
)
from kam.roles import Role, sees_all_accounts, user_roles
from tiers.models import ContributionRun, CustomerContribution, Tier, TierOverride, TierPolicy
from tiers.selectors import current_tier_subquery
from tiers.services.overrides import tier_override_create, tier_override_revoke
from tiers.services.policy import tier_policy_create
from tiers.services.publication import policy_current

User = get_user_model()


def _assignable_people(user):
    """Whom the caller may name as owner or on the account team."""
    if Role.ADMIN in user_roles(user):
        return User.objects.filter(is_active=True)
    if Role.MANAGER in user_roles(user):
        return User.objects.filter(
            Q(pk=user.pk) | Q(pk__in=people_managed_by(user).values("pk"))
        ).distinct()
    return User.objects.none()


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, turned into UTC: a client may send any offset Python reads
    (up to ±24 h), PostgreSQL takes only up to ±15:59 (a 500 otherwise)."""

    def to_python(self, value):
        value = super().to_python(value)
        try:
            return value and value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+08:00 is in year 0 in UTC
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


# A group parent or a referrer in another team is not named to those who cannot see it (as on
# the screens: accounts.selectors.customer_group_tree).
HIDDEN_LINKS = ("parent", "referred_by")


def _customer_rows(queryset, user):
    """Customers with their current tier and whether each link is visible to `user`."""
    queryset = queryset.annotate(current_tier=current_tier_subquery())
    if not sees_all_accounts(user):  # who sees every account sees every link: no subqueries
        visible = Customer.objects.filter(customer_scope_q(user))
        queryset = queryset.annotate(
            **{
                f"{link}_visible": Exists(visible.filter(pk=OuterRef(f"{link}_id")))
                for link in HIDDEN_LINKS
            }
        )
    return queryset.prefetch_related("account_team")


def _link_visible(customer, link) -> bool:
    return getattr(customer, f"{link}_id") is None or getattr(customer, f"{link}_visible", True)


class CustomerSerializer(ModelSerializer):
    parent = scoped_related(customer_list_visible_to, required=False, allow_null=True)
    referred_by = scoped_related(customer_list_visible_to, required=False, allow_null=True)
    owner = scoped_related(_assignable_people, required=False, allow_null=True)
    owner_username = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )
    account_team = scoped_related(_assignable_people, many=True, required=False)
    tier = serializers.ChoiceField(
        choices=Tier.choices,
        read_only=True,
        allow_null=True,
        source="current_tier",
        help_text="The tier in the current contribution run (null outside it).",
    )
    version = VersionField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "code",
            "name",
            "industry",
            "region",
            "parent",
            "owner",
            "owner_username",
            "account_team",
            "status",
            "relationship_level",
            "credit_limit",
            "payment_terms_days",
            "referred_by",
            "tier",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # The uniqueness of `code` is checked by the service's full_clean (one place).
        extra_kwargs = {"code": {"validators": []}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for link in HIDDEN_LINKS:
            if not _link_visible(instance, link):
                data[link] = None
        return data


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", help_text="Part of the code or the name.")
    tier = django_filters.ChoiceFilter(field_name="current_tier", choices=Tier.choices)
    excluded = django_filters.BooleanFilter(
        method="filter_excluded", help_text="Flagged as a fake big customer in the current run."
    )
    owner = django_filters.NumberFilter(field_name="owner_id")
    region = django_filters.CharFilter()
    industry = django_filters.CharFilter()
    updated_after = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = UtcDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    parent = django_filters.NumberFilter(field_name="parent_id")

    class Meta:
        model = Customer
        fields = ["relationship_level", "status"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))

    def filter_excluded(self, queryset, name, value):
        flagged = CustomerContribution.objects.filter(run__is_current=True, excluded=True)
        flagged_ids = flagged.values("customer_id")
        return (
            queryset.filter(pk__in=flagged_ids) if value else queryset.exclude(pk__in=flagged_ids)
        )


@extend_schema_view(
    update=versioned_update_schema(CustomerSerializer),
    partial_update=versioned_update_schema(CustomerSerializer),
)
@extend_schema(tags=["customers"])
class CustomerViewSet(VersionedUpdateMixin, EditableViewSet):
    """Accounts in the caller's scope. Admins add customers; managers and admins change
    them (a manager hands accounts only to the members of their teams). Updates name the
    version they start from."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    ordering_fields = ["code", "name", "region", "industry", "updated_at"]
    ordering = ["code"]
    read_roles = READ_ALL
    write_roles = MANAGERS
    action_roles = {"create": ADMINS}

    def scoped_queryset(self):
        return _customer_rows(customer_list_visible_to(self.request.user), self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        team = data.pop("account_team", None)
        customer = customer_create(user=self.request.user, account_team=team, **data)
        customer.current_tier = None
        serializer.instance = self._saved = customer

    def perform_update(self, serializer):
        customer = serializer.instance
        data = dict(serializer.validated_data)
        data.pop("version", None)
        team = data.pop("account_team", None)
        if team is not None and {p.pk for p in team} == {p.pk for p in customer.account_team.all()}:
            team = None
        for link in HIDDEN_LINKS:
            # A link the caller cannot see was shown as null; null back leaves it alone.
            if link in data and data[link] is None and not _link_visible(customer, link):
                del data[link]
        changed = {k: v for k, v in data.items() if getattr(customer, k) != v}

        def save(expected):
            return customer_update(
                user=self.request.user,
                customer=customer,
                expected_version=expected,
                account_team=team,
                **changed,
            )

        saved = self.perform_versioned_update(serializer, save)
        # Not through the scope: the change may have taken the account out of it (a manager
        # who clears the owner), and the answer still shows what was saved.
        saved = _customer_rows(Customer.objects.all(), self.request.user).get(pk=saved.pk)
        serializer.instance = self._saved = saved


# --- runs and contributions (read-only) ---------------------------------------------------


class RunSerializer(ModelSerializer):
    class Meta:
        model = ContributionRun
        fields = [
            "id",
            "as_of",
            "status",
            "is_current",
            "policy",
            "started_at",
            "finished_at",
            "duration_ms",
            "customer_count",
            "total_revenue",
            "total_gross_profit",
            "company_margin",
        ]
        read_only_fields = fields


class RunFilter(django_filters.FilterSet):
    as_of_after = django_filters.DateFilter(field_name="as_of", lookup_expr="gte")
    as_of_before = django_filters.DateFilter(field_name="as_of", lookup_expr="lte")

    class Meta:
        model = ContributionRun
        fields = ["status", "is_current", "as_of"]


@extend_schema(tags=["contribution"])
class RunViewSet(RoleScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Nightly contribution runs: company totals, for managers, finance and admins."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    ordering_fields = ["as_of", "started_at"]
    ordering = ["-as_of", "-id"]
    read_roles = frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN})

    def scoped_queryset(self):
        return ContributionRun.objects.all()


class ContributionSerializer(ModelSerializer):
    customer_code = serializers.CharField(source="customer.code", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    exclusion_rules = serializers.SerializerMethodField()

    class Meta:
        model = CustomerContribution
        fields = [
            "id",
            "run",
            "customer",
            "customer_code",
            "customer_name",
            "revenue",
            "gross_profit",
            "margin",
            "revenue_share",
            "profit_share",
            "cumulative_profit_share",
            "profit_rank",
            "revenue_tier",
            "profit_tier",
            "computed_tier",
            "tier",
            "previous_tier",
            "excluded",
            "exclusion_rules",
            "override",
            "order_months",
            "discount_rate",
            "return_rate",
            "avg_days_late",
            "reasons",
        ]
        read_only_fields = fields

    def get_exclusion_rules(self, obj) -> list[str]:
        return [rule for rule in obj.exclusion_rules.split(";") if rule]


class ContributionFilter(django_filters.FilterSet):
    run = django_filters.NumberFilter(
        field_name="run_id", method="filter_run", help_text="A run's id; the current run if absent."
    )
    customer = django_filters.NumberFilter(field_name="customer_id")
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    previous_tier = django_filters.ChoiceFilter(choices=Tier.choices)
    excluded = django_filters.BooleanFilter()
    region = django_filters.CharFilter(field_name="customer__region")
    industry = django_filters.CharFilter(field_name="customer__industry")
    owner = django_filters.NumberFilter(field_name="customer__owner_id")

    class Meta:
        model = CustomerContribution
        fields = []

    def filter_run(self, queryset, name, value):
        return queryset  # applied in the view, which needs it even when absent

    @property
    def qs(self):
        queryset = super().qs
        run = self.form.cleaned_data.get("run") if self.form.is_valid() else None
        if run is None:
            return queryset.filter(run__is_current=True)
        return queryset.filter(run_id=run)


@extend_schema(tags=["contribution"])
class ContributionViewSet(RoleScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Each customer's figures and tiers in one run (SPEC §3, §5): the current run unless
    `run` names another. Only customers in the caller's scope."""

    serializer_class = ContributionSerializer
    filterset_class = ContributionFilter
    ordering_fields = ["profit_rank", "revenue", "gross_profit", "margin", "customer__code"]
    ordering = ["profit_rank", "customer__code"]
    read_roles = READ_ALL

    def scoped_queryset(self):
        scope = customer_scope_q(self.request.user, "customer__")
        # Only published runs' rows: readers never see a run that is computing or died.
        return CustomerContribution.objects.filter(
            scope, run__status__in=ContributionRun.PUBLISHED
        ).select_related("customer")

    def filter_queryset(self, queryset):
        # A detail route finds a row in any run; only lists default to the current one.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)


# --- overrides and the policy -------------------------------------------------------------


class TierOverrideSerializer(ModelSerializer):
    customer = scoped_related(customer_list_visible_to)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = TierOverride
        fields = [
            "id",
            "customer",
            "tier",
            "reason",
            "expires_on",
            "created_by",
            "created_at",
            "revoked_at",
            "active",
        ]
        read_only_fields = ["created_by", "created_at", "revoked_at"]

    def get_active(self, obj) -> bool:
        return obj.revoked_at is None and (
            obj.expires_on is None or obj.expires_on >= timezone.localdate()
        )


class TierOverrideFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id")
    revoked = django_filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", exclude=True
    )
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = TierOverride
        fields = ["tier"]


@extend_schema(tags=["contribution"])
class TierOverrideViewSet(AddOnlyViewSet):
    """A manager's decision on a customer's tier, with a reason and an optional expiry. Never
    edited or deleted: a newer one supersedes it, or it is revoked (history kept)."""

    serializer_class = TierOverrideSerializer
    filterset_class = TierOverrideFilter
    ordering_fields = ["created_at", "expires_on"]
    ordering = ["-created_at", "-id"]
    read_roles = READ_ALL
    write_roles = MANAGERS

    def scoped_queryset(self):
        scope = customer_scope_q(self.request.user, "customer__")
        return TierOverride.objects.filter(scope).select_related("created_by")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = tier_override_create(
            user=self.request.user,
            customer=data["customer"],
            tier=data["tier"],
            reason=data["reason"],
            expires_on=data.get("expires_on"),
        )

    @extend_schema(request=None, responses={200: TierOverrideSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        override = self.get_object()
        tier_override_revoke(user=request.user, override=override)
        override.refresh_from_db()
        return Response(self.get_serializer(override).data)


class TierPolicySerializer(ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = TierPolicy
        fields = [
            "id",
            "window_days",
            "a_cutoff",
            "b_cutoff",
            "one_off_lookback_days",
            "one_off_max_months",
            "one_off_cap",
            "low_margin_ratio",
            "low_margin_cap",
            "squeezer_discount_rate",
            "squeezer_return_rate",
            "squeezer_days_late",
            "squeezer_cap",
            "note",
            "created_at",
            "created_by",
        ]
        read_only_fields = ["created_at", "created_by"]
        # The ratio columns carry database-level checks; the model's full_clean decides.
        validators = []


@extend_schema(tags=["contribution"])
class TierPolicyViewSet(AddOnlyViewSet):
    """The thresholds of SPEC §3, as versions: the newest is in force (`current/`); a change
    is a POST of a whole new version, used from the next run on."""

    serializer_class = TierPolicySerializer
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]
    read_roles = frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN})
    write_roles = MANAGERS
    action_roles = {"current": frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN})}

    def scoped_queryset(self):
        return TierPolicy.objects.select_related("created_by")

    def perform_create(self, serializer):
        policy = TierPolicy(**serializer.validated_data)
        serializer.instance = tier_policy_create(user=self.request.user, policy=policy)

    @extend_schema(responses={200: TierPolicySerializer})
    @action(detail=False, methods=["get"])
    def current(self, request):
        return Response(self.get_serializer(policy_current()).data)
