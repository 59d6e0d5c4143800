"""The page cache's HTTP side: which requests a page file may answer, the headers that let
shared caches keep them, and the middleware that writes the public pages Django renders
as files (blog/cache.py), one render for all the readers who ask at once. See
docs/caching.md.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

from blog.cache import (
    EXTENSIONS,
    TYPES,
    Version,
    current_version,
    enabled,
    pages_root,
    read_page,
    renew,
    still_fresh,
    write_page,
)
from blog.memo import per_version
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
    """A page this process is rendering, for the requests for it that arrive meanwhile: once
    done, the public page it rendered (or None)."""

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
        with contextlib.suppress(OSError):
            hand_over(path)  # only root's renders (tests) make it
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
        # of them. Those who arrive while it runs wait for it and get its bytes, if no write
        # since it began had made the page stale by the time they arrived (the rule by which
        # it may write the page's file, asked then): those bytes show every write they must
        # see, whether or not a later write keeps them from the file. Whoever arrives after
        # such a write starts the render that the readers after them wait for, at once: the
        # one still running cannot serve them (nor write the file) and is not waited for.
        # Under a stream of comments, a quarter of the renders had been readers' own, each
        # made because a comment landed while the render they had waited for ran.
        key = (request.META.get("HTTP_HOST", ""), request.get_full_path())
        with _rendering_lock:
            leader = _rendering.get(key)
            superseded = leader is not None and not self._still_fresh(
                request, leader.version, version
            )
            if leader is None or superseded:
                leader, mine = None, _Render(version)
                _rendering[key] = mine
        if leader is not None:
            if leader.done.wait(COALESCE_SECONDS) and leader.response is not None:
                return _copy(leader.response)
            return self._render(request, version)[0]
        try:
            if superseded:
                response, public = self._render(request, version)
            else:
                with _render_lock(key) as waited:
                    # Another process rendered it meanwhile: its file, if still fresh.
                    response = self._read(request, version) if waited else None
                    public = response is not None
                    if response is None:
                        response, public = self._render(request, version)
            mine.response = response if public else None
            return response
        finally:
            mine.done.set()
            with _rendering_lock:
                if _rendering.get(key) is mine:
                    del _rendering[key]

    def _render(self, request, version: Version | None) -> tuple[HttpResponse, bool]:
        """The response, and whether it is a public page (a GET's is then written as the
        page's file, if still fresh)."""
        response = self.get_response(request)
        public = version is not None and self._shareable(request, response)
        if public:
            share(response)
            if request.method == "GET":
                self._write(request, response, version)
        return response, public

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

    def _page_file(self, request, version: Version) -> str | None:
        """As Apache's rules spell it, without the extension: <generation>/<host><path><name>,
        so /sitemap.xml is sitemap.xmlindex.xml and / is index.html. None for a name that is
        no file's."""
        try:
            host = request.get_host()
        except DisallowedHost:
            return None
        parts = request.path.split("/")
        if any(part in (".", "..") or "\0" in part for part in parts) or "/" in host:
            return None
        return f"{pages_root() / version.generation}/{host}{request.path}{page_name(request)}"

    def _still_fresh(self, request, began: Version, now: Version) -> bool:
        """Whether a render of this request's page begun at began shows what a reader sees
        at now (blog.cache.still_fresh(), for the page's file of whichever type)."""
        if (page := self._page_file(request, now)) is None:
            return False
        return any(still_fresh(Path(f"{page}.{ext}"), began, now) for ext in TYPES)

    def _read(self, request, version: Version) -> HttpResponse | None:
        """The page's file, as Apache would answer it now (with its headers, blog/apache.py),
        or None if it has none that is fresh."""
        from blog.apache import shared_headers  # blog.apache imports this module

        if (page := self._page_file(request, version)) is None:
            return None
        for ext, content_type in TYPES.items():
            if (content := read_page(Path(f"{page}.{ext}"), version)) is not None:
                response = HttpResponse(content, content_type=content_type)
                for name, value in per_version("file-headers", shared_headers).items():
                    response[name] = value
                return response
        return None

    def _write(self, request, response, version: Version) -> bool:
        """Write the page's file, unless a write since the request began made it stale."""
        if (page := self._page_file(request, version)) is None:
            return False
        ext = EXTENSIONS[response["Content-Type"]]
        try:
            return write_page(Path(f"{page}.{ext}"), response.content, version)
        except OSError:
            logger.warning("Could not write the page file of %s", request.path, exc_info=True)
            return False
