"""The project as a whole: checks, migrations, and the rule of per-thread database access."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

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
