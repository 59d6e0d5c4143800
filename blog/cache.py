"""The page cache: public pages as files that Apache serves without Python, never stale.

Every anonymous reader gets the same bytes (public pages carry no CSRF or form token), so
a page rendered once can be served to all of them. ``PageCacheMiddleware`` writes each
cacheable page as a file, ``<pages>/<generation>/<host><path>index.<ext>``, and the rules
from blog/apache.py let Apache answer GET and HEAD from those files, with its own ETag,
Last-Modified and 304s. The live generation is named in ``<pages>/generation``, which
Apache re-reads whenever it changes. A write to entries starts a new, empty generation;
a comment marks the files of the pages that show it stale; a scheduled change (an entry
going live, comments closing) starts a new generation at its time, by the clock thread of
every daemon process. See docs/caching.md.
"""

import collections
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import DisallowedHost
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers

from homepage.ownership import hand_over

logger = logging.getLogger(__name__)

# The pages readers hit most. A page outside this list is never written.
CACHED_VIEWS = frozenset(
    {
        "blog:index",
        "blog:archive-year",
        "blog:archive-month",
        "blog:entry",
        "blog:feed",
        "blog:feed-atom",
        "blog:feed-json",
        "blog:tag-index",
        "blog:tag",
        "blog:tag-feed",
        "blog:tag-feed-atom",
        "blog:tag-feed-json",
        "blog:page",
        "blog:entry-feed",
        "blog:entry-feed-atom",
        "blog:sitemap",
        "blog:sitemap-section",
    }
)
# A page file's extension says its Content-Type (to Apache, blog/apache.py). A page
# of any other type is not written.
TYPES = {
    "html": "text/html; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "xml": "application/xml",
}
EXTENSIONS = {content_type: ext for ext, content_type in TYPES.items()}
STARTUP_SECONDS = 10
STALE = ".stale"  # a page file's marker: see forget_pages()
GENERATION_GRACE = 60  # seconds an old generation stays on disk for requests in flight


class Version(NamedTuple):
    """The live generation of page files, and when it stops being true by itself."""

    generation: str
    created: float
    serial: int  # counts deletions of single pages in this generation
    expires: float  # the next scheduled change, or the generation's maximum age


def pages_root() -> Path:
    return Path(settings.BLOG_PAGES_DIR)


def enabled() -> bool:
    return settings.BLOG_PAGE_CACHE_SECONDS > 0


# -- the version ------------------------------------------------------------------------


def next_change(now: float, using: str = DEFAULT_DB_ALIAS) -> float | None:
    """When pages next change without a write: a scheduled entry goes live
    (EntryQuerySet.scheduled()) or an entry's comments close (EntryQuerySet.commentable())."""
    from blog.models import Entry  # blog.models imports this module (through blog.signals)

    moment = datetime.fromtimestamp(now, tz=UTC)
    entries = Entry.objects.using(using).order_by("timestamp")
    times = []
    if (live := entries.scheduled(moment).values_list("timestamp", flat=True).first()) is not None:
        times.append(live.timestamp())
    if days := settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS:
        oldest_open = entries.commentable(moment).values_list("timestamp", flat=True).first()
        if oldest_open is not None:
            times.append((oldest_open + timedelta(days=days)).timestamp())
    return min(times, default=None)


STATE_KEYS = ("current", "created", "serial", "expires")  # "current": Apache's RewriteMap key
_parsed: dict = {}


def current_version() -> Version | None:
    """The version in force (None before the first); parsed again only when it changed."""
    try:
        # os.path, not pathlib: this runs several times a request.
        path = os.path.join(settings.BLOG_PAGES_DIR, "generation")
        stat = os.stat(path)
        if _parsed.get("key") != (stat.st_ino, stat.st_mtime_ns):
            with open(path, encoding="utf-8") as file:
                state = dict(line.split(" ", 1) for line in file.read().splitlines())
            fields = zip(STATE_KEYS, (str, float, int, float), strict=True)
            version = Version(*(kind(state[name]) for name, kind in fields))
            _parsed.update(key=(stat.st_ino, stat.st_mtime_ns), version=version)
    except (FileNotFoundError, KeyError, ValueError):
        return None
    return _parsed["version"]


def _write_state(version: Version) -> None:
    """Atomically: Apache's RewriteMap reads "current", the processes all three."""
    root = pages_root()
    temporary = root / f".generation-{secrets.token_hex(4)}"
    temporary.write_text("".join(f"{k} {v}\n" for k, v in zip(STATE_KEYS, version, strict=True)))
    hand_over(temporary)
    os.replace(temporary, root / "generation")


@contextlib.contextmanager
def _locked():
    """One process at a time changes the version or writes into the live generation."""
    root = pages_root()
    if not root.is_dir():
        root.mkdir()  # not its parents: a missing data folder is a fault, not new
        hand_over(root)
    lock = os.open(root / ".lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        hand_over(root / ".lock")
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def prepare() -> None:
    """Create the pages folder and a version that has expired: Apache's RewriteMap needs the
    file when it starts, and the first request (or the clock) starts a real generation."""
    if not pages_root().is_dir():
        pages_root().mkdir(parents=True)
        hand_over(pages_root())
    with _locked():
        if current_version() is None:
            _write_state(Version("none", 0.0, 0, 0.0))


def renew(using: str = DEFAULT_DB_ALIAS, keep_since: float | None = None) -> None:
    """Start a new, empty generation: every page is rendered again on its next request.

    With keep_since, a version made at or after that time and not yet expired is kept:
    another process renewed it already.
    """
    with _locked():
        now = time.time()
        old = current_version()
        if keep_since is not None and old and old.created >= keep_since and now < old.expires:
            return
        change = next_change(now, using)
        expires = now + settings.BLOG_PAGE_CACHE_SECONDS
        name = f"v{time.time_ns()}-{secrets.token_hex(4)}"
        version = Version(name, now, 0, min(expires, change or expires))
        directory = pages_root() / version.generation
        directory.mkdir()
        hand_over(directory)
        _write_state(version)
        _remove_old_generations(version.generation, now)


def _remove_old_generations(current: str, now: float) -> None:
    for directory in pages_root().glob("v*"):
        if directory.name != current and directory.stat().st_mtime < now - GENERATION_GRACE:
            shutil.rmtree(directory, ignore_errors=True)


def forget_pages(trees: list[str], lists: list[tuple[str, str]]) -> None:
    """Mark stale, on every host in the live generation, the files of the pages at and below
    each of trees (an entry and its feeds) and the files matching each (url, pattern) of
    lists (a list page: "index.page-3.html", or "index*" for all its pages).

    Marked, not deleted: Apache checks that a file exists, then serves it, and a file
    deleted in between would be a 404 for a reader. A marker found a moment late only
    serves the page as it was a moment before the write. The next render replaces the file
    and removes its marker.
    """
    with _locked():
        version = current_version()
        if version is None:
            return
        # First the serial: a page rendered before this write is then not written after it
        # (unless its marker says it was not marked since, _marked_before()).
        serial = version.serial + 1
        _write_state(version._replace(serial=serial))
    # Which files, outside the lock that every page write waits on (it was held for 5 ms a
    # comment, 19 ms at p90, under mixed load). A file this misses is written after the scan
    # by a render that saw the new serial, or that began before it: then the file has no
    # marker, and _marked_before() refuses the write.
    live = pages_root() / version.generation
    pages = []
    for host in live.iterdir() if live.is_dir() else ():
        pages += [page for url in trees for page in (host / url.strip("/")).rglob("*")]
        pages += [page for url, pattern in lists for page in (host / url.strip("/")).glob(pattern)]
    pages = [page for page in pages if page.suffix[1:] in TYPES and not page.name.startswith(".")]
    with _locked():
        for page in pages:
            # Never lower a marker: a later write may have marked the page already.
            if (_marked_serial(page) or 0) < serial:
                stale_marker(page).write_text(str(serial))


def stale_marker(page: Path) -> Path:
    """Beside a page file: Apache's rules (blog/apache.py) do not serve a page marked stale.
    It holds the serial of the write that marked it last."""
    return page.with_name(page.name + STALE)


def _marked_serial(page: Path) -> int | None:
    """The serial of the write that marked page stale last; None if it is not marked."""
    try:
        return int(stale_marker(page).read_text())
    except (OSError, ValueError):
        return None


def _marked_before(page: Path, serial: int) -> bool:
    """Whether page is marked stale, last by a write at or before serial: then no write
    since serial has marked it again, nor has a render written it (that ends the marker)."""
    marked = _marked_serial(page)
    return marked is not None and marked <= serial


_done = threading.local()  # key -> when this thread last did that work


class _OnCommit:
    """After a commit, the work of the first of a transaction's callbacks with one key; the
    others were queued before it ran, so it covered their writes too."""

    def __init__(self, work, key):
        self.work, self.key, self.queued = work, key, time.monotonic()

    def __call__(self):
        done = getattr(_done, "times", {})
        if done.get(self.key, -1.0) > self.queued:
            return
        _done.times = {**done, self.key: time.monotonic()}
        try:
            self.work()
        except Exception:
            # The write is committed; the writer's page must not turn into an error.
            logger.exception("Could not make cached pages stale")


def after_commit(work, key, using: str | None = None) -> None:
    """Run work once the transaction commits (at once outside one), once per commit and key."""
    using = using or DEFAULT_DB_ALIAS
    if not enabled():
        return
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_OnCommit(work, key), using=using)
    else:
        _OnCommit(work, key)()


def bump_version(using: str | None = None) -> None:
    """Make every cached page stale once the write commits.

    blog/signals.py calls it for every write to entries (saves, deletes, ``update()``,
    ``bulk_create()``) and for bulk writes to comments. Call it yourself only after raw SQL.
    """
    after_commit(lambda: renew(using or DEFAULT_DB_ALIAS), ("renew", using), using)


def comment_changed(entry, using: str | None = None) -> None:
    """A comment was saved or deleted: stale are only the pages that show it or count it.
    Worked out once the write commits, so a writer holds the database's lock no longer."""

    def forget():
        trees = [entry.get_absolute_url()]  # the page and, below it, its comment feeds
        # Where an entry is listed changes only with writes to entries: once per version.
        key = f"lists-counting:{using}:{entry.pk}"
        lists = per_version(key, lambda: lists_counting(entry, using))
        forget_pages(trees, lists)

    after_commit(forget, ("forget", entry.pk, using), using)


def lists_counting(entry, using: str | None = None) -> list[tuple[str, str]]:
    """The list pages that count entry's comments, as forget_pages() takes them (archives
    list titles only): the index page that shows it, and every page of its tags."""
    from blog.views import EntryIndexView  # the views import this module (through models)

    if not entry.is_published:
        return []
    # The index page: its position, counted in the index (ties may span two pages).
    lists = []
    published = entry.__class__.objects.using(using).published()
    newer = published.filter(timestamp__gt=entry.timestamp).count()
    last = newer + published.filter(timestamp=entry.timestamp).count() - 1
    per_page = EntryIndexView.paginate_by
    for number in range(newer // per_page + 1, last // per_page + 2):
        lists.append(("/", f"index.page-{number}.html"))
        if number == 1:
            lists.append(("/", "index.html"))
    for slug in entry.tags.using(using).values_list("slug", flat=True):
        lists.append((reverse("blog:tag", kwargs={"slug": slug}), "index*"))
    return lists


FRAGMENT_SECONDS = 24 * 3600
_MISSING = object()


def _live_version() -> Version | None:
    """The version, with page files on and until it expires: an expired one may miss a
    scheduled change that nothing has renewed it for yet (no reader's request, no clock)."""
    version = current_version() if enabled() else None
    return version if version is not None and time.time() < version.expires else None


class _Memo:
    """Values kept in this process (per_version(), rendered_thread()); beyond its size the
    least recently used go. Kept as they are, not pickled as in the fragments cache:
    unpickling a list page's entries was a quarter of the CPU of a miss of the front page.
    Callers copy what they change."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, collections.OrderedDict(), threading.Lock()

    def get(self, key: str):
        with self.lock:
            value = self.items.get(key, _MISSING)
            if value is not _MISSING:
                self.items.move_to_end(key)
            return value

    def set(self, key: str, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def remember(self, key, compute):
        """The value kept under key, or compute()'s, then kept."""
        value = self.get(key)
        if value is _MISSING:
            value = compute()
            self.set(key, value)
        return value


MEMO_ITEMS = 1000
_memo = _Memo(MEMO_ITEMS)
# Comment threads' HTML: an entry page may show hundreds, so more of them than of the rest.
THREAD_ITEMS = 5000
_threads = _Memo(THREAD_ITEMS)


def rendered_thread(key: tuple, render) -> str:
    """render(), kept in this process under key: a tuple of the version and all a thread of
    comments shows, so an edit, a reply or a new version makes another. Every time without
    page files."""
    return _threads.remember(key, render) if key[0] else render()


def per_version(key: str, compute):
    """compute(), once per generation in this process: for what only writes to entries and
    scheduled changes alter (the archive's years, an entry's neighbours), not comments.
    Shared by the process's threads: do not change what it returns. Every time without
    page files."""
    version = _live_version()  # before compute(): never a value newer than its key
    if version is None:
        return compute()
    return _memo.remember(f"{version.generation}:{key}", compute)


def fragments() -> dict:
    """For the templates' {% cache %} of what only writes to entries change (an entry's
    summary): the version in the key, so any write or scheduled change makes new ones; a
    comment shows through the comment count, which is in the key too. Nothing is kept
    without page files (no version then)."""
    version = _live_version()
    if version is None:
        return {"version": "", "seconds": 0}
    return {"version": version.generation, "seconds": FRAGMENT_SECONDS}


# -- the clock ------------------------------------------------------------------------------


def start_clock() -> threading.Thread | None:
    """In each server process (homepage/wsgi.py): a thread that starts a new generation when
    the process starts (its code and templates may be new) and whenever a scheduled change
    comes due, within a second of its time."""
    try:
        import mod_wsgi  # the module Apache's daemons have; the pip package has no group
    except ImportError:
        return None
    if not enabled() or not getattr(mod_wsgi, "process_group", ""):
        return None
    thread = threading.Thread(target=_tick, name="page-cache-clock", daemon=True)
    thread.start()
    return thread


def _tick() -> None:
    started = time.time()
    renewed = False
    while True:
        try:
            if not renewed:
                # Once per server start, not once per process: a server's daemons load the
                # application within seconds of each other.
                renew(keep_since=started - STARTUP_SECONDS)
                renewed = True
            version = current_version()
            if version is None or time.time() >= version.expires:
                renew(keep_since=0)
            else:
                time.sleep(min(1.0, version.expires - time.time()))
        except Exception:
            logger.exception("The page cache clock failed; trying again in a second")
            time.sleep(1)
        finally:
            connections.close_all()  # this thread's own connections


# -- the middleware ------------------------------------------------------------------------


def page_name(request) -> str | None:
    """The file name of this request's page in its directory, or None if it has none."""
    query = request.META.get("QUERY_STRING", "")
    if query == "":
        return "index"
    number = query.removeprefix("page=")
    if query.startswith("page=") and number.isascii() and number.isdigit() and len(number) < 10:
        return f"index.page-{number}"
    return None


def may_store(request) -> bool:
    """A GET or HEAD by a reader with no session and no pending message, and the scheme the
    site is served with: the same request Apache answers from a page file."""
    return (
        enabled()
        and request.method in ("GET", "HEAD")
        # Staff (drafts, previews) have a session; messages are shown once, to one reader.
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
        and request.is_secure() == settings.HTTPS
        and page_name(request) is not None
    )


def share(response) -> None:
    """What may keep a public page: browsers revalidate every time (a 304 from Apache), shared
    caches keep it BLOG_SHARED_CACHE_SECONDS (a CDN the site purges, docs/caching.md)."""
    patch_cache_control(response, max_age=0, s_maxage=settings.BLOG_SHARED_CACHE_SECONDS)
    patch_vary_headers(response, ["Cookie"])


class _Render:
    """A page this process is rendering, for the requests for it that arrive meanwhile."""

    def __init__(self, version: Version):
        self.version, self.done, self.response = version, threading.Event(), None


_rendering: dict[tuple[str, str], _Render] = {}
_rendering_lock = threading.Lock()
COALESCE_SECONDS = 10
RENDER_LOCKS = 1024  # stripes of the render locks the processes share, see _render_lock()


def _copy(response) -> HttpResponse:
    copy = HttpResponse(response.content, status=response.status_code)
    for name, value in response.items():
        copy[name] = value
    return copy


@contextlib.contextmanager
def _render_lock(key: tuple[str, str]):
    """Held while a process renders the page of key, so that the server's other processes
    wait for its file rather than render it too (under a stream of comments, two renders of
    each stale page, one per process, were most of the work). Yields whether another
    process held it first; after COALESCE_SECONDS, or without the lock files, it yields
    without the lock. Keys share RENDER_LOCKS lock files: a bounded set, whatever URLs are
    asked, where a page rarely waits for another."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=4).digest()
    stripe = int.from_bytes(digest) % RENDER_LOCKS
    path = pages_root() / ".render" / str(stripe)
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(exist_ok=True)
            hand_over(path.parent)
        lock = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        hand_over(path)
        waited, deadline = False, time.monotonic() + COALESCE_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = True
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)  # a render takes milliseconds: poll, no thread to wake us
        yield waited
    finally:
        os.close(lock)


class PageCacheMiddleware:
    """Writes the public pages Django renders as files for Apache (first in MIDDLEWARE, so it
    sees the final response: cookies, Cache-Control)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        version = None
        if may_store(request):
            # Read before the view queries: a page is never written into a generation newer
            # than its data.
            try:
                version = current_version()
                if version is None or time.time() >= version.expires:
                    renew(keep_since=0)  # the clock is late, or this is no server process
                    version = current_version()
            except Exception:
                # The site works without its page files (slower); the page is not written.
                logger.warning("Page files unavailable for %s", request.path, exc_info=True)
                version = None
        if version is None or request.method != "GET":
            return self._render(request, version)[0]
        # A page that went stale is asked for by many readers at once: one render for all
        # of them. Those who arrive while it runs wait for it, and get its bytes if it wrote
        # the page file: then no write since it began had made the page stale.
        key = (request.META.get("HTTP_HOST", ""), request.get_full_path())
        with _rendering_lock:
            leader = _rendering.get(key)
            if leader is None or leader.version.generation != version.generation:
                leader, mine = None, _Render(version)
                _rendering[key] = mine
        if leader is not None:
            if leader.done.wait(COALESCE_SECONDS) and leader.response is not None:
                return _copy(leader.response)
            return self._render(request, version)[0]
        try:
            with _render_lock(key) as waited:
                # Another process rendered it meanwhile: its file, if still fresh.
                response = self._read(request, version) if waited else None
                written = response is not None
                if response is None:
                    response, written = self._render(request, version)
            mine.response = response if written else None
            return response
        finally:
            mine.done.set()
            with _rendering_lock:
                if _rendering.get(key) is mine:
                    del _rendering[key]

    def _render(self, request, version: Version | None) -> tuple[HttpResponse, bool]:
        """The response, and whether it is now the page's file (a public page, still fresh)."""
        response = self.get_response(request)
        written = False
        if version is not None and self._shareable(request, response):
            share(response)
            if request.method == "GET":
                written = self._write(request, response, version)
        return response, written

    def _shareable(self, request, response) -> bool:
        match = request.resolver_match
        return (
            response.status_code == 200
            and not response.streaming
            and match is not None
            and match.view_name in CACHED_VIEWS
            and not response.cookies
            and not response.has_header("Cache-Control")  # the view's own (a staff preview)
            and response.get("Content-Type") in EXTENSIONS
        )

    def _page_file(self, request, version: Version, ext: str) -> Path | None:
        """As Apache's rules spell it: <generation>/<host><path><name>.<ext>, so /sitemap.xml
        is sitemap.xmlindex.xml and / is index.html. None for a name that is no file's."""
        try:
            host = request.get_host()
        except DisallowedHost:
            return None
        parts = request.path.split("/")
        if any(part in (".", "..") or "\0" in part for part in parts) or "/" in host:
            return None
        generation = pages_root() / version.generation
        return Path(f"{generation}/{host}{request.path}{page_name(request)}.{ext}")

    def _read(self, request, version: Version) -> HttpResponse | None:
        """The page's file, as Apache would answer it now (with its headers, blog/apache.py),
        or None if it has none that is fresh."""
        from blog.apache import shared_headers  # blog.apache imports this module

        current = current_version()
        if current is None or current.generation != version.generation:
            return None
        for ext, content_type in TYPES.items():
            page = self._page_file(request, version, ext)
            try:
                content = page.read_bytes() if page else None
            except OSError:
                continue
            if content is None or stale_marker(page).exists():
                return None
            response = HttpResponse(content, content_type=content_type)
            for name, value in per_version("file-headers", shared_headers).items():
                response[name] = value
            return response
        return None

    def _write(self, request, response, version: Version) -> bool:
        """Write the page's file, unless a write since the request began made it stale."""
        target = self._page_file(request, version, EXTENSIONS[response["Content-Type"]])
        if target is None or not (pages_root() / version.generation).is_dir():
            return False  # no file's name, or a generation retired and removed
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        fresh = False
        try:
            # The bytes first: the lock, which every writer of pages queues on, is held only
            # for the check and the rename.
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(response.content)
            with _locked():
                # Not into a retired generation, nor a page that a write since this request
                # began has marked stale. Writes to other pages (comments elsewhere) do not
                # waste this render: under a steady stream of comments, most renders were.
                current = current_version()
                fresh = current is not None and current.generation == version.generation
                if fresh and current.serial != version.serial:
                    fresh = _marked_before(target, version.serial)
                if fresh:
                    os.replace(temporary, target)
                    stale_marker(target).unlink(missing_ok=True)
        except OSError:
            logger.warning("Could not write the page file of %s", request.path, exc_info=True)
            fresh = False
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)  # not renamed: stale, or a failed write
        return fresh
