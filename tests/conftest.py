import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from blog.models import Comment, Entry
from testing.server import Server
from tests.browser import admin_page, browser, page  # noqa: F401  (Chromium fixtures)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Whole files in order of their cost, the dearest first: those with tests on real
    servers, then those with Chromium, the Nu checker or commands on databases of their own,
    then the rest, more tests first; in each file its slow tests first, in their order.

    scripts/test hands the files to the two pytest-xdist workers in this order, one at a
    time, as each worker runs short (``--dist loadscope``): a file's module fixtures (a
    shared server) start once, and the run ends on quick files, the workers together."""

    def slowness(item):
        if item.get_closest_marker("server"):
            return 0
        if any(item.get_closest_marker(mark) for mark in ("browser", "html", "own_database")):
            return 1
        return 2

    files = {}
    for item in items:
        files.setdefault(item.path, []).append(slowness(item))
    cost = {
        path: (min(kinds), -sum(k < 2 for k in kinds), -len(kinds)) for path, kinds in files.items()
    }
    items.sort(key=lambda item: (cost[item.path], str(item.path), slowness(item)))


@pytest.fixture
def create_entry(db):
    """Make an entry; days=-1 is yesterday, days=1 is scheduled for tomorrow."""

    def make(title="An entry", body="Some *text*.", days=-1, **fields):
        fields.setdefault("timestamp", timezone.now() + timedelta(days=days))
        fields.setdefault("is_draft", False)
        return Entry.objects.create(title=title, body=body, **fields)

    return make


@pytest.fixture
def create_comment(db):
    def make(entry, text="A comment.", name="reader", **fields):
        return Comment.objects.create(entry=entry, text=text, name=name, **fields)

    return make


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """The production cache backend (files), but this test process's own: parallel runs
    share no rate limits or pages, and a REDIS_URL in the environment is never flushed."""
    from django.conf import settings
    from django.test import override_settings

    backend = "homepage.filecache.FileBasedCache"
    default = {"BACKEND": backend, "LOCATION": tmp_path_factory.mktemp("cache")}
    with override_settings(CACHES={**settings.CACHES, "default": default}):
        yield


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    """Users made by tests get MD5 hashes: the production hasher takes ~0.3 s a password by
    design. The servers the tests start keep the production one."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _private_media(tmp_path_factory):
    """Uploads go to a temporary folder, never the project's data/media."""
    from django.test import override_settings

    with override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")):
        yield


@pytest.fixture(autouse=True)
def _pages_dir(settings, tmp_path):
    """Each test writes its page files into a folder of its own."""
    settings.BLOG_PAGES_DIR = tmp_path / "pages"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and page caches must not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def postgres_url():
    """A new, empty PostgreSQL database on 127.0.0.1:5432, dropped afterwards (its URL)."""
    psycopg = pytest.importorskip("psycopg")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mod_wsgi_server():
    """Factory: ``mod_wsgi_server(**Server options)`` starts a server, closed at teardown."""
    servers: list[Server] = []

    def start(**options) -> Server:
        server = Server(**options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()
