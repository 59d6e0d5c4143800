"""manage.py import_legacy_blog PATH: copy the old Flask blog's blog.db into this blog."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from tqdm import tqdm

from blog.legacy import RULES, LegacyError, import_legacy, read_legacy_db


class Command(BaseCommand):
    help = (
        "Copy every entry and comment of the old Flask blog's SQLite file into this blog, "
        "keeping their ids. The old file is only read. Running it again adds only what is "
        "missing. See docs/legacy-import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the old site's blog.db")
        parser.add_argument(
            "--timezone",
            default=settings.TIME_ZONE,
            help="the zone the old times were written in (default: TIME_ZONE, %(default)s)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report what would be imported, write nothing",
        )

    def handle(self, *args, path, timezone, dry_run, verbosity, **options):
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"unknown time zone {timezone!r} (e.g. Europe/Berlin)") from None

        def progress(total):
            # tqdm's disable=None: a bar on a terminal only, never in logs or pipes.
            return tqdm(
                total=total, unit="row", desc="Importing", disable=None if verbosity else True
            )

        try:
            data = read_legacy_db(path)
            report = import_legacy(data, tz, dry_run=dry_run, progress=progress)
        except LegacyError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            # One line: PostgreSQL's messages go on with DETAIL: lines.
            reason = " ".join(str(exc).split())
            raise CommandError(f"the import failed, nothing was written: {reason}") from exc

        if verbosity:
            for warning in report.warnings:
                self.stderr.write(f"warning: {warning}")
        self.stdout.write(self.summary(report, path, tz))

    def summary(self, report, path, tz) -> str:
        counts = report.counts
        verb = "Would import" if report.dry_run else "Imported"
        lines = [
            f"{verb} {counts['entry_imported']} entries and {counts['comment_imported']} "
            f"comments from {path} (times read in {tz}).",
        ]
        lines += [f"  {counts[rule]:>7}  {text}" for rule, text in RULES.items()]
        if report.dry_run:
            lines.append("Dry run: nothing was written.")
        return "\n".join(lines)
