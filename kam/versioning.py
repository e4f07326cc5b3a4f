"""Concurrent edits are never silently lost (SPEC §6): a save names the version it started
from, and is refused when someone else saved in between.

Models that take part carry a `version` column; the services lock the row, compare, and
save with the version counted up. The refusal carries the row as it is now, so the screen
and the API can show the current values to the person whose save was refused.
"""

from django import forms
from django.db import connection, models
from django.utils.translation import gettext_lazy as _


class EditConflict(Exception):
    """The row changed since the editor loaded it."""

    message = _(
        "Someone else saved this record after you opened it. Your changes were not saved; "
        "the current values are shown. Apply your changes again to these."
    )

    def __init__(self, current: models.Model):
        super().__init__(str(self.message))
        self.current = current


def version_claim(instance: models.Model, expected: int | None) -> models.Model:
    """Lock `instance`'s row and count its version up, or raise EditConflict.

    `expected` is the version the editor started from; None skips the comparison (a write
    that is not an edit of what a person saw, such as a system job). Call inside
    transaction.atomic, before saving. Returns the stored row (as it was before this save).
    """
    model = type(instance)
    current = model.objects.select_for_update().filter(pk=instance.pk).first()
    if current is None:
        raise model.DoesNotExist
    if expected is not None and int(expected) != current.version:
        raise EditConflict(current)
    instance.version = current.version + 1
    return current


class VersionedModelForm(forms.ModelForm):
    """A ModelForm of a versioned model: a hidden `expected_version` carries the version the
    person opened. When the row changed in between, the form is invalid with the current
    values listed, and the hidden version moves on to the current one: the person sees what
    changed, and saving again replaces it knowingly (nothing is overwritten unseen).

    Inside a transaction (the admin's change view) the row stays locked from this check to
    the save; the services check again under a lock in any case.
    """

    expected_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.conflict = None
        if self.instance.pk:
            self.initial.setdefault("expected_version", self.instance.version)

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk:
            return cleaned
        expected = cleaned.get("expected_version")
        rows = type(self.instance).objects.filter(pk=self.instance.pk)
        if connection.in_atomic_block:
            rows = rows.select_for_update()
        current = rows.first()
        if current is not None and current.version != expected:
            self.show_conflict(current)
            raise forms.ValidationError(self.conflict_message, code="edit_conflict")
        if current is not None:
            self.instance.version = current.version
        return cleaned

    def show_conflict(self, current) -> None:
        """Mark the form as conflicting with `current` (also for a conflict the service found)."""
        self.conflict = current
        if self.is_bound:
            data = self.data.copy()
            data[self.add_prefix("expected_version")] = current.version
            self.data = data

    @property
    def conflict_changes(self) -> list[tuple[str, str, str]]:
        """(field label, your value, current value) where they differ."""
        if self.conflict is None:
            return []
        cleaned = getattr(self, "cleaned_data", {})
        rows = []
        for name, field in self.fields.items():
            if name == "expected_version" or name not in cleaned:
                continue
            theirs = getattr(self.conflict, name, None)
            mine = cleaned[name]
            if hasattr(theirs, "all"):  # many-to-many
                theirs = list(theirs.all())
                same = {o.pk for o in theirs} == {getattr(o, "pk", o) for o in mine or []}
                mine = list(mine or [])
            else:
                same = theirs == mine or (theirs in (None, "") and mine in (None, ""))
            if not same:
                rows.append((str(field.label), _plain(mine), _plain(theirs)))
        return rows

    @property
    def conflict_message(self) -> str:
        lines = [str(_("Someone else saved this record after you opened it."))]
        for label, mine, theirs in self.conflict_changes:
            lines.append(
                str(_("%(field)s is now “%(theirs)s” (yours: “%(mine)s”)."))
                % {"field": label, "theirs": theirs, "mine": mine}
            )
        lines.append(str(_("Check the values, then save again to keep yours, or go back.")))
        return " ".join(lines)


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
