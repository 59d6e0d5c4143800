import functools
import html
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Length
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import Truncator, slugify
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import Tag, TaggedItemBase

from blog import notifications, search, spam
from blog.markup import render_markdown
from blog.queries import PlannedQueries
from blog.signals import SignalFreeWrites

SLUG_MAX_LENGTH = 120
RELATED_ENTRIES = 5
COMMENT_TEXT_MAX_LENGTH = 500
COMMENT_NAME_MAX_LENGTH = 80
# A second identical post within this time is the same comment (a double click, a reload).
DUPLICATE_WINDOW = timedelta(minutes=30)

# Lets constraints say text__length, enforced by the database itself.
models.CharField.register_lookup(Length)


def comments_close_before(now: datetime) -> datetime | None:
    """Entries published before this have their comments closed (BLOG_COMMENTS_CLOSE_AFTER_DAYS)."""
    days = settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS
    return now - timedelta(days=days) if days else None


class EntryQuerySet(PlannedQueries, SignalFreeWrites):
    def published(self, now=None):
        """Entries readers may see: not drafts, and not scheduled for later."""
        # NOT (timestamp > now) rather than timestamp <= now: SQLite ranges its index scan
        # on the first upper bound it is given, and this one would beat an archive's tighter
        # bound (1 January next year), scanning every newer entry. PostgreSQL reads both alike.
        return self.filter(~Q(timestamp__gt=now or timezone.now()), is_draft=False)

    def scheduled(self, now=None):
        """Entries that go live by themselves at their (future) timestamp."""
        return self.filter(timestamp__gt=now or timezone.now(), is_draft=False)

    def commentable(self, now=None):
        """Entries readers may comment on: enabled, published, and not past the closing age."""
        now = now or timezone.now()
        open_entries = self.published(now).filter(comments_enabled=True)
        if closed_before := comments_close_before(now):
            open_entries = open_entries.filter(timestamp__gte=closed_before)
        return open_entries

    def with_comment_counts(self):
        # A subquery per row shown, not JOIN + GROUP BY: grouping would touch every
        # entry and comment before LIMIT, making each list page O(all entries).
        public = (
            Comment.objects.public()
            .filter(entry=OuterRef("pk"))
            .order_by()
            .values("entry")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(comment_count=Coalesce(Subquery(public), 0))

    def with_tags(self):
        """Each entry's tags in one more query for the whole list (no query per entry)."""
        return self.prefetch_related("tags")

    def tagged(self, tag):
        # EXISTS, not a join or IN: SQLite then walks entry_published_idx newest first and
        # stops at the page's last entry, instead of reading and sorting every entry with a
        # popular tag (0.5 s at 35,000 of 100,000 entries; bench/README.md).
        return self.filter(
            Exists(TaggedEntry.objects.filter(content_object=OuterRef("pk"), tag=tag))
        )

    def bulk_create(self, objs, *args, **kwargs):
        """As save() would, render each body (once per distinct body) before inserting."""
        render = functools.cache(render_markdown)
        for entry in objs:
            entry.body_html = render(entry.body)
        return super().bulk_create(objs, *args, **kwargs)


class Entry(models.Model):
    title = models.CharField(_("title"), max_length=100)
    slug = models.SlugField(
        _("slug"),
        max_length=SLUG_MAX_LENGTH,
        unique=True,
        blank=True,
        help_text=_("Part of the permalink. Made from the title when left empty."),
    )
    body = models.TextField(_("body"), help_text=_("Markdown. Raw HTML is shown as text."))
    body_html = models.TextField(editable=False, default="")
    timestamp = models.DateTimeField(
        _("publication time"),
        default=timezone.now,
        db_index=True,
        help_text=_("Entries with a future time are scheduled and hidden until then."),
    )
    featured = models.BooleanField(_("featured"), default=False)
    is_draft = models.BooleanField(
        _("draft"),
        default=False,
        help_text=_("Drafts are hidden from readers; staff can preview them."),
    )
    comments_enabled = models.BooleanField(_("comments enabled"), default=True)
    updated = models.DateTimeField(_("last modified"), auto_now=True)
    tags = TaggableManager(_("tags"), through="TaggedEntry", blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        get_latest_by = "timestamp"
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        indexes = [
            # Partial, so published() lists and counts read only the index, never the
            # rows (bodies make them long); id breaks timestamp ties as the views order.
            models.Index(
                fields=["timestamp", "id"],
                condition=Q(is_draft=False),
                name="entry_published_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(slug=""), name="entry_slug_not_empty"),
            models.CheckConstraint(condition=Q(title__length__gt=0), name="entry_title_not_empty"),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.body_html = render_markdown(self.body)
        if self.slug:
            return super().save(*args, **kwargs)
        # Two editors saving the same title at once: the unique constraint picks
        # one winner, the other retries with the next free suffix.
        for _attempt in range(5):
            self.slug = self.unique_slug(self.title, exclude_pk=self.pk)
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                if not Entry.objects.filter(slug=self.slug).exclude(pk=self.pk).exists():
                    raise
        raise IntegrityError(f"Could not find a free slug for {self.title!r}")

    def get_absolute_url(self):
        return reverse("blog:entry", kwargs=self._permalink_kwargs())

    def _permalink_kwargs(self):
        local = timezone.localtime(self.timestamp)
        return {
            "year": local.year,
            "month": local.strftime("%b").lower(),
            "day": local.day,
            "slug": self.slug,
        }

    def get_comments_feed_url(self):
        return reverse("blog:entry-feed", kwargs=self._permalink_kwargs())

    def clean(self):
        # Forms validate constraints before save(): give them the slug save() would make.
        if not self.slug and self.title:
            self.slug = self.unique_slug(self.title, exclude_pk=self.pk)

    @staticmethod
    def unique_slug(title: str, exclude_pk=None, taken: set[str] | None = None) -> str:
        """A slug made from the title, with -2, -3, ... when it is taken."""
        base = slugify(title)[: SLUG_MAX_LENGTH - 10].strip("-") or "entry"
        candidate, n = base, 1
        while True:
            if taken is not None:
                in_use = candidate in taken
            else:
                in_use = Entry.objects.filter(slug=candidate).exclude(pk=exclude_pk).exists()
            if not in_use:
                return candidate
            n += 1
            candidate = f"{base}-{n}"

    # One loaded entry, judged without a query by the rules of EntryQuerySet.published(),
    # scheduled() and commentable() (tests/test_models.py proves they agree).
    @property
    def is_published(self) -> bool:
        return not self.is_draft and self.timestamp <= timezone.now()

    @property
    def is_scheduled(self) -> bool:
        return not self.is_draft and not self.is_published

    @property
    def comments_open(self) -> bool:
        closed_before = comments_close_before(timezone.now())
        return (
            self.comments_enabled
            and self.is_published
            and (closed_before is None or self.timestamp >= closed_before)
        )

    @property
    def description(self) -> str:  # provisional until issue 12 lands
        """Plain text for meta descriptions and link previews."""
        text = html.unescape(strip_tags(self.body_html))
        return Truncator(" ".join(text.split())).chars(300)

    @property
    def share_image(self) -> str:  # provisional until issue 12 lands
        """URL path of the entry's image for link previews, "" if it has none."""
        return ""

    @property
    def last_modified(self):
        """When readers last saw this entry change: edited, or gone live at its timestamp."""
        return max(self.updated, self.timestamp)

    def neighbours(self) -> tuple["Entry | None", "Entry | None"]:
        """The published entries just before and after this one, as (older, newer)."""
        return Entry.objects.published().neighbours(self)

    def visible_comments(self):
        return self.comments.public().order_by("created", "id")

    def related(self):
        """Up to RELATED_ENTRIES published entries sharing most tags with this one, newest
        first on ties: one query, from the tags already prefetched (with_tags)."""
        tag_ids = [tag.pk for tag in self.tags.all()]
        if not tag_ids:
            return []
        shared = (
            Entry.objects.published()
            .filter(tagged_items__tag__in=tag_ids)
            .exclude(pk=self.pk)
            .annotate(shared=Count("tagged_items"))
            .order_by("-shared", "-timestamp", "-id")
            .only("title", "slug", "timestamp")
        )
        return list(shared[:RELATED_ENTRIES])


class CommentQuerySet(SignalFreeWrites):
    def public(self):
        """Comments readers may see (not hidden by a moderator)."""
        return self.filter(is_public=True)

    def post(self, entry, client: str, *, name: str, text: str) -> tuple["Comment", bool]:
        """A reader's validated comment: (the new comment, True), or (the same comment they
        posted within DUPLICATE_WINDOW, False). Raises spam.RateLimited; admins hear of new
        ones once they are committed."""
        with transaction.atomic():
            # Serialise comments per entry so a double click cannot slip two copies in.
            Entry.objects.select_for_update().filter(pk=entry.pk).first()
            duplicate = entry.comments.filter(
                text=text, name=name, created__gte=timezone.now() - DUPLICATE_WINDOW
            ).first()
            if duplicate is not None:
                return duplicate, False
            if spam.rate_limited(client):
                raise spam.RateLimited(
                    _("You are posting comments too quickly. Please wait a minute.")
                )
            comment = self.create(
                entry=entry,
                name=name,
                text=text,
                ip_address=spam.valid_ip(client),
                is_public=not settings.BLOG_COMMENTS_MODERATED,
            )
            transaction.on_commit(lambda: notifications.new_comment(comment))
        return comment, True


class Comment(models.Model):
    entry = models.ForeignKey(
        Entry, on_delete=models.CASCADE, related_name="comments", verbose_name=_("entry")
    )
    name = models.CharField(
        _("name"),
        max_length=COMMENT_NAME_MAX_LENGTH,
        blank=True,
        help_text=_("Shown as “Anonymous” when empty."),
    )
    text = models.CharField(_("comment"), max_length=COMMENT_TEXT_MAX_LENGTH)
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    is_public = models.BooleanField(
        _("visible"), default=True, help_text=_("Hidden comments are not shown to readers.")
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created", "id"]
        get_latest_by = "created"
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        indexes = [
            models.Index(fields=["entry", "is_public", "created"], name="comment_entry_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(text__length__gt=0) & Q(text__length__lte=COMMENT_TEXT_MAX_LENGTH),
                name="comment_text_length",
            ),
            models.CheckConstraint(
                condition=Q(name__length__lte=COMMENT_NAME_MAX_LENGTH), name="comment_name_length"
            ),
        ]

    def __str__(self):
        return f"{self.display_name} on {self.entry}"

    def get_absolute_url(self):
        return f"{self.entry.get_absolute_url()}#c{self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or _("Anonymous")


class TaggedEntry(TaggedItemBase):
    """An entry's tag: a real foreign key to Entry (joins and indexes on integers), not
    taggit's generic content type and object id."""

    content_object = models.ForeignKey(
        Entry, on_delete=models.CASCADE, related_name="tagged_items", verbose_name=_("entry")
    )

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="tagged_entry_unique"),
        ]
        # The unique constraint's index serves an entry's tags; this one a tag's entries.
        indexes = [models.Index(fields=["tag", "content_object"], name="tagged_entry_tag_idx")]

    @classmethod
    def published_tags(cls):
        """Tags of published entries, by name, each with entry_count: published entries
        only (a tag used only by drafts or scheduled entries is left out)."""
        published = Q(blog_taggedentry_items__content_object__in=Entry.objects.published())
        return (
            Tag.objects.annotate(entry_count=Count("blog_taggedentry_items", filter=published))
            .filter(entry_count__gt=0)
            .order_by("name")
        )


class EntrySearchIndex(models.Model):
    """The SQLite FTS5 table blog_entry_fts (blog.search), kept in step with blog_entry by
    triggers; its rows are entries' ids, titles and bodies. Not on PostgreSQL."""

    entry = models.OneToOneField(
        Entry,
        primary_key=True,
        db_column="rowid",
        on_delete=models.DO_NOTHING,
        related_name="search_index",
    )
    title = models.TextField()
    body = models.TextField()
    # FTS5's hidden column named after the table: the left side of MATCH.
    document = search.DocumentField(db_column="blog_entry_fts")

    class Meta:
        managed = False
        db_table = "blog_entry_fts"

    def __str__(self):
        return self.title


class PageQuerySet(SignalFreeWrites):
    def published(self):
        """Pages readers may see: not drafts."""
        return self.filter(is_draft=False)


class Page(models.Model):
    """A page outside the stream of entries, such as About or Projects."""

    title = models.CharField(_("title"), max_length=100)
    slug = models.SlugField(
        _("slug"), max_length=SLUG_MAX_LENGTH, unique=True, help_text=_("The page's address.")
    )
    description = models.CharField(
        _("description"),
        max_length=300,
        blank=True,
        help_text=_("One or two sentences for search engines and link previews."),
    )
    body = models.TextField(_("body"), help_text=_("Markdown. Raw HTML is shown as text."))
    body_html = models.TextField(editable=False, default="")
    is_draft = models.BooleanField(
        _("draft"), default=False, help_text=_("Drafts are hidden from readers.")
    )
    nav_order = models.PositiveSmallIntegerField(
        _("navigation order"),
        null=True,
        blank=True,
        help_text=_("Position in the site navigation (lowest first); empty: not in it."),
    )
    updated = models.DateTimeField(_("last modified"), auto_now=True)

    objects = PageQuerySet.as_manager()

    class Meta:
        ordering = ["nav_order", "title"]
        verbose_name = _("page")
        verbose_name_plural = _("pages")
        constraints = [
            models.CheckConstraint(condition=~Q(slug=""), name="page_slug_not_empty"),
            models.CheckConstraint(condition=Q(title__length__gt=0), name="page_title_not_empty"),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.body_html = render_markdown(self.body)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("blog:page", kwargs={"slug": self.slug})

    @classmethod
    def navigation(cls):
        """Published pages in the site navigation, in their order (one query)."""
        return cls.objects.published().filter(nav_order__isnull=False).only("title", "slug")
