"""deploy/homepage.conf, the virtual host for a system Apache, with real paths filled in.

A small main configuration stands in for Debian's /etc/apache2: it loads the modules a Debian
Apache has enabled, the mod_wsgi module built in the virtualenv (the LoadModule line that
``mod_wsgi-express module-config`` prints) and then the virtual host, as sites-enabled would.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from testing.server import PROJECT, Browser, Server, free_port, stop_group

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
TEMPLATE = PROJECT / "deploy" / "homepage.conf"


def render(template: str, **defines: str) -> str:
    """The template with its ``Define NAME value`` lines set to these values."""
    for name, value in defines.items():
        template, count = re.subn(
            rf"^Define {name} .*$", f"Define {name} {value}", template, flags=re.M
        )
        assert count == 1, name
    return template


def main_config(tmp: Path, port: int, vhost: Path) -> Path:
    module_config = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "mod_wsgi-express"), "module-config"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modules = "\n".join(
        f"LoadModule {name}_module {MODULES}/mod_{name}.so"
        for name in ("mpm_event", "authz_core", "alias", "mime", "rewrite", "headers")
    )
    (tmp / "run").mkdir(exist_ok=True)
    (tmp / "log").mkdir(exist_ok=True)
    config = tmp / "apache2.conf"
    config.write_text(
        f"""
ServerRoot {tmp}
Define APACHE_RUN_DIR {tmp}/run
Define APACHE_LOG_DIR {tmp}/log
DefaultRuntimeDir {tmp}/run
PidFile {tmp}/run/apache2.pid
Mutex file:{tmp}/run default
ErrorLog {tmp}/log/error.log
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
{modules}
TypesConfig /etc/mime.types
{module_config}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
Include {vhost}
""",
        encoding="utf-8",
    )
    return config


def write_vhost(
    tmp: Path,
    port: int,
    static_root: Path,
    media_root: Path | None = None,
    pages_conf: Path | None = None,
) -> Path:
    user = "www-data" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    vhost = tmp / "homepage.conf"
    vhost.write_text(
        render(
            TEMPLATE.read_text(encoding="utf-8"),
            HOMEPAGE_ROOT=str(PROJECT),
            HOMEPAGE_STATIC_ROOT=str(static_root),
            HOMEPAGE_MEDIA_ROOT=str(media_root or PROJECT / "data" / "media"),
            HOMEPAGE_SERVER_NAME="127.0.0.1",
            HOMEPAGE_PORT=str(port),
            HOMEPAGE_PAGES_CONF=str(pages_conf or tmp / "no-page-files"),
            HOMEPAGE_USER=user,
            HOMEPAGE_GROUP=subprocess.run(
                ["id", "-gn", user], capture_output=True, text=True, check=True
            ).stdout.strip(),
        ),
        encoding="utf-8",
    )
    return vhost


def test_vhost_is_valid_apache_syntax(tmp_path):
    """apache2 -t accepts the virtual host with real paths, mod_wsgi loaded from the venv."""
    port = free_port()
    config = main_config(tmp_path, port, write_vhost(tmp_path, port, PROJECT / "staticfiles"))
    result = subprocess.run([APACHE, "-t", "-f", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stderr


def test_vhost_has_daemon_mode_and_static_aliases():
    """Daemon mode with processes and threads, the main interpreter, static files by Apache."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert re.search(r"^\s*WSGIDaemonProcess homepage processes=2 threads=16 ", text, re.M)
    assert re.search(r"^\s*WSGIProcessGroup homepage$", text, re.M)
    assert re.search(r"^\s*WSGIApplicationGroup %\{GLOBAL\}$", text, re.M)
    assert "python-home=${HOMEPAGE_ROOT}/.venv" in text
    assert re.search(r"^\s*Alias /static/ \$\{HOMEPAGE_STATIC_ROOT\}/$", text, re.M)
    assert re.search(r"^\s*Alias /media/ \$\{HOMEPAGE_MEDIA_ROOT\}/$", text, re.M)
    media = text[text.index("<Directory ${HOMEPAGE_MEDIA_ROOT}>") :]
    media = media[: media.index("</Directory>")]
    assert "Options -Indexes -ExecCGI" in media and "SetHandler None" in media
    assert "Header always set X-Content-Type-Options nosniff" in media
    assert not re.search(r"^\s*SetEnv", text, re.M)  # it would never reach os.environ


@pytest.mark.server
def test_vhost_serves_the_blog_from_daemon_processes(tmp_path):
    """A system Apache with the virtual host serves pages, static files, never .env."""
    # Only for its prepared env file, database and static files.
    server = Server(seed=True, env={"BLOG_TITLE": "Daemon Mode Proof"})
    apache = None
    try:
        server.prepare()
        # As scripts/start does once before a system Apache takes over (README): the daemons'
        # user gets the data and what it must read, also in a clone under a private folder.
        subprocess.run(
            ["bash", str(PROJECT / "scripts" / "serve"), "--prepare-only"],
            env=server.process_env() | {"SERVER_ROOT": str(server.tmp / "server")},
            check=True,
            capture_output=True,
        )
        # The page files' configuration, as README's deployment steps make it.
        pages_conf = tmp_path / "homepage-pages"
        generated = server.manage("page_cache_config")
        Path(f"{pages_conf}.conf").write_text(generated.stdout)
        if os.geteuid() == 0:
            for path in [server.data_dir, *server.data_dir.rglob("*")]:
                shutil.chown(path, "www-data", "www-data")
        media = server.data_dir / "media"
        (media / "images").mkdir(parents=True)
        png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
        (media / "images" / "a.png").write_bytes(png)
        (media / "images" / "x.cgi").write_text("#!/bin/sh\necho Content-Type: text/html\n")
        media.chmod(0o755)
        port = free_port()
        vhost = write_vhost(tmp_path, port, server.tmp / "static", media, pages_conf)
        config = main_config(tmp_path, port, vhost)
        tmp_path.chmod(0o755)
        # Exported in /etc/apache2/envvars on a real system; the default is the project's .env.
        env = server.process_env()
        apache = subprocess.Popen(
            [APACHE, "-f", str(config), "-DFOREGROUND"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        browser = Browser(f"http://127.0.0.1:{port}")
        for _ in range(150):
            try:
                if browser.get("/healthz").status == 200:
                    break
            except OSError:
                pass
            assert apache.poll() is None, (tmp_path / "log" / "error.log").read_text()
            time.sleep(0.2)
        log = tmp_path / "log" / "homepage-error.log"
        assert browser.get("/healthz").status == 200, log.read_text()

        page = browser.get("/")
        assert page.status == 200
        assert "<article" in page.text
        # Rendered once by Django, then Apache's from the page file: same bytes, an ETag.
        assert "ETag" not in page.headers
        again = Browser(f"http://127.0.0.1:{port}").get("/")
        assert again.text == page.text and again.headers["ETag"]
        assert again.headers["Content-Security-Policy"]
        with_session = Browser(f"http://127.0.0.1:{port}")
        with_session.cookies["sessionid"] = "x"
        assert "ETag" not in with_session.get("/").headers
        generation = (server.data_dir / "pages" / "generation").read_text().split()[1]
        assert browser.get(f"/{generation}/127.0.0.1:{port}/index.html").status == 404
        # The settings came from the env file named in Apache's environment.
        assert "Daemon Mode Proof" in page.text
        css = browser.get("/static/css/site.css")
        assert css.status == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert css.headers["X-Frame-Options"] is None  # Apache's answer, not Django's
        assert browser.get("/static/admin/css/base.css").status == 200
        image = browser.get("/media/images/a.png")
        assert image.status == 200
        assert image.headers["Content-Type"] == "image/png"
        assert image.headers["X-Content-Type-Options"] == "nosniff"
        assert browser.get("/media/images/").status in (403, 404)  # never a listing
        script = browser.get("/media/images/x.cgi")  # a file, never run
        assert "#!/bin/sh" in script.text and script.headers["X-Content-Type-Options"] == "nosniff"
        for secret in ("/.env", "/static/../.env", "/data/blog.sqlite3", "/homepage/wsgi.py"):
            response = browser.get(secret)
            assert response.status == 404, secret
            assert "SECRET_KEY" not in response.text

        daemons = subprocess.run(
            ["ps", "-o", "user=,args=", "--sid", str(apache.pid)], capture_output=True, text=True
        ).stdout
        assert daemons.count("(wsgi:homepage)") == 2, daemons
        if os.geteuid() == 0:
            assert all(
                line.startswith("www-data")
                for line in daemons.splitlines()
                if "(wsgi:homepage)" in line
            )
        assert "Traceback" not in log.read_text()
    finally:
        if apache is not None:
            stop_group(apache)
        server.close()
