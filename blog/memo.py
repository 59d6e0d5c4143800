"""What a miss of a page reuses: values kept in this process for as long as the version of
the page files (blog/cache.py) holds, so that only writes to entries and scheduled changes
make them again. Nothing is kept without page files. See docs/caching.md.
"""

import collections
import threading
import time

from blog.cache import Version, current_version, enabled

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
# Entry summaries' HTML, apart from the rest: list pages (the index, archives, tags) show
# ten each, and they would push out what the other memos keep.
SUMMARY_ITEMS = 2000
_summaries = _Memo(SUMMARY_ITEMS)
# Comment threads' HTML: an entry page may show hundreds, so more of them than of the rest.
THREAD_ITEMS = 5000
_threads = _Memo(THREAD_ITEMS)


def rendered_thread(key: tuple, render) -> str:
    """render(), kept in this process under key: a tuple of the version and all a thread of
    comments shows, so an edit, a reply or a new version makes another. Every time without
    page files."""
    return _threads.remember(key, render) if key[0] else render()


def rendered_summary(key: tuple, render):
    """render() (an entry summary's parts), kept in this process under key: a tuple of the
    version, the entry and the language. Every time without page files."""
    return _summaries.remember(key, render) if key[0] else render()


def per_version(key: str, compute, comments: bool = False):
    """compute(), once per generation in this process: for what only writes to entries and
    scheduled changes alter (the archive's years, an entry's neighbours), not comments;
    with comments=True, anew after each comment too (the version's serial, which every
    comment raises: the comment counts of a list). Shared by the process's threads: do not
    change what it returns. Every time without page files."""
    version = _live_version()  # before compute(): never a value newer than its key
    if version is None:
        return compute()
    serial = f"/{version.serial}" if comments else ""
    return _memo.remember(f"{version.generation}{serial}:{key}", compute)


def fragments() -> dict:
    """For the templates' {% cache %} of what only writes to entries change (an entry's
    summary): the version in the key, so any write or scheduled change makes new ones; a
    comment shows through the comment count, which is in the key too. Nothing is kept
    without page files (no version then)."""
    version = _live_version()
    if version is None:
        return {"version": "", "seconds": 0}
    return {"version": version.generation, "seconds": FRAGMENT_SECONDS}
