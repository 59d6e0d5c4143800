"""Side effects of writes: every write to entries, comments and images makes cached pages
stale; an image's upload or removal re-renders its entry; removed images leave the disk.

Saves and deletes send model signals; update() and bulk_create() send none, so the
models' QuerySets (SignalFreeWrites) do the same after them.
"""

from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from blog.cache import bump_version


@receiver(post_save, sender="blog.Entry")
@receiver(post_delete, sender="blog.Entry")
@receiver(post_save, sender="blog.Comment")
@receiver(post_delete, sender="blog.Comment")
@receiver(post_save, sender="blog.EntryImage")
@receiver(post_delete, sender="blog.EntryImage")
def content_changed(sender, using, raw=False, **kwargs):
    """Readers see the write on their next request, in every process."""
    # loaddata saves raw rows by the thousand: one renewal when it commits is enough.
    bump_version(using=using, immediate=not raw)


@receiver(post_save, sender="blog.EntryImage")
@receiver(post_delete, sender="blog.EntryImage")
def image_changed(sender, instance, raw=False, **kwargs):
    """![alt](image:ID) in the entry's Markdown now finds (or no longer finds) this image."""
    if raw:
        return
    entry = instance._meta.get_field("entry").related_model.objects.filter(pk=instance.entry_id)
    if entry := entry.first():
        entry.rerender()


@receiver(post_delete, sender="blog.EntryImage")
def image_deleted(sender, instance, **kwargs):
    """The upload and its renditions go once the deletion is committed."""
    names = instance.stored_names()
    transaction.on_commit(lambda: [default_storage.delete(name) for name in names if name])


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
