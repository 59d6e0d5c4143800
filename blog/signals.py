"""Side effects of writes: every saved or deleted entry, comment, tag or page makes cached
pages stale."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from taggit.models import Tag

from blog.cache import bump_version
from blog.models import Comment, Entry, Page, TaggedEntry


@receiver(post_save, sender=Entry)
@receiver(post_delete, sender=Entry)
@receiver(post_save, sender=Comment)
@receiver(post_delete, sender=Comment)
@receiver(post_save, sender=Page)
@receiver(post_delete, sender=Page)
@receiver(post_save, sender=Tag)  # a renamed tag
@receiver(post_delete, sender=Tag)
@receiver(post_save, sender=TaggedEntry)  # the admin's tag inline
@receiver(post_delete, sender=TaggedEntry)
def content_changed(sender, using, raw=False, **kwargs):
    """Readers see the write on their next request, in every process."""
    # loaddata saves raw rows by the thousand: one renewal when it commits is enough.
    bump_version(using=using, immediate=not raw)


@receiver(m2m_changed, sender=TaggedEntry)
def tags_changed(sender, action, using, **kwargs):
    """entry.tags.add(), set(), remove(), clear(): clear() deletes without post_delete."""
    if action.startswith("post_"):
        bump_version(using=using)
