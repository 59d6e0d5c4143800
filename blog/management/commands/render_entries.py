"""Render every entry's Markdown again (after the renderer or its allow-list changed)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from blog.models import Entry


class Command(BaseCommand):
    help = (
        "Render the body and summary of every entry again with the current Markdown renderer "
        "and allow-list (saving does this for one entry). Not a revision: 'Updated' dates stay."
    )

    def handle(self, **options):
        count = 0
        entries = Entry.objects.prefetch_related("images").order_by("pk")
        with transaction.atomic():
            for entry in entries.iterator(chunk_size=500):
                entry.rerender()
                count += 1
        self.stdout.write(f"Rendered {count} entries.")
