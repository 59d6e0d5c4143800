"""The page cache (blog/cache.py, blog/middleware.py, blog/memo.py): public pages as files that
Apache serves, never stale."""

import os
import re
import shutil
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection, connections
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from django.utils import timezone

from blog import apache, cache, memo, middleware
from blog.models import Comment, Entry, Page
from testing.server import Browser, Server, entry_links
from tests.comments import post_comment
from tests.page_files import page_file

pytestmark = pytest.mark.django_db


def public_urls(entry):
    local = timezone.localtime(entry.timestamp)
    kwargs = entry._permalink_kwargs()
    return {
        "index": "/",
        "page 2": "/?page=2",
        "year": reverse("blog:archive-year", kwargs={"year": local.year}),
        "month": reverse(
            "blog:archive-month", kwargs={"year": local.year, "month": kwargs["month"]}
        ),
        "entry": entry.get_absolute_url(),
        "feed": reverse("blog:feed"),
        "atom": reverse("blog:feed-atom"),
        "entry feed": reverse("blog:entry-feed", kwargs=kwargs),
        "entry atom": reverse("blog:entry-feed-atom", kwargs=kwargs),
        "sitemap": reverse("blog:sitemap"),
        "sitemap section": reverse("blog:sitemap-section", kwargs={"section": "entries"}),
        "json feed": reverse("blog:feed-json"),
        "tag index": reverse("blog:tag-index"),
        "tag": reverse("blog:tag", kwargs={"slug": "python"}),
        "tag feed": reverse("blog:tag-feed", kwargs={"slug": "python"}),
        "tag atom": reverse("blog:tag-feed-atom", kwargs={"slug": "python"}),
        "tag json": reverse("blog:tag-feed-json", kwargs={"slug": "python"}),
        "page": reverse("blog:page", kwargs={"slug": "about"}),
    }


@pytest.fixture
def blog(create_entry, create_comment):
    entries = [create_entry(title=f"Entry {i}", days=-1 - 40 * i) for i in range(12)]
    create_comment(entries[0], text="First!")
    entries[0].tags.add("Python")
    entries[5].tags.add("Other")
    Page.objects.create(title="About", slug="about", body="Who writes here.")
    return entries


# -- what is written --------------------------------------------------------------------


def test_only_feeds_and_sitemaps_are_looked_for_by_type(blog):
    """Apache serves an HTML page's file without looking for it first; only at the URLs of
    OTHER_TYPES_AT does it look for a file of each other type. A page of another type at
    any other URL would never be a hit."""
    for kind, url in public_urls(blog[0]).items():
        response = Client().get(url)
        is_html = response["Content-Type"] == cache.TYPES["html"]
        assert is_html != bool(re.search(apache.OTHER_TYPES_AT, url)), kind


def test_a_miss_handed_back_by_apache_is_the_readers_request():
    """Apache's ErrorDocument turns a miss into a GET of MISS_URL; the WSGI application
    answers it as the reader's request. Only Apache sets REDIRECT_STATUS: without it,
    MISS_URL is just an unknown URL."""
    seen = []
    app = apache.handing_back_misses(lambda environ, start_response: seen.append(environ))
    miss = {
        "PATH_INFO": apache.MISS_URL,
        "QUERY_STRING": "",
        "REQUEST_METHOD": "GET",
        "REDIRECT_STATUS": "404",
        "REDIRECT_URL": "/2026/dec/5/an-entry/",
        "REDIRECT_QUERY_STRING": "page=2",
        "REDIRECT_REQUEST_METHOD": "HEAD",
    }
    app(miss, None)
    app(miss | {"REDIRECT_STATUS": "403"}, None)
    for environ in seen:
        assert environ["PATH_INFO"] == "/2026/dec/5/an-entry/"
        assert (environ["QUERY_STRING"], environ["REQUEST_METHOD"]) == ("page=2", "HEAD")
    seen.clear()
    for other in [
        {k: v for k, v in miss.items() if k != "REDIRECT_STATUS"},  # a client's own request
        miss | {"HTTP_REDIRECT_STATUS": "404"} | {"REDIRECT_STATUS": "500"},
        miss | {"PATH_INFO": "/"},
    ]:
        app(other, None)
        assert seen.pop() == other


def test_every_public_page_is_the_same_bytes_for_every_reader(blog):
    """Two cookie-less GETs of each public page kind get identical bytes: nothing per
    reader (no CSRF token, no form token) in a page that Apache hands to everyone."""
    for kind, url in public_urls(blog[0]).items():
        first, second = Client().get(url), Client().get(url)
        assert first.status_code == 200, kind
        assert first.content == second.content, kind
        assert not first.cookies and not second.cookies, kind
        assert b"csrfmiddlewaretoken" not in first.content, kind


def test_public_pages_are_written_as_files_for_apache(blog):
    for kind, url in public_urls(blog[0]).items():
        response = Client().get(url)
        found = page_file(url)
        assert found is not None, kind
        assert found.read_bytes() == response.content, kind
        assert cache.TYPES[found.suffix[1:]] == response["Content-Type"], kind
        assert response["Cache-Control"] == "max-age=0, s-maxage=0"
        assert "Cookie" in response["Vary"]


def test_what_is_never_written(client, admin_client, blog):
    entry = blog[0]
    client.get(reverse("blog:search"), {"q": "Entry"})
    assert page_file(reverse("blog:search") + "?q=Entry") is None
    assert client.get("/admin/login/").status_code == 200
    assert page_file("/admin/login/") is None
    assert client.get("/2020/jan/1/missing/").status_code == 404
    assert page_file("/2020/jan/1/missing/") is None
    assert client.get("/blog").status_code == 301
    assert page_file("/blog") is None
    assert client.get("/?utm_source=x").status_code == 200
    assert page_file("/") is None  # only "" and page=N name a page file
    # Staff (a session) and readers with a pending message get their own page.
    admin_client.get(entry.get_absolute_url())
    assert page_file(entry.get_absolute_url()) is None
    client.cookies["messages"] = "anything"
    client.get(entry.get_absolute_url())
    assert page_file(entry.get_absolute_url()) is None


def test_a_staff_preview_is_never_written(admin_client, create_entry):
    draft = create_entry(title="Secret draft", is_draft=True)
    preview = admin_client.get(draft.get_absolute_url())
    assert "Secret draft" in preview.content.decode()
    assert "no-cache" in preview["Cache-Control"]
    assert Client().get(draft.get_absolute_url()).status_code == 404
    assert not list(cache.pages_root().rglob("*.html"))


def test_every_cached_view_name_exists():
    """A renamed URL would silently drop out of the cache."""
    from django.urls import get_resolver

    names = {
        f"blog:{name}" for name in get_resolver().namespace_dict["blog"][1].reverse_dict if name
    }
    assert names >= middleware.CACHED_VIEWS


def test_apache_gets_djangos_headers(blog):
    """The headers Apache sends with a page file are the ones Django gives the page."""
    shared = apache.shared_headers()
    for url in ["/", blog[0].get_absolute_url(), reverse("blog:feed")]:
        response = Client().get(url)
        for name, value in shared.items():
            assert response[name] == value, (url, name)
    config = apache.apache_config()
    for name, value in shared.items():
        assert f"Header set {name} " in config and value.replace('"', '\\"') in config
    assert 'ForceType "application/rss+xml; charset=utf-8"' in config


def test_the_rules_skip_only_this_sites_static_and_media_prefixes(settings):
    """Static files on another host, or uploads at "/", are no prefix to skip: skipping "/"
    would turn the page files off."""
    assert "RewriteCond %{REQUEST_URI} ^(/static/|/media/) [OR]" in apache.apache_config()
    settings.STATIC_URL, settings.MEDIA_URL = "https://cdn.example.org/static/", "/"
    assert "RewriteCond %{REQUEST_URI} ^(" not in apache.apache_config()
    settings.MEDIA_URL = "/uploads/"
    assert "RewriteCond %{REQUEST_URI} ^(/uploads/) [OR]" in apache.apache_config()


# -- one render for many readers ------------------------------------------------------------


def in_thread(work):
    """A thread that runs work, then closes the database connections it opened, as a
    server's thread does after a request: none is left for the test database's teardown
    to wait for (PostgreSQL refuses to drop a database in use)."""

    def run():
        try:
            work()
        finally:
            connections.close_all()

    return threading.Thread(target=run)


@pytest.mark.django_db(transaction=True)
def test_readers_of_a_page_being_rendered_share_the_render(create_entry, monkeypatch):
    """Readers who ask for a page while this process renders it get that render's bytes, not
    a render each. Those who came before a write still get the render it kept from the page
    file: it shows all they must see. Those who come after it get a new render, one for all
    of them."""
    from blog.views import EntryIndexView

    create_entry(title="Shared")
    cache.renew()
    renders = []
    render = EntryIndexView.get

    def slow(self, request, *args, **kwargs):
        renders.append(request)
        time.sleep(0.8)  # a slow render: the other readers arrive while it runs
        return render(self, request, *args, **kwargs)

    monkeypatch.setattr(EntryIndexView, "get", slow)

    def readers(count):
        responses = []
        threads = [in_thread(lambda: responses.append(Client().get("/"))) for _ in range(count)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        return responses

    responses = readers(4)
    assert len(renders) == 1
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.content for r in responses}) == 1 and b"Shared" in responses[0].content
    assert all(r["Cache-Control"] == responses[0]["Cache-Control"] for r in responses)
    # A comment while a page renders: who asks after it gets a render that shows it; who
    # asked before it gets the first render, which the comment kept from the page file.
    entry = Entry.objects.get()
    cache.forget_pages([entry.get_absolute_url()], [("/", "index*")])
    early, late = [], []
    first, before = (in_thread(lambda: early.append(Client().get("/"))) for _ in range(2))
    after, later = (in_thread(lambda: late.append(Client().get("/"))) for _ in range(2))
    for thread in (first, before, None, after, later):
        if thread is None:
            Comment.objects.create(entry=entry, name="r", text="During the render.")
        else:
            thread.start()
        time.sleep(0.12)
    for thread in (first, before, after, later):
        thread.join()
    assert len(renders) == 3
    assert [r.status_code for r in early + late] == [200] * 4
    assert early[0].content == early[1].content
    assert late[0].content == late[1].content and b"1 comment" in late[0].content
    assert page_file("/").read_bytes() == late[0].content


@pytest.mark.django_db(transaction=True)
def test_a_process_waits_for_another_rendering_the_page_and_answers_from_its_file(
    create_entry, monkeypatch
):
    """While another process renders a stale page (it holds the page's render lock), a reader
    here waits, then gets the file that process wrote, with the headers Apache sends; if the
    page is still stale when the lock is free, the reader gets a render of its own."""
    from blog.views import EntryIndexView

    entry = create_entry(title="Waited for")
    cache.renew()
    Client().get("/")
    renders = []
    render = EntryIndexView.get
    monkeypatch.setattr(
        EntryIndexView, "get", lambda self, *a, **k: renders.append(1) or render(self, *a, **k)
    )

    def read_while_another_process_renders(write):
        cache.forget_pages([], [("/", "index*")])  # a comment made it stale
        page = cache.pages_root() / cache.current_version().generation / "testserver/index.html"
        responses = []
        with middleware._render_lock(("testserver", "/")) as waited:
            assert not waited
            reader = in_thread(lambda: responses.append(Client(HTTP_HOST="testserver").get("/")))
            reader.start()
            time.sleep(0.3)
            assert reader.is_alive()  # waiting for the other process
            if write:  # the other process's render, with what it saw
                page.write_text("<p>Rendered by the other process</p>")
                cache.stale_marker(page).unlink()
        reader.join()
        return responses[0]

    response = read_while_another_process_renders(write=True)
    assert response.content == b"<p>Rendered by the other process</p>" and renders == []
    for name, value in apache.shared_headers().items():
        assert response[name] == value
    assert response["Content-Type"] == cache.TYPES["html"]
    response = read_while_another_process_renders(write=False)  # its write was refused
    assert renders == [1] and entry.title in response.content.decode()


# -- never stale ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_write_to_entries_retires_every_page(blog):
    Client().get("/")
    before = cache.current_version()
    Entry.objects.filter(pk=blog[1].pk).update(title="Renamed")  # no signal: the QuerySet
    assert cache.current_version().generation != before.generation
    assert page_file("/") is None
    assert "Renamed" in Client().get("/").content.decode()
    blog[1].delete()
    assert page_file("/") is None


@pytest.mark.django_db(transaction=True)
def test_a_comment_makes_every_page_of_its_conversation_stale(
    create_entry, create_comment, settings
):
    settings.BLOG_COMMENTS_PER_PAGE = 1
    entry = create_entry(title="Paged")
    create_comment(entry, text="One")
    create_comment(entry, text="Two")
    cache.renew()
    pages = [entry.get_absolute_url(), entry.get_absolute_url() + "?page=2"]
    for url in pages:
        assert Client().get(url).status_code == 200
        assert page_file(url) is not None, url
    assert post_comment(Client(), entry, text="Three").status_code == 302
    for url in pages:  # their pagers now count three pages
        assert page_file(url) is None, url
        assert "Comments page" in Client().get(url).content.decode()
    assert "of 3" in page_file(pages[1]).read_text()
    assert "Three" in Client().get(entry.get_absolute_url() + "?page=3").content.decode()


def test_one_renewal_per_transaction(create_entry, django_capture_on_commit_callbacks):
    """Five saves in one transaction: one new generation when it commits."""
    cache.renew()
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            create_entry(title=f"Entry {i}")
    assert len(list(cache.pages_root().glob("v*"))) == 2  # the one before, and one new


@pytest.mark.django_db(transaction=True)
def test_a_comment_makes_stale_only_the_pages_that_show_it(blog):
    commented, other = blog[0], blog[5]
    showing = [
        "/",
        "/?page=1",
        *(public_urls(commented)[kind] for kind in ("entry", "entry feed", "entry atom", "tag")),
    ]
    unaffected = [
        "/?page=2",  # the entry is on the first page
        other.get_absolute_url(),
        reverse("blog:tag", kwargs={"slug": "other"}),
        public_urls(commented)["month"],  # archives list titles, not comment counts
        reverse("blog:feed"),
        reverse("blog:sitemap"),
    ]
    for url in showing + unaffected:
        Client().get(url)
        assert page_file(url) is not None, url
    assert post_comment(Client(), commented, text="Hot take").status_code == 302
    for url in showing:
        assert page_file(url) is None, url
    for url in unaffected:
        assert page_file(url) is not None, url
    assert "Hot take" in Client().get(commented.get_absolute_url()).content.decode()


def comment_on_page_two(entry, text) -> str:
    """Both index pages written, then a comment on entry, listed on page 2: only page 2's
    file is stale. Page 2 as rendered again."""
    for url in ["/", "/?page=2"]:
        Client().get(url)
    assert post_comment(Client(), entry, text=text).status_code == 302
    assert page_file("/?page=2") is None
    assert page_file("/") is not None
    return Client().get("/?page=2").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_comment_on_an_older_entry_makes_stale_the_list_page_that_shows_it(blog):
    oldest = blog[-1]  # the 12th newest: on page 2
    assert "1 comment" in comment_on_page_two(oldest, "Late to the party")


@pytest.mark.django_db(transaction=True)
def test_the_page_that_shows_an_entry_is_found_again_after_entries_change(create_entry, blog):
    """Where an entry is listed is worked out once per version (lists_counting()): a new
    entry above it starts a new version, and the next comment finds it on its new page."""
    tenth = blog[9]  # the last entry of page 1
    assert post_comment(Client(), tenth, text="Still on page one").status_code == 302
    create_entry(title="Newest", days=0)  # pushes the tenth entry to page 2
    assert "2 comments" in comment_on_page_two(tenth, "Now on page two")


@pytest.mark.django_db(transaction=True)
def test_comment_bulk_actions_retire_every_page(admin_client, blog):
    """The admin's approve/hide use update(), which sends no signals."""
    Client().get(blog[0].get_absolute_url())
    changelist = reverse("admin:blog_comment_changelist")
    data = {"action": "hide_comments", "_selected_action": [c.pk for c in Comment.objects.all()]}
    assert admin_client.post(changelist, data).status_code == 302
    assert page_file(blog[0].get_absolute_url()) is None
    assert "First!" not in Client().get(blog[0].get_absolute_url()).content.decode()


def render_again_during(url, write):
    """url's page marked stale (as by a comment), then rendered again through
    PageCacheMiddleware, with write() committing during the render."""
    content = Client().get(url).content
    cache.forget_pages([url], [])
    assert page_file(url) is None

    def view(request):
        write()
        request.resolver_match = resolve(url)
        return HttpResponse(content)

    middleware.PageCacheMiddleware(view)(RequestFactory().get(url))


def test_a_page_rendered_before_a_write_is_not_written_after_it(blog):
    """A reader's render that overlapped a write to its page must not store the old page
    after the write marked it stale."""
    url = blog[0].get_absolute_url()
    render_again_during(url, lambda: None)
    assert page_file(url) is not None  # with no write meanwhile, the render is kept
    render_again_during(url, lambda: cache.forget_pages([url], []))  # a comment on it
    assert page_file(url) is None


def test_a_write_to_another_page_does_not_waste_a_render(blog):
    """Under a steady stream of comments, most renders used to be thrown away because some
    comment, anywhere, committed while they ran."""
    url, other = blog[0].get_absolute_url(), blog[5].get_absolute_url()
    Client().get(other)
    render_again_during(url, lambda: cache.forget_pages([other], []))
    assert page_file(url) is not None
    assert page_file(other) is None


def test_a_page_put_in_place_while_a_comment_marks_its_folder_is_marked(blog):
    """A render checks and renames its page under the page's folder lock; a comment lists
    and marks each folder under that lock. A page renamed into place while the marking waits
    for the lock, in a folder the render had just made, is then marked, not missed."""
    url = blog[0].get_absolute_url()
    Client().get(url)
    entry_folder = page_file(url).parent
    feed_folder = entry_folder / "feed" / "new"  # made before the check, as write_page() does
    feed_folder.mkdir(parents=True)
    feed = feed_folder / "index.rss"
    forgetting = threading.Thread(target=cache.forget_pages, args=([url], []))
    with cache._folder_locked(feed_folder):  # a render between its check and its rename
        forgetting.start()
        forgetting.join(0.3)
        assert forgetting.is_alive()  # the marking waits for the folder
        feed.write_text("<rss>the page as it was before the comment</rss>")
    forgetting.join(5)
    assert cache.stale_marker(feed).exists() and not feed.exists()
    assert page_file(url) is None  # the entry page itself, marked too


def test_pages_from_before_the_link_are_never_served():
    """Until 2026-12-05 a stale page's file stayed, only marked, and Apache read the live
    generation from the state file. Such a folder is retired when the server starts
    (prepare()): Apache, which now serves whatever file the link leads to, never sees it."""
    cache.renew()
    root = cache.pages_root()
    old = cache.current_version()
    page = root / old.generation / "testserver" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<p>stale, only marked</p>")
    cache.stale_marker(page).write_text("1")
    (root / cache.CURRENT).unlink()  # as the old layout had it
    cache.prepare()
    assert cache.current_version().generation == "none"
    assert not (root / cache.CURRENT).exists()  # Apache: a miss, Django's
    cache.renew()
    current = cache.current_version().generation
    assert current != old.generation and os.readlink(root / cache.CURRENT) == current
    cache.prepare()  # a start with the link in place keeps the generation
    assert cache.current_version().generation == current


def test_every_version_is_seen_even_where_file_times_are_coarse(monkeypatch):
    """The processes know the state file by inode and modification time, Apache's RewriteMap
    by its modification time. Where the kernel stamps files by the tick (before Linux 6.13:
    ~4 ms), writes within one tick got one time, and the inodes of a replaced file come
    back: a process (or Apache) that had read a version kept it over a newer one."""
    from pathlib import Path

    write_text = Path.write_text
    tick = time.time_ns()

    def coarse(path, *args, **kwargs):  # every file stamped with the same tick
        written = write_text(path, *args, **kwargs)
        os.utime(path, ns=(tick, tick))
        return written

    monkeypatch.setattr(Path, "write_text", coarse)
    cache.prepare()
    seen = []
    for serial in range(1, 6):
        version = cache.current_version()
        cache._write_state(version._replace(serial=serial))
        cache._write_state(version._replace(serial=serial + 100))  # no read in between
        seen.append(cache.current_version().serial)
    assert seen == [101, 102, 103, 104, 105]


@pytest.mark.django_db(transaction=True)
def test_seeding_retires_every_page(client, db):
    client.get("/")
    before = cache.current_version()
    call_command("seed_blog", "--entries", "3", "--comments-per-entry", "1", verbosity=0)
    assert cache.current_version() != before
    assert "No entries yet" not in client.get("/").content.decode()


def test_the_version_expires_at_the_next_scheduled_change(create_entry, settings):
    """An entry going live, or comments closing, change pages without a write: the version
    expires then, and the next uncached request (or the clock thread, tested under Apache)
    starts a new generation."""
    settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS = 30
    settings.BLOG_PAGE_CACHE_SECONDS = 10 * 86400
    now = timezone.now()
    create_entry(title="Out", timestamp=now - timedelta(days=29))  # closes in a day
    create_entry(title="Soon", timestamp=now + timedelta(hours=2))
    cache.renew()
    version = cache.current_version()
    assert version.expires == pytest.approx((now + timedelta(hours=2)).timestamp(), abs=1)
    with time_machine.travel(now + timedelta(hours=2, seconds=1)):
        assert "Soon" in Client().get("/").content.decode()
        renewed = cache.current_version()
        assert renewed.generation != version.generation
        assert renewed.expires == pytest.approx((now + timedelta(days=1)).timestamp(), abs=1)


def test_what_a_miss_reuses_ends_with_its_version(create_entry, admin_client, settings):
    """A reader with a session is always rendered by Django; once the version has expired
    (a scheduled entry is due) and nothing has renewed it yet, no memo or fragment of the
    old version is used."""
    settings.BLOG_PAGE_CACHE_SECONDS = 10 * 86400
    now = timezone.now()
    create_entry(title="Already out", days=-1)
    create_entry(title="Due soon", timestamp=now + timedelta(minutes=5))
    cache.renew()
    assert "Due soon" not in admin_client.get("/").content.decode()  # memos made
    with time_machine.travel(now + timedelta(minutes=5, seconds=1)):
        assert "Due soon" in admin_client.get("/").content.decode()  # session: no renew


def counted_renders(monkeypatch, name: str) -> list:
    """The keys of the renders that memo.<name> (rendered_thread, rendered_summary) runs."""
    renders = []
    original = getattr(memo, name)

    def counted(key, render):
        return original(key, lambda: renders.append(key) or render())

    monkeypatch.setattr(memo, name, counted)
    return renders


def test_a_thread_is_rendered_once_for_what_it_shows(
    blog, create_comment, monkeypatch, django_capture_on_commit_callbacks
):
    """Each thread's HTML (a comment and its replies) is kept in the process for all it
    shows: a page of many comments renders none of them again, a reply renders its own
    thread only, and an edit, a new name or closed comments shows at once."""
    entry = blog[0]
    comment = create_comment(entry, text="Second thoughts", name="Ann")
    cache.renew()
    renders = counted_renders(monkeypatch, "rendered_thread")
    url = entry.get_absolute_url() + "?uncached"  # Django renders it every time
    assert "Second thoughts" in Client().get(url).content.decode()
    assert len(renders) == 2  # "First!" and this one
    assert "Second thoughts" in Client().get(url).content.decode()
    assert len(renders) == 2
    Comment.objects.filter(pk=comment.pk).update(text="Third thoughts", name="Bea")
    page = Client().get(url).content.decode()
    assert "Third thoughts" in page and ">Bea<" in page and "Second thoughts" not in page
    assert len(renders) == 3
    assert "reply-link" in page
    create_comment(entry, text="A reply to Bea", parent=comment)
    page = Client().get(url).content.decode()
    assert len(renders) == 4  # Bea's thread, not the first one
    assert page.index("Third thoughts") < page.index("A reply to Bea")
    # The reply form under Bea's comment: for one reader, not kept.
    page = Client().get(f"{entry.get_absolute_url()}?reply_to={comment.pk}").content.decode()
    assert len(renders) == 4 and 'id="reply"' in page
    entry.comments_enabled = False
    with django_capture_on_commit_callbacks(execute=True):
        entry.save()  # a write to entries: a new version once it commits, no Reply links
    page = Client().get(url).content.decode()
    assert "reply-link" not in page and "Third thoughts" in page


def test_a_list_page_renders_its_summaries_once_and_reads_its_counts_once_per_comment(
    blog, create_comment, monkeypatch, django_capture_on_commit_callbacks
):
    """A list page's summaries are kept apart from their comment counts, once per version,
    and the counts once per comment (the version's serial): a stream of comments shows on
    the front page at once, renders no summary again and adds no copy of one to keep; a
    miss with no comment since reads no count."""
    fragments = caches["fragments"]
    fragments.clear()
    cache.renew()
    renders = counted_renders(monkeypatch, "rendered_summary")
    url = "/?uncached"  # Django renders it every time
    first = Client().get(url).content.decode()
    assert len(renders) == 10 and "1 comment</a>" in first and "No comments</a>" in first
    kept = len(fragments._cache), len(memo._summaries.items)
    for n in range(2, 7):
        with django_capture_on_commit_callbacks(execute=True):  # as the comment's commit
            create_comment(blog[0], text=f"Comment {n}")
        assert f"{n} comments</a>" in Client().get(url).content.decode()
        with CaptureQueriesContext(connection) as captured:
            assert f"{n} comments</a>" in Client().get(url).content.decode()
        assert not [q for q in captured.captured_queries if "blog_comment" in q["sql"]]
    assert len(renders) == 10
    assert (len(fragments._cache), len(memo._summaries.items)) == kept
    blog[0].title = "Entry 0, retitled"
    blog[0].save()
    cache.renew()  # as the write's commit does
    assert "Entry 0, retitled" in Client().get(url).content.decode()
    assert len(renders) == 20


# -- configuration and backends ------------------------------------------------------------------


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


def _count(location, key, times):
    from homepage.filecache import FileBasedCache

    counter = FileBasedCache(location, {})
    for _ in range(times):
        if not counter.add(key, 1, timeout=60):
            counter.incr(key)


def test_file_cache_counts_exactly_across_processes(tmp_path):
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
    with time_machine.travel(time.time() + 1.1):  # the files keep their expiry times
        assert counter.get("brief") is None
        with pytest.raises(ValueError):
            counter.incr("brief")


def test_file_cache_counts_in_place(tmp_path):
    """incr() rewrites the key's file where it is: a count that grows or shrinks the file
    reads back whole, and a file cut short (a write that never finished) is a miss, not an
    error."""
    from homepage.filecache import FileBasedCache

    counter = FileBasedCache(tmp_path, {})
    counter.set("n", 250, timeout=60)
    path = counter._key_to_file("n")
    inode = os.stat(path).st_ino
    for expected in range(251, 261):
        assert counter.incr("n") == expected
    assert counter.incr("n", 70_000) == 70_260 and counter.get("n") == 70_260
    assert counter.incr("n", -70_259) == 1 and counter.get("n") == 1
    assert os.stat(path).st_ino == inode  # no new file: in place
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) - 3)
    assert counter.get("n") is None
    with pytest.raises(ValueError):
        counter.incr("n")
    with open(path, "wb") as file:
        file.write(b"\x80\x05garbage")  # even its expiry unreadable: add() starts it again
    assert not counter.has_key("n")
    assert counter.add("n", 1, timeout=60) and counter.incr("n") == 2


# -- Apache serves the files -----------------------------------------------------------------

DECIDED = [
    "Content-Type",
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Cache-Control",
    "Vary",
]


def decided(response, name):
    """A header's value; CSP's directives as a set (django-csp orders them by hash, so two
    daemon processes may order them differently)."""
    value = response.headers[name]
    return set(value.split("; ")) if name == "Content-Security-Policy" else value


@pytest.fixture(scope="module")
def site():
    """One server for this module's tests against Apache (a start costs ~1.3 s of CPU). They
    run in file order, the first before any page became a file; the later ones write, each
    to its own entry or the front page, and check only what their writes change."""
    with Server(processes=2, threads=4, seed=True, env={"BLOG_COMMENT_RATE": "1000"}) as server:
        yield server


@pytest.mark.server
def test_apache_answers_every_public_page_from_its_file(site):
    """The second cookie-less GET of each page kind is Apache's (an ETag on the file, no
    Python), the same bytes, with the headers Django decided; a revalidation is a 304."""
    browser = Browser(site.url)
    entry = entry_links(browser.get("/search/?q=a").text)[0]  # search is never a file
    year = entry.split("/")[1]
    month = "/".join(entry.split("/")[1:3])
    urls = [
        "/", "/?page=2", f"/{year}/", f"/{month}/", entry, f"{entry}feed/",
        f"{entry}feed/atom/", "/feed/", "/feed/atom/", "/sitemap.xml",
    ]  # fmt: skip
    for url in urls:
        rendered = Browser(site.url).get(url)
        served = Browser(site.url).get(url)
        assert rendered.status == served.status == 200, url
        assert "ETag" not in rendered.headers and served.headers["ETag"], url
        assert served.text == rendered.text, url
        for name in DECIDED:
            assert decided(served, name) == decided(rendered, name), (url, name)
        again = Browser(site.url).request(
            "GET", url, headers={"If-None-Match": served.headers["ETag"]}
        )
        assert again.status == 304, url
    # The files' folder has no URL: the rules are the only way in.
    generation = (site.data_dir / "pages" / "generation").read_text().split()[1]
    host = site.url.removeprefix("http://")
    for url in ["/generation", "/current/", f"/{generation}/{host}/index.html"]:
        assert Browser(site.url).get(url).status == 404, url


@pytest.mark.server
def test_apache_hands_every_miss_to_django(site):
    """The rules send every public GET to its page file without looking first: a missing
    file is Apache's 404 and an unreadable one its 403, each of which Apache hands to
    Django as the reader's request (ErrorDocument): Django's answer, never Apache's."""
    browser = Browser(site.url)
    head = browser.request("HEAD", "/tags/")
    assert head.status == 200 and head.text == ""
    assert head.headers["Content-Type"] == cache.TYPES["html"]
    assert "ETag" not in browser.get("/tags/").headers  # a HEAD writes no file
    assert browser.get("/tags/").headers["ETag"]
    unknown = browser.get("/no-such-page/")
    assert unknown.status == 404 and "<!doctype html>" in unknown.text  # Django's page
    encoded = browser.get("/no%2525such/")
    assert encoded.status == 404 and "<!doctype html>" in encoded.text
    # A page file's name too long for a folder ("a" * 250 + "index.html"): Apache's own
    # 403, before its ErrorDocument applies. The rules leave such a request to Django.
    too_long = browser.get("/" + "a" * 250)
    assert too_long.status == 404 and "<!doctype html>" in too_long.text
    long_host = browser.request("GET", "/", headers={"Host": "a" * 300})
    assert long_host.status == 400 and "<!doctype html>" in long_host.text  # Django's
    # MISS_URL itself, even with a header named like Apache's variable, is no miss.
    for headers in [{}, {"Redirect-Status": "404", "Redirect-URL": "/"}]:
        assert browser.request("GET", apache.MISS_URL, headers=headers).status == 404
    # A file Apache finds but cannot open (a moment after a comment removed it, say).
    generation = (site.data_dir / "pages" / "generation").read_text().split()[1]
    front = site.data_dir / "pages" / generation / site.url.removeprefix("http://") / "index.html"
    expected = browser.get("/").text
    assert front.exists()
    front.chmod(0)
    unreadable = browser.get("/")
    assert unreadable.status == 200 and unreadable.text == expected
    assert "ETag" not in unreadable.headers  # Django's, which wrote the file again
    assert browser.get("/").headers["ETag"]


@pytest.mark.server
def test_readers_get_every_page_while_generations_change(site):
    """Apache's rules follow the link to the live generation, then Apache opens the file
    through it again: a generation retired in between is a miss handed to Django, not a
    404. Readers keep reading while writes start 200 new generations."""
    browser = Browser(site.url)
    entry = entry_links(browser.get("/").text)[0]
    statuses, errors = {}, []
    reading = threading.Event()
    reading.set()

    def reader():
        reader_browser = Browser(site.url)
        while reading.is_set():
            for url in ["/", entry, "/feed/"]:
                try:
                    response = reader_browser.get(url)
                except OSError as error:
                    errors.append(f"{url}: {error!r}")
                    continue
                hit = "ETag" in response.headers
                statuses[response.status, hit] = statuses.get((response.status, hit), 0) + 1

    readers = [threading.Thread(target=reader) for _ in range(6)]
    for thread in readers:
        thread.start()
    try:
        site.manage(
            "shell", "-c",
            "import time\nfrom blog.cache import renew\n"
            "for _ in range(200):\n    renew()\n    time.sleep(0.01)",
        )  # fmt: skip
    finally:
        reading.clear()
        for thread in readers:
            thread.join(30)
    assert not errors
    assert set(statuses) == {(200, True), (200, False)}, statuses  # hits and misses, all 200


@pytest.mark.server
def test_static_files_and_uploads_never_go_through_the_page_rules(site):
    """Apache serves /static/ and /media/ itself: the rules skip them before looking for a
    file (no stat() per static file), so even a page file planted there is never served."""
    generation = (site.data_dir / "pages" / "generation").read_text().split()[1]
    host_dir = site.data_dir / "pages" / generation / site.url.removeprefix("http://")

    def plant(folder):
        page = host_dir / folder / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<p>planted</p>")
        page.chmod(0o644)
        return Browser(site.url).get(f"/{folder}/")

    try:
        for folder in ["static/css", "media"]:
            response = plant(folder)
            assert "planted" not in response.text and "ETag" not in response.headers, folder
        # Where a page may be, the same file is served: the rules did look for it.
        assert plant("planted").text == "<p>planted</p>"
    finally:
        for folder in ["static", "media", "planted"]:
            shutil.rmtree(host_dir / folder, ignore_errors=True)


@pytest.mark.server
def test_apache_serves_fresh_pages_after_every_kind_of_write(site):
    browser = Browser(site.url)
    front = browser.get("/").text
    entry = next(
        path for path in entry_links(front) if 'id="comment-form"' in browser.get(path).text
    )
    browser.get(entry)  # now a file
    posted = Browser(site.url).post_comment(entry, "Served fresh by Apache")
    assert posted.status == 302
    assert "Served fresh by Apache" in Browser(site.url).get(entry).text
    assert "Served fresh by Apache" in Browser(site.url).get(entry + "feed/").text
    # A write from another process (a shell, the admin, an import): update() in bulk.
    Browser(site.url).get("/")
    site.manage(
        "shell", "-c",
        "from blog.models import Entry; Entry.objects.filter(pk=Entry.objects.latest().pk)"
        ".update(title='Retitled from a shell')",
    )  # fmt: skip
    assert "Retitled from a shell" in Browser(site.url).get("/").text


@pytest.mark.server
def test_readers_with_a_session_or_a_message_get_a_fresh_page(site):
    Browser(site.url).get("/")
    assert Browser(site.url).get("/").headers["ETag"]  # a file for readers without cookies
    for cookie in ["sessionid=whatever", "messages=pending"]:
        response = Browser(site.url).request("GET", "/", headers={"Cookie": cookie})
        assert response.status == 200
        assert "ETag" not in response.headers, cookie  # rendered by Django
    other = Browser(site.url).request("GET", "/", headers={"Cookie": "analytics=1"})
    assert other.headers["ETag"]


@pytest.mark.server
def test_a_scheduled_entry_appears_within_a_second_of_its_time(site):
    # Its time is set by the command once Django is up (it prints it): 2 s ahead of the
    # check below, whatever the command took to start.
    made = site.manage(
        "shell", "-c",
        "import time; from datetime import datetime, UTC; from blog.models import Entry; "
        "due = time.time() + 2; print(due); "
        "Entry.objects.create(title='Right on time', body='x', is_draft=False, "
        "timestamp=datetime.fromtimestamp(due, tz=UTC))",
    )  # fmt: skip
    due = float(made.stdout.split()[-1])
    assert time.time() < due - 0.5, "the check below comes too late to see the entry hidden"
    assert "Right on time" not in Browser(site.url).get("/").text
    assert Browser(site.url).get("/").headers["ETag"]  # Apache holds the page without it
    while True:
        asked = time.time()
        if "Right on time" in Browser(site.url).get("/").text:
            break
        assert asked < due + 1.0, "a request a second after its time did not show it"
        time.sleep(0.05)
    assert time.time() >= due - 0.05
