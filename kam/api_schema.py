"""The API's OpenAPI inspector: every viewset's `schema` (kam.api.RoleScopedMixin)."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The body of a refusal: what went wrong, in the caller's language."""

    detail = serializers.CharField()


class Schema(AutoSchema):
    """drf-spectacular's schema, plus the refusals every operation may answer, so that a
    client (and schemathesis) knows them: 400 (invalid body or filter), 403 (not signed in,
    or a role that may not do it), 404 (outside the scope, no such object, or no such page).
    Responses an operation declares itself (e.g. 409, 412, 428 of the version check) win."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:  # excluded from the schema
            return None
        error = {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}
        refusals = {
            "401": ("No valid token or session: sign in, or send a token.", error),
            "403": ("Your role may not do this.", error),
            "404": ("Not found: no such object, outside your scope, or no such page.", error),
        }
        if self.method != "GET" or getattr(self.view, "action", None) == "list":
            refusals["400"] = (
                "Invalid input: each field (or non_field_errors) with its messages.",
                {"schema": build_basic_type(OpenApiTypes.OBJECT)},
            )
        responses = operation.setdefault("responses", {})
        for code, (description, body) in refusals.items():
            responses.setdefault(
                code, {"content": {"application/json": body}, "description": description}
            )
        operation["responses"] = dict(sorted(responses.items()))
        return operation
