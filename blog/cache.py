"""The page cache: public pages as files that Apache serves without Python, never stale.

Every anonymous reader gets the same bytes (public pages carry no CSRF or form token), so
a page rendered once can be served to all of them. This module keeps the files:
``<pages>/<generation>/<host><path>index.<ext>``, written by blog/middleware.py, which the
rules from blog/apache.py let Apache answer GET and HEAD from, with its own ETag,
Last-Modified and 304s. The live generation is named in ``<pages>/generation`` for the
processes, and Apache reaches it through the link ``<pages>/current``. A write to entries
starts a new, empty generation; a comment removes the files of the pages that show it; a
scheduled change (an entry going live, comments closing) starts a new generation at its
time, by the clock thread of every daemon process. See docs/caching.md.
"""

import contextlib
import fcntl
import fnmatch
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
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.urls import reverse

from homepage.ownership import hand_over

logger = logging.getLogger(__name__)

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
STALE = ".stale"  # a removed page file's marker: see forget_pages()
CURRENT = "current"  # the link to the live generation, which Apache's rules follow
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


STATE_KEYS = ("current", "created", "serial", "expires")
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
    """Atomically, for the processes; then the link Apache follows, if the generation is new.
    Under the version's lock (_locked()), each state gets a modification time a microsecond
    or more after the last: where the kernel stamps files by the tick (before Linux 6.13),
    two writes within one had the same time, and a replaced file's inode comes back, so a
    process that knew the file by both (current_version()) kept an old version."""
    root = pages_root()
    temporary = root / f".generation-{secrets.token_hex(4)}"
    temporary.write_text("".join(f"{k} {v}\n" for k, v in zip(STATE_KEYS, version, strict=True)))
    try:
        last = os.stat(root / "generation").st_mtime_ns
    except FileNotFoundError:
        last = 0
    stamp = max(time.time_ns(), last + 1_000)
    os.utime(temporary, ns=(stamp, stamp))
    hand_over(temporary)
    os.replace(temporary, root / "generation")
    link = root / CURRENT
    if not (root / version.generation).is_dir():  # "none", before the first generation
        link.unlink(missing_ok=True)
    elif not link.is_symlink() or os.readlink(link) != version.generation:
        # A request that followed the old link in Apache's rules and the new one to its
        # file finds none there: Apache hands it to Django (blog/apache.py), as any miss.
        temporary = root / f".{CURRENT}-{secrets.token_hex(4)}"
        os.symlink(version.generation, temporary)
        hand_over(temporary)
        os.replace(temporary, link)


@contextlib.contextmanager
def _folder_locked(folder: Path):
    """One process at a time writes the pages of one folder or marks them stale: a page's
    check and rename (write_page()) never interleave with its marking (forget_pages()).
    Per folder, not one lock for all pages: with one, under mixed load, a comment waited
    ~17 ms for it and each page write ~10 ms. Raises FileNotFoundError if there is none."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _locked():
    """One process at a time changes the version (a new generation, a raised serial): the
    lock of the pages folder itself, which holds no page."""
    root = pages_root()
    if not root.is_dir():
        root.mkdir()  # not its parents: a missing data folder is a fault, not new
        hand_over(root)
    with _folder_locked(root):
        yield


def prepare() -> None:
    """Create the pages folder and, if there is none, a version that has expired (the
    first request, or the clock, starts a real generation); and Apache's link to it."""
    if not pages_root().is_dir():
        pages_root().mkdir(parents=True)
        hand_over(pages_root())
    with _locked():
        version = current_version()
        if not (pages_root() / CURRENT).is_symlink():
            # None yet; or pages written before Apache followed the link (until 2026-12-05),
            # when a stale page stayed, only marked: Apache would now serve it.
            version = None
        _write_state(version or Version("none", 0.0, 0, 0.0))


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
    """Remove, on every host in the live generation, the files of the pages at and below
    each of trees (an entry and its feeds) and the files matching each (url, pattern) of
    lists (a list page: "index.page-3.html", or "index*" for all its pages), each leaving
    a marker with this write's serial.

    A reader whom Apache's rules sent to a file removed before Apache opened it is a miss
    that Apache hands to Django (blog/apache.py); one who opened it a moment earlier gets
    the page as it was a moment before the write. The next render writes the file again
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
    live = pages_root() / version.generation
    for host in live.iterdir() if live.is_dir() else ():
        for url in trees:
            _mark_stale(host / url.strip("/"), "*", serial, below=True)
        for url, pattern in lists:
            _mark_stale(host / url.strip("/"), pattern, serial, below=False)


def _mark_stale(folder: Path, pattern: str, serial: int, below: bool) -> None:
    """Mark the pages in folder whose names match pattern (and, below, those in its
    subfolders) and remove their files, each folder listed and marked under its lock. Pages
    already removed are marked again: a render begun before this write must not write them
    after it (_marked_before()). A page this misses is
    renamed into place after the listing, by a render that checked afterwards (it saw the
    raised serial, and its page has no marker: _marked_before() refuses it); or it is in a
    folder made after the listing of its parent, so after the raise, by a render that
    checked later still."""
    try:
        with _folder_locked(folder):
            entries = list(os.scandir(folder))
            names = {entry.name.removesuffix(STALE) for entry in entries}
            for name in names:
                page = folder / name
                if (
                    fnmatch.fnmatchcase(name, pattern)
                    and page.suffix[1:] in TYPES
                    and not name.startswith(".")
                    # Never lower a marker: a later write may have marked the page already.
                    and (_marked_serial(page) or 0) < serial
                ):
                    # The marker first: there is never a moment with neither.
                    stale_marker(page).write_text(str(serial))
                    page.unlink(missing_ok=True)
    except FileNotFoundError:
        return  # never rendered, or its generation was retired and removed
    if below:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _mark_stale(Path(entry.path), pattern, serial, below)


def stale_marker(page: Path) -> Path:
    """Where a page file was removed as stale: the serial of the write that marked it last."""
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


def still_fresh(page: Path, version: Version, current: Version | None) -> bool:
    """Whether a render of page begun at version shows what a reader sees at current: the
    same generation, and no write since version has made page stale (writes to other pages,
    comments elsewhere, do not)."""
    if current is None or current.generation != version.generation:
        return False
    return current.serial == version.serial or _marked_before(page, version.serial)


def write_page(page: Path, content: bytes, version: Version) -> bool:
    """Write a page's file into version's generation, unless a write since version was read
    made the page stale or retired the generation: whether it was written. Raises OSError."""
    if not (pages_root() / version.generation).is_dir():
        return False  # retired and removed
    temporary = page.with_name(f".{page.name}.{secrets.token_hex(4)}")
    try:
        # The folder before the check (see _mark_stale()), and the bytes before the lock:
        # it is held only for the check and the rename.
        page.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(content)
        with _folder_locked(page.parent):
            # Writes to other pages (comments elsewhere) do not waste this render: under a
            # steady stream of comments, most renders were.
            fresh = still_fresh(page, version, current_version())
            if fresh:
                os.replace(temporary, page)
                stale_marker(page).unlink(missing_ok=True)
            return fresh
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)  # not renamed: stale, or a failed write


def read_page(page: Path, version: Version) -> bytes | None:
    """A page's file as Apache would answer it now: in the live generation, which is still
    version's. None otherwise."""
    current = current_version()
    if current is None or current.generation != version.generation:
        return None
    try:
        return page.read_bytes()
    except OSError:
        return None


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

    from blog.memo import per_version  # it imports this module (the version)

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
