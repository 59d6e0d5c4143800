"""Side effects of writes: every write to entries, comments, images, tags and pages makes
cached pages stale; an image's upload or removal re-renders its entry; removed images leave
the disk.

Saves and deletes send model signals; update() and bulk_create() send none, so the
models' QuerySets (SignalFreeWrites) do the same after them. A single comment makes stale
only the pages that show it; anything else, every page.
"""

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from blog.cache import bump_version, comment_changed


@receiver(post_save, sender="blog.Entry")
@receiver(post_delete, sender="blog.Entry")
@receiver(post_save, sender="blog.EntryImage")
@receiver(post_delete, sender="blog.EntryImage")
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


@receiver(post_save, sender="blog.EntryImage")
@receiver(post_delete, sender="blog.EntryImage")
def image_changed(sender, instance, raw=False, **kwargs):
    """![alt](image:ID) in the entry's Markdown now finds (or no longer finds) this image."""
    if raw:
        return
    # By label: blog.models imports this module.
    entry = apps.get_model("blog", "Entry").objects.filter(pk=instance.entry_id).first()
    if entry is not None:  # None while the entry itself is being deleted
        entry.rerender()


@receiver(post_delete, sender="blog.EntryImage")
def image_deleted(sender, instance, **kwargs):
    """The upload and its renditions go once the deletion is committed."""
    _delete_files_on_commit(instance.stored_names())


@receiver(pre_save, sender="blog.EntryImage")
def image_replaced(sender, instance, raw=False, **kwargs):
    """A new file for an existing image: the old upload and renditions go once committed."""
    if raw or not instance.pk or instance.image._committed:
        return
    old = sender.objects.filter(pk=instance.pk).first()
    if old is not None:
        _delete_files_on_commit(old.stored_names())


def _delete_files_on_commit(names):
    transaction.on_commit(lambda: [default_storage.delete(name) for name in names if name])


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
