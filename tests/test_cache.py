"""The page cache (blog/cache.py): pages served without rendering, and never stale."""

import io
import re
import uuid
from datetime import timedelta

import pytest
import redis
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from blog import spam
from blog.cache import CACHED_VIEWS, CachedPage, bump_version, placeholder
from blog.models import Comment, Entry
from tests.comments import CSRF_RE, FORM_TOKEN_RE, post_comment

pytestmark = pytest.mark.django_db


def stored_page(path):
    """What the cache holds for an anonymous GET of path now (None when nothing)."""
    return CachedPage(RequestFactory().get(path)).stored


# -- served from the cache ---------------------------------------------------------------


def test_second_request_is_served_without_database_queries(
    client, create_entry, django_assert_num_queries
):
    """The second anonymous GET of a page is the cached copy: no query, same bytes."""
    entry = create_entry(title="Cached entry")
    for url in [reverse("blog:index"), entry.get_absolute_url(), reverse("blog:feed")]:
        first = client.get(url)
        with django_assert_num_queries(0):
            second = client.get(url)
        assert second.status_code == 200
        assert "Cached entry" in second.content.decode()
        assert second["Content-Type"] == first["Content-Type"]
        assert stored_page(url) is not None


def test_head_is_answered_from_the_cache(client, create_entry, django_assert_num_queries):
    create_entry(title="Headed")
    client.get("/")
    with django_assert_num_queries(0):
        response = client.head("/")
    assert response.status_code == 200
    assert response["ETag"]


def test_every_cached_view_name_exists():
    """A renamed URL would silently drop out of the cache."""
    from django.urls import get_resolver

    names = {
        f"blog:{name}" for name in get_resolver().namespace_dict["blog"][1].reverse_dict if name
    }
    assert names >= CACHED_VIEWS


def test_search_and_admin_are_never_cached(client, create_entry):
    create_entry(title="Findable")
    client.get(reverse("blog:search"), {"q": "Findable"})
    assert stored_page(reverse("blog:search") + "?q=Findable") is None
    assert client.get("/admin/login/").status_code == 200
    assert stored_page("/admin/login/") is None


def test_errors_and_redirects_are_not_cached(client, db):
    assert client.get("/2020/jan/1/missing/").status_code == 404
    assert stored_page("/2020/jan/1/missing/") is None
    assert client.get("/blog").status_code == 301
    assert stored_page("/blog") is None


# -- never stale: every write path ---------------------------------------------------------


def test_new_edited_and_deleted_entries_show_at_once(client, create_entry):
    first = create_entry(title="First words")
    assert "First words" in client.get("/").content.decode()
    second = create_entry(title="Second thoughts")
    assert "Second thoughts" in client.get("/").content.decode()
    second.title = "Second thoughts, revised"
    second.save()
    assert "Second thoughts, revised" in client.get("/").content.decode()
    assert "revised" in client.get(second.get_absolute_url()).content.decode()
    second.delete()
    assert "Second thoughts" not in client.get("/").content.decode()
    first.is_draft = True
    first.save()
    assert client.get(first.get_absolute_url()).status_code == 404
    assert "First words" not in client.get("/").content.decode()


def test_a_posted_comment_shows_on_the_next_request(client, create_entry, no_comment_delay):
    entry = create_entry()
    assert "No comments" in client.get("/").content.decode()
    response = post_comment(client, entry, text="Fresh off the press", from_page=True)
    assert response.status_code == 302
    assert "Fresh off the press" in client.get(entry.get_absolute_url()).content.decode()
    assert "1 comment" in client.get("/").content.decode()
    feed = client.get(reverse("blog:entry-feed", kwargs=entry._permalink_kwargs()))
    assert "Fresh off the press" in feed.content.decode()


def test_comments_saved_or_deleted_in_code_show_at_once(client, create_entry, create_comment):
    entry = create_entry()
    url = entry.get_absolute_url()
    client.get(url)
    comment = create_comment(entry, text="Written by a script")
    assert "Written by a script" in client.get(url).content.decode()
    comment.is_public = False
    comment.save()
    assert "Written by a script" not in client.get(url).content.decode()
    comment.is_public = True
    comment.save()
    assert "Written by a script" in client.get(url).content.decode()
    comment.delete()
    assert "Written by a script" not in client.get(url).content.decode()


def test_admin_bulk_hide_and_approve_show_at_once(
    client, admin_client, create_entry, create_comment
):
    """The admin's actions use QuerySet.update(), which sends no signals."""
    entry = create_entry()
    url = entry.get_absolute_url()
    comments = [create_comment(entry, text=f"Opinion {i}") for i in range(3)]
    assert client.get(url).content.decode().count("Opinion") == 3
    changelist = reverse("admin:blog_comment_changelist")
    data = {"action": "hide_comments", "_selected_action": [c.pk for c in comments[:2]]}
    assert admin_client.post(changelist, data).status_code == 302
    assert Comment.objects.filter(is_public=False).count() == 2
    page = client.get(url).content.decode()
    assert "Opinion 2" in page and "Opinion 0" not in page and "Opinion 1" not in page
    data["action"] = "show_comments"
    assert admin_client.post(changelist, data).status_code == 302
    assert client.get(url).content.decode().count("Opinion") == 3


def test_admin_entry_edits_and_bulk_delete_show_at_once(client, admin_client, create_entry):
    entries = [create_entry(title=f"Admin entry {i}", days=-1 - i) for i in range(3)]
    assert client.get("/").content.decode().count(">Admin entry") == 3
    # list_editable: the featured toggle on the change list.
    changelist = reverse("admin:blog_entry_changelist")
    data = {
        "form-TOTAL_FORMS": "3",
        "form-INITIAL_FORMS": "3",
        "_save": "Save",
        **{f"form-{i}-id": str(e.pk) for i, e in enumerate(Entry.objects.order_by("-timestamp"))},
        "form-0-featured": "on",
    }
    assert admin_client.post(changelist, data).status_code == 302
    assert Entry.objects.get(featured=True) == entries[0]
    assert "Featured" in client.get("/").content.decode()
    # The change form: make it a draft.
    change = reverse("admin:blog_entry_change", args=[entries[0].pk])
    form = {
        "title": "Admin entry 0",
        "slug": entries[0].slug,
        "body": "Now a draft.",
        "timestamp_0": timezone.localtime(entries[0].timestamp).strftime("%Y-%m-%d"),
        "timestamp_1": timezone.localtime(entries[0].timestamp).strftime("%H:%M:%S"),
        "is_draft": "on",
        "comments_enabled": "on",
        "comments-TOTAL_FORMS": "0",
        "comments-INITIAL_FORMS": "0",
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
        "tagged_items-TOTAL_FORMS": "0",
        "tagged_items-INITIAL_FORMS": "0",
    }
    assert admin_client.post(change, form).status_code == 302
    assert "Admin entry 0" not in client.get("/").content.decode()
    # The bulk delete action.
    data = {
        "action": "delete_selected",
        "_selected_action": [e.pk for e in entries[1:]],
        "post": "yes",
    }
    assert admin_client.post(changelist, data).status_code == 302
    assert "Admin entry" not in client.get("/").content.decode()


def test_bulk_writes_show_at_once(client, create_entry):
    """QuerySet.update() and bulk_create() send no signals: the QuerySets bump the version."""
    entry = create_entry(title="Before")
    assert "Before" in client.get("/").content.decode()
    Entry.objects.filter(pk=entry.pk).update(title="After")
    assert "After" in client.get("/").content.decode()
    Entry.objects.bulk_create([Entry(title="Bulk", slug="bulk", body="*x*", is_draft=False)])
    html = client.get("/").content.decode()
    assert "Bulk" in html
    assert "<em>x</em>" in html  # bulk_create renders the body as save() does


def test_seeding_shows_at_once(client, db):
    """seed_blog inserts in bulk (no signals) and bumps the version itself."""
    assert "No entries yet" in client.get("/").content.decode()
    call_command("seed_blog", "--entries", "3", "--comments-per-entry", "1", stdout=io.StringIO())
    assert "No entries yet" not in client.get("/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_page_cached_during_a_transaction_is_dropped_at_commit(client, create_entry):
    """Another process may cache the old page while a write is still uncommitted: the
    commit makes that copy unreachable."""
    entry = create_entry(title="Committed")
    url = entry.get_absolute_url()
    client.get(url)
    with transaction.atomic():
        Comment.objects.create(entry=entry, text="Late news")
        # What a reader in another process would store now: the page without the comment.
        stale = {"content": b"stale copy", "headers": [], "tokens": False}
        cache.set(CachedPage(RequestFactory().get(url)).key, stale)
        assert client.get(url).content == b"stale copy"
    assert "Late news" in client.get(url).content.decode()


def test_scheduled_entry_appears_when_its_time_comes(client, create_entry, time_machine):
    """No write happens when a scheduled entry goes live: the version knows the time."""
    time_machine.move_to(timezone.now())
    create_entry(title="Already out")
    create_entry(title="Right on time", timestamp=timezone.now() + timedelta(seconds=2))
    first = client.get("/")
    assert "Right on time" not in first.content.decode()
    assert "Right on time" not in client.get("/").content.decode()  # cached
    time_machine.shift(2.1)
    second = client.get("/")
    assert "Right on time" in second.content.decode()
    assert second["ETag"] != first["ETag"]
    assert client.get("/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def test_comment_form_goes_when_comments_close(client, create_entry, settings, time_machine):
    settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS = 1
    time_machine.move_to(timezone.now())
    entry = create_entry(timestamp=timezone.now() - timedelta(days=1) + timedelta(seconds=2))
    bump_version()  # the closing rule changed: a setting, not a write
    assert 'id="comment-form"' in client.get(entry.get_absolute_url()).content.decode()
    time_machine.shift(2.1)
    page = client.get(entry.get_absolute_url()).content.decode()
    assert 'id="comment-form"' not in page
    assert "Comments are closed" in page


# -- per-reader tokens ------------------------------------------------------------------------


def test_readers_never_get_each_others_csrf_token(create_entry, no_comment_delay):
    """Two readers of one cached page: each gets a token for their own CSRF cookie, the
    cached copy holds neither, and each can post with theirs."""
    entry = create_entry()
    url = entry.get_absolute_url()
    alice, bob = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    alice_page = alice.get(url)
    bob_page = bob.get(url)  # a cache hit
    assert bob_page.context is None  # nothing rendered
    alice_token = CSRF_RE.search(alice_page.content.decode()).group(1)
    bob_token = CSRF_RE.search(bob_page.content.decode()).group(1)
    assert alice_token != bob_token
    assert alice.cookies["csrftoken"].value != bob.cookies["csrftoken"].value
    assert "csrftoken" in bob_page.cookies  # the hit set the new reader's cookie
    stored = stored_page(url)["content"]
    assert alice_token.encode() not in stored and bob_token.encode() not in stored
    assert placeholder("csrf") in stored
    # Each token works with its own cookie and not with the other's.
    form_token = FORM_TOKEN_RE.search(bob_page.content.decode()).group(1)
    data = {"token": form_token, "url": "", "name": "", "text": "Bob was here"}
    assert bob.post(url, {**data, "csrfmiddlewaretoken": alice_token}).status_code == 403
    assert bob.post(url, {**data, "csrfmiddlewaretoken": bob_token}).status_code == 302
    assert Comment.objects.get().text == "Bob was here"


def test_cached_form_token_is_fresh_for_every_reader(client, create_entry, time_machine):
    """The comment form's signed token records when the form was shown: a cached page must
    not hand out its first reader's (soon too old, or already old enough) token."""
    time_machine.move_to(timezone.now())
    entry = create_entry()
    url = entry.get_absolute_url()
    first = FORM_TOKEN_RE.search(client.get(url).content.decode()).group(1)
    time_machine.shift(1.1)
    second = FORM_TOKEN_RE.search(Client().get(url).content.decode()).group(1)
    assert second != first
    assert spam.token_age(second, entry.pk) < 1
    assert spam.token_age(first, entry.pk) >= 1


def test_staff_and_readers_with_messages_bypass_the_cache(client, admin_client, create_entry):
    draft = create_entry(title="Secret draft", is_draft=True)
    published = create_entry(title="Public")
    preview = admin_client.get(draft.get_absolute_url())
    assert preview.status_code == 200 and "Secret draft" in preview.content.decode()
    assert "no-cache" in preview["Cache-Control"]
    assert client.get(draft.get_absolute_url()).status_code == 404
    admin_client.get("/")
    assert stored_page("/") is None  # the staff member's page was not kept
    client.get(published.get_absolute_url())
    client.cookies["messages"] = "anything"
    assert client.get(published.get_absolute_url()).context is not None  # rendered


# -- conditional GET ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["index", "entry", "feed", "feed-atom", "archive-year"])
def test_conditional_get_answers_304_until_something_changes(client, create_entry, page):
    entry = create_entry(title="Validated")
    url = {
        "index": reverse("blog:index"),
        "entry": entry.get_absolute_url(),
        "feed": reverse("blog:feed"),
        "feed-atom": reverse("blog:feed-atom"),
        "archive-year": reverse(
            "blog:archive-year", kwargs={"year": timezone.localtime(entry.timestamp).year}
        ),
    }[page]
    first = client.get(url)
    etag, modified = first["ETag"], first["Last-Modified"]
    assert etag.startswith('W/"') and modified
    assert "no-cache" in first["Cache-Control"]
    assert "Cookie" in first["Vary"]
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    create_entry(title="Something new")
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_etag_follows_the_readers_csrf_cookie_on_pages_with_a_form(client, create_entry):
    """A new CSRF secret (log-in, log-out, cleared cookies) must bring a new form, not a 304."""
    entry = create_entry()
    url = entry.get_absolute_url()
    first = client.get(url)
    assert "private" in first["Cache-Control"]
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    client.cookies["csrftoken"] = "a" * 32
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
    # The list has no form: its validator is the same for everyone.
    assert client.get("/")["ETag"] == Client().get("/")["ETag"]


# -- configuration and backends ----------------------------------------------------------------


def test_default_cache_is_shared_files_under_the_data_dir():
    """Without REDIS_URL every process of the host shares one file cache; with it, Redis."""
    import subprocess
    import sys

    code = (
        "from django.conf import settings; c = settings.CACHES['default'];"
        "print(c['BACKEND'], c['LOCATION'], c['KEY_PREFIX'])"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "homepage.settings",
        "SECRET_KEY": "x",
        "HOMEPAGE_ENV_FILE": "/dev/null",
        "DATA_DIR": "/srv/blogdata",
    }
    run = [sys.executable, "-c", "import django; django.setup();" + code]
    files = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert files.split() == [
        "homepage.filecache.FileBasedCache",
        "/srv/blogdata/cache",
        "homepage",
    ]
    env["REDIS_URL"] = "redis://127.0.0.1:6379/2"
    env["CACHE_KEY_PREFIX"] = "blog1"
    shared = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert shared.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://127.0.0.1:6379/2",
        "blog1",
    ]


def test_pages_still_render_when_the_cache_is_down(client, create_entry, settings):
    """An unreachable Redis makes the site slower, not broken."""
    entry = create_entry(title="Still here")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    assert "Still here" in client.get("/").content.decode()
    assert "Still here" in client.get(entry.get_absolute_url()).content.decode()
    entry.title = "Still here, edited"
    entry.save()  # the version cannot be bumped: logged, not raised
    assert "edited" in client.get("/").content.decode()


REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_cache(settings):
    """Django's RedisCache on the real Redis, in a database and key prefix of its own."""
    prefix = f"homepage-test-{uuid.uuid4().hex[:8]}"
    server = redis.Redis.from_url(REDIS_URL)
    try:
        server.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/services starts it)")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield server, prefix
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)
    server.close()


@pytest.mark.redis
def test_redis_page_cache_and_rate_limit(
    client, create_entry, redis_cache, settings, no_comment_delay, django_assert_num_queries
):
    server, prefix = redis_cache
    entry = create_entry(title="On Redis")
    url = entry.get_absolute_url()
    client.get(url)
    with django_assert_num_queries(0):
        assert "On Redis" in client.get(url).content.decode()
    keys = {key.decode() for key in server.scan_iter(f"{prefix}:*")}
    assert any("blog:page:" in key for key in keys)
    assert any("blog:content-version" in key for key in keys)
    # Writes show at once.
    assert (
        post_comment(
            client, entry, text="Stored in PostgreSQL or SQLite", from_page=True
        ).status_code
        == 302
    )
    assert "Stored in PostgreSQL" in client.get(url).content.decode()
    # The rate limit counts in Redis (an atomic INCR there).
    settings.BLOG_COMMENT_RATE = 1
    assert spam.rate_limited("192.0.2.9") is False
    assert spam.rate_limited("192.0.2.9") is True
    assert any("comment-rate:192.0.2.9" in k.decode() for k in server.scan_iter(f"{prefix}:*"))


def _count(location, key, times):
    from homepage.filecache import FileBasedCache

    counter = FileBasedCache(location, {})
    for _ in range(times):
        if not counter.add(key, 1, timeout=60):
            counter.incr(key)


def test_file_cache_counts_exactly_across_processes(tmp_path, time_machine):
    """The default cache's add()/incr() lose no count when processes count one key at once
    (the comment rate limit), and incr() keeps the key's expiry."""
    import multiprocessing

    from homepage.filecache import FileBasedCache

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_count, args=(tmp_path, "hits", 100)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    counter = FileBasedCache(tmp_path, {})
    assert counter.get("hits") == 400
    counter.set("brief", 1, timeout=1)
    assert counter.incr("brief") == 2
    time_machine.move_to(timezone.now() + timedelta(seconds=1.1))
    assert counter.get("brief") is None
    with pytest.raises(ValueError):
        counter.incr("brief")


# -- hits answered before the middleware stack ---------------------------------------------

SECURITY_HEADERS = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Type",
    "Cache-Control",
]


def _vary(response):
    return {part.strip() for part in response["Vary"].split(",")}


def test_the_page_cache_answers_before_the_rest_of_the_stack(settings):
    """It is first in MIDDLEWARE, so a hit skips the rest (and URL resolution)."""
    assert settings.MIDDLEWARE[0] == "blog.cache.PageCacheMiddleware"


@pytest.mark.parametrize("page", ["index", "entry", "feed"])
def test_a_hit_carries_the_headers_of_a_rendered_page(create_entry, page):
    """Security headers, Content-Type, Vary and a right Content-Length, on 200s and 304s."""
    entry = create_entry(title="Headers")
    url = {"index": "/", "entry": entry.get_absolute_url(), "feed": reverse("blog:feed")}[page]
    assert stored_page(url) is None
    miss = Client().get(url)  # rendered
    assert stored_page(url) is not None
    hit = Client().get(url)  # from the cache
    for name in SECURITY_HEADERS:
        assert hit[name] == miss[name], name
    assert _vary(hit) == _vary(miss)
    assert int(hit["Content-Length"]) == len(hit.content)
    assert "Strict-Transport-Security" not in hit  # plain HTTP (HTTPS=0 in the tests)
    client = Client()
    first = client.get(url)
    not_modified = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304
    for name in SECURITY_HEADERS[:5]:
        assert not_modified[name] == miss[name], name


def test_a_hit_gives_a_new_reader_a_csrf_cookie_that_the_form_needs(
    create_entry, no_comment_delay, settings
):
    """No cookie, or a malformed one: the hit sets a cookie with Django's CSRF cookie
    settings, its page's token matches it, and the posted comment is accepted."""
    entry = create_entry()
    url = entry.get_absolute_url()
    for cookie in [None, "not a valid secret!"]:
        Client().get(url)  # cached (again after the previous comment)
        reader = Client(enforce_csrf_checks=True)
        if cookie:
            reader.cookies[settings.CSRF_COOKIE_NAME] = cookie
        page = reader.get(url)
        assert page.context is None  # a hit
        morsel = page.cookies[settings.CSRF_COOKIE_NAME]
        assert len(morsel.value) == 32 and morsel.value != cookie
        assert morsel["samesite"] == settings.CSRF_COOKIE_SAMESITE
        assert morsel["path"] == settings.CSRF_COOKIE_PATH
        assert morsel["max-age"] == settings.CSRF_COOKIE_AGE
        html = page.content.decode()
        data = {
            "csrfmiddlewaretoken": CSRF_RE.search(html).group(1),
            "token": FORM_TOKEN_RE.search(html).group(1),
            "url": "",
            "name": "",
            "text": f"Posted after a hit ({cookie})",
        }
        assert reader.post(url, data).status_code == 302
    assert Comment.objects.count() == 2


def test_a_hit_keeps_the_readers_valid_csrf_cookie(client, create_entry):
    entry = create_entry()
    url = entry.get_absolute_url()
    client.get(url)
    secret = client.cookies["csrftoken"].value
    page = client.get(url)
    assert page.context is None
    assert client.cookies["csrftoken"].value == secret
    assert (
        CSRF_RE.search(page.content.decode()).group(1) not in stored_page(url)["content"].decode()
    )


def test_with_https_on_a_plain_request_is_redirected_not_served_from_the_cache(
    create_entry, settings
):
    """Even for a page cached over plain HTTP before HTTPS was turned on (the file cache
    outlives a restart)."""
    create_entry(title="Secure")
    assert Client().get("/").status_code == 200
    assert stored_page("/") is not None
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.CSRF_COOKIE_SECURE = True
    first = Client().get("/", secure=True)
    hit = Client().get("/", secure=True)
    assert first.status_code == hit.status_code == 200 and hit.context is None
    assert hit["Strict-Transport-Security"] == first["Strict-Transport-Security"]
    plain = Client().get("/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/"


def test_a_bad_host_or_a_malformed_query_never_hits(client, create_entry, settings):
    """Only requests the stack would have answered with the stored page may get it."""
    create_entry()
    assert client.get(reverse("blog:feed") + "?x=%C3%A9").status_code == 200  # stored
    assert client.get("/").status_code == 200
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400
    # A raw Latin-1 byte makes the same full path as the stored UTF-8 escape.
    latin1 = client.get(reverse("blog:feed"), QUERY_STRING="x=\xe9")
    assert latin1.status_code == 400
    settings.DISALLOWED_USER_AGENTS = [re.compile("BadBot")]
    assert Client().get("/", HTTP_USER_AGENT="BadBot/1.0").status_code == 403


def test_an_uncached_view_is_not_stored_by_the_outer_middleware(client, create_entry):
    """Pages outside CACHED_VIEWS (search, admin) are looked up but never stored."""
    create_entry(title="Findable")
    client.get(reverse("blog:search"), {"q": "Findable"})
    again = client.get(reverse("blog:search"), {"q": "Findable"})
    assert again.context is not None


def test_a_process_keeps_its_recent_pages_and_a_write_still_shows(client, create_entry):
    """A hit reads only the version from the shared cache when this process served the page
    lately (its key contains the version, so it can only be the same page); a write moves
    readers to a new key, so the kept copy is never served stale."""
    entry = create_entry(title="Kept")
    client.get("/")
    key = CachedPage(RequestFactory().get("/")).key
    cache.delete(key)  # gone from the shared cache (expired, or evicted)
    kept = client.get("/")
    assert kept.context is None and "Kept" in kept.content.decode()  # this process's copy
    assert cache.get(key) is None
    entry.title = "Kept, then edited"
    entry.save()
    assert "then edited" in client.get("/").content.decode()


def test_recent_pages_are_bounded():
    from blog.cache import RecentPages

    recent = RecentPages(max_bytes=30)
    for n in range(5):
        recent.put(n, {"content": b"%10d" % n})
    recent.put(4, {"content": b"%10d" % 4})  # again: counted once
    assert recent.get(0) is None and recent.get(1) is None
    assert recent.get(4) == {"content": b"         4"}
    assert len(recent.pages) == 3 and recent.bytes == 30
