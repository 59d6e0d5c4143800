from django.core.management.base import BaseCommand

from blog.apache import apache_config
from blog.cache import prepare


class Command(BaseCommand):
    help = "Print the Apache directives that serve the page files, for the site's <VirtualHost>."

    def handle(self, *args, **options):
        prepare()
        self.stdout.write(apache_config(), ending="")
