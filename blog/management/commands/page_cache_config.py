from pathlib import Path

from django.core.management.base import BaseCommand

from blog.apache import apache_config, apache_rules
from blog.cache import prepare


class Command(BaseCommand):
    help = (
        "Write the Apache configuration that serves the page files: server-level directives "
        "to stdout, the rewrite rules for the application's directory to --rules."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rules", type=Path, required=True, help="file for the rules")

    def handle(self, *args, rules, **options):
        prepare()
        rules.write_text(apache_rules())
        self.stdout.write(apache_config(), ending="")
