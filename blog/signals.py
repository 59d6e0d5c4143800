"""Side effects of writes: every saved or deleted entry and comment makes cached pages stale."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from blog.cache import bump_version
from blog.models import Comment, Entry


@receiver(post_save, sender=Entry)
@receiver(post_delete, sender=Entry)
@receiver(post_save, sender=Comment)
@receiver(post_delete, sender=Comment)
def content_changed(sender, using, raw=False, **kwargs):
    """Readers see the write on their next request, in every process."""
    # loaddata saves raw rows by the thousand: one renewal when it commits is enough.
    bump_version(using=using, immediate=not raw)
