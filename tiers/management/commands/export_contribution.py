"""python manage.py export_contribution [--as-of YYYY-MM-DD] --format {csv|xlsx} --output FILE"""

from django.core.management.base import BaseCommand, CommandError

from tiers.management.commands.recompute_contribution import parse_as_of
from tiers.selectors import run_for_report
from tiers.services.export import report_rows, write_csv, write_xlsx


class Command(BaseCommand):
    help = (
        "Export the contribution report (SPEC §5 columns) of the current run, or of the "
        "successful run for --as-of, to CSV (UTF-8 with BOM) or XLSX."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="YYYY-MM-DD (default: the current run)")
        parser.add_argument("--format", choices=["csv", "xlsx"], required=True)
        parser.add_argument("--output", required=True, help="file to write")

    def handle(self, *args, as_of=None, format, output, **options):
        run = run_for_report(as_of=parse_as_of(as_of) if as_of else None)
        if run is None:
            wanted = f"as of {as_of}" if as_of else "current"
            raise CommandError(
                f"no successful {wanted} contribution run: run recompute_contribution first"
            )
        rows = report_rows(run.contributions.all())
        try:
            if format == "csv":
                with open(output, "w", encoding="utf-8", newline="") as handle:
                    count = write_csv(rows, handle)
            else:
                count = write_xlsx(rows, output)
        except OSError as error:
            raise CommandError(f"{output}: cannot be written: {error.strerror}") from None
        self.stdout.write(f"{output}: {count} customers, run of {run.as_of} ({format})")
