"""What every app's REST API shares: paging, roles, errors, and the version check.

Each app keeps its own endpoints in `<app>/api.py`; kam/api_urls.py routes them. Views only
authenticate, validate, and call a selector or a service (STYLE.md), so the API keeps the
same rules as the screens: the same scoped querysets, the same services, the same audit.
"""

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kam.api_schema import Schema
from kam.money import MoneyField
from kam.roles import Role, mark_seen_by, user_roles
from kam.versioning import EditConflict

READ_ALL = frozenset(Role)
WORKERS = frozenset({Role.REP, Role.MANAGER, Role.ADMIN})
MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
DETAIL_ACTIONS = frozenset({"retrieve", "update", "partial_update", "destroy"})


def has_role(user, roles) -> bool:
    return bool(user_roles(user) & roles)


class ByRole(permissions.BasePermission):
    """Roles per endpoint: `read_roles` for safe methods, `write_roles` for the others, and
    `action_roles` for named actions (e.g. a follow-up's complete).

    Lists and creations are refused with 403 to a role that may not use them. Detail routes
    are not refused here: the view's queryset is empty for a role that may not read, so an
    object outside the caller's scope answers 404 whatever the role (no existence leak), and
    a visible object the role may not change answers 403 (has_object_permission).
    """

    def _allowed(self, request, view) -> frozenset:
        action = getattr(view, "action", None)
        named = getattr(view, "action_roles", {})
        if action in named:
            return named[action]
        if request.method in permissions.SAFE_METHODS:
            return view.read_roles
        return getattr(view, "write_roles", frozenset())

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if getattr(view, request.method.lower(), None) is None:
            return True  # a method the route does not serve: DRF answers 405, for every role
        if getattr(view, "detail", False) or getattr(view, "action", None) in DETAIL_ACTIONS:
            return True
        return has_role(request.user, self._allowed(request, view))

    def has_object_permission(self, request, view, obj) -> bool:
        return has_role(request.user, self._allowed(request, view))


class RoleScopedMixin:
    """A viewset whose queryset is empty for a role that may not read it at all."""

    # The refusals every operation may answer (400, 403, 404) are in its OpenAPI schema.
    schema = Schema()
    permission_classes = [ByRole]
    read_roles: frozenset = READ_ALL
    write_roles: frozenset = frozenset()
    action_roles: dict = {}

    def scoped_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        if not has_role(self.request.user, self.read_roles):
            return self.scoped_queryset().none()
        return self.scoped_queryset()


class ModelSerializer(serializers.ModelSerializer):
    """Money (integer cents in the database) is a decimal with two places in the API.

    A read-only field keeps `allow_blank` (DRF drops it): a blank choice column, such as a
    contribution's `previous_tier`, then says in the schema that it may be ""."""

    def include_extra_kwargs(self, kwargs, extra_kwargs):
        allow_blank = kwargs.get("allow_blank", False)
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if allow_blank and kwargs.get("read_only"):
            kwargs["allow_blank"] = True
        return kwargs

    def build_standard_field(self, field_name, model_field):
        if isinstance(model_field, MoneyField):
            kwargs = {"max_digits": 17, "decimal_places": 2}
            if model_field.has_default() or model_field.blank or model_field.null:
                kwargs["required"] = False
            if model_field.null:
                kwargs["allow_null"] = True
            if getattr(model_field, "verbose_name", None):
                kwargs["label"] = str(model_field.verbose_name).capitalize()
            return serializers.DecimalField, kwargs
        return super().build_standard_field(field_name, model_field)


class AddOnlyViewSet(
    RoleScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read and add; never changed or deleted in place (follow-ups, overrides, policy)."""


class EditableViewSet(mixins.UpdateModelMixin, AddOnlyViewSet):
    """List, read, add and change; nothing is deleted through the API."""


def scoped_related(queryset_for_user, **kwargs):
    """A writable foreign key whose choices are the caller's scope: naming another team's
    customer or contact is refused as "does not exist" and nothing is written."""

    @extend_schema_field(OpenApiTypes.INT)
    class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
        def get_queryset(self):
            # Without a request (schema generation) nobody: the scope of an anonymous user.
            request = self.context.get("request")
            return queryset_for_user(request.user if request is not None else AnonymousUser())

        def to_internal_value(self, data):
            # Fetched through the caller's scope: the services need not ask it again.
            found = super().to_internal_value(data)
            request = self.context.get("request")
            return mark_seen_by(found, request.user) if request is not None else found

    return ScopedPrimaryKeyRelatedField(**kwargs)


# --- errors -------------------------------------------------------------------------------


def _django_validation_detail(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in error.message_dict.items()}
    return {"non_field_errors": [str(m) for m in error.messages]}


def exception_handler(exc, context):
    """DRF's handler, plus the services' Django errors, and conflicts with current values."""
    if isinstance(exc, EditConflict):
        view = context.get("view")
        serializer = None
        if view is not None:
            # The row as the view shows it (with its annotations, e.g. the current tier).
            current = view.get_queryset().filter(pk=exc.current.pk).first() or exc.current
            serializer = view.get_serializer(current)
        code = getattr(exc, "status_code", status.HTTP_409_CONFLICT)
        return Response(
            {
                "detail": str(exc.message),
                "code": "edit_conflict",
                "current": serializer.data if serializer is not None else None,
            },
            status=code,
            headers={"ETag": etag_for(exc.current)},
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)


# --- versions: ETag / If-Match (412) or a "version" in the body (409) ---------------------


class PreconditionFailed(EditConflict):
    status_code = status.HTTP_412_PRECONDITION_FAILED


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = (
        "Say which version you are changing: send the ETag you read in If-Match, or the "
        '"version" you read in the body.'
    )
    default_code = "version_required"


def etag_for(instance) -> str:
    return f'"{instance.version}"'


def expected_version(request, serializer, instance) -> tuple[int, bool]:
    """(version the client started from, whether it came from If-Match). If-Match wins."""
    header = request.headers.get("If-Match")
    if header:
        tag = header.strip().removeprefix("W/").strip('"')
        if tag == "*":
            return instance.version, True
        try:
            return int(tag), True
        except ValueError:
            raise exceptions.ValidationError({"If-Match": ['an ETag such as "3"']}) from None
    version = serializer.validated_data.get("version")
    if version is None:
        raise PreconditionRequired()
    return version, False


class VersionedUpdateMixin:
    """Updates must name the version they start from; detail reads carry it as an ETag."""

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        response = Response(self.get_serializer(instance).data)
        response["ETag"] = etag_for(instance)
        return response

    def perform_versioned_update(self, serializer, save):
        """`save(expected)` calls the service; a mismatch from If-Match answers 412."""
        expected, from_header = expected_version(self.request, serializer, serializer.instance)
        try:
            return save(expected)
        except EditConflict as conflict:
            if from_header:
                raise PreconditionFailed(conflict.current) from None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        instance = getattr(self, "_saved", None)
        if instance is not None and response.status_code < 300:
            response["ETag"] = etag_for(instance)
        return response


class VersionField(serializers.IntegerField):
    """Read: the row's version. Write: the version the client started from (or If-Match)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault(
            "help_text",
            "The version you read; an update from an older one answers 409 with the current "
            "values. Instead of this, send the ETag in If-Match (412 when it is stale).",
        )
        super().__init__(**kwargs)


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='The ETag of the version you read, e.g. "3"; or send "version" in the body.',
)

CONFLICT_RESPONSES = {
    409: OpenApiResponse(description="Someone saved in between; `current` holds the values."),
    412: OpenApiResponse(description="If-Match names an older version; `current` holds them."),
    428: OpenApiResponse(description="Neither If-Match nor `version` was sent."),
}


def versioned_update_schema(serializer_class):
    return extend_schema(
        parameters=[IF_MATCH],
        responses={200: serializer_class, **CONFLICT_RESPONSES},
    )
