"""manage.py import_legacy_blog: the old Flask blog's blog.db into this blog (docs/legacy-import.md)."""

import fcntl
import hashlib
import os
import pty
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from blog import legacy
from blog.models import Comment, Entry
from testing.commands import manage

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).parent / "legacy" / "legacy_blog_small.db"

# The old SQLAlchemy models' tables, as create_all wrote them (tests/legacy/*.sql).
LEGACY_SCHEMA = """
CREATE TABLE entry (
    id INTEGER NOT NULL, title VARCHAR(100) NOT NULL, body VARCHAR NOT NULL,
    timestamp DATETIME NOT NULL, featured BOOLEAN NOT NULL, PRIMARY KEY (id));
CREATE TABLE comment (
    id INTEGER NOT NULL, entry_id INTEGER, text VARCHAR(500) NOT NULL, name VARCHAR(80),
    PRIMARY KEY (id), FOREIGN KEY(entry_id) REFERENCES entry (id));
"""


@pytest.fixture
def legacy_db(tmp_path):
    """Write an old-format blog.db: entries (id, title, body, timestamp, featured), comments
    (id, entry_id, text, name)."""

    def make(entries=(), comments=(), schema=LEGACY_SCHEMA, name="blog.db"):
        path = tmp_path / name
        with sqlite3.connect(path) as db:
            db.executescript(schema)
            db.executemany("INSERT INTO entry VALUES (?, ?, ?, ?, ?)", entries)
            db.executemany("INSERT INTO comment VALUES (?, ?, ?, ?)", comments)
        db.close()
        return path

    return make


def run_import(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_legacy_blog", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fingerprint(path: Path):
    """What must not change: the bytes, the mtime, and no journal left beside the file."""
    siblings = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


def entry_row(pk, timestamp="2015-06-01 12:00:00", title=None, body="Body.", featured=0):
    return (pk, title or f"Entry {pk}", body, timestamp, featured)


def source_rows(path):
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        entries = db.execute("SELECT id, title, body, timestamp, featured FROM entry").fetchall()
        comments = db.execute("SELECT id, entry_id, text, name FROM comment").fetchall()
    db.close()
    return entries, comments


# Done means: the sample, imported twice, is the source row by row.


def test_sample_imported_twice_equals_the_source_row_by_row(db, settings):
    """Every old entry and comment arrives once, with its id, words, wall-clock time and flag."""
    settings.TIME_ZONE = "Europe/Berlin"
    before = fingerprint(SAMPLE)
    first, _ = run_import(SAMPLE)
    updated = dict(Entry.objects.values_list("id", "updated"))
    second, _ = run_import(SAMPLE)

    assert first.startswith("Imported 20 entries and 40 comments")
    assert second.startswith("Imported 0 entries and 0 comments")
    assert dict(Entry.objects.values_list("id", "updated")) == updated  # nothing rewritten
    assert fingerprint(SAMPLE) == before

    entries, comments = source_rows(SAMPLE)
    berlin = ZoneInfo("Europe/Berlin")
    target_entries = {
        e.id: (e.id, e.title, e.body, e.timestamp.astimezone(berlin), e.featured)
        for e in Entry.objects.all()
    }
    assert len(target_entries) == len(entries) == 20
    for pk, title, body, stamp, featured in entries:
        wall_clock = datetime.fromisoformat(stamp).replace(tzinfo=berlin)
        assert target_entries[pk] == (pk, title, body, wall_clock, bool(featured))

    target_comments = {
        c.id: (c.id, c.entry_id, c.text, c.name) for c in Comment.objects.order_by("id")
    }
    assert len(target_comments) == len(comments) == 40
    for pk, entry_id, text, name in comments:
        assert target_comments[pk] == (pk, entry_id, text, name or "")


def test_imported_entries_render_and_have_permalinks(db, client):
    """Bodies are rendered to HTML (with raw HTML shown as text) and each permalink answers."""
    run_import(SAMPLE)
    entry = Entry.objects.get(pk=6)
    assert "&lt;b&gt;escaped&lt;/b&gt;" in entry.body_html
    assert "<b>" not in entry.body_html
    assert len(set(Entry.objects.values_list("slug", flat=True))) == 20
    response = client.get(entry.get_absolute_url())
    assert response.status_code == 200
    assert "Don&#x27;t share your middleware across caches" in response.content.decode()


def test_cached_pages_show_the_import_at_once(transactional_db, client):
    """The page cache is made stale by the import, though bulk inserts send no signals."""
    assert "Session django, part 17" not in client.get("/").content.decode()
    run_import(SAMPLE)
    assert "Session django, part 17" in client.get("/").content.decode()


# The old file: read-only, and checked before anything is written.


def test_old_file_is_never_modified(db, legacy_db):
    """The file's bytes, mtime and directory are the same after an import and a dry run."""
    path = legacy_db([entry_row(1)], [(1, 1, "Hi", "bob")])
    before = fingerprint(path)
    time.sleep(0.01)
    run_import(path, "--dry-run")
    run_import(path)
    assert fingerprint(path) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("dir", "is a directory"),
        (b"", "is an empty file, not an old blog database"),
        (b"id,title\n1,Hello\n", "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "cannot read"),
        ("CREATE TABLE entry (id INTEGER PRIMARY KEY);", "has no table 'comment'"),
        ("CREATE TABLE comment (id INTEGER PRIMARY KEY);", "has no table 'entry'"),
        (
            LEGACY_SCHEMA.replace("featured BOOLEAN NOT NULL, ", ""),
            "table 'entry' has no column 'featured'",
        ),
        (
            LEGACY_SCHEMA.replace("entry_id", "post_id"),
            "table 'comment' has no column 'entry_id'",
        ),
    ],
)
def test_a_file_that_is_not_an_old_blog_is_refused(db, tmp_path, create_entry, content, message):
    """A clear one-line error, and the target keeps exactly what it had."""
    create_entry(title="Already here")
    path = tmp_path / "blog.db"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        with sqlite3.connect(path) as conn:
            conn.executescript(content)
        conn.close()
    with pytest.raises(CommandError, match=message) as error:
        run_import(path)
    assert "\n" not in str(error.value)
    assert list(Entry.objects.values_list("title", flat=True)) == ["Already here"]
    assert not Comment.objects.exists()


@contextmanager
def unprivileged():
    """As root every file is readable: drop to nobody for the duration."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_an_unreadable_file_is_refused(db):
    """No read permission: a one-line error naming the file, nothing written."""
    # Not tmp_path: its parents are private to root, and nobody must reach the file.
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)
        path = Path(folder) / "blog.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(LEGACY_SCHEMA)
        conn.close()
        path.chmod(0o000)
        with unprivileged(), pytest.raises(CommandError, match="cannot read .*Permission denied"):
            run_import(path)
    assert not Entry.objects.exists()


def test_a_locked_file_is_refused(db, legacy_db, monkeypatch):
    """A file another program holds an exclusive lock on: a one-line error after a short wait."""
    monkeypatch.setattr(legacy, "LOCK_TIMEOUT", 0.2)
    path = legacy_db([entry_row(1)])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CommandError, match="is locked by another program"):
            run_import(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not Entry.objects.exists()


def test_errors_exit_non_zero_with_one_line(tmp_path):
    """From the shell: exit status 1 and a single CommandError line."""
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n")
    env = os.environ | {"SQLITE_PATH": str(tmp_path / "target.sqlite3")}
    result = manage("import_legacy_blog", str(bad), env=env, check=False, timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "Error" in line]
    assert errors == [f"CommandError: {bad} is not an SQLite database, not an old blog database"]


def test_progress_bar_on_a_terminal_only(db, tmp_path):
    """A tqdm bar on a terminal; none when the output is not one (call_command above)."""
    target = tmp_path / "target.sqlite3"
    # Into this SQLite file, also when the suite runs on PostgreSQL.
    env = os.environ | {"SQLITE_PATH": str(target), "DATABASE_URL": ""}
    manage("migrate", "-v0", env=env, timeout=120)
    controller, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, and tqdm would draw a bar of nothing.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    shown = b""
    try:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "import_legacy_blog", str(SAMPLE)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
        os.close(terminal)
        while True:  # read as it comes, so a full terminal buffer cannot block the command
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the command closed its end
                break
            if not chunk:
                break
            shown += chunk
        stdout = process.communicate(timeout=120)[0]
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert b"Importing: 100%" in shown and b"60/60" in shown
    assert b"Importing" not in stdout

    _, err = run_import(SAMPLE)
    assert "Importing" not in err


# Time: naive wall-clock times read in --timezone (default TIME_ZONE).


def test_times_keep_their_wall_clock_around_midnight(db, legacy_db, settings):
    """00:30 in Berlin is 23:30 UTC the day before; the permalink keeps the Berlin date."""
    settings.TIME_ZONE = "Europe/Berlin"
    path = legacy_db([entry_row(1, "2015-03-01 00:30:00"), entry_row(2, "2015-02-28 23:59:59")])
    run_import(path)
    first, second = Entry.objects.get(pk=1), Entry.objects.get(pk=2)
    assert first.timestamp == datetime(2015, 2, 28, 23, 30, tzinfo=UTC)
    assert first.get_absolute_url() == "/2015/mar/1/entry-1/"
    assert second.get_absolute_url() == "/2015/feb/28/entry-2/"


def test_timezone_option_overrides_the_site_zone(db, legacy_db, settings):
    """--timezone says where the old site's clock was, whatever this site's TIME_ZONE."""
    settings.TIME_ZONE = "UTC"
    path = legacy_db([entry_row(1, "2015-07-01 00:00:00")])
    out, _ = run_import(path, "--timezone", "America/New_York")
    assert Entry.objects.get().timestamp == datetime(2015, 7, 1, 4, 0, tzinfo=UTC)
    assert "times read in America/New_York" in out


def test_an_unknown_timezone_is_refused(db, legacy_db):
    path = legacy_db([entry_row(1)])
    with pytest.raises(CommandError, match="unknown time zone 'Mars/Olympus'"):
        run_import(path, "--timezone", "Mars/Olympus")
    assert not Entry.objects.exists()


def test_times_in_a_dst_gap_move_forward_and_overlaps_take_the_first(db, legacy_db):
    """02:30 on the spring-forward night never happened: it becomes 03:30 summer time.
    02:30 on the fall-back night happened twice: the first (summer time) is taken."""
    path = legacy_db(
        [
            entry_row(1, "2021-03-28 02:30:00"),
            entry_row(2, "2021-10-31 02:30:00"),
            entry_row(3, "2021-10-31 03:30:00"),
        ]
    )
    out, err = run_import(path, "--timezone", "Europe/Berlin")
    stamps = dict(Entry.objects.values_list("id", "timestamp"))
    assert stamps[1] == datetime(2021, 3, 28, 1, 30, tzinfo=UTC)  # = 03:30 CEST
    assert stamps[2] == datetime(2021, 10, 31, 0, 30, tzinfo=UTC)  # = 02:30 CEST
    assert stamps[3] == datetime(2021, 10, 31, 2, 30, tzinfo=UTC)  # unambiguous, CET
    assert "entry 1: 2021-03-28 02:30:00 does not exist in Europe/Berlin" in err
    assert "entry 2: 2021-10-31 02:30:00 happened twice" in err
    assert f"{1:>9}  times inside a DST gap" in out
    assert f"{1:>9}  times inside a DST overlap" in out


def test_timestamps_with_and_without_fractions(db, legacy_db):
    """Microseconds are kept to the digit; whole seconds stay whole; an offset is an instant."""
    path = legacy_db(
        [
            entry_row(1, "2013-10-12 09:05:14.026868"),
            entry_row(2, "2013-10-12 09:05:14"),
            entry_row(3, "2013-10-12T09:05:14+02:00"),
        ]
    )
    run_import(path, "--timezone", "America/New_York")
    stamps = dict(Entry.objects.values_list("id", "timestamp"))
    assert stamps[1] == datetime(2013, 10, 12, 13, 5, 14, 26868, tzinfo=UTC)
    assert stamps[2] == datetime(2013, 10, 12, 13, 5, 14, tzinfo=UTC)
    assert stamps[3] == datetime(2013, 10, 12, 7, 5, 14, tzinfo=UTC)


def test_an_unreadable_timestamp_stops_the_import(db, legacy_db):
    """A time that cannot be read is an error naming the entry; nothing is imported."""
    path = legacy_db([entry_row(1), entry_row(2, "sometime in May")], [(1, 1, "Hi", "bob")])
    with pytest.raises(CommandError, match="entry 2: timestamp 'sometime in May' is not a date"):
        run_import(path)
    assert not Entry.objects.exists()
    assert not Comment.objects.exists()


def test_comments_follow_their_entry_a_second_apart(db, legacy_db):
    """Comments have no old time: entry time + 1 s, + 2 s, ... in id order, never before it."""
    path = legacy_db(
        [entry_row(1, "2015-06-01 12:00:00"), entry_row(2, "2014-01-01 00:00:00")],
        [(5, 1, "first", "a"), (3, 2, "other", "b"), (9, 1, "second", "c"), (7, 1, "x", "d")],
    )
    run_import(path, "--timezone", "UTC")
    entry = Entry.objects.get(pk=1)
    created = [(c.id, c.created - entry.timestamp) for c in entry.comments.all()]
    assert created == [
        (5, timedelta(seconds=1)),
        (7, timedelta(seconds=2)),
        (9, timedelta(seconds=3)),
    ]
    assert [c.text for c in entry.visible_comments()] == ["first", "x", "second"]


# Comments the new schema cannot take as they are.


def test_comments_without_an_entry_are_skipped_with_a_warning(db, legacy_db):
    """entry_id NULL or pointing at no entry: skipped, warned about and counted."""
    path = legacy_db(
        [entry_row(1)],
        [(1, 1, "Kept", "a"), (2, None, "Orphan", "b"), (3, 99, "Dangling", "c")],
    )
    out, err = run_import(path)
    assert list(Comment.objects.values_list("id", flat=True)) == [1]
    assert "comment 2 skipped: it has no entry" in err
    assert "comment 3 skipped: entry 99 does not exist" in err
    assert f"{1:>9}  comments skipped: no entry" in out
    assert f"{1:>9}  comments skipped: their entry does not exist" in out


def test_empty_comments_are_skipped(db, legacy_db):
    """An empty or blank text has nothing to keep."""
    path = legacy_db([entry_row(1)], [(1, 1, "", "a"), (2, 1, "  \n ", "b"), (3, 1, "ok", "c")])
    out, err = run_import(path)
    assert list(Comment.objects.values_list("id", flat=True)) == [3]
    assert "comment 1 skipped: empty text" in err
    assert f"{2:>9}  comments skipped: empty text" in out


def test_names_null_empty_long_and_non_ascii(db, legacy_db):
    """NULL or blank names become "" (Anonymous); longer than 80 are shortened to 80 with …;
    exactly 80 and non-ASCII names are kept."""
    eighty = "Ж" * 80
    long_name = "Zoë " + "van der " * 12 + "Berg"
    path = legacy_db(
        [entry_row(1)],
        [
            (1, 1, "a", None),
            (2, 1, "b", ""),
            (3, 1, "c", "   "),
            (4, 1, "d", long_name),
            (5, 1, "e", eighty),
            (6, 1, "f", "Grégoire 🦆"),
        ],
    )
    out, err = run_import(path)
    names = dict(Comment.objects.values_list("id", "name"))
    assert names[1] == names[2] == names[3] == ""
    assert Comment.objects.get(pk=1).display_name == "Anonymous"
    assert len(names[4]) <= 80 and names[4].endswith("…")
    assert long_name.startswith(names[4][:-1])
    assert names[5] == eighty
    assert names[6] == "Grégoire 🦆"
    assert "comment 4: name shortened" in err
    assert f"{3:>9}  comments without a name" in out
    assert f"{1:>9}  names longer than 80" in out


def test_texts_at_the_limit_are_kept_and_longer_ones_split_without_losing_a_word(db, legacy_db):
    """500 characters fit; 1,649 become parts of at most 500 marked (1/4)..(4/4), all words
    kept, in order right after the comment's place."""
    at_limit = "é" * 500
    words = [f"wörd{n}" for n in range(220)]
    long_text = " ".join(words)
    assert len(long_text) == 1649
    path = legacy_db(
        [entry_row(1, "2015-06-01 12:00:00")],
        [(1, 1, at_limit, "a"), (2, 1, long_text, "b"), (3, 1, "after", "c")],
    )
    out, err = run_import(path, "--timezone", "UTC")
    assert Comment.objects.get(pk=1).text == at_limit
    comments = list(Entry.objects.get(pk=1).visible_comments())
    assert [c.text for c in comments][0] == at_limit
    assert comments[-1].id == 3
    parts = comments[1:-1]
    assert parts[0].id == 2 and all(p.id > 3 for p in parts[1:])
    assert len(parts) == 4
    assert all(len(p.text) <= 500 and p.name == "b" for p in parts)
    assert [p.text.rsplit(" ", 1)[1] for p in parts] == ["(1/4)", "(2/4)", "(3/4)", "(4/4)"]
    assert " ".join(p.text.rsplit(" ", 1)[0] for p in parts).split() == words
    assert f"comment 2: {len(long_text)} characters split into 4 comments" in err
    assert f"{1:>9}  comments longer than 500" in out


def test_one_very_long_word_is_cut_inside(db, legacy_db):
    """A text without spaces still fits, cut into parts of at most 500."""
    path = legacy_db([entry_row(1)], [(1, 1, "x" * 1200, "a")])
    run_import(path)
    parts = [c.text for c in Comment.objects.all()]
    assert all(len(p) <= 500 for p in parts)
    assert "".join(p.rsplit(" ", 1)[0] for p in parts) == "x" * 1200


def test_bytes_that_are_not_utf8_are_replaced_and_counted(db, legacy_db):
    path = legacy_db([entry_row(1)])
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO comment VALUES (1, 1, CAST(X'43616ffe' AS TEXT), 'x')")
    conn.close()
    out, _ = run_import(path)
    assert Comment.objects.get().text == "Cao\ufffd"
    assert f"{1:>9}  texts with bytes that are not UTF-8" in out


# Entries: titles and slugs.


def test_long_titles_are_shortened_and_kept_whole_in_the_body(db, legacy_db):
    """A title over 100 characters is cut at a word with …, and the whole title opens the body."""
    long_title = "Why *threads* and SQLite <objects> " + "really do not mix " * 6
    hundred = "t" * 100
    path = legacy_db(
        [entry_row(1, title=long_title, body="The body."), entry_row(2, title=hundred)]
    )
    out, _ = run_import(path)
    entry = Entry.objects.get(pk=1)
    assert len(entry.title) <= 100 and entry.title.endswith("…")
    assert long_title.startswith(entry.title[:-1])
    assert entry.body.endswith("\n\nThe body.")
    assert "Why *threads* and SQLite &lt;objects&gt; really" in entry.body_html
    assert "<em>" not in entry.body_html
    assert Entry.objects.get(pk=2).title == hundred
    assert f"{1:>9}  titles longer than 100" in out


def test_empty_titles_become_untitled(db, legacy_db):
    path = legacy_db([entry_row(1, title=" ", body="Words.")])
    run_import(path)
    entry = Entry.objects.get()
    assert (entry.title, entry.slug, entry.body) == ("Untitled", "untitled", "Words.")


def test_slugs_are_unique_and_the_oldest_keeps_the_plain_one(db, legacy_db, create_entry):
    """Equal titles get -2, -3 by age; slugs already in use stay taken."""
    # An id clear of the imported ones: ids go on across tests that commit (SQLite).
    create_entry(title="Taken", slug="taken", pk=1_000_000)
    path = legacy_db(
        [
            entry_row(10, "2015-01-03 00:00:00", "Café notes"),
            entry_row(11, "2015-01-01 00:00:00", "Café notes"),
            entry_row(12, "2015-01-02 00:00:00", "Café  notes!"),
            entry_row(13, "2015-01-01 00:00:00", "Taken"),
        ]
    )
    run_import(path)
    slugs = dict(Entry.objects.filter(pk__in=[10, 11, 12, 13]).values_list("id", "slug"))
    assert slugs == {11: "cafe-notes", 12: "cafe-notes-2", 10: "cafe-notes-3", 13: "taken-2"}


# Running it again, a dry run, and all or nothing.


def test_running_again_keeps_edits_and_adds_only_new_rows(db, legacy_db):
    """Rows imported before are left as they are, edits included; new old rows are added."""
    path = legacy_db([entry_row(1), entry_row(2)], [(1, 1, "Hi", "bob")])
    run_import(path)
    Entry.objects.filter(pk=1).update(title="Edited here", body="New words.")
    Comment.objects.filter(pk=1).update(text="Edited comment")
    with sqlite3.connect(path) as conn:  # the old site wrote more before it was stopped
        conn.execute("INSERT INTO entry VALUES (3, 'Late', 'Late body.', '2016-01-01 00:00:00', 1)")
        conn.execute("INSERT INTO comment VALUES (2, 1, 'Late comment', NULL)")
    conn.close()
    out, _ = run_import(path)
    assert out.startswith("Imported 1 entries and 1 comments")
    assert Entry.objects.get(pk=1).title == "Edited here"
    assert Comment.objects.get(pk=1).text == "Edited comment"
    assert sorted(Entry.objects.values_list("id", flat=True)) == [1, 2, 3]
    assert sorted(Comment.objects.values_list("id", flat=True)) == [1, 2]
    assert f"{2:>9}  entries already here" in out


def test_other_rows_with_the_old_ids_stop_the_import(db, legacy_db, create_entry):
    """A target whose id 1 is a different entry (demo content): an error, nothing written."""
    demo = create_entry(title="Demo entry", days=-3)
    path = legacy_db([entry_row(demo.pk, title="Old entry"), entry_row(demo.pk + 1)])
    with pytest.raises(CommandError, match=rf"other rows with the old ids \(entries {demo.pk}\)"):
        run_import(path)
    assert list(Entry.objects.values_list("title", flat=True)) == ["Demo entry"]


def test_dry_run_reports_and_writes_nothing(db, legacy_db):
    path = legacy_db([entry_row(1), entry_row(2)], [(1, 1, "Hi", "bob"), (2, None, "x", "y")])
    out, err = run_import(path, "--dry-run")
    assert out.startswith("Would import 2 entries and 1 comments")
    assert "Dry run: nothing was written." in out
    assert "comment 2 skipped" in err
    assert not Entry.objects.exists()
    assert not Comment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_way_leaves_the_target_unchanged(legacy_db, monkeypatch):
    """Entries written, then the comments' insert fails: everything is rolled back."""
    # An id outside the old ones: PostgreSQL's sequence is past earlier tests' rows.
    Entry.objects.create(id=5, title="Before", body="b", timestamp=timezone.now())
    path = legacy_db([entry_row(n) for n in range(10, 1300)], [(1, 10, "Hi", "bob")])
    calls = []
    real_bulk_create = type(Comment.objects).bulk_create

    def failing_bulk_create(manager, objs, *args, **kwargs):
        if manager.model is Comment:
            calls.append(Entry.objects.count())
            raise OperationalError("disk I/O error")  # as a failing disk would
        return real_bulk_create(manager, objs, *args, **kwargs)

    monkeypatch.setattr(type(Comment.objects), "bulk_create", failing_bulk_create)
    with pytest.raises(CommandError, match="nothing was written: disk I/O error"):
        run_import(path)
    assert calls == [1 + 1290]  # the entries were in, inside the transaction
    assert list(Entry.objects.values_list("title", flat=True)) == ["Before"]
    assert not Comment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_error_mid_way_is_one_line_and_leaves_nothing(legacy_db, monkeypatch):
    """The database refusing the second batch (an empty title breaks a check constraint):
    a one-line CommandError, and the first batch is gone too."""
    monkeypatch.setattr(legacy, "BATCH_SIZE", 2)
    monkeypatch.setattr(legacy, "UNTITLED", "")
    path = legacy_db(
        [
            entry_row(1, "2015-01-01 00:00:00"),
            entry_row(2, "2015-01-02 00:00:00"),
            entry_row(3, "2015-01-03 00:00:00", title=" "),
        ]
    )
    with pytest.raises(CommandError, match="the import failed, nothing was written") as error:
        run_import(path)
    assert "\n" not in str(error.value)
    assert not Entry.objects.exists()


# Size.


def test_a_few_thousand_rows(db, legacy_db):
    """2,000 entries and 6,000 comments in well under a minute, all there."""
    start = datetime(2005, 1, 1)
    entries = [
        entry_row(n, str(start + timedelta(hours=7 * n)), f"Post {n % 700}", f"Body *{n}*.")
        for n in range(1, 2001)
    ]
    comments = [(n, (n % 2000) + 1, f"Comment {n} ✓", f"name{n % 13}") for n in range(1, 6001)]
    path = legacy_db(entries, comments)
    began = time.perf_counter()
    out, _ = run_import(path)
    elapsed = time.perf_counter() - began
    assert out.startswith("Imported 2000 entries and 6000 comments")
    assert Entry.objects.count() == 2000
    assert Comment.objects.count() == 6000
    assert Entry.objects.values("slug").distinct().count() == 2000
    assert Entry.objects.get(pk=1500).body_html == "<p>Body <em>1500</em>.</p>"
    assert elapsed < 60, elapsed
    again, _ = run_import(path)
    assert again.startswith("Imported 0 entries and 0 comments")


# PostgreSQL: explicit ids must move the sequences.


@pytest.mark.postgres
@pytest.mark.own_database
def test_postgres_sequences_advance_past_the_imported_ids(postgres_url, tmp_path):
    """After the import, a new entry and a new comment get ids above the old ones; a dry run
    leaves the sequences alone."""
    env = os.environ | {"DATABASE_URL": postgres_url}

    create = (
        "from blog.models import Entry; from django.utils import timezone; "
        "e = Entry.objects.create(title='New', body='b', timestamp=timezone.now()); "
        "c = e.comments.create(text='New comment'); print(e.pk, c.pk)"
    )
    manage("migrate", "-v0", env=env)
    manage("import_legacy_blog", "--dry-run", str(SAMPLE), env=env)
    manage("import_legacy_blog", str(SAMPLE), env=env)
    entry_id, comment_id = map(int, manage("shell", "-v0", "-c", create, env=env).stdout.split())
    assert (entry_id, comment_id) == (21, 41)
    out = manage("import_legacy_blog", str(SAMPLE), env=env).stdout
    assert out.startswith("Imported 0 entries and 0 comments")
