"""python manage.py import_data {customers|contacts|sales|payments} FILE [--dry-run]"""

from django.core.management.base import BaseCommand, CommandError

from accounts.importing.schemas import SCHEMAS
from accounts.importing.service import import_data


class Command(BaseCommand):
    help = (
        "Import an ERP export (CSV in UTF-8 or GB18030, or XLSX) of one kind. The file is "
        "imported whole or not at all; a rejected file gets every problem listed as "
        "file:row:column: message (value). Exit status 0 when imported, 1 when rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(SCHEMAS))
        parser.add_argument("file")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check everything and report what would change, then change nothing.",
        )

    def handle(self, *args, kind, file, dry_run, **options):
        try:
            open(file, "rb").close()
        except OSError as error:
            raise CommandError(f"{file}: cannot be read: {error.strerror}") from None
        report = import_data(kind=kind, path=file, dry_run=dry_run)
        for problem in report.problems:
            self.stderr.write(problem)
        for note in report.notes:
            self.stdout.write(f"{report.file_name}: {note}")
        if not report.accepted:
            raise CommandError(report.summary(), returncode=1)
        self.stdout.write(report.summary())
