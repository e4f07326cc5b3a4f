from django.db import migrations

# SPEC §4: every account is touched at least every N days by tier.
DEFAULT_CADENCE = {"A": 30, "B": 60, "C": 120}


def create_defaults(apps, schema_editor):
    CadenceRule = apps.get_model("relationships", "CadenceRule")
    for tier, days in DEFAULT_CADENCE.items():
        CadenceRule.objects.get_or_create(tier=tier, defaults={"days": days})


class Migration(migrations.Migration):
    dependencies = [("relationships", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
