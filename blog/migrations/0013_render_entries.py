"""Render every entry again: headings from h2 with ids, footnotes, highlighted code, excerpts."""

from django.db import migrations

from blog.markup import render_entry


def render_all(apps, schema_editor):
    Entry = apps.get_model("blog", "Entry")
    for entry in Entry.objects.only("slug", "body", "summary").iterator(chunk_size=500):
        Entry.objects.filter(pk=entry.pk).update(
            **render_entry(entry.body, entry.summary, entry.slug or "entry")
        )


class Migration(migrations.Migration):
    dependencies = [("blog", "0012_entry_summary_drafts_images")]

    operations = [migrations.RunPython(render_all, migrations.RunPython.noop, elidable=True)]
