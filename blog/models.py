import functools
import html
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.files.storage import default_storage
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Length
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import strip_tags
from django.utils.text import Truncator, slugify
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import Tag, TaggedItemBase

from blog import images, notifications, search, spam
from blog.markup import render_entry, render_markdown
from blog.queries import PlannedQueries
from blog.signals import SignalFreeWrites
from homepage.sqlite_guard import write_together

SLUG_MAX_LENGTH = 120
RELATED_ENTRIES = 5
COMMENT_TEXT_MAX_LENGTH = 500
COMMENT_NAME_MAX_LENGTH = 80
COMMENT_WEBSITE_MAX_LENGTH = 200
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

    def find_by_slug(self, slug: str):
        """The entry with this slug now, or the one that had it before (old links), or None."""
        return self.filter(slug=slug).first() or self.filter(former_slugs__slug=slug).first()

    def with_comment_counts(self):
        # A subquery per row shown, not JOIN + GROUP BY: grouping would touch every
        # entry and comment before LIMIT, making each list page O(all entries).
        public = Comment.objects.public_counts().filter(entry=OuterRef("pk")).values("n")
        return self.annotate(comment_count=Coalesce(Subquery(public), 0))

    @staticmethod
    def comment_counts(entries: list["Entry"]) -> dict[int, int]:
        """with_comment_counts() for entries already loaded (a list kept per content version,
        whose counts change with every comment): one query for all of them, by entry id."""
        found = dict(_public_counts_sql(tuple(entry.pk for entry in entries)).rows())
        return {entry.pk: found.get(entry.pk, 0) for entry in entries}

    @staticmethod
    def add_comment_counts(entries: list["Entry"], counts=None) -> list["Entry"]:
        """Set each entry's comment_count: from comment_counts(), read here unless given."""
        counts = EntryQuerySet.comment_counts(entries) if counts is None else counts
        for entry in entries:
            entry.comment_count = counts[entry.pk]
        return entries

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
        """As save() would, render each entry (once per distinct text) before inserting."""
        render = functools.cache(render_entry)
        for entry in objs:
            # The key only names footnotes: without any, entries with one body share a render.
            text = entry.body + entry.summary
            fields = render(entry.body, entry.summary, entry.slug if "[^" in text else "entry")
            for name, value in fields.items():
                setattr(entry, name, value)
        return super().bulk_create(objs, *args, **kwargs)


# The conversation's order: first comments, and the replies in each thread.
CONVERSATION_ORDER = ("created", "id")


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
    # The first image's largest rendition, kept with the HTML: share cards cost no query.
    share_image_path = models.CharField(max_length=300, editable=False, default="", db_default="")
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

    def shallow_copy(self) -> "Entry":
        """A copy on which one request may set attributes (its comment_count) while the row
        stays shared by the process's threads; the values and the state (database, cached
        related objects) are the row's, to be read. copy.copy() pickles a model instead: 20
        µs a row, about a seventh of a front-page miss."""
        twin = object.__new__(type(self))
        twin.__dict__ = self.__dict__.copy()
        return twin

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
        # As loaded, to tell what a save changes (revisions, old links); deferred fields are
        # None (reading them here would load them, one query each).
        entry._loaded = {name: entry.__dict__.get(name) for name in LOADED_FIELDS}
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
        uploads = list(self.images.all()) if self.pk and not self._state.adding else []
        pictures = {str(image.pk): image.img_attributes() for image in uploads}
        self.share_image_path = uploads[0].largest_url if uploads else ""
        fields = render_entry(self.body, self.summary, self.slug or "entry", pictures)
        for name, value in fields.items():
            setattr(self, name, value)

    def rerender(self):
        """Render again and store only the *_html fields: not an edit (no revision, no save
        signals); update() makes cached pages stale."""
        self.render_html()
        Entry.objects.filter(pk=self.pk).update(
            body_html=self.body_html,
            summary_html=self.summary_html,
            excerpt_html=self.excerpt_html,
            share_image_path=self.share_image_path,
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
    def last_modified(self):
        """When readers last saw this entry change: edited, or gone live at its timestamp."""
        return max(self.updated, self.timestamp)

    def neighbours(self) -> tuple["Entry | None", "Entry | None"]:
        """The published entries just before and after this one, as (older, newer)."""
        return Entry.objects.published().neighbours(self)

    def first_comments(self, ids=None):
        """The visible first comments (not replies) in the conversation's order, as the rows
        of CommentThread: what its pages count (BLOG_COMMENTS_PER_PAGE each). With ids (a
        page of first_comment_ids(), which passed this rule a moment before), only theirs,
        read by id: asking the rule again cost a third of the query's 0.7 ms."""
        if ids is None:
            comments = self.comments.public().filter(parent=None)
        else:
            comments = self.comments.filter(pk__in=ids)
        return comments.order_by(*CONVERSATION_ORDER).values_list(*CommentThread.SHOWN)

    def comment_threads(self, first_comments) -> list["CommentThread"]:
        """The threads of first_comments (rows of first_comments(), all or a page of them):
        each first comment with its visible replies, oldest first. One more query, however
        many threads, its SQL compiled once per process for these threads."""
        threads = {row[0]: CommentThread(self._state.db, row) for row in first_comments}
        for row in _replies_sql(self.pk, tuple(threads)).rows():
            threads[row[1]].rows.append(row)
        return list(threads.values())

    def page_threads(self, ids) -> list["CommentThread"]:
        """comment_threads() of a page of first_comment_ids(), which passed the rule of
        first_comments() a moment before: their rows read by id, the SQL of both queries
        compiled once per process for these ids. Building the two ORM queries for every miss
        of an entry page was about 40 % of it (docs/caching.md), and a comment's page is
        rendered again after every comment."""
        return self.comment_threads(_first_comments_sql(self.pk, tuple(ids)).rows())

    def get_comment_page_url(self, number: int) -> str:
        """The address of a page of its conversation: the entry's own for the first."""
        url = self.get_absolute_url()
        return f"{url}?page={number}" if number > 1 else url

    def first_comment_ids(self) -> list[int]:
        """The ids of first_comments(), in order: what the conversation's pages count and
        divide. One query, its SQL compiled once per process (_first_comment_ids_sql())."""
        return [pk for (pk,) in _first_comment_ids_sql(self.pk).rows()]

    def comment_pages(self, comments) -> dict[int, int]:
        """The page of the conversation that shows each of comments (by pk): its thread's,
        which new comments never move (they come after it). One query for all of them."""
        position = {pk: n for n, pk in enumerate(self.first_comment_ids())}
        per_page = settings.BLOG_COMMENTS_PER_PAGE
        return {c.pk: position.get(c.parent_id or c.pk, 0) // per_page + 1 for c in comments}

    def visible_comments(self) -> list["Comment"]:
        """The whole conversation readers see, as comments: first comments oldest first, each
        with its visible replies oldest first in .thread."""
        return [thread.comment for thread in self.comment_threads(self.first_comments())]

    @cached_property
    def sorted_tags(self) -> list:
        """Its tags by name, read once however often a page shows them: from with_tags()'s
        prefetch for a list, or one query when an entry page's cached parts miss."""
        return sorted(self.tags.all(), key=lambda tag: tag.name)

    def related(self):
        """Up to RELATED_ENTRIES published entries sharing most tags with this one, newest
        first on ties: one query, after the tags (sorted_tags)."""
        tag_ids = [tag.pk for tag in self.sorted_tags]
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

    @property
    def description(self) -> str:
        """Plain text for <meta name=description> and share cards: the excerpt, cut short."""
        text = " ".join(html.unescape(strip_tags(self.excerpt_html)).split())
        return Truncator(text).chars(DESCRIPTION_CHARS)

    @property
    def share_image(self) -> str:
        """The URL path of the first image's largest rendition, or "" (stored on render)."""
        return self.share_image_path

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
        """What to write in the body; brackets in the alt text escaped for Markdown."""
        alt = self.alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"![{alt}](image:{self.pk})"

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


class CompiledRows(NamedTuple):
    """A values_list() query compiled to SQL, run by rows() as often as needed, in any
    thread: for the queries of a miss whose building and compiling cost more than running.
    Its parameters are fixed when it is compiled: never for a query that asks the time."""

    sql: str
    params: tuple
    columns: tuple  # the expressions selected, whose converters rows() applies

    @classmethod
    def of(cls, queryset) -> "CompiledRows":
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # e.g. an empty IN (): no query, no rows
            return cls("", (), ())
        columns = tuple(column for column, _sql, _alias in compiler.select[: compiler.col_count])
        return cls(sql, tuple(params), columns)

    def rows(self) -> list[tuple]:
        """The rows, their values converted as the queryset's would be (SQLite's times)."""
        if not self.sql:
            return []
        compiler = connection.ops.compiler("SQLCompiler")(None, connection, None)
        converters = compiler.get_converters(self.columns)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            rows = cursor.fetchall()
        if converters:
            rows = [tuple(row) for row in compiler.apply_converters(rows, converters)]
        return rows


@functools.lru_cache(maxsize=1024)
def _public_counts_sql(ids: tuple[int, ...]) -> CompiledRows:
    """public_counts() for these entries, compiled once per process (a list page's entries
    are the same until an entry changes): building and compiling the ORM query for every
    miss was a fifth of the CPU of a front-page miss."""
    rows = Comment.objects.public_counts().filter(entry__in=ids).values_list("entry", "n")
    return CompiledRows.of(rows)


@functools.lru_cache(maxsize=256)
def _first_comments_sql(entry_pk: int, ids: tuple[int, ...]) -> CompiledRows:
    """first_comments(ids), compiled: see Entry.page_threads()."""
    return CompiledRows.of(Entry(pk=entry_pk).first_comments(ids))


@functools.lru_cache(maxsize=256)
def _replies_sql(entry_pk: int, first_ids: tuple[int, ...]) -> CompiledRows:
    """The visible replies to these first comments in the conversation's order, as rows of
    CommentThread, compiled: see Entry.comment_threads()."""
    replies = Entry(pk=entry_pk).comments.public().filter(parent_id__in=first_ids)
    return CompiledRows.of(replies.order_by(*CONVERSATION_ORDER).values_list(*CommentThread.SHOWN))


@functools.lru_cache(maxsize=1024)
def _first_comment_ids_sql(entry_pk: int) -> CompiledRows:
    """first_comment_ids() for this entry, compiled once per process: building the ORM
    query (public()'s join) was nine tenths of its time, and it runs for every comment
    posted (its page) and every miss of an entry page (the pages' count)."""
    return CompiledRows.of(Entry(pk=entry_pk).first_comments().values_list("id", flat=True))


class CommentQuerySet(SignalFreeWrites):
    def public(self):
        """Comments readers may see: approved, not spam, and not replies in a thread whose
        first comment is hidden (the replies are kept, for the admin)."""
        return self.filter(is_public=True, is_spam=False).filter(
            Q(parent=None) | Q(parent__is_public=True, parent__is_spam=False)
        )

    def public_counts(self):
        """The number of public comments of each entry, as rows of (entry, n)."""
        return self.public().order_by().values("entry").annotate(n=Count("pk"))

    def trusted_email(self, email: str) -> bool:
        """Moderation learns: an address with an approved comment and none marked as spam."""
        if not email:
            return False
        verdicts = set(self.filter(email=email).values_list("is_public", "is_spam").distinct())
        return (True, False) in verdicts and not any(is_spam for _public, is_spam in verdicts)

    def post(
        self,
        entry,
        client: str,
        *,
        name: str,
        text: str,
        parent: "Comment | None" = None,
        user=None,
        email: str = "",
        notify: bool = False,
        website: str = "",
    ) -> tuple["Comment", bool]:
        """A reader's validated comment, or a reply to parent: (the new comment, True), or
        (the same comment they posted within DUPLICATE_WINDOW, False). Raises
        spam.RateLimited. A staff user's comment is theirs, under their name, and never
        waits for moderation. Admins and the thread's subscribers hear of it once it is
        committed (subscribers once it is visible)."""
        if parent is not None:
            if parent.entry_id != entry.pk:
                raise ValueError("A reply must belong to its parent's entry.")
            # One level deep: a reply to a reply joins the thread of the first comment.
            parent = parent.parent if parent.parent_id else parent
        if user is not None:
            name = author_name(user)
        email = normalize_email(email)

        # The same comment within the window, compiled once, before the writers' queue
        # (one_writer()), and asked before it and in it.
        since = timezone.now() - DUPLICATE_WINDOW
        same = entry.comments.filter(text=text, name=name, parent=parent, created__gte=since)
        earlier = CompiledRows.of(same.order_by("pk").values_list("pk")[:1])

        def posted_before():
            rows = earlier.rows()
            return self.get(pk=rows[0][0]) if rows else None

        # Reads and the rate limit before the writers' queue, which then holds only the
        # insert: under load each step in it waited for the interpreter lock too, and
        # writers queued behind it. Only a repeat that races its original (a double click)
        # is counted against the rate limit as well.
        if duplicate := posted_before():
            return duplicate, False
        if spam.rate_limited(client):
            raise spam.RateLimited(_("You are posting comments too quickly. Please wait a minute."))
        is_public = self._approved_at_once(user, email)

        def write():
            # Serialise comments per entry so a double click cannot slip two copies in
            # (SQLite has no row locks and needs none: one writer at a time, one_writer()).
            if connections[self.db].features.has_select_for_update:
                Entry.objects.select_for_update().filter(pk=entry.pk).first()
            if duplicate := posted_before():
                return duplicate, False
            comment = self.create(
                entry=entry,
                parent=parent,
                user=user,
                name=name,
                text=text,
                email=email,
                notify=notify and bool(email),
                website=website,
                ip_address=spam.valid_ip(client),
                is_public=is_public,
            )
            if user is None:  # the admins need no mail about their own comments
                transaction.on_commit(lambda: notifications.new_comment(comment))
            if comment.is_public and parent is not None:
                transaction.on_commit(lambda: notifications.new_reply(comment))
            return comment, True

        return write_together(write, using=self.db)

    def _approved_at_once(self, user, email: str) -> bool:
        if user is not None:
            return True  # the author's own voice
        if email and self.filter(email=email, is_spam=True).exists():
            return False  # an address once marked as spam always waits
        return not settings.BLOG_COMMENTS_MODERATED or self.trusted_email(email)

    def approve(self) -> int:
        """Show these comments to readers (not spam after all); subscribers hear of the
        replies among them that were waiting, once this commits."""
        waiting = list(self.filter(parent__isnull=False, is_public=False).select_related("entry"))
        count = self.update(is_public=True, is_spam=False)
        for reply in waiting:
            transaction.on_commit(functools.partial(notifications.new_reply, reply))
        return count

    def mark_spam(self) -> int:
        """Out of everything readers see, and the addresses never approved at once again."""
        return self.update(is_spam=True, is_public=False)

    def subscriptions(self, comment_pk: int):
        """The subscriptions an unsubscribe link made for this comment ends: its address's,
        in its thread."""
        comment = self.filter(pk=comment_pk).exclude(email="").first()
        if comment is None:
            return self.none()
        thread = comment.parent_id or comment.pk
        return self.filter(Q(pk=thread) | Q(parent=thread), email=comment.email, notify=True)

    def subscribers(self, reply: "Comment") -> list["Comment"]:
        """One visible comment per address that asked to hear about replies in reply's
        thread (its first comment and earlier replies), except reply's own author's."""
        thread = self.public().filter(
            Q(pk=reply.parent_id) | Q(parent=reply.parent_id, created__lte=reply.created),
            notify=True,
        )
        thread = thread.exclude(email="").exclude(pk=reply.pk).order_by("created", "id")
        if reply.email:
            thread = thread.exclude(email=reply.email)
        first_per_address = {}
        for comment in thread:
            first_per_address.setdefault(comment.email, comment)
        return list(first_per_address.values())


def normalize_email(email: str) -> str:
    """Addresses compared and stored in one form (lower case: no mail system we send to
    treats the local part's case as meaningful)."""
    return email.strip().lower()


def author_name(user) -> str:
    """The name a staff user's comments are shown under."""
    return (user.get_full_name() or user.get_username())[:COMMENT_NAME_MAX_LENGTH]


def hide_replies(collector, field, sub_objs, using):
    """on_delete for a reply's parent: the replies stay in the database, hidden from readers
    (an admin may show them again, as comments of their own)."""
    collector.add_field_update(field, None, sub_objs)
    collector.add_field_update(sub_objs.model._meta.get_field("is_public"), False, sub_objs)


class Comment(models.Model):
    entry = models.ForeignKey(
        Entry, on_delete=models.CASCADE, related_name="comments", verbose_name=_("entry")
    )
    parent = models.ForeignKey(
        "self",
        on_delete=hide_replies,
        null=True,
        blank=True,
        related_name="replies",
        verbose_name=_("reply to"),
        help_text=_("A first comment of the same entry: replies are one level deep."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
        help_text=_("Set when a staff user wrote it on the site: shown with an “Author” mark."),
    )
    name = models.CharField(
        _("name"),
        max_length=COMMENT_NAME_MAX_LENGTH,
        blank=True,
        help_text=_("Shown as “Anonymous” when empty."),
    )
    text = models.CharField(_("comment"), max_length=COMMENT_TEXT_MAX_LENGTH)
    # db_default on the fields added later: rows inserted without them (raw SQL, the code
    # still running while the migration runs) get the same value the ORM would give.
    email = models.EmailField(
        _("e-mail"),
        blank=True,
        default="",
        db_default="",
        help_text=_("Never shown to readers; deleted with the comment."),
    )
    notify = models.BooleanField(
        _("tell about replies"),
        default=False,
        db_default=False,
        help_text=_("Mail the address about new replies in this conversation."),
    )
    website = models.URLField(
        _("website"),
        max_length=COMMENT_WEBSITE_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("Shown as the commenter's name linked, rel=“nofollow ugc”."),
    )
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    is_public = models.BooleanField(
        _("visible"), default=True, help_text=_("Hidden comments are not shown to readers.")
    )
    is_spam = models.BooleanField(
        _("spam"),
        default=False,
        db_default=False,
        help_text=_("Never shown; its e-mail address is never approved at once again."),
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
            # Moderation that learns looks addresses up.
            models.Index(fields=["email"], condition=~Q(email=""), name="comment_email_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(text__length__gt=0) & Q(text__length__lte=COMMENT_TEXT_MAX_LENGTH),
                name="comment_text_length",
            ),
            models.CheckConstraint(
                condition=Q(name__length__lte=COMMENT_NAME_MAX_LENGTH), name="comment_name_length"
            ),
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="comment_not_own_reply"),
        ]

    def __str__(self):
        return f"{self.display_name} on {self.entry}"

    def get_absolute_url(self):
        """On the page of its entry's conversation that shows it (a list of comments sets
        .page for all of them from one Entry.comment_pages())."""
        page = self.__dict__.get("page") or self.entry.comment_pages([self])[self.pk]
        return f"{self.entry.get_comment_page_url(page)}#c{self.pk}"

    def get_constraints(self):
        # What validate_constraints() checks. Each CHECK of a comment holds in the database
        # a rule that full_clean() has just held: text's and name's bounds (max_length and
        # blank=False, in clean_fields()), not being its own reply (clean()). Django asks
        # each again with a query, or builds one to find a field the form left out: 0.26 ms
        # of a comment POST's 4.1 ms in-process. Other kinds of constraint stay.
        return [
            (model, [c for c in constraints if not isinstance(c, models.CheckConstraint)])
            for model, constraints in super().get_constraints()
        ]

    def clean(self):
        # The rules post() follows, for the admin's forms (a database CHECK cannot see
        # another row).
        if self.parent_id is None:
            return
        parent = self.parent
        if parent.parent_id is not None or parent.pk == self.pk:
            raise ValidationError(
                {"parent": _("Replies are one level deep: choose a first comment.")}
            )
        if parent.entry_id != self.entry_id:
            raise ValidationError({"parent": _("A reply belongs to the entry of its comment.")})
        if self.pk and self.replies.exists():
            raise ValidationError({"parent": _("A comment with replies cannot become a reply.")})

    @property
    def display_name(self) -> str:
        return self.name or _("Anonymous")

    @property
    def by_author(self) -> bool:
        return self.user_id is not None


class CommentThread:
    """A first comment and its visible replies, as rows of what an entry page shows of them.
    A thread's HTML is kept under its rows (blog/templatetags/blog.py: comment_threads), so
    its Comment instances are built only when it is rendered: building hundreds for every
    miss of an entry page was half of its time, three times the query's."""

    # In the model's field order, as Model.from_db() takes them; the rest are deferred.
    SHOWN = ("id", "parent_id", "user_id", "name", "text", "website", "created")

    def __init__(self, db: str | None, first: tuple):
        self.db, self.rows = db, [first]

    @property
    def ids(self) -> set[int]:
        return {row[0] for row in self.rows}

    @cached_property
    def comment(self) -> "Comment":
        """The first comment, its replies in .thread."""
        first, *replies = (Comment.from_db(self.db, self.SHOWN, row) for row in self.rows)
        first.thread = replies
        return first


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

    @property
    def natural_key(self):
        # taggit's base class gives every tagged item a natural_key() built from fields this
        # model does not have, and dumpdata --natural-primary would then drop its id and fail.
        # A tag link has no natural key: dumps keep its id (docs/postgresql.md).
        raise AttributeError("natural_key")

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
