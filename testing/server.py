"""Run the blog under a real Apache/mod_wsgi-express server, for tests and benchmarks.

Only the standard library; Django is not imported here, so tests and benchmarks both use
it (the pytest fixture that wraps it is ``mod_wsgi_server`` in tests/conftest.py). The server is ``scripts/serve``, the README's own way to serve.

Server
------
``Server(processes=2, threads=16, env=None, seed=False, request_timeout=30, extra_args=())``
prepares a private temporary folder (readable by the daemons' user) holding:

* ``env``: the environment file with the settings (``SECRET_KEY``, ``DEBUG=0``, ``HTTPS=0``,
  ``ALLOWED_HOSTS``, ``DATA_DIR``, ``STATIC_ROOT``, plus ``env``); it reaches the daemons the
  way it does in production, through ``HOMEPAGE_ENV_FILE``. Put ``DATABASE_URL`` in ``env``
  for PostgreSQL, and e.g. ``BLOG_COMMENT_RATE="100000"``
  for load tests. Without ``DATABASE_URL`` the database is the SQLite file ``data/blog.sqlite3``.
* ``data/`` (owned by www-data once started when we are root), ``static/`` (collectstatic),
  ``server/`` (mod_wsgi-express's server root) and ``server.log`` (Apache's error log).

``start()`` migrates, seeds (``seed=True`` runs ``seed_blog`` with 12 entries x 3 comments; a
list gives its arguments) and collects static files, in one ``manage.py``, then starts
``scripts/serve`` on a free 127.0.0.1 port in its own process group and waits until
``/healthz`` answers 200. A later SQLite server prepared the same way as an earlier one
(``RUN_TIME_SETTINGS`` aside) gets a copy of the first one's database and static files
instead: kept per process, or for all processes that share the folder named by
``$HOMEPAGE_PREPARED_DIR``. With that folder (a test run), a PostgreSQL server does too: its
database is made anew from a template database of the first one's
(``drop_prepared_databases(folder)`` drops those).

Attributes and methods:

* ``url`` (``http://127.0.0.1:PORT``, no trailing slash), ``port``, ``pid`` (Apache's parent,
  also the process group id), ``tmp``, ``sqlite_path``, ``env_file``, ``settings`` (dict).
* ``error_log``: the text of Apache's error log so far (restarts append to it). To look only
  at what a step logged: ``mark = len(server.error_log)`` ... ``server.error_log[mark:]``;
  ``wait_for_log(text, since=mark, timeout=10)`` waits for a line instead of sleeping.
* ``stop()``: SIGTERM to the process group, wait, SIGKILL whatever is left. Idempotent.
* ``kill9()``: SIGKILL to the whole process group at once (a crash), then reap it.
* ``restart()``: ``stop()`` then start again on the same port, same database.
* ``graceful()``: Apache's graceful restart (SIGUSR1); waits until ``/healthz`` answers.
* ``manage(*args)``: run ``manage.py`` with the server's settings; returns CompletedProcess,
  raises with its output on failure.
* ``sql(query, params=())``: rows from the SQLite database (read-only, for assertions);
  ``with server.writable_sql() as db:`` a sqlite3 connection committed on exit (fault tests).
* ``close()``: ``stop()`` and delete the temporary folder. ``with Server(...) as server:``
  starts and closes.

Fixture
-------
``mod_wsgi_server`` (in tests/conftest.py) is a factory:
``server = mod_wsgi_server(threads=32, seed=True, env={...})``; every server it started is
closed at teardown, whatever happened. Mark such tests ``@pytest.mark.server``.

Browser
-------
``Browser(base_url)`` speaks HTTP like a browser (keeps cookies, sends ``Origin`` on POST)
and never follows redirects, so ``Response.status`` is what the server said:

* ``get(path)``, ``post(path, data)``, ``request(method, path, body=None, headers=None)``
  return a ``Response`` (``status``, ``headers``, ``text``, ``location``, ``comment_id``).
* ``post_comment(entry_path, text, name="", reply_to=None)`` GETs the entry (through the
  comment's Reply link with ``reply_to``), fills the comment form as a person would (the
  hidden ``reply_to``, an empty honeypot ``url``; the page carries no token) and POSTs it.
  Success is a 302 whose ``comment_id`` is the new comment's id (``#c<id>`` in Location).
  Mind the rate limit (BLOG_COMMENT_RATE).
* ``form_fields(html)`` and ``entry_links(html)`` are the parsers it uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path

from testing.commands import PROJECT, manage

SEED_ARGS = ["--entries", "12", "--comments-per-entry", "3"]
# Settings the prepared database and static files do not depend on: a server that differs
# from an earlier one only in these copies its prepared folders (see Server.prepare).
RUN_TIME_SETTINGS = {
    "SECRET_KEY", "DATA_DIR", "STATIC_ROOT", "BLOG_COMMENT_RATE", "SQLITE_TIMEOUT", "BLOG_TITLE",
    "HTTPS", "CONN_MAX_AGE", "AXES_FAILURE_LIMIT", "REDIS_URL", "CACHE_KEY_PREFIX",
    "DATABASE_POOL_SIZE", "DATABASE_POOL_TIMEOUT",
}  # fmt: skip
# Where prepared folders are kept: PREPARED_ENV names a folder that several processes share
# (the test run's workers: tests/environment.py makes it), else each process has its own.
PREPARED_ENV = "HOMEPAGE_PREPARED_DIR"
_prepared_folder: tempfile.TemporaryDirectory | None = None


def _prepared_dir() -> Path:
    global _prepared_folder
    if shared := os.environ.get(PREPARED_ENV):
        return Path(shared)
    if _prepared_folder is None:
        _prepared_folder = tempfile.TemporaryDirectory(prefix="homepage-prepared-")
    return Path(_prepared_folder.name)


def _server_and_database(url: str) -> tuple[str, str]:
    """A PostgreSQL URL's server part and its database's name."""
    server, database = url.rsplit("/", 1)
    return server, database


def _copy_prepared(data: Path, static: Path, to_data: Path, to_static: Path) -> None:
    """The SQLite files (with -wal and -shm) and the collected static files."""
    to_data.mkdir(parents=True, exist_ok=True)
    for path in data.glob("blog.sqlite3*"):
        shutil.copy2(path, to_data)
    shutil.copytree(static, to_static)


def _postgres(url: str, statement: str) -> None:
    """Run one statement on the PostgreSQL server of ``url``, in its maintenance database."""
    server, _database = _server_and_database(url)
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{server}/postgres", "-c", statement],
        check=True,
        capture_output=True,
    )


def drop_prepared_databases(folder: Path) -> None:
    """Drop the template databases that PostgreSQL servers prepared in this folder kept."""
    for named in Path(folder).glob("*/database"):
        url = named.read_text(encoding="utf-8")
        try:
            _postgres(url, f'DROP DATABASE IF EXISTS "{_server_and_database(url)[1]}" WITH (FORCE)')
        except subprocess.CalledProcessError as error:
            print(f"Could not drop the template {url}: {error.stderr.decode().strip()}")


def forget_prepared_databases(server: str) -> None:
    """Forget the template databases kept on a PostgreSQL server that goes away with them
    (a test's own, testing/postgres.py): drop_prepared_databases() could not reach them."""
    for named in _prepared_dir().glob("*/database"):
        if _server_and_database(named.read_text(encoding="utf-8"))[0] == server:
            shutil.rmtree(named.parent)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a server started in its own session (start_new_session=True) by its process
    group: SIGTERM, then SIGKILL for whatever outlived it (daemons whose parent is gone)."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    _signal_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(
        self,
        processes: int = 2,
        threads: int = 16,
        env: dict[str, str] | None = None,
        seed: bool | list[str] = False,
        request_timeout: int = 30,
        extra_args: tuple[str, ...] | list[str] = (),
        startup_timeout: float = 60,
    ):
        self.processes = processes
        self.threads = threads
        self.seed = seed
        self.request_timeout = request_timeout
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="homepage-server-"))
        # The daemons run as www-data when we are root: they must reach this folder.
        self.tmp.chmod(0o755)
        self.data_dir = self.tmp / "data"
        self.sqlite_path = self.data_dir / "blog.sqlite3"
        self.env_file = self.tmp / "env"
        self.log_path = self.tmp / "server.log"
        self.settings = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "HTTPS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATA_DIR": str(self.data_dir),
            "STATIC_ROOT": str(self.tmp / "static"),
            **(env or {}),
        }
        self.env_file.write_text(
            "".join(f"{key}={value}\n" for key, value in self.settings.items()), encoding="utf-8"
        )
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._prepared = False

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def error_log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, since: int = 0, timeout: float = 10) -> bool:
        """True once ``text`` is in the error log after offset ``since`` (False after timeout)."""
        deadline = time.monotonic() + timeout
        while text not in self.error_log[since:]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def process_env(self) -> dict[str, str]:
        """A clean environment: the settings come only from the env file, as in production."""
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOMEPAGE_ENV_FILE": str(self.env_file),
        }

    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return manage(*args, env=self.process_env(), timeout=timeout)

    def prepare(self) -> None:
        """Migrate, seed, collect the static files; or copy what an earlier server prepared
        the same way (the database file and the static files)."""
        key = self._prepared_key()
        if key is None:
            self._prepare_here()
        else:
            kept = _prepared_dir() / hashlib.sha256(repr(key).encode()).hexdigest()[:16]
            # One process prepares a key; the others wait for it, then copy.
            with open(f"{kept}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (kept / "ready").exists():
                    self._prepare_here()
                    shutil.rmtree(kept, ignore_errors=True)
                    _copy_prepared(self.data_dir, self.tmp / "static", kept, kept / "static")
                    if url := self._postgres_url():
                        # A template of this database: named for the folder, so that two
                        # runs at once keep two.
                        server, database = _server_and_database(url)
                        name = "homepage_prepared_" + hashlib.sha256(bytes(kept)).hexdigest()[:16]
                        _postgres(url, f'CREATE DATABASE "{name}" TEMPLATE "{database}"')
                        (kept / "database").write_text(f"{server}/{name}")
                    (kept / "ready").touch()
                else:
                    _copy_prepared(kept, kept / "static", self.data_dir, self.tmp / "static")
                    if url := self._postgres_url():
                        database = _server_and_database(url)[1]
                        kept_url = (kept / "database").read_text(encoding="utf-8")
                        template = _server_and_database(kept_url)[1]
                        _postgres(url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                        _postgres(url, f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        self._prepared = True

    def _postgres_url(self) -> str | None:
        url = self.settings.get("DATABASE_URL", "")
        return url if url.startswith("postgres") else None

    def _prepare_here(self) -> None:
        """migrate, seed_blog and collectstatic in one manage.py: each start of Django costs
        ~0.25 s of CPU, and a test run prepares a dozen servers."""
        steps = [("migrate", "--noinput", "-v0")]
        if self.seed:
            steps.append(("seed_blog", *(SEED_ARGS if self.seed is True else self.seed)))
        steps.append(("collectstatic", "--noinput", "-v0"))
        run = f"from django.core.management import call_command\nfor step in {steps!r}:\n"
        self.manage("shell", "-c", run + "    call_command(*step)")

    def _prepared_key(self) -> tuple | None:
        """What the prepared folders depend on, or None when they are not kept: a database
        other than SQLite and PostgreSQL, or PostgreSQL outside a test run (the run drops
        the template databases at its end), or a SQLite database put in place before the
        start (the benchmark's seeded copies): a kept copy would replace it."""
        if self.sqlite_path.exists():
            return None
        depends = {k: v for k, v in self.settings.items() if k not in RUN_TIME_SETTINGS}
        if url := depends.pop("DATABASE_URL", None):
            if not self._postgres_url() or PREPARED_ENV not in os.environ:
                return None
            depends["DATABASE_SERVER"] = _server_and_database(url)[0]  # not its name
        seed = SEED_ARGS if self.seed is True else self.seed or []
        return tuple(seed), tuple(sorted(depends.items()))

    def start(self) -> Server:
        if self.process and self.process.poll() is None:
            return self
        if not self._prepared:
            self.prepare()
        fixed = self.port is not None  # a restart keeps its URL
        for _ in range(3):
            if not fixed:
                self.port = free_port()
            mark = len(self.error_log)
            if self._launch():
                return self
            # Another program may take a free port before Apache binds it: try again.
            if "Address already in use" not in self.error_log[mark:]:
                break
            time.sleep(1)
        raise RuntimeError(f"mod_wsgi-express did not come up:\n{self.error_log[-5000:]}")

    def _launch(self) -> bool:
        env = self.process_env() | {
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PROCESSES": str(self.processes),
            "THREADS": str(self.threads),
            "REQUEST_TIMEOUT": str(self.request_timeout),
            "SERVER_ROOT": str(self.tmp / "server"),
        }
        with open(self.log_path, "ab") as log:
            # Its own session, so the process group (Apache and every daemon) can be
            # stopped by this one id.
            self.process = subprocess.Popen(
                ["bash", str(PROJECT / "scripts" / "serve"), *self.extra_args],
                cwd=PROJECT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.wait_healthy(self.startup_timeout):
            return True
        self.stop()
        return False

    def wait_healthy(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError, http.client.HTTPException):
                if Browser(self.url, timeout=5).get("/healthz").status == 200:
                    return True
            time.sleep(0.05)  # a test waits for every start: ~0.5 s a run at 0.2
        return False

    def _signal_group(self, sig: int) -> None:
        _signal_group(self.process, sig)

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None:
            stop_group(self.process, timeout)

    def daemon_pids(self) -> set[int]:
        """The mod_wsgi daemon processes (they run the Django code) of this server."""
        out = subprocess.run(
            ["ps", "-o", "pid=,args=", "-g", str(self.pid)], capture_output=True, text=True
        ).stdout
        return {int(line.split()[0]) for line in out.splitlines() if "(wsgi:" in line}

    def kill9(self) -> None:
        """Crash: SIGKILL Apache and every daemon at once, as a power cut would."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def graceful(self, timeout: float = 60) -> None:
        """Apache's graceful restart: new daemons, in-flight requests finish."""
        os.kill(self.process.pid, signal.SIGUSR1)
        time.sleep(0.5)
        if not self.wait_healthy(timeout):
            raise RuntimeError(f"no answer after a graceful restart:\n{self.error_log[-5000:]}")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the database ----------------------------------------------------------------

    def sql(self, query: str, params: tuple | list = ()) -> list[tuple]:
        """Rows from the server's SQLite database (read-only, for assertions)."""
        with contextlib.closing(
            sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=20)
        ) as db:
            return db.execute(query, params).fetchall()

    @contextlib.contextmanager
    def writable_sql(self):
        """A read-write sqlite3 connection to the server's database, committed on exit."""
        db = sqlite3.connect(self.sqlite_path, timeout=20)
        try:
            with db:
                yield db
        finally:
            db.close()


# -- a browser ------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @property
    def comment_id(self) -> int | None:
        match = re.search(r"#c(\d+)$", self.location or "")
        return int(match.group(1)) if match else None


class _FormParser(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
            self.action = attrs.get("action")
        elif self.inside and tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif self.inside and tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self.fields[self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str = "comment-form") -> tuple[str | None, dict[str, str]]:
    """The action and the fields (name -> value) of the form with this id."""
    parser = _FormParser(form_id)
    parser.feed(html)
    return parser.action, parser.fields


def entry_links(html: str) -> list[str]:
    """Entry permalinks (/YYYY/mon/D/slug/) on a page, in order, without repeats."""
    links = re.findall(r'href="(/\d{4}/[a-z]{3}/\d{1,2}/[^"/#]+/)"', html)
    return list(dict.fromkeys(links))


def commentable_links(base_url: str, html: str) -> list[str]:
    """The entry permalinks on a page whose entries take comments (seed_blog closes some)."""
    browser = Browser(base_url)
    return [path for path in entry_links(html) if 'id="comment-form"' in browser.get(path).text]


class Browser:
    def __init__(self, base_url: str, timeout: float = 30):
        parts = urllib.parse.urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        headers = {"User-Agent": "homepage-tests", "Accept": "text/html", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            content = raw.read()
        finally:
            connection.close()
        set_cookies = {}
        for header in raw.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                set_cookies[name] = morsel.value
        self.cookies.update(set_cookies)
        charset = raw.headers.get_content_charset() or "utf-8"
        return Response(raw.status, raw.headers, content.decode(charset, "replace"), set_cookies)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str]) -> Response:
        return self.request(
            "POST",
            path,
            body=urllib.parse.urlencode(data).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.base_url,
                "Referer": self.base_url + path,
            },
        )

    def post_comment(
        self, entry_path: str, text: str, name: str = "", reply_to: int | None = None
    ) -> Response:
        """GET the entry's page (with the comment's Reply link when reply_to is given) and
        post its comment form as a person would."""
        page = self.get(entry_path + (f"?reply_to={reply_to}" if reply_to else ""))
        if page.status != 200:
            return page
        action, fields = form_fields(page.text)
        if action is None:
            raise AssertionError(f"no comment form on {entry_path}")
        fields.update(name=name, text=text, url="")
        return self.post(action.split("#")[0] or entry_path, fields)
