"""Copy the live SQLite database to a file, consistently, while the site keeps running."""

import os
import sqlite3
import sys
import tarfile
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from tqdm import tqdm

from blog.models import Comment, Entry

PAGES_PER_STEP = 256


class Command(BaseCommand):
    help = (
        "Copy the SQLite database to DEST (a file, or a directory for a dated file) with "
        "SQLite's online backup API, while the site goes on reading and writing. The copy is "
        "one consistent moment of the database, a single file (no -wal) checked with "
        "PRAGMA integrity_check. Restore: stop the server, put the copy in place of the "
        "database file, delete its -wal and -shm files, start the server. The uploaded "
        "images (MEDIA_ROOT) go into DEST.media.tar beside it, copied after the database so "
        "every image the copy names is in it; restore with tar -xf DEST.media.tar -C "
        "MEDIA_ROOT."
    )

    def add_arguments(self, parser):
        parser.add_argument("dest", help="file to write, or an existing directory")
        parser.add_argument(
            "--overwrite", action="store_true", help="replace DEST if it already exists"
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--no-media", action="store_true", help="copy the database only, not the uploads"
        )

    def handle(self, dest, overwrite, database, no_media=False, **kwargs):
        source = self.source_path(database)
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / f"{source.stem}-{datetime.now():%Y%m%d-%H%M%S}.sqlite3"
        if dest.exists() and dest.resolve() == source.resolve():
            raise CommandError(f"{dest} is the live database itself.")
        if dest.exists() and not overwrite:
            raise CommandError(f"{dest} already exists (use --overwrite to replace it).")
        if not dest.parent.is_dir():
            raise CommandError(f"Directory {dest.parent} does not exist.")

        partial = dest.with_name(f".{dest.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            options = connections[database].settings_dict.get("OPTIONS", {})
            self.copy(source, partial, timeout=options.get("timeout", 20))
            entries, comments = self.verify(partial)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        size = dest.stat().st_size / 2**20
        self.stdout.write(
            f"Backed up {entries} entries and {comments} comments ({size:.1f} MiB) to {dest}; "
            "integrity check ok."
        )
        if not no_media:
            self.copy_media(Path(settings.MEDIA_ROOT), dest.with_name(f"{dest.name}.media.tar"))

    def copy_media(self, media_root: Path, archive: Path):
        """Every file under MEDIA_ROOT into one tar (names relative to it), written whole."""
        partial = archive.with_name(f".{archive.name}.partial")
        count = 0
        try:
            with tarfile.open(partial, "w") as tar:
                if media_root.is_dir():
                    for path in sorted(media_root.rglob("*")):
                        if path.is_file():
                            tar.add(path, arcname=str(path.relative_to(media_root)))
                            count += 1
            os.replace(partial, archive)
        except OSError as exc:
            raise CommandError(f"Copying the uploads in {media_root} failed: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
        size = archive.stat().st_size / 2**20
        self.stdout.write(f"Backed up {count} uploaded files ({size:.1f} MiB) to {archive}.")

    def source_path(self, database) -> Path:
        connection = connections[database]
        if connection.vendor != "sqlite":
            raise CommandError(
                f"backup_db copies SQLite databases; this one is {connection.vendor} "
                "(use its own tools, e.g. pg_dump)."
            )
        path = Path(connection.settings_dict["NAME"])
        if not path.is_file():
            raise CommandError(f"Database file {path} does not exist.")
        return path

    def copy(self, source: Path, partial: Path, timeout: float):
        # mode=rw: never create a database where the live one should be.
        src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=timeout)
        src.isolation_level = None  # transactions are begun explicitly below
        dst = sqlite3.connect(partial)
        try:
            # One read transaction for the whole copy: in WAL mode it is a snapshot that
            # writers do not disturb, so the copy never restarts and is one moment in time.
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            total = src.execute("PRAGMA page_count").fetchone()[0]
            with tqdm(
                total=total, unit="page", desc="backup", disable=not sys.stdout.isatty()
            ) as bar:

                def progress(status, remaining, pages):
                    bar.total = pages
                    bar.n = pages - remaining
                    bar.refresh()

                src.backup(dst, pages=PAGES_PER_STEP, progress=progress)
            src.execute("ROLLBACK")
            # A single self-contained file: no -wal for whoever restores it.
            dst.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            raise CommandError(f"Backup of {source} failed: {exc}") from exc
        finally:
            dst.close()
            src.close()

    def verify(self, path: Path) -> tuple[int, int]:
        db = sqlite3.connect(path)
        try:
            result = db.execute("PRAGMA integrity_check").fetchall()
            if result != [("ok",)]:
                raise CommandError(f"The copy failed its integrity check: {result[:5]}")
            return tuple(
                db.execute(f'SELECT count(*) FROM "{model._meta.db_table}"').fetchone()[0]
                for model in (Entry, Comment)
            )
        except sqlite3.Error as exc:
            raise CommandError(f"The copy could not be read: {exc}") from exc
        finally:
            db.close()
