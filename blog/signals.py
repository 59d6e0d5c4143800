"""Side effects of writes: every write to entries and comments makes cached pages stale.

Saves and deletes send model signals; update() and bulk_create() send none, so the
models' QuerySets (SignalFreeWrites) do the same after them.
"""

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from blog.cache import bump_version


@receiver(post_save, sender="blog.Entry")
@receiver(post_delete, sender="blog.Entry")
@receiver(post_save, sender="blog.Comment")
@receiver(post_delete, sender="blog.Comment")
def content_changed(sender, using, raw=False, **kwargs):
    """Readers see the write on their next request, in every process."""
    # loaddata saves raw rows by the thousand: one renewal when it commits is enough.
    bump_version(using=using, immediate=not raw)


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
