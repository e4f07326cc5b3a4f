from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import ImportRun


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=ImportRun.Kind.choices)
    file = forms.FileField(
        label=_("File (CSV or XLSX)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    dry_run = forms.BooleanField(
        label=_("Dry run: check and report, change nothing"), required=False
    )
