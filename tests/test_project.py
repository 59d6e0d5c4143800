"""The project as a whole: checks, migrations, and the rule of per-thread database access."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from testing.commands import manage
from testing.server import Server

ROOT = Path(__file__).resolve().parent.parent


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_no_module_level_connections():
    """No module opens a connection, cursor or session at import time (the old bug)."""
    offenders = []
    for path in [*ROOT.glob("blog/**/*.py"), *ROOT.glob("homepage/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if line == stripped and any(
                needle in stripped
                for needle in ("sqlite3.connect(", "connection.cursor(", "create_engine(")
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {stripped}")
    assert offenders == []


def test_settings_refuse_to_start_without_secret_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.DEBUG"],
        cwd=ROOT,
        env={
            "DJANGO_SETTINGS_MODULE": "homepage.settings",
            "HOMEPAGE_ENV_FILE": "/dev/null",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_sqlite_is_configured_for_threads(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("SQLite settings only")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert db["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def sqlite_env(tmp_path, **variables) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SECRET_KEY": "test",
        "HOMEPAGE_ENV_FILE": os.devnull,
        "DATA_DIR": str(tmp_path),
        **variables,
    }


def test_sqlite_named_by_database_url_gets_the_same_settings(tmp_path):
    """DATABASE_URL=sqlite:////path: WAL, synchronous FULL, BEGIN IMMEDIATE, a long timeout,
    and each connection's page cache kept small."""
    database = tmp_path / "elsewhere" / "blog.sqlite3"
    database.parent.mkdir()
    env = sqlite_env(tmp_path, DATABASE_URL=f"sqlite:///{database}")
    script = (
        "import json; from django.db import connection; cursor = connection.cursor(); "
        "print(json.dumps([connection.settings_dict['NAME'], connection.transaction_mode, "
        "connection.settings_dict['OPTIONS']['timeout'], "
        "cursor.execute('PRAGMA journal_mode').fetchone()[0], "
        "cursor.execute('PRAGMA synchronous').fetchone()[0], "
        "cursor.execute('PRAGMA cache_size').fetchone()[0]]))"
    )
    output = manage("shell", "--no-imports", "-c", script, env=env).stdout
    name, mode, timeout, journal, synchronous, cache_size = json.loads(output.splitlines()[-1])
    assert name == str(database)
    assert mode == "IMMEDIATE"
    assert timeout >= 20
    assert journal == "wal"
    assert synchronous == 2  # FULL
    assert cache_size == -128  # KiB


def test_check_warns_about_a_sqlite_database_without_those_settings(tmp_path):
    """Settings edited so that SQLite lost its options: manage.py check says what is missing."""
    (tmp_path / "edited_settings.py").write_text(
        'from homepage.settings import *  # noqa\nDATABASES["default"]["OPTIONS"] = {}\n'
    )
    env = sqlite_env(
        tmp_path, DJANGO_SETTINGS_MODULE="edited_settings", PYTHONPATH=f"{tmp_path}:{ROOT}"
    )
    result = manage("check", env=env)
    assert "(homepage.W001) SQLite database 'default' lacks" in result.stderr
    for missing in ("transaction_mode IMMEDIATE", "a timeout", "journal_mode=WAL", "synchronous"):
        assert missing in result.stderr
    # With the project's settings there is nothing to say.
    assert "System check identified no issues" in manage("check", env=sqlite_env(tmp_path)).stdout


def test_the_test_run_has_the_default_settings(settings):
    # pytest-django adds the test client's "testserver" to the defaults.
    assert settings.ALLOWED_HOSTS == ["127.0.0.1", "localhost", "[::1]", "testserver"]
    assert settings.DEBUG is False
    assert settings.TIME_ZONE == "UTC"


def test_what_the_caller_exported_does_not_reach_the_tests():
    """ALLOWED_HOSTS='*', DEBUG=1 and the like in the caller's shell change no result."""
    exported = {"ALLOWED_HOSTS": "*", "DEBUG": "1", "TIME_ZONE": "Asia/Tokyo"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        + [f"{__file__}::test_the_test_run_has_the_default_settings"],
        cwd=ROOT,
        env=os.environ | exported,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.own_database
def test_a_test_server_keeps_the_database_put_in_its_folder():
    """The benchmark copies a seeded database into a server's folder before it starts: the
    copy that an earlier server prepared the same way must not replace it."""
    earlier, server = Server(), Server()
    try:
        earlier.prepare()
        server.data_dir.mkdir(parents=True)
        db = sqlite3.connect(server.sqlite_path)
        db.execute("CREATE TABLE put_in_place (x)")
        db.close()
        server.prepare()
        assert server.sql("SELECT name FROM sqlite_master WHERE name = 'put_in_place'")
        assert server.sql("SELECT name FROM sqlite_master WHERE name = 'blog_entry'")
    finally:
        earlier.close()
        server.close()
