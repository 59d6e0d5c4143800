"""manage.py backup_db: a consistent copy of a live SQLite database, and restoring it."""

import contextlib
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from testing import commands

pytestmark = pytest.mark.own_database  # SQLite files of its own (the commands' SQLITE_PATH)

ROOT = Path(__file__).resolve().parent.parent
FILLER_COMMENTS = 20_000  # ~10 MB, so the copy takes many backup steps


def manage(*args, db: Path, **env):
    environment = {**os.environ, "SQLITE_PATH": str(db), "DATABASE_URL": "", **env}
    return commands.manage(*args, env=environment, check=False)


@pytest.fixture(scope="module")
def filled_db(tmp_path_factory):
    """A migrated SQLite file with one entry and many comments, made once for the module."""
    db = tmp_path_factory.mktemp("filled") / "live.sqlite3"
    result = manage("migrate", "-v0", db=db)
    assert result.returncode == 0, result.stderr
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # closed: no -wal to copy
        conn.execute(
            "INSERT INTO blog_entry (id, title, slug, body, body_html, timestamp, featured,"
            " is_draft, comments_enabled, updated) VALUES (1, 'Live', 'live', 'b', '<p>b</p>',"
            " '2024-01-01 00:00:00', 0, 0, 1, '2024-01-01 00:00:00')"
        )
        conn.executemany(
            "INSERT INTO blog_comment (entry_id, name, text, created, is_public) "
            "VALUES (1, 'filler', ?, '2024-01-01 00:00:00', 1)",
            ((f"{n:06d} " + "x" * 400,) for n in range(FILLER_COMMENTS)),
        )
    return db


@pytest.fixture
def live_db(filled_db, tmp_path):
    """A copy of filled_db for one test (a migrate in a subprocess each took 0.6 s)."""
    db = tmp_path / "live.sqlite3"
    shutil.copy(filled_db, db)
    return db


class Writer(threading.Thread):
    """Commits two comments per transaction, numbered, until stopped."""

    def __init__(self, db: Path):
        super().__init__(daemon=True)
        self.db, self.committed, self.stop = db, 0, threading.Event()

    def run(self):
        conn = sqlite3.connect(self.db, timeout=20, isolation_level=None)
        while not self.stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            for half in "ab":
                conn.execute(
                    "INSERT INTO blog_comment (entry_id, name, text, created, is_public) "
                    "VALUES (1, 'writer', ?, '2024-01-02 00:00:00', 1)",
                    (f"w{self.committed}-{half}",),
                )
            conn.execute("COMMIT")
            self.committed += 1
        conn.close()


def writer_rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [t for (t,) in conn.execute("SELECT text FROM blog_comment WHERE name='writer'")]


def test_backup_while_written_is_consistent_and_restores(live_db, tmp_path):
    """A copy taken under a steady stream of writes is whole transactions up to one moment."""
    writer = Writer(live_db)
    writer.start()
    try:
        while writer.committed < 20:
            time.sleep(0.01)
        before = writer.committed
        result = manage("backup_db", str(tmp_path / "copy.sqlite3"), db=live_db)
        after = writer.committed
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "integrity check ok" in result.stdout
    assert after > before, "the database was not being written during the backup"

    copy = tmp_path / "copy.sqlite3"
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not Path(f"{copy}-wal").exists()
    rows = writer_rows(copy)
    transactions = len(rows) // 2
    # Everything committed before the backup began, nothing torn, no gaps.
    assert before <= transactions <= after
    assert sorted(rows) == sorted(f"w{n}-{h}" for n in range(transactions) for h in "ab")

    # Restore: the copy, put in place of a database, serves the site's models as they were.
    restored = tmp_path / "restored" / "blog.sqlite3"
    restored.parent.mkdir()
    shutil.copy(copy, restored)
    check = manage("migrate", "--check", db=restored)
    assert check.returncode == 0, check.stdout + check.stderr
    counted = manage(
        "shell",
        "-c",
        "from blog.models import Comment, Entry;"
        "print(Entry.objects.count(), Comment.objects.count(),"
        " Comment.objects.filter(name='writer').count())",
        db=restored,
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines()[-1].split() == [
        "1",
        str(FILLER_COMMENTS + len(rows)),
        str(len(rows)),
    ]


def test_backup_into_a_directory_gets_a_dated_name(live_db, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    result = manage("backup_db", str(backups), db=live_db)
    assert result.returncode == 0, result.stderr
    copy, media = sorted(backups.iterdir())
    assert copy.name.startswith("live-") and copy.suffix == ".sqlite3"
    assert media.name == f"{copy.name}.media.tar"
    assert f"1 entries and {FILLER_COMMENTS} comments" in result.stdout


def test_backup_refuses_to_overwrite_or_to_copy_onto_itself(live_db, tmp_path):
    existing = tmp_path / "existing.sqlite3"
    existing.write_bytes(b"keep me")
    refused = manage("backup_db", str(existing), db=live_db)
    assert refused.returncode != 0
    assert "already exists" in refused.stderr
    assert existing.read_bytes() == b"keep me"

    onto_itself = manage("backup_db", str(live_db), "--overwrite", db=live_db)
    assert onto_itself.returncode != 0
    assert "is the live database itself" in onto_itself.stderr

    replaced = manage("backup_db", str(existing), "--overwrite", db=live_db)
    assert replaced.returncode == 0, replaced.stderr
    with sqlite3.connect(existing) as conn:
        assert conn.execute("SELECT count(*) FROM blog_entry").fetchone() == (1,)


def test_backup_of_a_missing_database_creates_nothing(tmp_path):
    missing = tmp_path / "missing.sqlite3"
    result = manage("backup_db", str(tmp_path / "copy.sqlite3"), db=missing)
    assert result.returncode != 0
    assert "does not exist" in result.stderr
    assert not missing.exists()
    assert not (tmp_path / "copy.sqlite3").exists()


def test_backup_of_postgresql_says_to_use_its_tools(tmp_path):
    result = manage(
        "backup_db",
        str(tmp_path / "copy.sqlite3"),
        db=tmp_path / "unused.sqlite3",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/nonexistent",
    )
    assert result.returncode != 0
    assert "pg_dump" in result.stderr


def test_backup_includes_the_uploaded_images(live_db, tmp_path):
    """The uploads go into DEST.media.tar beside the copy; tar -x restores them."""
    import tarfile

    media = tmp_path / "media"
    (media / "images").mkdir(parents=True)
    (media / "images" / "a-480.jpg").write_bytes(b"jpeg bytes")
    (media / "images" / "a.jpg").write_bytes(b"original")
    result = manage("backup_db", str(tmp_path / "copy.sqlite3"), db=live_db, MEDIA_ROOT=str(media))
    assert result.returncode == 0, result.stderr
    archive = tmp_path / "copy.sqlite3.media.tar"
    assert "Backed up 2 uploaded files" in result.stdout
    restored = tmp_path / "restored"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["images/a-480.jpg", "images/a.jpg"]
        tar.extractall(restored)  # noqa: S202 (our own archive)
    assert (restored / "images" / "a-480.jpg").read_bytes() == b"jpeg bytes"
    skipped = manage(
        "backup_db", str(tmp_path / "db-only.sqlite3"), "--no-media", db=live_db,
        MEDIA_ROOT=str(media),
    )  # fmt: skip
    assert skipped.returncode == 0 and not (tmp_path / "db-only.sqlite3.media.tar").exists()
