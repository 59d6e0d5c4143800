import html
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Length
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import Truncator, slugify
from django.utils.translation import gettext_lazy as _

from blog import images
from blog.markup import render_entry

SLUG_MAX_LENGTH = 120
SEARCH_MAX_WORDS = 10  # bounds the query a long search string can build
SEARCH_CONFIG = "english"  # PostgreSQL text search configuration (stemming, stop words)

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

    def find_by_slug(self, slug: str):
        """The entry with this slug now, or the one that had it before (old links), or None."""
        return self.filter(slug=slug).first() or self.filter(former_slugs__slug=slug).first()

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
        """Entries whose title or body match every word of query, best match first.

        PostgreSQL: full text search (stemmed, ranked, titles weigh more). Elsewhere: each word
        must appear in the title or body (case-insensitive), newest first.
        """
        words = query.split()[:SEARCH_MAX_WORDS]
        if not words:
            return self.none()
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

            vector = SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
                "body", weight="B", config=SEARCH_CONFIG
            )
            # websearch syntax never raises on odd input ("quotes", -minus, or).
            search_query = SearchQuery(
                " ".join(words), search_type="websearch", config=SEARCH_CONFIG
            )
            return (
                self.annotate(document=vector, rank=SearchRank(vector, search_query))
                .filter(document=search_query)  # @@: a match, not merely a rank above zero
                .order_by("-rank", "-timestamp", "-id")
            )
        condition = Q()
        for word in words:
            condition &= Q(title__icontains=word) | Q(body__icontains=word)
        return self.filter(condition).order_by("-timestamp", "-id")


class Entry(models.Model):
    title = models.CharField(_("title"), max_length=100)
    slug = models.SlugField(
        _("slug"),
        max_length=SLUG_MAX_LENGTH,
        unique=True,
        blank=True,
        help_text=_("Part of the permalink. Made from the title when left empty."),
    )
    summary = models.TextField(
        _("summary"),
        blank=True,
        default="",
        db_default="",
        help_text=_(
            "Markdown, optional. Lists and search show it; without it they show the body up "
            "to a line holding only &lt;!--more--&gt;, or else its first paragraph."
        ),
    )
    body = models.TextField(
        _("body"),
        help_text=_(
            "Markdown: # is a section heading, [TOC] a table of contents, text[^1] and "
            "[^1]: a footnote, ```python a highlighted code block, ![alt](image:ID) an image "
            "uploaded below. Raw HTML is shown as text."
        ),
    )
    body_html = models.TextField(editable=False, default="")
    summary_html = models.TextField(editable=False, default="", db_default="")
    # What lists show: the summary, the body up to <!--more-->, or its first paragraph.
    excerpt_html = models.TextField(editable=False, default="", db_default="")
    timestamp = models.DateTimeField(
        _("publication time"),
        default=timezone.now,
        db_index=True,
        help_text=_("Entries with a future time are scheduled and hidden until then."),
    )
    featured = models.BooleanField(_("featured"), default=False)
    is_draft = models.BooleanField(
        _("draft"),
        default=True,
        help_text=_(
            "New entries are drafts, hidden from readers (staff can open them); "
            "“Save and publish” makes them public."
        ),
    )
    comments_enabled = models.BooleanField(_("comments enabled"), default=True)
    updated = models.DateTimeField(_("last modified"), auto_now=True)
    revised = models.DateTimeField(
        _("revised"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the title, summary or body last changed after publication."),
    )

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
        loaded = getattr(self, "_loaded", None)
        if (
            loaded
            and None not in loaded.values()
            and loaded["is_draft"] is False
            and loaded["timestamp"] <= timezone.now()
            and any(loaded[name] != getattr(self, name) for name in REVISION_FIELDS)
        ):
            self.revised = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "revised"}
        with transaction.atomic():
            self._save_with_slug(*args, **kwargs)
            old_slug = (loaded or {}).get("slug")
            if old_slug and old_slug != self.slug:
                FormerSlug.objects.update_or_create(slug=old_slug, defaults={"entry": self})
            # A slug in use now is no longer anyone's old link.
            FormerSlug.objects.filter(slug=self.slug).delete()
        self._loaded = {name: getattr(self, name) for name in LOADED_FIELDS}

    def get_absolute_url(self):
        return reverse("blog:entry", kwargs=self._permalink_kwargs())

    def _save_with_slug(self, *args, **kwargs):
        if self.slug:
            self.render_html()
            return super().save(*args, **kwargs)
        # Two editors saving the same title at once: the unique constraint picks
        # one winner, the other retries with the next free suffix.
        for _attempt in range(5):
            self.slug = self.unique_slug(self.title, exclude_pk=self.pk)
            self.render_html()
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                if not Entry.objects.filter(slug=self.slug).exclude(pk=self.pk).exists():
                    raise
        raise IntegrityError(f"Could not find a free slug for {self.title!r}")

    @classmethod
    def from_db(cls, db, field_names, values):
        entry = super().from_db(db, field_names, values)
        # As loaded, to tell what a save changes (revisions, old links).
        entry._loaded = {
            name: entry.__dict__.get(name) for name in LOADED_FIELDS
        }  # no deferred loads
        return entry

    def _permalink_kwargs(self):
        local = timezone.localtime(self.timestamp)
        return {
            "year": local.year,
            "month": local.strftime("%b").lower(),
            "day": local.day,
            "slug": self.slug,
        }

    def get_comments_feed_url(self, atom: bool = False):
        name = "blog:entry-feed-atom" if atom else "blog:entry-feed"
        return reverse(name, kwargs=self._permalink_kwargs())

    def render_html(self):
        """Fill the *_html fields from the Markdown (on every save; bulk_create callers too)."""
        pictures = {}
        if self.pk and not self._state.adding:
            pictures = {str(image.pk): image.img_attributes() for image in self.images.all()}
        fields = render_entry(self.body, self.summary, self.slug or "entry", pictures)
        for name, value in fields.items():
            setattr(self, name, value)

    def rerender(self):
        """Render again and store only the *_html fields: not an edit, no signals."""
        self.render_html()
        Entry.objects.filter(pk=self.pk).update(
            body_html=self.body_html, summary_html=self.summary_html, excerpt_html=self.excerpt_html
        )

    def publish(self, keep_time: bool = False):
        """Make the entry public; a draft's publication time becomes now unless it is
        in the future (scheduled) or keep_time says the author chose it."""
        now = timezone.now()
        if self.is_draft and not keep_time and self.timestamp <= now:
            self.timestamp = now
        self.is_draft = False

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

    @property
    def description(self) -> str:
        """Plain text for <meta name=description> and share cards: the excerpt, cut short."""
        text = " ".join(html.unescape(strip_tags(self.excerpt_html)).split())
        return Truncator(text).chars(DESCRIPTION_CHARS)

    @property
    def share_image(self) -> str:
        """The URL path of the first image's largest rendition, or ""."""
        image = self.images.order_by("id").first()
        return image.largest_url if image else ""

    @property
    def was_revised(self) -> bool:
        return self.revised is not None and self.revised > self.timestamp


LOADED_FIELDS = ("title", "summary", "body", "slug", "timestamp", "is_draft")
REVISION_FIELDS = ("title", "summary", "body")  # what readers read; featured etc. are not
DESCRIPTION_CHARS = 300


class FormerSlug(models.Model):
    """A slug an entry had before: its old links answer with a 301 to the current one."""

    entry = models.ForeignKey(
        Entry, on_delete=models.CASCADE, related_name="former_slugs", verbose_name=_("entry")
    )
    slug = models.SlugField(_("slug"), max_length=SLUG_MAX_LENGTH, unique=True)

    class Meta:
        verbose_name = _("former slug")
        verbose_name_plural = _("former slugs")

    def __str__(self):
        return self.slug


def image_upload_to(instance, filename):
    # Never the uploader's name or extension: a random name and the format Pillow found.
    return f"images/{instance.stem}.{images.EXTENSIONS[instance.format]}"


class EntryImage(models.Model):
    """A picture uploaded for an entry, with renditions in a few widths made at upload."""

    entry = models.ForeignKey(
        Entry, on_delete=models.CASCADE, related_name="images", verbose_name=_("entry")
    )
    image = models.FileField(
        _("image"),
        upload_to=image_upload_to,
        max_length=200,
        validators=[images.validate_image],
        help_text=images.HELP_TEXT,
    )
    alt = models.CharField(
        _("alternative text"),
        max_length=300,
        help_text=_("What the picture shows, for readers who cannot see it."),
    )
    stem = models.CharField(max_length=32, editable=False, default="")
    format = models.CharField(max_length=8, editable=False, default="")
    width = models.PositiveIntegerField(editable=False, default=0)
    height = models.PositiveIntegerField(editable=False, default=0)
    # [[width, height, storage name], ...], narrowest first.
    renditions = models.JSONField(editable=False, default=list)
    created = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self):
        return self.alt

    def save(self, *args, **kwargs):
        if self.image and not self.image._committed:
            # Renditions once, at upload: pages never resize anything.
            self.stem = uuid.uuid4().hex
            picture = images.open_image(self.image)
            self.format, (self.width, self.height) = picture.format, picture.size
            self.renditions = images.make_renditions(picture, self.stem, default_storage)
        super().save(*args, **kwargs)

    @property
    def markdown(self) -> str:
        return f"![{self.alt}](image:{self.pk})"

    @property
    def largest_url(self) -> str:
        return default_storage.url(self.renditions[-1][2]) if self.renditions else ""

    def img_attributes(self) -> dict[str, str]:
        """src (a middle width), srcset, width, height and alt for an <img>."""
        if not self.renditions:
            return {"src": default_storage.url(self.image.name), "alt": self.alt}
        middle = self.renditions[min(1, len(self.renditions) - 1)]
        largest = self.renditions[-1]
        return {
            "src": default_storage.url(middle[2]),
            "srcset": ", ".join(f"{default_storage.url(n)} {w}w" for w, _h, n in self.renditions),
            "width": str(largest[0]),
            "height": str(largest[1]),
            "alt": self.alt,
        }

    def stored_names(self) -> list[str]:
        return [self.image.name, *(name for _w, _h, name in self.renditions)]


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
