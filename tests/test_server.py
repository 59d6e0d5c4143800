"""The blog under a real Apache/mod_wsgi-express, many threads, over a SQLite file database.

The old Flask site died on its second request under mod_wsgi threads; these tests make the
server do what production does and look for that failure in the answers and in the log.
Counts are printed (pytest -s or -rP) for the issue note.
"""

import collections
import functools
import itertools
import random
import threading
import time
from pathlib import Path

import pytest

from testing.server import Browser, Server, commentable_links, entry_links

pytestmark = pytest.mark.server

PROJECT = Path(__file__).resolve().parent.parent
LOG_FAILURES = ("Traceback", "ProgrammingError", "OperationalError", "database is locked")
LOAD_SETTINGS = {"BLOG_COMMENT_RATE": "100000"}


def run_threads(count, work):
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def record_post(post, text, lock, statuses, posted):
    """Send one comment (post() returns the Response); count its status, and keep each
    acknowledged (302'd) comment's id, which must be new, with its text."""
    try:
        response = post()
        status = response.status
    except OSError as exc:
        response, status = None, repr(exc)
    with lock:
        statuses[status] += 1
        if status == 302:
            assert response.comment_id not in posted
            posted[response.comment_id] = text


def assert_clean_log(server):
    log = server.error_log
    found = [word for word in LOG_FAILURES if word in log]
    assert not found, f"{found} in the error log:\n{log[-5000:]}"


def site_paths(server):
    """The seed scenario's pages: the list, the old URLs, entries, the admin login."""
    index = Browser(server.url).get("/")
    entries = entry_links(index.text)
    assert len(entries) >= 5
    return ["/", "/blog", "/blog.html", "/admin/login/", *entries[:8]]


@pytest.fixture(scope="module")
def load_server():
    """One seeded 2 x 16 server for the load tests (a start costs ~1.3 s of CPU). Each
    counts only the comments it wrote, on entries of its own."""
    with Server(processes=2, threads=16, seed=True, env=LOAD_SETTINGS) as server:
        yield server


def test_seed_scenario_sequential_and_concurrent(load_server):
    """Hundreds of requests, one after another and 32 at a time: all 2xx/3xx, a clean log."""
    server = load_server
    paths = site_paths(server)
    statuses = collections.Counter()
    errors = []
    lock = threading.Lock()

    browser = Browser(server.url)
    for path in itertools.islice(itertools.cycle(paths), 240):
        statuses[browser.get(path).status] += 1
    sequential = sum(statuses.values())

    def reader(n):
        browser = Browser(server.url)
        for path in itertools.islice(itertools.cycle(paths), n, n + 15):
            try:
                status = browser.get(path).status
            except OSError as exc:
                status = repr(exc)
            with lock:
                statuses[status] += 1

    run_threads(32, reader)
    total = sum(statuses.values())
    print(
        f"\nseed scenario: {sequential} sequential + {total - sequential} concurrent requests,"
        f" statuses {dict(statuses)}"
    )
    assert total == 240 + 32 * 15
    bad = {status: n for status, n in statuses.items() if status not in (200, 301, 302)}
    assert not bad and not errors, bad
    assert_clean_log(server)


@pytest.fixture(scope="module")
def read_only_server():
    """One server for the tests that only read from it."""
    with Server(threads=4, env={"BLOG_TITLE": "Threads Proof"}) as server:
        yield server


def test_old_urls_redirect_permanently_under_apache(read_only_server):
    """/blog and /blog.html answer 301 to /, the list page names the configured blog title."""
    server = read_only_server
    browser = Browser(server.url)
    for old in ("/blog", "/blog.html"):
        response = browser.get(old)
        assert (response.status, response.location) == (301, "/")
    # BLOG_TITLE came only through the environment file, as settings do in production.
    assert "Threads Proof" in browser.get("/").text


def test_concurrent_comment_writers_and_readers(load_server):
    """32 commenters and 8 readers for 2 s: every 302'd comment is stored exactly once, no 5xx."""
    server = load_server
    paths = site_paths(server)
    # seed_blog closes comments on some entries: a writer sent there would die on its first post.
    # Not the first: the replies' test below counts the replies on its page.
    entries = commentable_links(server.url, Browser(server.url).get("/").text)[1:9]
    assert entries
    deadline = time.monotonic() + 2
    lock = threading.Lock()
    posted = {}  # comment id -> text
    statuses = collections.Counter()
    read_statuses = collections.Counter()

    def writer(n):
        browser = Browser(server.url)
        rng = random.Random(n)
        for seq in itertools.count():
            if time.monotonic() > deadline:
                return
            text = f"load comment w{n} #{seq}"
            post = functools.partial(
                browser.post_comment, rng.choice(entries), text, name=f"writer {n}"
            )
            record_post(post, text, lock, statuses, posted)

    def reader(n):
        browser = Browser(server.url)
        rng = random.Random(1000 + n)
        while time.monotonic() < deadline:
            try:
                status = browser.get(rng.choice(paths)).status
            except OSError as exc:
                status = repr(exc)
            with lock:
                read_statuses[status] += 1

    run_threads(40, lambda n: writer(n) if n < 32 else reader(n - 32))

    rows = server.sql("SELECT id, text FROM blog_comment WHERE text LIKE 'load comment w%'")
    stored = collections.Counter(text for _, text in rows)
    print(
        f"\nwriters/readers: {sum(statuses.values())} comment posts {dict(statuses)},"
        f" {len(posted)} stored, {sum(read_statuses.values())} reads {dict(read_statuses)}"
    )
    assert set(statuses) == {302}, statuses
    assert set(read_statuses) <= {200, 301, 302}, read_statuses
    assert len(posted) > 32
    assert dict(rows) == posted  # each acknowledged comment, with its own id, nothing else
    assert max(stored.values()) == 1
    assert_clean_log(server)
    # Two malloc arenas a daemon, not one per thread (scripts/serve): memory stays flat.
    for pid in server.daemon_pids():
        assert b"MALLOC_ARENA_MAX=2" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_concurrent_replies_to_one_comment(load_server):
    """24 readers answer one comment (and its replies) at once for 2 s: every 302'd reply is
    stored once, in that comment's thread (one level deep), and shown there; no 5xx."""
    server = load_server
    entry = commentable_links(server.url, Browser(server.url).get("/").text)[0]
    root = Browser(server.url).post_comment(entry, "The question everyone answers", name="Ann")
    assert root.status == 302, root.text[-2000:]
    deadline = time.monotonic() + 2
    lock = threading.Lock()
    posted = {}  # reply id -> text
    statuses = collections.Counter()

    def writer(n):
        browser = Browser(server.url)
        for seq in itertools.count():
            if time.monotonic() > deadline:
                return
            text = f"load reply w{n} #{seq}"
            # Every third answer answers an earlier reply: it must join the same thread.
            with lock:
                target = root.comment_id if seq % 3 or not posted else min(posted)
            post = functools.partial(
                browser.post_comment, entry, text, name=f"replier {n}", reply_to=target
            )
            record_post(post, text, lock, statuses, posted)

    run_threads(24, writer)

    rows = server.sql(
        "SELECT id, parent_id, text FROM blog_comment WHERE text LIKE 'load reply w%'"
    )
    print(
        f"\nconcurrent replies: {sum(statuses.values())} posts {dict(statuses)}, {len(rows)} stored"
    )
    assert set(statuses) == {302}, statuses
    assert len(posted) > 24
    assert {pk: text for pk, _parent, text in rows} == posted
    assert {parent for _pk, parent, _text in rows} == {root.comment_id}
    page = Browser(server.url).get(entry).text
    assert page.count('class="comment reply"') == len(posted)
    assert_clean_log(server)


def test_static_files_are_served_by_apache(read_only_server):
    """CSS and the admin's static files come from Apache's alias, with their content types."""
    server = read_only_server
    browser = Browser(server.url)
    page = browser.get("/")
    # Django's middleware marks its own answers; Apache's static answers lack the mark.
    assert page.headers["X-Frame-Options"] == "DENY"

    css = browser.get("/static/css/site.css")
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.text == (PROJECT / "static" / "css" / "site.css").read_text(encoding="utf-8")
    assert css.headers["X-Frame-Options"] is None
    assert css.headers["ETag"]  # Apache's core handler

    admin_css = browser.get("/static/admin/css/base.css")
    assert admin_css.status == 200
    assert admin_css.headers["Content-Type"].startswith("text/css")
    assert admin_css.headers["X-Frame-Options"] is None
    admin_js = browser.get("/static/admin/js/core.js")
    assert admin_js.status == 200
    assert "javascript" in admin_js.headers["Content-Type"]

    missing = browser.get("/static/css/missing.css")
    assert missing.status == 404
    assert missing.headers["X-Frame-Options"] is None  # Apache's 404, not Django's


def test_server_error_leaves_a_traceback_in_the_apache_log(mod_wsgi_server):
    """A failing request answers the 500 page and logs its traceback; /healthz stays up."""
    server = mod_wsgi_server(threads=4, seed=True)
    browser = Browser(server.url)
    mark = len(server.error_log)
    # A real fault, not a crash URL: a row the code cannot read (a bad hand edit, say).
    # Written behind Django's back, so no page may have been cached before it.
    with server.writable_sql() as db:
        db.execute("UPDATE blog_entry SET timestamp = '2020-13-45 10:00:00'")

    response = browser.get("/")
    assert response.status == 500
    assert "Something went wrong" in response.text
    assert "Traceback" not in response.text  # DEBUG is off: no details for readers
    assert server.wait_for_log("ValueError: month must be in 1..12", since=mark)
    log = server.error_log[mark:]
    assert "Internal Server Error: /" in log
    assert "Traceback (most recent call last)" in log
    assert browser.get("/healthz").status == 200


def test_healthz_answers_503_when_the_database_does_not(mod_wsgi_server):
    """/healthz is 200 "ok" while the database answers and 503 once it cannot be opened."""
    # CONN_MAX_AGE=0: every request opens the database, as after a restart.
    server = mod_wsgi_server(processes=1, threads=2, env={"CONN_MAX_AGE": "0"})
    browser = Browser(server.url)
    healthy = browser.get("/healthz")
    assert (healthy.status, healthy.text) == (200, "ok\n")
    assert "no-cache" in healthy.headers["Cache-Control"]

    moved = server.data_dir.with_name("data-moved")
    server.data_dir.rename(moved)
    try:
        down = browser.get("/healthz")
    finally:
        moved.rename(server.data_dir)
    assert down.status == 503
    assert "ok" not in down.text
    assert browser.get("/healthz").status == 200
