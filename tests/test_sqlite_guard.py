"""homepage/sqlite_guard.py in-process (under the real server: tests/test_faults.py)."""

import fcntl
import os

import pytest
from django.db import transaction

from homepage import sqlite_guard


def lock_is_free(path) -> bool:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


@pytest.mark.django_db(transaction=True)
def test_the_writer_lock_ends_at_the_commit_before_its_callbacks(tmp_path, monkeypatch):
    """The next comment's writer need not wait for this one's mail and stale pages."""
    database = tmp_path / "blog.sqlite3"
    monkeypatch.setattr(sqlite_guard, "_sqlite_file", lambda connection: str(database))
    lock = f"{database}-writer.lock"
    seen = []
    with sqlite_guard.one_writer():
        assert transaction.get_connection().in_atomic_block
        seen.append(lock_is_free(lock))
        transaction.on_commit(lambda: seen.append(lock_is_free(lock)))
    assert seen == [False, True]
    with pytest.raises(RuntimeError), sqlite_guard.one_writer():
        raise RuntimeError("a rolled back write lets the lock go too")
    assert lock_is_free(lock)
