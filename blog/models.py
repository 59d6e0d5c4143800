import html
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Length
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import Truncator, slugify
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import Tag, TaggedItemBase

from blog import search
from blog.markup import render_markdown

SLUG_MAX_LENGTH = 120
SEARCH_MAX_WORDS = 10  # bounds the query a long search string can build
RELATED_ENTRIES = 5

# Lets constraints say text__length, enforced by the database itself.
models.CharField.register_lookup(Length)


# Longer than any such period (DST included) and shorter than two: added to the start of
# one, it lands in the next.
PERIOD_STEP = {"year": timedelta(days=370), "month": timedelta(days=32), "day": timedelta(hours=36)}


def period_start(moment: datetime, kind: str) -> datetime:
    """The start of the year, month or day holding moment, in the site's time zone."""
    local = timezone.localtime(moment)
    fields = {"year": (local.year, 1, 1), "month": (local.year, local.month, 1)}
    return timezone.make_aware(datetime(*fields.get(kind, (local.year, local.month, local.day))))


class EntryQuerySet(models.QuerySet):
    def published(self):
        """Entries readers may see: not drafts, and not scheduled for later."""
        # NOT (timestamp > now) rather than timestamp <= now: SQLite ranges its index scan
        # on the first upper bound it is given, and this one would beat an archive's tighter
        # bound (1 January next year), scanning every newer entry. PostgreSQL reads both alike.
        return self.filter(~Q(timestamp__gt=timezone.now()), is_draft=False)

    def with_comment_counts(self):
        # A subquery per row shown, not JOIN + GROUP BY: grouping would touch every
        # entry and comment before LIMIT, making each list page O(all entries).
        public = (
            Comment.objects.filter(entry=OuterRef("pk"), is_public=True)
            .order_by()
            .values("entry")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(comment_count=Coalesce(Subquery(public), 0))

    def dates_with_entries(self, kind: str) -> list[datetime]:
        """The first moment of each year, month or day (local time) with entries, newest first.

        What dates() gives, from a few index entries per period instead of truncating the
        timestamp of every row: the oldest and the newest entry, then, for each period
        between, the first entry on or after its start, all in one query.
        """
        span = [
            self.order_by(order).values_list("pk", "timestamp").first()
            for order in ("timestamp", "-timestamp")
        ]
        if span[0] is None:
            return []
        starts, start, newest = {}, period_start(span[0][1], kind), span[1][1]
        while start <= newest:
            starts[f"p{len(starts)}"] = start
            start = period_start(start + PERIOD_STEP[kind], kind)
        # Each probe's bound first: SQLite ranges its index scan on the first lower bound, and
        # an archive's own (1 January) would make every probe walk from there.
        probes = {
            name: Subquery(
                (self.model.objects.filter(timestamp__gte=start) & self)
                .order_by("timestamp")
                .values("timestamp")[:1]
            )
            for name, start in starts.items()
        }
        found = self.model.objects.filter(pk=span[0][0]).values(**probes).get().values()
        return sorted({period_start(at, kind) for at in found if at is not None}, reverse=True)

    def search(self, query: str):
        """Entries matching every word of query (stemmed), best match first, each with a
        highlighted ``snippet`` (see blog.search.highlight). Titles weigh more than bodies.

        SQLite: the FTS5 index blog_entry_fts, ranked by bm25. PostgreSQL: full text search
        on a stored weighted vector with the GIN index entry_search_idx.
        """
        words = query.split()[:SEARCH_MAX_WORDS]
        if connection.vendor == "postgresql":
            return search.postgresql_search(self, words)
        expression = search.fts5_expression(words)
        if not expression:
            return self.none()
        return (
            self.filter(search_index__document__match=expression)
            .annotate(rank=search.bm25(), snippet=search.fts5_snippet())
            .order_by("rank", "-timestamp", "-id")
        )

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

    @property
    def is_published(self) -> bool:
        return not self.is_draft and self.timestamp <= timezone.now()

    @property
    def is_scheduled(self) -> bool:
        return not self.is_draft and self.timestamp > timezone.now()

    @property
    def comments_open(self) -> bool:
        """Readers can comment: enabled, published, and not past the closing age."""
        if not self.comments_enabled or not self.is_published:
            return False
        days = settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS
        return not days or timezone.now() - self.timestamp <= timedelta(days=days)

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
        """The published entries just before and after this one, as (older, newer), in one query."""
        # Each bound stands alone, outside any OR: SQLite cannot range its index scan on an
        # OR, and an old entry's neighbours would cost a walk through every newer entry.
        published = Entry.objects.published()
        same_time = {"timestamp": self.timestamp}
        older = (Entry.objects.filter(timestamp__lte=self.timestamp) & published).exclude(
            **same_time, id__gte=self.id
        )
        newer = (Entry.objects.filter(timestamp__gte=self.timestamp) & published).exclude(
            **same_time, id__lte=self.id
        )
        pair = Entry.objects.filter(
            Q(pk=Subquery(older.order_by("-timestamp", "-id").values("pk")[:1]))
            | Q(pk=Subquery(newer.order_by("timestamp", "id").values("pk")[:1]))
        ).only("title", "slug", "timestamp")
        older_entry = newer_entry = None
        for entry in pair:
            if (entry.timestamp, entry.id) < (self.timestamp, self.id):
                older_entry = entry
            else:
                newer_entry = entry
        return older_entry, newer_entry

    def visible_comments(self):
        return self.comments.filter(is_public=True).order_by("created", "id")

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


class Comment(models.Model):
    entry = models.ForeignKey(
        Entry, on_delete=models.CASCADE, related_name="comments", verbose_name=_("entry")
    )
    name = models.CharField(
        _("name"), max_length=80, blank=True, help_text=_("Shown as “Anonymous” when empty.")
    )
    text = models.CharField(_("comment"), max_length=500)
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    is_public = models.BooleanField(
        _("visible"), default=True, help_text=_("Hidden comments are not shown to readers.")
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

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
                condition=Q(text__length__gt=0) & Q(text__length__lte=500),
                name="comment_text_length",
            ),
            models.CheckConstraint(condition=Q(name__length__lte=80), name="comment_name_length"),
        ]

    def __str__(self):
        return f"{self.display_name} on {self.entry}"

    def get_absolute_url(self):
        return f"{self.entry.get_absolute_url()}#c{self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or _("Anonymous")


class PageQuerySet(models.QuerySet):
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
