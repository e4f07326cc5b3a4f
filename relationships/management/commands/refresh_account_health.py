"""python manage.py refresh_account_health [--as-of YYYY-MM-DD]"""

from django.core.management.base import BaseCommand

from relationships.services import account_health_refresh
from tiers.management.commands.recompute_contribution import parse_as_of


class Command(BaseCommand):
    help = (
        "Recompute every open account's health flags (declining, volatile, paying late) as of "
        "a date (default today) and replace the snapshot lists read: the daily task's code."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, as_of=None, **options):
        self.stdout.write(str(account_health_refresh(as_of=parse_as_of(as_of))))
