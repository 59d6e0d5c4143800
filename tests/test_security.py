"""Safe to put online: deploy checks, headers and CSP, admin throttling, the admin's path, CSRF,
and no secret served by Apache."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from testing.commands import manage
from testing.server import Browser, Server, form_fields

ROOT = Path(__file__).resolve().parent.parent
SECRET = "a-production-secret-key-" + "k" * 40


def production_env(tmp_path, **extra) -> dict[str, str]:
    """The environment of a production run: only what an operator must set."""
    sqlite = tmp_path / "blog.sqlite3"
    sqlite.touch()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOMEPAGE_ENV_FILE": os.devnull,
        "DJANGO_SETTINGS_MODULE": "homepage.settings",
        "SECRET_KEY": SECRET,
        "DEBUG": "0",
        "SQLITE_PATH": str(sqlite),
        **extra,
    }


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    """python -c code with env."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_zero_warnings(tmp_path):
    """DEBUG=0 and a SECRET_KEY (HTTPS on by default) pass `check --deploy` with no warning."""
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path), check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_notices_a_plain_http_site(tmp_path):
    """The same check is not a formality: HTTPS=0 (a local run) fails it."""
    env = production_env(tmp_path, HTTPS="0")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, check=False)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS


def test_production_settings_are_strict(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF,"
        " s.SECURE_REFERRER_POLICY, s.SECURE_PROXY_SSL_HEADER[0])"
    )
    result = run("-c", code, env=production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False", "True", "True", "True", "True", "DENY", "True", "same-origin",
        "HTTP_X_FORWARDED_PROTO",
    ]  # fmt: skip


def test_refuses_to_start_with_debug_off_and_no_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = manage("check", env=env, check=False)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


# -- headers and the Content-Security-Policy --------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", ["/", "/no-such-page/", "/admin/login/"])
def test_every_page_carries_the_security_headers(client, db, path):
    response = client.get(path)
    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert not any("unsafe" in value for values in csp.values() for value in values)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_error_pages_made_by_our_middleware_carry_the_headers_too(client, db):
    response = client.generic("FOO", "/")
    assert response.status_code == 405
    assert "Content-Security-Policy" in response
    assert response["X-Frame-Options"] == "DENY"


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("template", TEMPLATES, ids=[str(t.relative_to(ROOT)) for t in TEMPLATES])
def test_templates_have_no_inline_script_or_style(template):
    """The CSP allows scripts and styles only from files; a template must not need more."""
    text = template.read_text()
    found = [label for pattern, label in INLINE if pattern.search(text)]
    assert found == []


# -- admin: its path, CSRF, and throttled log-in ----------------------------------------


def test_admin_lives_at_the_path_from_the_environment(tmp_path):
    code = (
        "import django; django.setup(); from django.test import Client; from django.urls import"
        " reverse; c = Client(); print(reverse('admin:index'), c.get('/admin/').status_code,"
        " c.get('/hidden-door/login/').status_code)"
    )
    env = production_env(tmp_path, ADMIN_URL="/hidden-door/", ALLOWED_HOSTS="testserver", HTTPS="0")
    result = run("-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/hidden-door/", "404", "200"]


def test_admin_login_enforces_csrf(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("admin:login"), {"username": "a", "password": "b"})
    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Before pytest-django's admin_user is made: the slow default makes log-in attempts
    # seconds apart on a busy machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client, password, address="203.0.113.7"):
    return client.post(
        reverse("admin:login"),
        {"username": "admin", "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=address,
    )


def test_admin_login_is_locked_after_repeated_failures(admin_user, settings, time_machine):
    """After AXES_FAILURE_LIMIT bad passwords the next log-in is refused, even the right one;
    other addresses are not affected; after the cool-off the right password works again."""
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = log_in(client, "wrong")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()

    locked = log_in(client, "wrong")  # the limit-th failure locks the address
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    refused = log_in(client, "password")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session

    elsewhere = log_in(Client(), "password", address="198.51.100.9")
    assert elsewhere.status_code == 302

    time_machine.move_to(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    after = log_in(client, "password")
    assert after.status_code == 302
    assert after["Location"] == reverse("admin:index")


def test_successful_login_resets_the_count(admin_user, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200
    assert log_in(client, "password").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200
    assert log_in(client, "password").status_code == 302


# -- against Apache/mod_wsgi ---------------------------------------------------------------


@pytest.fixture(scope="module")
def site_server():
    """One server for this module's tests (a start costs ~1.3 s of CPU): two processes for
    the lockout's test, which runs last, as it is written last: it locks the admin's log-in."""
    with Server(processes=2, threads=4, env={"AXES_FAILURE_LIMIT": "3"}) as server:
        yield server


@pytest.mark.server
def test_apache_serves_no_secret_database_or_code(site_server):
    """Secrets, the database, the code and media paths are 404, and no answer holds the key."""
    server = site_server
    browser = Browser(server.url)
    paths = [
        "/.env",
        "/env",
        "/data/blog.sqlite3",
        "/data/",
        "/blog.sqlite3",
        "/static/../.env",
        "/static/../data/blog.sqlite3",
        "/homepage/settings.py",
        "/homepage/wsgi.py",
        "/manage.py",
        "/requirements.txt",
        "/.git/config",
        "/media/",
        "/media/upload.jpg",
        "/uploads/x.png",
        "/static/.env",
        "/server-status",
        "/server-info",
    ]
    answers = {path: browser.get(path) for path in paths}
    assert {path: response.status for path, response in answers.items()} == dict.fromkeys(
        paths, 404
    )
    secret = server.settings["SECRET_KEY"]
    assert not any(secret in response.text for response in answers.values())
    assert not any("SQLite format 3" in response.text for response in answers.values())
    assert browser.get("/static/css/site.css").status == 200  # the alias itself works


@pytest.mark.server
def test_apache_disables_trace_and_hides_its_version(site_server):
    server = site_server
    response = Browser(server.url).request("TRACE", "/")
    assert response.status == 405
    assert "TRACE / HTTP" not in response.text
    server_header = Browser(server.url).get("/static/css/site.css").headers["Server"]
    assert server_header == "Apache"


@pytest.mark.server
def test_https_redirect_and_hsts_behind_a_proxy(mod_wsgi_server):
    """With HTTPS on, plain requests are redirected; proxied HTTPS ones get HSTS and secure
    cookies."""
    server = mod_wsgi_server(processes=1, threads=2, env={"HTTPS": "1"})
    browser = Browser(server.url)
    plain = browser.get("/")
    assert plain.status == 301
    assert plain.location == f"https://127.0.0.1:{server.port}/"
    proxied = browser.request("GET", "/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status == 200
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookies = " ".join(proxied.headers.get_all("Set-Cookie"))
    assert "csrftoken=" in cookies and "Secure" in cookies


@pytest.mark.server
def test_admin_lockout_holds_across_server_processes(site_server):
    """Failed log-ins are counted in the database, so every Apache process refuses the address."""
    server = site_server
    server.manage("shell", "-c", _CREATE_ADMIN)
    statuses = []
    for password in ["wrong", "wrong", "wrong", "right-pass", "right-pass", "right-pass"]:
        browser = Browser(server.url)  # a new connection each time: any of the processes
        page = browser.get("/admin/login/")
        _action, fields = form_fields(page.text, form_id="login-form")
        fields.update(username="boss", password=password)
        response = browser.post("/admin/login/?next=/admin/", fields)
        statuses.append(response.status)
    assert statuses == [200, 200, 429, 429, 429, 429]
    assert server.wait_for_log("AXES: Locking out"), server.error_log[-3000:]
    # The operator can lift it (django-axes' command), and the right password works again.
    server.manage("axes_reset")
    browser = Browser(server.url)
    _action, fields = form_fields(browser.get("/admin/login/").text, form_id="login-form")
    fields.update(username="boss", password="right-pass")
    assert browser.post("/admin/login/?next=/admin/", fields).status == 302


# The password hashed with few PBKDF2 rounds: each log-in checks it with the rounds it was
# stored with, not the million of the server's hasher (a third of a second each).
_CREATE_ADMIN = (
    "from django.contrib.auth import get_user_model;"
    "from django.contrib.auth.hashers import PBKDF2PasswordHasher;"
    "boss = get_user_model().objects.create_superuser('boss', 'boss@example.org');"
    "boss.password = PBKDF2PasswordHasher().encode('right-pass', 'testsalt', iterations=1000);"
    "boss.save()"
)
