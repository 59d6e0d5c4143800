"""The page cache: readers' pages served without rendering, and never stale.

Every cached page is stored under the site's *content version*, a token kept in the shared
cache and replaced after every write (``bump_version``), so a write makes all cached pages
unreachable at once, in every process. Pages also change without a write when a scheduled
entry goes live or an entry's comments close: the version carries the times of those
changes and counts how many have passed. ETag and Last-Modified come from the version too,
not from the page bytes, which hold each reader's own CSRF and comment-form tokens: the
cached copy keeps placeholders for them, filled in for every response. See docs/caching.md.
"""

import bisect
import functools
import hashlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.middleware.security import SecurityMiddleware
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.crypto import salted_hmac
from django.utils.http import http_date

from blog import spam
from homepage.errors import is_utf8

logger = logging.getLogger(__name__)

# The pages readers hit most. A page outside this list is never cached.
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
VERSION_KEY = "blog:content-version"
MAX_CHANGES = 100  # scheduled changes kept in the version; past the last one it is renewed

CSRF_TOKEN_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"')
FORM_TOKEN_RE = re.compile(rb'name="token" value="([^"]+)"')


@functools.cache
def placeholder(name: str) -> bytes:
    """Marks a per-reader value in a cached page; derived from SECRET_KEY, so no entry or
    comment can contain one."""
    return salted_hmac("blog.cache.placeholder", name).hexdigest()[:24].encode()


# -- the content version ------------------------------------------------------------


def upcoming_changes(now: float, using: str = DEFAULT_DB_ALIAS):
    """Times after now when pages change by themselves, and the time past which more may.

    Scheduled entries go live at their timestamp (EntryQuerySet.scheduled()); comments close
    BLOG_COMMENTS_CLOSE_AFTER_DAYS after it (EntryQuerySet.commentable()).
    """
    from blog.models import Entry  # blog.models imports this module (through blog.signals)

    moment = datetime.fromtimestamp(now, tz=UTC)
    entries = Entry.objects.using(using).order_by("timestamp")

    def times(queryset, later=timedelta(0)):
        stamps = queryset.values_list("timestamp", flat=True)[:MAX_CHANGES]
        return [(stamp + later).timestamp() for stamp in stamps]

    lists = [times(entries.scheduled(moment))]
    if days := settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS:
        lists.append(times(entries.commentable(moment), later=timedelta(days=days)))
    # A list cut at MAX_CHANGES says nothing past its last time.
    horizon = min((times[-1] for times in lists if len(times) == MAX_CHANGES), default=None)
    changes = sorted(t for times in lists for t in times if horizon is None or t <= horizon)
    return tuple(changes), horizon


def _renew(using: str = DEFAULT_DB_ALIAS):
    """Store a new version with the coming changes as the database has them now."""
    now = time.time()
    for _attempt in range(3):
        changes, horizon = upcoming_changes(now, using)
        state = (secrets.token_hex(8), now, changes, horizon)
        cache.set(VERSION_KEY, state, None)
        # A concurrent writer may have stored changes read before our commit: read
        # again after storing, so the last version stored always has them all.
        if upcoming_changes(now, using) == (changes, horizon):
            return state
    return state


class _RenewOnCommit:
    def __init__(self, using):
        self.using = using

    def __call__(self):
        try:
            _renew(self.using)
        except Exception:
            # The write is committed; the reader's page must not turn into an error.
            logger.exception("Could not renew the page cache version")


def bump_version(using: str | None = None, immediate: bool = True):
    """Make every cached page stale: after any write, once it commits.

    blog/signals.py calls it for every write to entries and comments: saves and deletes
    (model signals), ``update()`` and ``bulk_create()`` (the QuerySets). Call it yourself
    only after raw SQL.
    """
    using = using or DEFAULT_DB_ALIAS
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        _RenewOnCommit(using)()
        return
    if immediate:
        # Now as well as on commit, so the writer's own transaction reads fresh pages
        # (tests never commit); the commit renews again, because another process may
        # have cached a page from the data as it was before the commit.
        try:
            _renew(using)
        except Exception:
            logger.exception("Could not replace the page cache version")
    # One renewal per transaction, however many rows it writes (run_on_commit is
    # Django's list of pending callbacks; rolled-back savepoints remove theirs).
    pending = getattr(connection, "run_on_commit", [])
    if not any(isinstance(func, _RenewOnCommit) for _sids, func, *_rest in pending):
        transaction.on_commit(_RenewOnCommit(using), using=using)


def content_version(now: float):
    """(version, last modified, changes) in force at now; renews a missing or used-up one."""
    state = cache.get(VERSION_KEY)
    if state is None or (state[3] is not None and now >= state[3]):
        state = _renew()
    token, created, changes, _horizon = state
    passed = bisect.bisect_right(changes, now)
    last_modified = max(created, changes[passed - 1] if passed else 0)
    return f"{token}.{passed}", last_modified, changes


# -- the middleware -----------------------------------------------------------------


class RecentPages:
    """The pages this process served last, by key: a hit then reads only the version.

    Safe because a key never changes meaning: it contains the content version, so a write
    or a scheduled change moves every reader to new keys, and what is kept here for an old
    key is never asked for again (it just ages out). Bounded in bytes (4 MB a process), so
    memory does not grow: the pages readers hit most fit many times over.
    """

    def __init__(self, max_bytes: int = 4 * 1024 * 1024):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.pages = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            page = self.pages.get(key)
            if page is not None:
                self.pages.move_to_end(key)
            return page

    def put(self, key, page):
        with self.lock:
            if key in self.pages:
                self.bytes -= len(self.pages.pop(key)["content"])
            self.pages[key] = page
            self.bytes += len(page["content"])
            while self.bytes > self.max_bytes:
                _key, old = self.pages.popitem(last=False)
                self.bytes -= len(old["content"])


recent_pages = RecentPages()

# Headers computed for every response rather than kept with the page.
PER_RESPONSE_HEADERS = {"content-length", "etag", "last-modified"}


def may_hit(request) -> bool:
    """A GET or HEAD by a reader with no session and no pending message: the page cache may
    answer it. Which pages it stores is decided after they are rendered (CACHED_VIEWS)."""
    return (
        settings.BLOG_PAGE_CACHE_SECONDS > 0
        and request.method in ("GET", "HEAD")
        # Staff (drafts, previews) have a session; messages are shown once, to one reader.
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
        # Hits skip the stack: nothing in it may refuse or redirect a stored page's request.
        # CommonMiddleware refuses these agents; MalformedRequestMiddleware such queries
        # (a Latin-1 byte would make the same key as its UTF-8 percent-escape).
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.CSRF_USE_SESSIONS
        and is_utf8(get_bytes_from_wsgi(request.META, "QUERY_STRING", ""))
    )


class PageCacheMiddleware:
    """Serves cached pages to anonymous readers; stores the pages the stack rendered.

    First in MIDDLEWARE: a hit is answered before the rest of the stack and URL resolution
    run, with the complete headers that stack gave the page when it was rendered (CSP,
    X-Frame-Options, nosniff, HSTS on https, Vary...). Only the per-reader parts are done
    per hit, by Django's own code: the CSRF cookie (CsrfViewMiddleware) and the redirect
    to https (SecurityMiddleware, before any lookup).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)
        self.csrf = CsrfViewMiddleware(get_response)

    def __call__(self, request):
        page = None
        if may_hit(request) and self.security.process_request(request) is None:
            try:
                page = CachedPage(request)
            except DisallowedHost:
                pass  # the stack answers 400
            except Exception:
                # The site works without its cache (slower): an unreachable Redis is no outage.
                logger.warning("Page cache unavailable; rendering %s", request.path, exc_info=True)
        if page is not None and page.stored is not None:
            return page.hit(self.csrf)
        response = self.get_response(request)
        return page.finish(response) if page is not None else response


class CachedPage:
    def __init__(self, request):
        self.request = request
        self.started = time.time()
        # Read before the stack renders: a page is never stored under a version newer than
        # its data.
        self.version, self.last_modified, self.changes = content_version(self.started)
        address = "\n".join(
            [self.version, request.scheme, request.get_host(), request.get_full_path()]
        )
        # "v2": pages stored with their complete headers (older ones lack the stack's).
        self.key = "blog:page:v2:" + hashlib.sha256(address.encode()).hexdigest()
        self.stored = recent_pages.get(self.key)
        if self.stored is None:
            self.stored = cache.get(self.key)
            if self.stored is not None:
                recent_pages.put(self.key, self.stored)

    def hit(self, csrf):
        """The stored page for this reader: their CSRF token and cookie, a new form token."""
        # The reader's CSRF secret from their cookie; a malformed one is replaced.
        csrf.process_request(self.request)
        response = HttpResponse(self.stored["content"])
        for name, value in self.stored["headers"]:
            response.headers[name] = value
        response = self._conclude(response, hit=True)
        # Sets the CSRF cookie when get_token() made or used one, as on a rendered page.
        return csrf.process_response(self.request, response)

    def finish(self, response):
        """After the stack: store a fresh page, add validators, answer 304."""
        match = self.request.resolver_match
        if (
            response.status_code != 200
            or response.streaming
            or match is None
            or match.view_name not in CACHED_VIEWS
        ):
            return response
        self.stored = self._store(response)
        if self.stored is None:
            return response
        return self._conclude(response, hit=False)

    def _conclude(self, response, hit: bool):
        """Validators, Cache-Control, 304; on a hit fill in the per-reader tokens."""
        tokens = self.stored["tokens"]
        etag, last_modified = self._validators(tokens)
        response.headers["ETag"] = etag
        response.headers["Last-Modified"] = http_date(last_modified)
        patch_cache_control(response, no_cache=True)
        if tokens:
            patch_cache_control(response, private=True)
        patch_vary_headers(response, ["Cookie"])
        conditional = get_conditional_response(
            self.request, etag=etag, last_modified=last_modified, response=response
        )
        if conditional is not response:
            # Django's 304 keeps only the validators, Vary and cookies: the page's security
            # headers go with it too, as when the 304 came from inside the stack.
            for name, value in self.stored["headers"]:
                if name.lower() != "content-type" and name not in conditional:
                    conditional.headers[name] = value
            return conditional
        if hit:
            if tokens:
                response.content = self._fill_in(response.content)
                # A reader without a CSRF cookie got a new one: the ETag follows it.
                response.headers["ETag"] = self._validators(tokens)[0]
            response.headers["Content-Length"] = str(len(response.content))
        return response

    def _validators(self, tokens: bool):
        """A weak ETag and Last-Modified from the version, never from the page bytes.

        With tokens, they also change with the reader's CSRF secret (a 304 must not keep
        a form whose token a login or logout replaced) and twice per comment-form token
        lifetime (so a kept page's form never expires).
        """
        parts = [self.version, self.key]
        last_modified = self.last_modified
        if tokens:
            period = spam.TOKEN_MAX_AGE // 2
            window = int(time.time() // period) * period
            parts += [self.request.META.get("CSRF_COOKIE", ""), str(window)]
            last_modified = max(last_modified, window)
        digest = salted_hmac("blog.cache.etag", "\n".join(parts)).hexdigest()[:32]
        return f'W/"{digest}"', int(last_modified)

    def _store(self, response):
        """Cache this freshly rendered page, with its tokens cut out; None if it must not be."""
        cookies = set(response.cookies)
        if cookies - {settings.CSRF_COOKIE_NAME} or response.has_header("Cache-Control"):
            return None  # the view made it personal or uncacheable (e.g. a staff preview)
        if bisect.bisect_right(self.changes, time.time()) != bisect.bisect_right(
            self.changes, self.started
        ):
            return None  # a scheduled change happened while it rendered
        content = response.content
        csrf = CSRF_TOKEN_RE.search(content)
        if csrf:
            content = content.replace(csrf.group(1), placeholder("csrf"))
        elif cookies:
            return None  # a token we cannot find must not reach other readers
        try:
            content = FORM_TOKEN_RE.sub(_form_token_placeholder, content)
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            return None
        stored = {
            "content": content,
            # Everything the stack added (Set-Cookie is not among them: response.cookies).
            "headers": [
                (name, value)
                for name, value in response.items()
                if name.lower() not in PER_RESPONSE_HEADERS
            ],
            "tokens": placeholder("csrf") in content or placeholder("form") in content,
        }
        try:
            cache.set(self.key, stored, settings.BLOG_PAGE_CACHE_SECONDS)
            recent_pages.put(self.key, stored)
        except Exception:
            logger.warning("Could not store %s in the page cache", self.key, exc_info=True)
        return stored

    def _fill_in(self, content: bytes) -> bytes:
        content = content.replace(placeholder("csrf"), get_token(self.request).encode())
        return re.sub(
            placeholder("form") + rb"-(\d+)-",
            lambda match: spam.form_token(int(match.group(1))).encode(),
            content,
        )


def _form_token_placeholder(match) -> bytes:
    """The comment form's signed token (its entry and render time) becomes a placeholder."""
    data = signing.loads(match.group(1).decode(), salt=spam.SALT)
    return b'name="token" value="%s-%d-"' % (placeholder("form"), int(data["e"]))
