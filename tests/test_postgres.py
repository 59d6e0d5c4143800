"""PostgreSQL: the settings, and moving a running SQLite site over (docs/postgresql.md)."""

import contextlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from testing.commands import manage

pytestmark = [pytest.mark.postgres, pytest.mark.own_database]

PROJECT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
# The dump of docs/postgresql.md: rows that migrate makes anew (content types,
# permissions) are referred to by natural keys; sessions and lock-outs are left behind.
DUMP = [
    "dumpdata",
    "--natural-foreign",
    "--natural-primary",
    "--exclude=contenttypes",
    "--exclude=auth.permission",
    "--exclude=sessions",
    "--exclude=axes",
]


def _times_read(row: dict) -> dict:
    """dumpdata's times as times: it writes milliseconds, so a time moved with microseconds
    below 1,000 is "...:44.000Z" before the move and "...:44Z" after it (seen once in a run)."""
    for name, value in row.items():
        if isinstance(value, str) and value.endswith("Z"):
            with contextlib.suppress(ValueError):
                row[name] = datetime.fromisoformat(value)
    return row


@pytest.fixture
def sqlite_site(tmp_path):
    """The environment of a SQLite site with entries, comments, gaps in the ids and an admin."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "HOMEPAGE_ENV_FILE": os.devnull,
        "SECRET_KEY": "moving-day",
        "DATA_DIR": str(tmp_path / "data"),
    }
    manage("migrate", "-v0", env=env)
    manage("seed_blog", "--entries", "40", "--comments-per-entry", "3", "-v0", env=env)
    manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        "from blog.models import Comment, Entry\n"
        "Entry.objects.filter(pk__in=[3, 4, 40]).delete()\n"
        "Comment.objects.filter(pk__in=Comment.objects.order_by('-pk').values('pk')[:2]).delete()\n"
        "Entry.objects.filter(pk=7).update(is_draft=True)\n"
        "Comment.objects.filter(pk=5).update(is_public=False)\n"
        "User.objects.create_superuser('admin', 'admin@example.org', 'a long passphrase')\n",
        env=env,
    )
    return env


def test_a_sqlite_site_moves_with_its_ids_and_sequences(sqlite_site, postgres_url, tmp_path):
    """Every row arrives with its id; new rows get ids past the old ones; logins still work."""
    postgres = {**sqlite_site, "DATABASE_URL": postgres_url}
    dump = tmp_path / "site.json"
    # The steps of docs/postgresql.md, "Moving a SQLite site to PostgreSQL".
    manage("migrate", "-v0", env=postgres)
    manage(*DUMP, "--output", str(dump), env=sqlite_site)
    loaded = manage("loaddata", str(dump), env=postgres).stdout
    assert "Installed" in loaded

    def rows(env, *labels):
        return json.loads(
            manage("dumpdata", "--natural-foreign", *labels, env=env).stdout,
            object_hook=_times_read,
        )

    before = rows(sqlite_site, "blog", "auth.user")
    after = rows(postgres, "blog", "auth.user")
    assert after == before
    entries = [row["pk"] for row in after if row["model"] == "blog.entry"]
    comments = [row["pk"] for row in after if row["model"] == "blog.comment"]
    assert len(entries) == 37 and {3, 4, 40}.isdisjoint(entries)
    assert len(comments) > 50
    assert next(r for r in after if r["model"] == "blog.entry" and r["pk"] == 7)["fields"][
        "is_draft"
    ]
    # The sequences moved past the loaded ids.
    new_ids = (
        manage(
            "shell",
            "-c",
            "from blog.models import Comment, Entry\n"
            "entry = Entry.objects.create(title='After the move', body='On PostgreSQL now.')\n"
            "comment = Comment.objects.create(entry=entry, text='Welcome.')\n"
            "print(entry.pk, comment.pk)\n",
            env=postgres,
        )
        .stdout.splitlines()[-1]
        .split()
    )
    assert int(new_ids[0]) > max(entries)
    assert int(new_ids[1]) > max(comments)
    # The admin's password hash came along.
    checked = manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        "print(User.objects.get(username='admin').check_password('a long passphrase'))",
        env=postgres,
    ).stdout
    assert checked.splitlines()[-1] == "True"


def test_postgresql_settings_persistent_or_pooled(postgres_url):
    """Persistent connections with health checks by default; psycopg's pool on request."""
    code = (
        "import django, json; django.setup()\n"
        "from django.conf import settings; from django.db import connection\n"
        "db = settings.DATABASES['default']\n"
        "connection.ensure_connection()\n"
        "print(json.dumps([db['CONN_MAX_AGE'], db['CONN_HEALTH_CHECKS'], db['OPTIONS'],"
        " connection.vendor]))"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOMEPAGE_ENV_FILE": os.devnull,
        "SECRET_KEY": "x",
        "DJANGO_SETTINGS_MODULE": "homepage.settings",
        "DATABASE_URL": postgres_url,
    }

    def settings_with(**extra):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=PROJECT,
            env=env | extra,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout)

    assert settings_with() == [600, True, {"connect_timeout": 5}, "postgresql"]
    pooled = settings_with(DATABASE_POOL_SIZE="32")
    assert pooled[0] == 0
    assert pooled[2]["pool"] == {
        "min_size": 1,
        "max_size": 32,
        "timeout": 10,
        "reconnect_timeout": 1,
    }
    assert pooled[3] == "postgresql"
