"""Side effects of writes: every write to entries, comments, tags and pages makes cached
pages stale.

Saves and deletes send model signals; update() and bulk_create() send none, so the
models' QuerySets (SignalFreeWrites) do the same after them. A single comment makes stale
only the pages that show it; anything else, every page.
"""

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from blog.cache import bump_version, comment_changed


@receiver(post_save, sender="blog.Entry")
@receiver(post_delete, sender="blog.Entry")
@receiver(post_save, sender="blog.Page")
@receiver(post_delete, sender="blog.Page")
@receiver(post_save, sender="taggit.Tag")  # a renamed tag
@receiver(post_delete, sender="taggit.Tag")
@receiver(post_save, sender="blog.TaggedEntry")  # the admin's tag inline
@receiver(post_delete, sender="blog.TaggedEntry")
def content_changed(sender, using, **kwargs):
    """Readers see the write on their next request, in every process."""
    bump_version(using=using)


@receiver(post_save, sender="blog.Comment")
@receiver(post_delete, sender="blog.Comment")
def comment_saved(sender, instance, using, raw=False, **kwargs):
    """A comment shows on its entry's pages and is counted on the list pages."""
    from blog.models import Entry

    try:
        entry = None if raw else instance.entry  # loaddata: the entry may come later
    except Entry.DoesNotExist:  # a cascade from its entry's delete, which renews anyway
        entry = None
    if entry is None:
        bump_version(using=using)
    else:
        comment_changed(entry, using=using)


@receiver(m2m_changed, sender="blog.TaggedEntry")
def tags_changed(sender, action, using, **kwargs):
    """entry.tags.add(), set(), remove(), clear(): clear() deletes without post_delete."""
    if action.startswith("post_"):
        bump_version(using=using)


class SignalFreeWrites(models.QuerySet):
    """update() and bulk_create() (and so bulk_update()) make cached pages stale themselves:
    no caller has to remember to (imports, seeding, admin actions)."""

    def update(self, **kwargs):
        count = super().update(**kwargs)
        bump_version(using=self.db)
        return count

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        bump_version(using=self.db)
        return created
