"""python manage.py recompute_contribution [--as-of YYYY-MM-DD]"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tiers.services.recompute import RunInProgress, contribution_recompute


def parse_as_of(value: str | None) -> date:
    if not value:
        return timezone.localdate()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of {value!r}: expected a date as YYYY-MM-DD") from None


class Command(BaseCommand):
    help = (
        "Recompute revenue and gross-profit contribution, ABC tiers and fake-big-customer "
        "rules for an as-of date (default today), in the foreground: the nightly task's code."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, as_of=None, **options):
        try:
            summary = contribution_recompute(as_of=parse_as_of(as_of))
        except RunInProgress as busy:
            self.stdout.write(str(busy))
            return
        self.stdout.write(str(summary))
