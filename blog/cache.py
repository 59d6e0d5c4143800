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
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core import signing
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.crypto import salted_hmac
from django.utils.http import http_date

from blog import spam
from blog.models import Entry

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

    Scheduled entries go live at their timestamp; comments close after
    BLOG_COMMENTS_CLOSE_AFTER_DAYS (Entry.comments_open).
    """
    moment = datetime.fromtimestamp(now, tz=UTC)
    published = Entry.objects.using(using).filter(is_draft=False).order_by("timestamp")
    lists = [
        [
            t.timestamp()
            for t in published.filter(timestamp__gt=moment).values_list("timestamp", flat=True)[
                :MAX_CHANGES
            ]
        ]
    ]
    if days := settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS:
        age = timedelta(days=days)
        open_entries = published.filter(
            comments_enabled=True, timestamp__gt=moment - age, timestamp__lte=moment
        )
        lists.append(
            [
                (t + age).timestamp()
                for t in open_entries.values_list("timestamp", flat=True)[:MAX_CHANGES]
            ]
        )
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

    Model signals call it for Entry and Comment saves and deletes; call it yourself after
    writes that send no signals: ``QuerySet.update()``, ``bulk_create()``, raw SQL.
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


def is_cacheable(request) -> bool:
    """A GET or HEAD of a cached page by a reader with no session and no pending message."""
    match = request.resolver_match
    return (
        settings.BLOG_PAGE_CACHE_SECONDS > 0
        and request.method in ("GET", "HEAD")
        and match is not None
        and match.view_name in CACHED_VIEWS
        # Staff (drafts, previews) have a session; messages are shown once, to one reader.
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
    )


class PageCacheMiddleware:
    """Serves cached pages to anonymous readers; stores the pages it sees rendered.

    Must come after the session, CSRF, authentication and message middleware: their
    response processing (CSRF cookie, Vary, security headers) runs on cached pages too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        page = getattr(request, "_cached_page", None)
        return page.finish(response) if page else response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not is_cacheable(request):
            return None
        try:
            page = CachedPage(request)
        except Exception:
            # The site works without its cache (slower): an unreachable Redis is no outage.
            logger.warning("Page cache unavailable; rendering %s", request.path, exc_info=True)
            return None
        request._cached_page = page
        return page.response


class CachedPage:
    def __init__(self, request):
        self.request = request
        self.started = time.time()
        self.version, self.last_modified, self.changes = content_version(self.started)
        address = "\n".join(
            [self.version, request.scheme, request.get_host(), request.get_full_path()]
        )
        self.key = "blog:page:" + hashlib.sha256(address.encode()).hexdigest()
        self.stored = cache.get(self.key)
        self.response = self._response(self.stored) if self.stored else None

    def finish(self, response):
        """Store a fresh page, add validators, answer 304, fill in per-reader tokens."""
        if response.status_code != 200 or response.streaming:
            return response
        hit = response is self.response
        if not hit:
            self.stored = self._store(response)
            if self.stored is None:
                return response
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
        if conditional is not response or not (hit and tokens):
            return conditional
        response.content = self._fill_in(response.content)
        # A reader without a CSRF cookie got a new one: the ETag follows it.
        response.headers["ETag"] = self._validators(tokens)[0]
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
        if response.cookies or response.has_header("Cache-Control"):
            return None  # the view made it personal or uncacheable (e.g. a staff preview)
        if bisect.bisect_right(self.changes, time.time()) != bisect.bisect_right(
            self.changes, self.started
        ):
            return None  # a scheduled change happened while it rendered
        content = response.content
        csrf = CSRF_TOKEN_RE.search(content)
        if csrf:
            content = content.replace(csrf.group(1), placeholder("csrf"))
        elif self.request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
            return None  # a token we cannot find must not reach other readers
        try:
            content = FORM_TOKEN_RE.sub(_form_token_placeholder, content)
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            return None
        stored = {
            "content": content,
            "headers": [
                (name, value)
                for name, value in response.items()
                if name.lower() not in {"content-length", "etag", "last-modified", "vary"}
            ],
            "tokens": placeholder("csrf") in content or placeholder("form") in content,
        }
        try:
            cache.set(self.key, stored, settings.BLOG_PAGE_CACHE_SECONDS)
        except Exception:
            logger.warning("Could not store %s in the page cache", self.key, exc_info=True)
        return stored

    def _response(self, stored):
        response = HttpResponse(stored["content"])
        for name, value in stored["headers"]:
            response.headers[name] = value
        return response

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
