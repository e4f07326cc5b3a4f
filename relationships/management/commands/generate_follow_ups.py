"""python manage.py generate_follow_ups [--date YYYY-MM-DD]"""

from django.core.management.base import BaseCommand

from relationships.services import follow_ups_generate
from tiers.management.commands.recompute_contribution import parse_as_of


class Command(BaseCommand):
    help = (
        "Create the day's follow-ups from the cadence rules, contacts' birthdays and China's "
        "public holidays (default today): the daily task's code. Running twice creates nothing new."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, date=None, **options):
        self.stdout.write(str(follow_ups_generate(today=parse_as_of(date))))
