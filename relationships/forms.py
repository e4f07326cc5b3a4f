"""Forms of the rep's work. Choices of related rows are limited to the account and the scope,
so a forged id is a form error; the services check the same again."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import BuyingUnit, Contact, Customer
from kam.versioning import VersionedModelForm
from relationships.models import AccountPlan, FollowUp, PlanAction, PlanObjective, Visit

User = get_user_model()


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def people_on_account(customer: Customer):
    """Who may own work on an account: its owner, its account team, and the members and
    managers of their sales teams. The services check each choice against the scope."""
    core = User.objects.filter(Q(owned_customers=customer) | Q(team_customers=customer)).values(
        "pk"
    )
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(pk__in=core) | Q(sales_teams__members__in=core) | Q(managed_teams__members__in=core)
        )
        .distinct()
        .order_by("username")
    )


class BuyingUnitForm(forms.ModelForm):
    class Meta:
        model = BuyingUnit
        fields = ["name", "kind"]


class ContactForm(VersionedModelForm):
    class Meta:
        model = Contact
        fields = [
            "buying_unit", "name", "title", "role", "influence", "attitude", "reports_to",
            "phone", "email", "birthday", "personal_notes", "is_active",
        ]  # fmt: skip
        widgets = {"birthday": DateInput(), "personal_notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, customer: Customer, show_personal_data: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["buying_unit"].queryset = BuyingUnit.objects.filter(customer=customer)
        others = Contact.objects.filter(buying_unit__customer=customer).order_by("name")
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        self.fields["reports_to"].queryset = others
        if not show_personal_data:
            for name in Contact.PERSONAL_FIELDS:
                self.fields.pop(name, None)


class VisitForm(forms.Form):
    """One screen on a phone: what happened, with whom, and when to follow up."""

    visit_date = forms.DateField(label=_("Date"), widget=DateInput())
    channel = forms.ChoiceField(
        label=_("Channel"), choices=Visit.Channel.choices, initial=Visit.Channel.ONSITE
    )
    contacts = forms.ModelMultipleChoiceField(
        label=_("Contacts met"),
        queryset=Contact.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    purpose = forms.CharField(label=_("Purpose"), max_length=200)
    summary = forms.CharField(
        label=_("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=Visit.Outcome.choices,
        initial=Visit.Outcome.NEUTRAL,
        widget=forms.RadioSelect,
    )
    next_step = forms.CharField(label=_("Next step"), max_length=300, required=False)
    next_follow_up = forms.DateField(
        label=_("Next follow-up on"), required=False, widget=DateInput()
    )

    def __init__(self, *args, customer: Customer, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        contacts = Contact.objects.filter(buying_unit__customer=customer)
        if not editing:
            contacts = contacts.filter(is_active=True)
        self.fields["contacts"].queryset = contacts.select_related("buying_unit").order_by(
            "buying_unit__name", "name"
        )
        self.fields["contacts"].label_from_instance = lambda c: (
            f"{c.name} · {c.get_role_display()} · {c.buying_unit.name}"
        )
        if not self.is_bound and not editing:
            self.initial.setdefault("visit_date", timezone.localdate())
        if editing:
            del self.fields["next_follow_up"]


class CustomerChoiceForm(forms.Form):
    customer = forms.ModelChoiceField(label=_("Customer"), queryset=Customer.objects.none())

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers


class FollowUpForm(forms.ModelForm):
    class Meta:
        model = FollowUp
        fields = ["due_date", "note", "owner"]
        widgets = {"due_date": DateInput()}

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = people_on_account(customer)
        self.fields["note"].required = True


class SnoozeForm(forms.Form):
    until = forms.DateField(label=_("Wait until"), widget=DateInput())
    reason = forms.CharField(label=_("Why"), max_length=300)


class ReassignFollowUpForm(forms.Form):
    to_user = forms.ModelChoiceField(label=_("Hand over to"), queryset=User.objects.none())

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = people_on_account(customer)


class PlanForm(forms.ModelForm):
    class Meta:
        model = AccountPlan
        fields = ["year", "strategy"]
        widgets = {"strategy": forms.Textarea(attrs={"rows": 3})}


class ObjectiveForm(forms.ModelForm):
    class Meta:
        model = PlanObjective
        fields = ["title", "revenue_target", "profit_target"]


class ActionForm(forms.ModelForm):
    class Meta:
        model = PlanAction
        fields = ["title", "objective", "owner", "due_date", "status"]
        widgets = {"due_date": DateInput()}

    def __init__(self, *args, plan: AccountPlan, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["objective"].queryset = plan.objectives.order_by("id")
        self.fields["owner"].queryset = people_on_account(plan.customer)


class RepReassignForm(forms.Form):
    from_user = forms.ModelChoiceField(label=_("Departing rep"), queryset=User.objects.none())
    to_user = forms.ModelChoiceField(
        label=_("Hand everything over to"), queryset=User.objects.none()
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_user"].queryset = people
        self.fields["to_user"].queryset = people

    def clean(self):
        data = super().clean()
        if data.get("from_user") and data.get("from_user") == data.get("to_user"):
            self.add_error("to_user", _("Choose someone else to take the accounts over."))
        return data


class DashboardFilterForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team"), queryset=None, required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    industry = forms.ChoiceField(label=_("Industry"), required=False)

    def __init__(self, *args, teams, regions, industries, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        everything = [("", _("All"))]
        self.fields["region"].choices = everything + [(r, r) for r in regions]
        self.fields["industry"].choices = everything + [(i, i) for i in industries]

    def filters(self) -> Q:
        """The chosen filters as one Q on Customer (empty when none is chosen)."""
        chosen = Q()
        if not self.is_valid():
            return chosen
        data = self.cleaned_data
        if data["team"]:
            members = data["team"].members.values("pk")
            chosen &= Q(owner__in=members) | Q(owner=data["team"].manager)
        if data["region"]:
            chosen &= Q(region=data["region"])
        if data["industry"]:
            chosen &= Q(industry=data["industry"])
        return chosen
