"""Side effects of writes: every saved or deleted entry, comment and image makes cached pages
stale; an image's upload or removal re-renders its entry; removed images leave the disk."""

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from blog.cache import bump_version
from blog.models import Comment, Entry, EntryImage


@receiver(post_save, sender=Entry)
@receiver(post_delete, sender=Entry)
@receiver(post_save, sender=Comment)
@receiver(post_delete, sender=Comment)
@receiver(post_save, sender=EntryImage)
@receiver(post_delete, sender=EntryImage)
def content_changed(sender, using, raw=False, **kwargs):
    """Readers see the write on their next request, in every process."""
    # loaddata saves raw rows by the thousand: one renewal when it commits is enough.
    bump_version(using=using, immediate=not raw)


@receiver(post_save, sender=EntryImage)
@receiver(post_delete, sender=EntryImage)
def image_changed(sender, instance, raw=False, **kwargs):
    """![alt](image:ID) in the entry's Markdown now finds (or no longer finds) this image."""
    if raw:
        return
    entry = Entry.objects.filter(pk=instance.entry_id).first()
    if entry is not None:
        entry.rerender()


@receiver(post_delete, sender=EntryImage)
def image_deleted(sender, instance, **kwargs):
    """The upload and its renditions go once the deletion is committed."""
    names = instance.stored_names()
    transaction.on_commit(lambda: [default_storage.delete(name) for name in names if name])
