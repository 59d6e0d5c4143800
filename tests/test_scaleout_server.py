"""Several Apache/mod_wsgi processes on PostgreSQL + Redis: no lost comment, no stale page,
and a restart of PostgreSQL (a server of the test's own) survived by the same processes."""

import contextlib
import random
import threading
import time
import uuid

import psycopg
import pytest
import redis

from testing.postgres import PrivatePostgres
from testing.server import Browser, commentable_links, forget_prepared_databases

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.redis]

POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"


@contextlib.contextmanager
def _database_and_prefix(postgres: str):
    """A new database on that PostgreSQL server and a Redis key prefix of its own (the
    settings that name them), both removed afterwards."""
    name = f"homepage_scaleout_{uuid.uuid4().hex[:8]}"
    prefix = f"homepage-scaleout-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield {
        "DATABASE_URL": f"{postgres}/{name}",
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "BLOG_COMMENT_RATE": "100000",
    }
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server = redis.Redis.from_url(REDIS_URL)
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)
    server.close()


@pytest.fixture
def scaleout_env():
    """On the machine's PostgreSQL server."""
    with _database_and_prefix(POSTGRES) as env:
        yield env


@pytest.fixture(scope="module")
def private_postgres():
    """A PostgreSQL server of this module's own, for the test that stops it."""
    with PrivatePostgres() as postgres:
        yield postgres
        forget_prepared_databases(postgres.url)


@pytest.fixture
def restart_env(private_postgres):
    with _database_and_prefix(private_postgres.url) as env:
        yield env


def rows(env, query, params=()):
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        return connection.execute(query, params).fetchall()


def seeded_entries(server) -> list[str]:
    front = Browser(server.url).get("/")
    assert front.status == 200, front.text[:2000]
    entries = commentable_links(server.url, front.text)
    assert len(entries) >= 5
    return entries


def wait_for(condition, timeout=60) -> None:
    """Until condition() holds: a load phase ends after enough requests, not a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_concurrent_readers_and_writers_lose_nothing_and_never_read_stale(
    mod_wsgi_server, scaleout_env
):
    """2 processes x 16 threads, 12 comment writers and 8 readers at once: every comment
    that got its redirect is stored once, and the entry page read right after each write
    shows it, to the writer and to a reader who never posted."""
    server = mod_wsgi_server(processes=2, threads=16, env=scaleout_env, seed=True)
    entries = seeded_entries(server)
    acknowledged, stale, errors = [], [], []
    reads = {"count": 0}
    writing = threading.Event()
    writing.set()

    def writer(number):
        browser = Browser(server.url)
        for i in range(3):
            path = random.choice(entries)
            text = f"scaleout {number}-{i} {uuid.uuid4().hex[:6]}"
            try:
                response = browser.post_comment(path, text, name=f"writer {number}")
            except OSError as error:
                errors.append(f"POST {path}: {error!r}")
                continue
            if response.status != 302 or response.comment_id is None:
                errors.append(f"POST {path}: {response.status}")
                continue
            acknowledged.append((response.comment_id, text))
            for reader in (browser, Browser(server.url)):
                if text not in reader.get(path).text:
                    stale.append((path, text))

    def reader():
        browser = Browser(server.url)
        while writing.is_set():
            path = random.choice([*entries, "/", "/feed/", "/feed/atom/"])
            try:
                status = browser.get(path).status
            except OSError as error:
                errors.append(f"GET {path}: {error!r}")
                continue
            reads["count"] += 1
            if status != 200:
                errors.append(f"GET {path}: {status}")

    readers = [threading.Thread(target=reader) for _ in range(8)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    writing.clear()
    for thread in readers:
        thread.join(timeout=60)

    assert errors == []
    assert stale == []
    assert len(acknowledged) == 36
    stored = dict(
        rows(
            scaleout_env,
            "SELECT id, text FROM blog_comment WHERE id = ANY(%s)",
            ([cid for cid, _ in acknowledged],),
        )
    )
    assert stored == dict(acknowledged)
    counts = rows(
        scaleout_env,
        "SELECT count(*), count(DISTINCT text) FROM blog_comment WHERE text LIKE 'scaleout %%'",
    )
    assert counts == [(36, 36)]
    # The pages came from the page files Apache serves (the rate limit counts in Redis).
    assert list(server.data_dir.glob("pages/v*/*/*/*/*/*/index.html"))
    counted = redis.Redis.from_url(REDIS_URL).scan_iter(f"{scaleout_env['CACHE_KEY_PREFIX']}:*")
    assert any(b"comment-rate" in key for key in counted)
    assert len(server.daemon_pids()) == 2
    assert "Traceback" not in server.error_log
    print(f"\n{len(acknowledged)} comments, {reads['count']} reads, {len(errors)} errors")


@pytest.mark.parametrize("connections", ["persistent", "pool"])
def test_postgresql_restart_under_load(mod_wsgi_server, private_postgres, restart_env, connections):
    """While PostgreSQL is down, requests that need it fail quickly with a 5xx (no hang
    past the request timeout); once it is back the same daemon processes serve again,
    and no request fails. With persistent connections (CONN_MAX_AGE + health checks) and
    with psycopg's pool (one connection per thread at most)."""
    timeout = 20
    if connections == "pool":
        # A wait for a connection shorter than the outage, so the outage shows.
        restart_env |= {"DATABASE_POOL_SIZE": "16", "DATABASE_POOL_TIMEOUT": "1"}
    server = mod_wsgi_server(
        processes=2, threads=16, env=restart_env, seed=True, request_timeout=timeout
    )
    entries = seeded_entries(server)
    pids = server.daemon_pids()
    assert len(pids) == 2
    results = []  # (started, seconds, status)
    loading = threading.Event()
    loading.set()

    def load(number):
        browser = Browser(server.url, timeout=timeout + 10)
        while loading.is_set():
            # The search page is never cached: it needs the database every time.
            kind = random.choice(["search", "search", "entry", "comment"])
            started = time.monotonic()
            try:
                if kind == "search":
                    status = browser.get(f"/search/?q=word{random.randrange(10**6)}").status
                elif kind == "entry":
                    status = browser.get(random.choice(entries)).status
                else:
                    text = f"restart {number} {uuid.uuid4().hex[:8]}"
                    status = browser.post_comment(random.choice(entries), text).status
            except OSError as error:
                status = repr(error)
            results.append((started, time.monotonic() - started, status))
            # A failed request is retried after a pause, as a person (or a proxy) would, not
            # in a tight loop of quick 5xx answers that only burns CPU.
            time.sleep(0.02 if status in (200, 302) else 0.1)

    def finished(since, statuses=(200, 302)):
        """How many requests started since then ended with one of these statuses."""
        return sum(r[0] >= since and r[2] in statuses for r in list(results))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(results) >= 20)
        down = time.monotonic()
        private_postgres.stop()
        # Down until requests failed; with the pool, for longer than its wait for a
        # connection, and than its first retries of a lost one (after 1 s, then 2 s more):
        # its backoff must not keep the site down once the database is back. Persistent
        # connections fail at once (a longer outage showed no more).
        outage = 5 if connections == "pool" else 0.5
        wait_for(lambda: time.monotonic() > down + outage and finished(down, (500, 503)) >= 6)
        private_postgres.start()  # returns once it accepts connections
        up = time.monotonic()
        wait_for(lambda: finished(up + 0.5) >= 30)
    finally:
        loading.clear()
        for thread in threads:
            thread.join(timeout=timeout + 30)
        if not private_postgres.running():
            private_postgres.start()

    before = [r for r in results if r[0] + r[1] < down]  # over before the stop
    during = [r for r in results if down <= r[0] < up]
    after = [r for r in results if r[0] >= up + 0.5]
    assert before and during and after
    assert [r for r in before if r[2] not in (200, 302)] == []
    assert [r for r in during if r[2] not in (200, 302, 500, 503)] == []
    assert any(status in (500, 503) for _, _, status in during), "the outage went unnoticed"
    assert max(seconds for _, seconds, _ in results) < timeout
    failed_after = [r for r in after if r[2] not in (200, 302)]
    assert failed_after == []
    assert server.daemon_pids() == pids
    slowest = max(seconds for _, seconds, status in during if status in (500, 503))
    print(
        f"\n{connections}: {len(results)} requests: {len(before)} before, {len(during)} during the outage "
        f"({sum(s in (500, 503) for _, _, s in during)} 5xx, slowest {slowest:.2f} s), "
        f"{len(after)} after, all of them 2xx/3xx"
    )
