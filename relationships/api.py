"""REST endpoints of the work with people: the buying centre (buying units and contacts),
visits, follow-ups, and account plans with their objectives and actions."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import BuyingUnit, Contact, Customer
from accounts.selectors import (
    buying_unit_list_visible_to,
    contact_list_visible_to,
    customer_list_visible_to,
    customer_scope_q,
    people_managed_by,
)
from kam.api import (
    READ_ALL,
    WORKERS,
    AddOnlyViewSet,
    EditableViewSet,
    ModelSerializer,
    VersionedUpdateMixin,
    VersionField,
    scoped_related,
    versioned_update_schema,
)
from kam.roles import Role, user_roles
from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit
from relationships.selectors import (
    follow_up_list_visible_to,
    plan_list_visible_to,
    visit_list_visible_to,
)
from relationships.services import (
    buying_unit_save,
    contact_save,
    follow_up_complete,
    follow_up_create,
    follow_up_reassign,
    follow_up_snooze,
    plan_action_save,
    plan_create,
    plan_objective_save,
    plan_update,
    visit_log,
    visit_update,
)

User = get_user_model()


def _objectives(user):
    return PlanObjective.objects.filter(customer_scope_q(user, "plan__customer__"))


def _people(user):
    """Whom the caller may name as an owner: the people they can see at work — themselves,
    the owners and account teams of their accounts, and (managers) their teams' members. The
    services then check that the person works on that account. Anyone else is refused as
    "does not exist", so an answer never names a person outside the caller's sight."""
    if not user.is_authenticated:
        return User.objects.none()
    active = User.objects.filter(is_active=True)
    if Role.ADMIN in user_roles(user):
        return active
    visible = Customer.objects.filter(customer_scope_q(user))
    team = Customer.account_team.through.objects.filter(customer_id__in=visible.values("pk"))
    return active.filter(
        Q(pk=user.pk)
        | Q(pk__in=visible.values("owner_id"))
        | Q(pk__in=team.values("user_id"))
        | Q(pk__in=people_managed_by(user).values("pk"))
    )


# --- buying centre ------------------------------------------------------------------------


class BuyingUnitSerializer(ModelSerializer):
    customer = scoped_related(customer_list_visible_to)

    class Meta:
        model = BuyingUnit
        fields = ["id", "customer", "name", "kind"]
        validators = []  # (customer, name) uniqueness: the service's full_clean decides


class BuyingUnitFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id")

    class Meta:
        model = BuyingUnit
        fields = ["kind", "name"]


@extend_schema(tags=["buying centre"])
class BuyingUnitViewSet(EditableViewSet):
    """Departments, plants, subsidiaries and projects of a customer that take part in buying."""

    serializer_class = BuyingUnitSerializer
    filterset_class = BuyingUnitFilter
    ordering_fields = ["name", "customer"]
    ordering = ["customer", "name"]
    read_roles = READ_ALL
    write_roles = WORKERS

    def scoped_queryset(self):
        return buying_unit_list_visible_to(self.request.user)

    def perform_create(self, serializer):
        unit = BuyingUnit(**serializer.validated_data)
        serializer.instance = buying_unit_save(user=self.request.user, unit=unit)

    def perform_update(self, serializer):
        unit = serializer.instance
        data = serializer.validated_data
        if "customer" in data and data["customer"].pk != unit.customer_id:
            raise serializers.ValidationError(
                {"customer": ["A buying unit stays with its customer."]}
            )
        for name, value in data.items():
            setattr(unit, name, value)
        serializer.instance = buying_unit_save(user=self.request.user, unit=unit)


class ContactSerializer(ModelSerializer):
    buying_unit = scoped_related(buying_unit_list_visible_to)
    reports_to = scoped_related(contact_list_visible_to, required=False, allow_null=True)
    customer = serializers.IntegerField(source="buying_unit.customer_id", read_only=True)
    version = VersionField()

    class Meta:
        model = Contact
        fields = [
            "id",
            "customer",
            "buying_unit",
            "name",
            "title",
            "role",
            "influence",
            "attitude",
            "phone",
            "email",
            "birthday",
            "personal_notes",
            "reports_to",
            "is_active",
            "version",
        ]
        validators = []  # (buying unit, name) uniqueness: the service's full_clean decides


class ContactFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="buying_unit__customer_id")
    buying_unit = django_filters.NumberFilter(field_name="buying_unit_id")

    class Meta:
        model = Contact
        fields = ["role", "influence", "attitude", "is_active"]


@extend_schema_view(
    update=versioned_update_schema(ContactSerializer),
    partial_update=versioned_update_schema(ContactSerializer),
)
@extend_schema(tags=["buying centre"])
class ContactViewSet(VersionedUpdateMixin, EditableViewSet):
    """People in the buying units of the caller's accounts. Finance does not see contacts:
    they are personal data (SPEC §6). Updates name the version they start from."""

    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    ordering_fields = ["name", "role", "influence"]
    ordering = ["buying_unit", "name"]
    read_roles = WORKERS
    write_roles = WORKERS

    def scoped_queryset(self):
        return contact_list_visible_to(self.request.user).select_related("buying_unit")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        contact = Contact(**data)
        serializer.instance = self._saved = contact_save(user=self.request.user, contact=contact)

    def perform_update(self, serializer):
        contact = serializer.instance
        data = dict(serializer.validated_data)
        data.pop("version", None)
        for name, value in data.items():
            setattr(contact, name, value)

        def save(expected):
            return contact_save(user=self.request.user, contact=contact, expected_version=expected)

        serializer.instance = self._saved = self.perform_versioned_update(serializer, save)


# --- visits -------------------------------------------------------------------------------


class ContactIdsField(serializers.ListField):
    """The contacts met, as ids. Whether they are the visit's customer's (and so in the
    caller's sight) is checked by the service, in the query that checks the customer's scope:
    a contact of any other account is refused there, naming `contacts`."""

    child = serializers.IntegerField(min_value=1)

    def to_representation(self, value):
        return [obj.pk for obj in value.all()]


class VisitSerializer(ModelSerializer):
    customer = scoped_related(customer_list_visible_to)
    contacts = ContactIdsField(required=False)
    author = serializers.CharField(source="author.username", read_only=True)
    next_follow_up = serializers.DateField(
        write_only=True,
        required=False,
        allow_null=True,
        help_text="Creates a follow-up for you on that day (on logging only).",
    )
    completes = scoped_related(
        follow_up_list_visible_to,
        write_only=True,
        required=False,
        allow_null=True,
        help_text="An open follow-up this visit closes (on logging only).",
    )

    class Meta:
        model = Visit
        fields = [
            "id",
            "customer",
            "author",
            "visit_date",
            "channel",
            "contacts",
            "purpose",
            "summary",
            "outcome",
            "next_step",
            "next_follow_up",
            "completes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class VisitFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id")
    author = django_filters.NumberFilter(field_name="author_id")
    visit_date_after = django_filters.DateFilter(field_name="visit_date", lookup_expr="gte")
    visit_date_before = django_filters.DateFilter(field_name="visit_date", lookup_expr="lte")

    class Meta:
        model = Visit
        fields = ["channel", "outcome"]


@extend_schema(tags=["visits and follow-ups"])
class VisitViewSet(EditableViewSet):
    """Visits and calls logged on the caller's accounts. Logging one meets the account's
    cadence; only its author (or an admin) changes it afterwards."""

    serializer_class = VisitSerializer
    filterset_class = VisitFilter
    ordering_fields = ["visit_date", "created_at"]
    ordering = ["-visit_date", "-id"]
    read_roles = WORKERS
    write_roles = WORKERS

    def scoped_queryset(self):
        return visit_list_visible_to(self.request.user).prefetch_related("contacts")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = visit_log(user=self.request.user, **data)

    def perform_update(self, serializer):
        visit = serializer.instance
        data = dict(serializer.validated_data)
        for logging_only in ("next_follow_up", "completes"):
            if data.pop(logging_only, None) is not None:
                raise serializers.ValidationError(
                    {logging_only: ["Only when the visit is logged."]}
                )
        customer = data.pop("customer", visit.customer)
        if customer.pk != visit.customer_id:
            raise serializers.ValidationError({"customer": ["A visit stays with its customer."]})
        contacts = data.pop("contacts", None)
        serializer.instance = visit_update(
            user=self.request.user, visit=visit, contacts=contacts, **data
        )


# --- follow-ups ---------------------------------------------------------------------------


class FollowUpSerializer(ModelSerializer):
    customer = scoped_related(customer_list_visible_to)
    owner = scoped_related(_people, required=False)
    owner_username = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "customer",
            "owner",
            "owner_username",
            "kind",
            "due_date",
            "note",
            "contact",
            "occasion",
            "occasion_date",
            "status",
            "source_visit",
            "completed_visit",
            "completed_at",
            "snooze_count",
            "snooze_reason",
            "created_at",
        ]
        read_only_fields = [
            "kind",
            "contact",
            "occasion",
            "occasion_date",
            "status",
            "source_visit",
            "completed_visit",
            "completed_at",
            "snooze_count",
            "snooze_reason",
            "created_at",
        ]


class FollowUpCompleteSerializer(serializers.Serializer):
    visit = scoped_related(visit_list_visible_to, required=False, allow_null=True)


class FollowUpSnoozeSerializer(serializers.Serializer):
    until = serializers.DateField()
    reason = serializers.CharField(max_length=300)


class FollowUpReassignSerializer(serializers.Serializer):
    to_user = scoped_related(_people)


class FollowUpFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = FollowUp
        fields = ["status", "kind"]


@extend_schema(tags=["visits and follow-ups"])
class FollowUpViewSet(AddOnlyViewSet):
    """Planned touches on the caller's accounts. Their owner or a manager completes, snoozes
    (with a reason) or hands one over; the daily job creates cadence, birthday and holiday
    follow-ups."""

    serializer_class = FollowUpSerializer
    filterset_class = FollowUpFilter
    ordering_fields = ["due_date", "created_at"]
    ordering = ["due_date", "id"]
    read_roles = WORKERS
    write_roles = WORKERS

    def scoped_queryset(self):
        return follow_up_list_visible_to(self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = follow_up_create(
            user=self.request.user,
            customer=data["customer"],
            due_date=data["due_date"],
            note=data.get("note", ""),
            owner=data.get("owner"),
        )

    def _act(self, request, serializer_class, service, **names):
        follow_up = self.get_object()
        params = serializer_class(data=request.data, context=self.get_serializer_context())
        params.is_valid(raise_exception=True)
        arguments = {names.get(k, k): v for k, v in params.validated_data.items()}
        service(user=request.user, follow_up=follow_up, **arguments)
        return Response(self.get_serializer(self.get_queryset().get(pk=follow_up.pk)).data)

    @extend_schema(request=FollowUpCompleteSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._act(request, FollowUpCompleteSerializer, follow_up_complete)

    @extend_schema(request=FollowUpSnoozeSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        return self._act(request, FollowUpSnoozeSerializer, follow_up_snooze)

    @extend_schema(request=FollowUpReassignSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        return self._act(request, FollowUpReassignSerializer, follow_up_reassign)


# --- account plans ------------------------------------------------------------------------


class PlanObjectiveSerializer(ModelSerializer):
    plan = scoped_related(plan_list_visible_to)

    class Meta:
        model = PlanObjective
        fields = ["id", "plan", "title", "revenue_target", "profit_target"]


class PlanActionSerializer(ModelSerializer):
    plan = scoped_related(plan_list_visible_to)
    objective = scoped_related(_objectives, required=False, allow_null=True)
    owner = scoped_related(_people)
    owner_username = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = PlanAction
        fields = [
            "id",
            "plan",
            "objective",
            "title",
            "owner",
            "owner_username",
            "due_date",
            "status",
            "completed_at",
        ]
        read_only_fields = ["completed_at"]


class AccountPlanSerializer(ModelSerializer):
    customer = scoped_related(customer_list_visible_to)
    objectives = PlanObjectiveSerializer(many=True, read_only=True)
    actions = PlanActionSerializer(many=True, read_only=True)

    class Meta:
        model = AccountPlan
        fields = [
            "id",
            "customer",
            "year",
            "strategy",
            "objectives",
            "actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # one plan per customer and year: the service says so in words


class AccountPlanFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id")

    class Meta:
        model = AccountPlan
        fields = ["year"]


@extend_schema(tags=["account plans"])
class AccountPlanViewSet(EditableViewSet):
    """One plan per account and year, with its objectives and actions."""

    serializer_class = AccountPlanSerializer
    filterset_class = AccountPlanFilter
    ordering_fields = ["year", "customer"]
    ordering = ["-year", "customer"]
    read_roles = WORKERS
    write_roles = WORKERS

    def scoped_queryset(self):
        return plan_list_visible_to(self.request.user).prefetch_related(
            "objectives", "actions__owner"
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = plan_create(
            user=self.request.user,
            customer=data["customer"],
            year=data["year"],
            strategy=data.get("strategy", ""),
        )

    def perform_update(self, serializer):
        plan = serializer.instance
        data = serializer.validated_data
        for fixed in ("customer", "year"):
            if fixed in data and data[fixed] != getattr(plan, fixed):
                raise serializers.ValidationError({fixed: ["A plan keeps its account and year."]})
        plan_update(user=self.request.user, plan=plan, strategy=data.get("strategy", plan.strategy))
        serializer.instance = self.get_queryset().get(pk=plan.pk)


class _PlanPartViewSet(EditableViewSet):
    read_roles = WORKERS
    write_roles = WORKERS

    def _save(self, instance):
        raise NotImplementedError

    def perform_create(self, serializer):
        serializer.instance = self._save(serializer.Meta.model(**serializer.validated_data))

    def perform_update(self, serializer):
        instance = serializer.instance
        data = serializer.validated_data
        if "plan" in data and data["plan"].pk != instance.plan_id:
            raise serializers.ValidationError({"plan": ["It stays in its plan."]})
        for name, value in data.items():
            setattr(instance, name, value)
        serializer.instance = self._save(instance)


class PlanObjectiveFilter(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="plan_id")

    class Meta:
        model = PlanObjective
        fields = []


@extend_schema(tags=["account plans"])
class PlanObjectiveViewSet(_PlanPartViewSet):
    """A plan's objectives, with revenue and gross-profit targets."""

    serializer_class = PlanObjectiveSerializer
    filterset_class = PlanObjectiveFilter
    ordering_fields = ["id"]
    ordering = ["plan", "id"]

    def scoped_queryset(self):
        return _objectives(self.request.user)

    def _save(self, instance):
        return plan_objective_save(user=self.request.user, objective=instance)


class PlanActionFilter(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="plan_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = PlanAction
        fields = ["status"]


@extend_schema(tags=["account plans"])
class PlanActionViewSet(_PlanPartViewSet):
    """A plan's actions: owner (someone who works on the account), due date and status."""

    serializer_class = PlanActionSerializer
    filterset_class = PlanActionFilter
    ordering_fields = ["due_date", "status"]
    ordering = ["due_date", "id"]

    def scoped_queryset(self):
        return PlanAction.objects.filter(
            customer_scope_q(self.request.user, "plan__customer__")
        ).select_related("owner")

    def _save(self, instance):
        return plan_action_save(user=self.request.user, action=instance)
