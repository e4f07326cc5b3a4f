"""The audit trail: every change to customers, contacts, buying units, ownership, overrides,
the tier policy and imports is recorded here with who, when, and old and new values."""

from datetime import date, datetime
from decimal import Decimal

from django.db import models

from accounts.models import AuditEvent


def _plain(value):
    """A value as JSON can hold it and a person can read it."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set):
        return sorted(str(v) for v in value)
    return value


def field_values(instance: models.Model, fields=None) -> dict:
    """The concrete fields' values of a row (foreign keys as their objects' text)."""
    values = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or (fields is not None and field.name not in fields):
            continue
        if field.name in ("created_at", "updated_at", "version"):
            continue
        if field.is_relation:
            related_id = getattr(instance, field.attname)
            values[field.name] = str(getattr(instance, field.name)) if related_id else None
        else:
            values[field.name] = _plain(getattr(instance, field.name))
    return values


def changes_between(before: dict | None, after: dict | None) -> dict:
    """{field: [old, new]} for the fields that differ; a creation or deletion lists all."""
    before, after = before or {}, after or {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def audit_record(
    *,
    actor,
    entity: str,
    action: str,
    entity_id="",
    customer=None,
    changes: dict | None = None,
    summary: str = "",
) -> AuditEvent | None:
    """Record one change. An update that changed nothing is not recorded."""
    if action == "update" and not changes:
        return None
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        entity=entity,
        entity_id=str(entity_id or ""),
        action=action,
        customer=customer,
        changes=changes or {},
        summary=summary[:300],
    )


def audit_bulk(events: list[AuditEvent]) -> None:
    AuditEvent.objects.bulk_create(events, batch_size=2000)
