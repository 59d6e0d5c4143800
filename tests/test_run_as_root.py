"""Run as root, as the README says: the daemons run as www-data and must never be locked out.

A clone in a private folder (a home directory of mode 700) serves its first request; a
``manage.py`` command run as root while the site runs leaves the data directory usable by
the server; when the daemons could not work, scripts/serve says why instead of starting.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from testing.commands import PROJECT
from testing.server import Browser, Server, commentable_links, free_port, stop_group

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(os.geteuid() != 0, reason="the daemons' user is switched only as root"),
]

WWW_DATA = pwd.getpwnam("www-data").pw_uid


def owners(folder: Path) -> dict[str, str]:
    """Path (relative) -> owner's name, for the folder and everything in it."""
    paths = [folder, *folder.rglob("*")]
    return {str(p.relative_to(folder)): pwd.getpwuid(p.lstat().st_uid).pw_name for p in paths}


def post_new_comment(server: Server) -> tuple[int, str]:
    """Post a comment with a unique text to an entry that takes comments: (status, text)."""
    browser = Browser(server.url)
    entry = commentable_links(server.url, browser.get("/").text)[0]
    text = f"Posted after root's command {uuid.uuid4().hex}"
    return browser.post_comment(entry, text).status, text


def test_a_command_run_as_root_leaves_the_data_directory_to_the_server(mod_wsgi_server):
    """manage.py as root while the site runs: what it creates in data/ (the cache folder,
    cache files, SQLite's -wal and -shm) belongs to www-data, and comments still post."""
    server = mod_wsgi_server(seed=True, processes=1, env={})
    # As after a restore: no cache folder, no -wal and -shm (the daemons closed the database).
    server.stop()
    shutil.rmtree(server.data_dir / "cache", ignore_errors=True)
    mark = len(server.error_log)
    # Root's connection creates -wal and -shm (in WAL mode reading does) and keeps them.
    with server.writable_sql() as db:
        db.execute("SELECT count(*) FROM blog_entry").fetchall()
        # A write by root: the page cache's new version creates the cache folder and a file.
        server.manage("seed_blog", "--entries", "2", "--comments-per-entry", "1", "--seed", "7")
        created = owners(server.data_dir)
        server.start()
        # And once more while the server runs.
        server.manage("seed_blog", "--entries", "1", "--comments-per-entry", "0", "--seed", "8")
    assert {"cache", "blog.sqlite3-wal", "blog.sqlite3-shm"} <= created.keys()
    assert set(created.values()) == {"www-data"}, created
    assert set(owners(server.data_dir).values()) == {"www-data"}

    status, text = post_new_comment(server)

    assert status == 302, server.error_log[mark:]
    assert server.sql("SELECT count(*) FROM blog_comment WHERE text = ?", [text]) == [(1,)]
    assert "Traceback" not in server.error_log[mark:]


def test_a_cache_the_server_cannot_write_lets_comments_through_and_says_so_once(
    mod_wsgi_server,
):
    """A cache folder left to root (mode 700, as Django makes it): comments still post,
    and the error log says once per process what is wrong and the fix, without a traceback."""
    server = mod_wsgi_server(seed=True, processes=1, env={})
    cache = server.data_dir / "cache"
    cache.mkdir(exist_ok=True)
    mark = len(server.error_log)
    for path in [cache, *cache.iterdir()]:
        os.chown(path, 0, 0)
    cache.chmod(0o700)

    results = [post_new_comment(server) for _ in range(3)]

    log = server.error_log[mark:]
    assert [status for status, _ in results] == [302] * 3, log
    for _, text in results:
        assert server.sql("SELECT count(*) FROM blog_comment WHERE text = ?", [text]) == [(1,)]
    assert log.count("is not writable by www-data") == 1, log
    assert f"Fix: chown -R www-data: {cache}" in log
    assert "Traceback" not in log
    assert Browser(server.url).get("/").status == 200


def test_serve_stops_with_the_reason_when_the_daemons_could_not_load_the_site():
    """The daemons' user may not read the settings file: scripts/serve exits 1 naming the
    problem and the fix, before Apache answers anything with a 500."""
    server = Server()
    try:
        server.prepare()
        # An ACL entry that denies www-data the file, though its group may read it.
        subprocess.run(["setfacl", "-m", "u:www-data:---", str(server.env_file)], check=True)
        port = free_port()
        env = server.process_env() | {"PORT": str(port), "SERVER_ROOT": str(server.tmp / "s")}
        result = subprocess.run(
            ["bash", str(PROJECT / "scripts" / "serve")],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"www-data cannot load the application from {PROJECT}" in result.stderr
        assert (
            f"Fix: www-data must be able to read {PROJECT}, its .venv and {server.env_file}"
            in result.stderr
        )
        assert "Server URL" not in result.stdout  # Apache never started
    finally:
        server.close()


@pytest.fixture
def private_clone():
    """A clone of this repository at HEAD in <tmp>/private/homepage, <tmp> and private
    mode 700 (a home folder); removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="homepage-clone-"))
    private = tmp / "private"
    private.mkdir(mode=0o700)
    clone = private / "homepage"
    try:
        subprocess.run(
            ["git", "clone", "-q", str(PROJECT), str(clone)], check=True, capture_output=True
        )
        yield clone
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_fresh_clone_in_a_private_folder_serves_its_first_requests(private_clone):
    """README's scripts/start in a new clone under a mode-700 folder, as root: the front
    page, an entry, a static file and a comment work; www-data may only traverse the
    private folders, not list them."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PORT": str(port),
        "SERVER_ROOT": str(private_clone.parent.parent / "server"),
    }
    log_path = private_clone.parent.parent / "start.log"
    with open(log_path, "wb") as log:
        # Its own virtualenv (uv's cache and scripts/setup's mod_wsgi wheel make it quick):
        # sharing ours would hide a problem.
        start = subprocess.Popen(
            ["bash", "scripts/start"],
            cwd=private_clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        browser = Browser(f"http://127.0.0.1:{port}", timeout=10)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and start.poll() is None:
            try:
                browser.get("/healthz")
                break  # Apache answers: whatever it says now is the result
            except OSError:
                time.sleep(0.5)  # still setting up: waits for the real server
        output = log_path.read_text(errors="replace")
        assert start.poll() is None, f"scripts/start stopped:\n{output[-5000:]}"
        front = browser.get("/")
        assert front.status == 200, output[-5000:]
        entry = commentable_links(browser.base_url, front.text)[0]
        assert browser.get(entry).status == 200
        assert browser.get("/static/css/site.css").status == 200
        assert browser.post_comment(entry, "First comment in a fresh clone.").status == 302
        assert "Traceback" not in log_path.read_text(errors="replace")
        # Traverse-only on the private parents: www-data cannot list them.
        listing = subprocess.run(
            ["runuser", "-u", "www-data", "--", "ls", str(private_clone.parent)],
            capture_output=True,
        )
        assert listing.returncode != 0
    finally:
        stop_group(start)
