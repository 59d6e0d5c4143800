"""Bring the old Flask blog's SQLite file (blog.db) into this blog.

The rules for each kind of old row are documented in docs/legacy-import.md; each one
has a name in RULES, and the summary counts the rows that met it.
"""

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice
from pathlib import Path

from django.core.management.color import no_style
from django.db import connection, transaction

from blog.models import Comment, Entry

# The old models (SQLAlchemy, see docs/legacy-import.md); other columns are ignored.
LEGACY_COLUMNS = {
    "entry": ("id", "title", "body", "timestamp", "featured"),
    "comment": ("id", "entry_id", "text", "name"),
}
SQLITE_HEADER = b"SQLite format 3\x00"
# A locked file is usually the old site writing; wait this long before giving up.
LOCK_TIMEOUT = 5.0
BATCH_SIZE = 500

TITLE_MAX = Entry._meta.get_field("title").max_length
NAME_MAX = Comment._meta.get_field("name").max_length
TEXT_MAX = Comment._meta.get_field("text").max_length
UNTITLED = "Untitled"
ELLIPSIS = "…"

RULES = {
    "entry_imported": "entries imported",
    "entry_present": "entries already here from an earlier import, left as they are",
    "title_shortened": f"titles longer than {TITLE_MAX} characters: shortened, the whole title opens the body",
    "title_empty": f"empty titles: called “{UNTITLED}”",
    "time_gap": "times inside a DST gap: moved forward by the gap (the clock had not been set forward)",
    "time_overlap": "times inside a DST overlap: the first of the two (still summer time)",
    "comment_imported": "comments imported",
    "comment_present": "comments already here from an earlier import, left as they are",
    "comment_no_entry": "comments skipped: no entry (entry_id empty)",
    "comment_missing_entry": "comments skipped: their entry does not exist",
    "comment_empty": "comments skipped: empty text",
    "name_anonymous": "comments without a name: shown as “Anonymous”",
    "name_shortened": f"names longer than {NAME_MAX} characters: shortened",
    "text_split": f"comments longer than {TEXT_MAX} characters: split into parts (n/m)",
    "bad_utf8": "texts with bytes that are not UTF-8: those bytes replaced by �",
}


class LegacyError(Exception):
    """The file cannot be imported; the message is one line for the command line."""


@dataclass
class LegacyData:
    entries: list[tuple]  # (id, title, body, timestamp, featured)
    comments: list[tuple]  # (id, entry_id, text, name), by id
    bad_utf8: int = 0


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    def count(self, rule: str, warning: str | None = None):
        self.counts[rule] += 1
        if warning:
            self.warnings.append(warning)


# Reading the old file


def read_legacy_db(path: str | Path) -> LegacyData:
    """Every entry and comment of an old blog.db, read in one snapshot, the file opened read-only."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise LegacyError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LegacyError(f"{path} is a directory, not an old blog database") from None
    except OSError as exc:
        raise LegacyError(f"cannot read {path}: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        kind = "an empty file" if not header else "not an SQLite database"
        raise LegacyError(f"{path} is {kind}, not an old blog database")

    bad_bytes = 0

    def decode(raw: bytes) -> str:
        nonlocal bad_bytes
        try:
            return raw.decode()
        except UnicodeDecodeError:
            bad_bytes += 1
            return raw.decode(errors="replace")

    # mode=ro: SQLite itself refuses any write, so the old file cannot change.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT, isolation_level=None)
    except sqlite3.Error as exc:
        raise LegacyError(f"cannot open {path}: {exc}") from exc
    db.text_factory = decode
    try:
        db.execute("BEGIN")  # one snapshot for both tables
        _check_schema(db, path)
        entries = db.execute("SELECT id, title, body, timestamp, featured FROM entry").fetchall()
        comments = db.execute("SELECT id, entry_id, text, name FROM comment ORDER BY id").fetchall()
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes, e.g. BUSY_RECOVERY
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise LegacyError(
                f"{path} is locked by another program (is the old site still running?); "
                "stop it and try again"
            ) from exc
        raise LegacyError(f"cannot read {path}: {exc}") from exc
    finally:
        db.close()
    return LegacyData(entries, comments, bad_bytes)


def _check_schema(db: sqlite3.Connection, path: Path):
    tables = {
        name.lower()
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    for table in LEGACY_COLUMNS:
        if table not in tables:
            raise LegacyError(f"{path} is not an old blog database: it has no table {table!r}")
    for table, columns in LEGACY_COLUMNS.items():
        present = {row[1].lower() for row in db.execute(f"PRAGMA table_info({table})")}
        missing = [column for column in columns if column not in present]
        if missing:
            raise LegacyError(
                f"{path} is not an old blog database: table {table!r} has no column "
                + ", ".join(repr(column) for column in missing)
            )


# Turning old values into new ones


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "t", "yes", "y"}
    return bool(value)


def shorten(text: str, limit: int) -> str:
    """At most limit characters, cut at a word boundary and ended with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS) + 1]
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    head = head[:space] if space > 0 else head[:-1]
    return head.rstrip() + ELLIPSIS


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most limit characters, cut between words, each ended with (n/m)."""
    if len(text) <= limit:
        return [text]
    size = limit - len(" (999/999)")
    parts, rest = [], text.strip()
    while len(rest) > size:
        cut = max((m.start() for m in re.finditer(r"\s", rest[: size + 1])), default=0)
        if cut == 0:
            cut = size  # one word longer than a part: cut inside it
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [f"{part} ({n}/{len(parts)})" for n, part in enumerate(parts, 1)]


def escape_markdown(text: str) -> str:
    # The characters Markdown lets a backslash escape ("<" needs none: raw HTML is text here).
    return re.sub(r"([\\`*_{}\[\]()#+\-.!>|])", r"\\\1", text)


def make_aware(value, tz: tzinfo, entry_id, report: Report) -> datetime:
    """The old naive wall-clock time, read in tz (see docs/legacy-import.md for DST)."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise LegacyError(
            f"entry {entry_id}: timestamp {value!r} is not a date and time "
            "(YYYY-MM-DD HH:MM:SS[.ffffff]); nothing was imported"
        ) from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    aware = naive.replace(tzinfo=tz)  # fold=0: the rule for gaps and overlaps
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        report.count(
            "time_gap",
            f"entry {entry_id}: {naive} does not exist in {tz} (DST gap); "
            f"imported as {aware.astimezone(UTC).astimezone(tz).isoformat()}",
        )
    elif aware.utcoffset() != aware.replace(fold=1).utcoffset():
        report.count(
            "time_overlap",
            f"entry {entry_id}: {naive} happened twice in {tz} (DST overlap); "
            f"imported as the first, {aware.isoformat()}",
        )
    return aware.astimezone(UTC)


# Planning and writing


def import_legacy(
    data: LegacyData,
    tz: tzinfo,
    *,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,
) -> Report:
    """Insert the old rows not imported before, in one transaction; a dry run rolls it back.

    progress(total) may return a bar with update(n) and close(), as tqdm does.
    """
    report = Report(dry_run=dry_run)
    if data.bad_utf8:
        report.counts["bad_utf8"] = data.bad_utf8
    with transaction.atomic():
        entries, comments = _plan(data, tz, report)
        bar = progress(len(entries) + len(comments)) if progress else None
        try:
            for batch in batched(entries, BATCH_SIZE):
                Entry.objects.bulk_create(batch)
                if bar:
                    bar.update(len(batch))
            for batch in batched(comments, BATCH_SIZE):
                Comment.objects.bulk_create(batch)
                if bar:
                    bar.update(len(batch))
        finally:
            if bar:
                bar.close()
        if dry_run:
            transaction.set_rollback(True)
        else:
            # Explicit ids do not move PostgreSQL's sequences (setval is not rolled
            # back, hence not on a dry run); SQLite's AUTOINCREMENT follows by itself.
            _reset_sequences()
    return report


def batched(items: list, size: int) -> Iterable[list]:
    """Python 3.12 has itertools.batched; this is 3.11."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _reset_sequences():
    statements = connection.ops.sequence_reset_sql(no_style(), [Entry, Comment])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _plan(data: LegacyData, tz: tzinfo, report: Report) -> tuple[list[Entry], list[Comment]]:
    existing_entries = {
        pk: (title, ts) for pk, title, ts in Entry.objects.values_list("id", "title", "timestamp")
    }
    existing_comments = {
        pk: (entry_id, text, name)
        for pk, entry_id, text, name in Comment.objects.values_list(
            "id", "entry_id", "text", "name"
        )
    }
    taken_slugs = set(Entry.objects.values_list("slug", flat=True))
    conflicts = {"entries": [], "comments": []}

    # Entries, oldest first so the oldest of two equal titles keeps the plain slug.
    times = {}
    rows = []
    for pk, title, body, timestamp, featured in data.entries:
        times[pk] = make_aware(timestamp, tz, pk, report)
        rows.append((times[pk], pk, as_text(title), as_text(body), as_bool(featured)))
    rows.sort(key=lambda row: (row[0], row[1]))

    new_entries = []
    for timestamp, pk, full_title, body, featured in rows:
        title = full_title = full_title.strip()
        if not full_title:
            report.count("title_empty", f"entry {pk}: empty title, called “{UNTITLED}”")
            title = UNTITLED
        elif len(full_title) > TITLE_MAX:
            title = shorten(full_title, TITLE_MAX)
            report.count(
                "title_shortened",
                f"entry {pk}: title of {len(full_title)} characters shortened to {title!r}; "
                "the whole title opens the body",
            )
            body = f"**{escape_markdown(full_title)}**\n\n{body}"
        if pk in existing_entries:
            old_title, old_time = existing_entries[pk]
            # An editor may have changed the title or the time since, not both.
            if old_title == title or old_time == timestamp:
                report.count("entry_present")
            else:
                conflicts["entries"].append(pk)
            continue
        slug = Entry.unique_slug(full_title or title, taken=taken_slugs)
        taken_slugs.add(slug)
        new_entries.append(
            Entry(
                id=pk,
                title=title,
                slug=slug,
                body=body,
                timestamp=timestamp,
                featured=featured,
                is_draft=False,
            )
        )
        report.count("entry_imported")

    # Comments: the old ones have no time; they follow their entry a second apart, by id.
    next_id = max([0, *existing_comments, *(row[0] for row in data.comments)]) + 1
    position = Counter()
    new_comments = []
    for pk, entry_id, text, name in data.comments:
        text, name = as_text(text), as_text(name)
        if entry_id is None:
            report.count("comment_no_entry", f"comment {pk} skipped: it has no entry")
            continue
        if entry_id not in times:
            report.count(
                "comment_missing_entry", f"comment {pk} skipped: entry {entry_id!r} does not exist"
            )
            continue
        if not text.strip():
            report.count("comment_empty", f"comment {pk} skipped: empty text")
            continue
        name = name.strip()
        if not name:
            report.count("name_anonymous")
        elif len(name) > NAME_MAX:
            name = shorten(name, NAME_MAX)
            report.count("name_shortened", f"comment {pk}: name shortened to {name!r}")
        parts = split_text(text, TEXT_MAX)
        first = position[entry_id] + 1
        position[entry_id] += len(parts)
        if pk in existing_comments:
            old_entry, old_text, old_name = existing_comments[pk]
            if old_entry == entry_id and (old_text == parts[0] or old_name == name):
                report.count("comment_present")
            else:
                conflicts["comments"].append(pk)
            continue
        if len(parts) > 1:
            report.count(
                "text_split",
                f"comment {pk}: {len(text)} characters split into {len(parts)} comments",
            )
        for n, part in enumerate(parts):
            new_comments.append(
                Comment(
                    # Later parts take fresh ids above every old and present one.
                    id=pk if n == 0 else next_id + n - 1,
                    entry_id=entry_id,
                    name=name,
                    text=part,
                    created=times[entry_id] + timedelta(seconds=first + n),
                )
            )
        next_id += len(parts) - 1
        report.count("comment_imported")

    if conflicts["entries"] or conflicts["comments"]:
        raise LegacyError(
            "the target already holds other rows with the old ids ("
            + "; ".join(f"{kind} {_ids(ids)}" for kind, ids in conflicts.items() if ids)
            + "), perhaps demo content; import into a fresh database; nothing was imported"
        )
    return new_entries, new_comments


def _ids(ids: Iterable[int], most: int = 5) -> str:
    ids = sorted(ids)
    shown = ", ".join(str(pk) for pk in ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")
