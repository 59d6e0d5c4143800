"""homepage/sqlite_guard.py in-process (under the real server: tests/test_faults.py and
tests/test_server.py)."""

import contextlib
import fcntl
import os
import threading
import time

import pytest
from django.db import connection, transaction

from blog.models import Comment
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
    monkeypatch.setattr(sqlite_guard, "_sqlite_file", lambda _connection: str(database))
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


# Batches are SQLite's: on PostgreSQL each comment is its own transaction (write_together()).
batching = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's batches")


def in_threads(count, target):
    """count threads running target(i), each with its own connections closed at its end."""
    from django.db import connections

    def run(i):
        try:
            target(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def one_then_more(count, target):
    """target(0) in a thread and, while it writes alone, target(1) ... target(count) in more
    threads; all of them finished."""
    threads = in_threads(1, target)
    time.sleep(0.2)
    threads += in_threads(count, lambda i: target(i + 1))
    for thread in threads:
        thread.join(20)


def first_batch_waits_for(monkeypatch, count):
    """one_writer(), counted; its first use (the first thread's write, alone) holds on until
    count more writes wait, so that they make the next batch."""
    entered = []
    one_writer = sqlite_guard.one_writer

    @contextlib.contextmanager
    def counted(using="default"):
        entered.append(threading.current_thread().name)
        if len(entered) == 1:
            deadline = time.monotonic() + 10
            while len(sqlite_guard._waiting.get(using, [])) < count:
                assert time.monotonic() < deadline, "the other writes never queued"
                time.sleep(0.01)
        with one_writer(using):
            yield

    monkeypatch.setattr(sqlite_guard, "one_writer", counted)
    return entered


def comment_writes(entry, then):
    """write(i): comment i to entry through write_together(), then(i) in its transaction;
    outcomes[i]: the comment's pk, or what write_together() raised."""
    outcomes = {}

    def write(i):
        def work():
            pk = Comment.objects.create(entry=entry, name=f"r{i}", text=f"Comment {i}").pk
            then(i)
            return pk

        try:
            outcomes[i] = sqlite_guard.write_together(work)
        except Exception as error:
            outcomes[i] = error

    return write, outcomes


@batching
@pytest.mark.django_db(transaction=True)
def test_writes_that_queue_at_once_commit_together(monkeypatch, settings, create_entry):
    """Five comments posted while one is written are written in one transaction, by one
    thread, and each poster gets its own comment back."""
    settings.BLOG_COMMENT_RATE = 100
    entry = create_entry()
    entered = first_batch_waits_for(monkeypatch, 5)
    results = {}

    def post(i):
        results[i] = Comment.objects.post(entry, "192.0.2.1", name=f"r{i}", text=f"Comment {i}")

    one_then_more(5, post)
    assert len(entered) == 2  # the first alone, then the five together
    assert sorted((c.name, c.text, created) for c, created in results.values()) == [
        (f"r{i}", f"Comment {i}", True) for i in range(6)
    ]
    assert Comment.objects.filter(entry=entry).count() == 6


@batching
@pytest.mark.django_db(transaction=True)
def test_a_failing_write_loses_no_other_of_its_batch(monkeypatch, create_entry):
    """One write of a batch raises: the shared transaction is rolled back and every write
    runs again alone; the others are stored once, the failing one's poster gets its error."""
    entry = create_entry()
    entered = first_batch_waits_for(monkeypatch, 3)

    def refuse_the_third(i):
        if i == 2:
            raise ValueError("this one is refused")

    write, outcomes = comment_writes(entry, refuse_the_third)
    one_then_more(3, write)
    assert len(entered) == 2 + 3  # the first, the batch of three, then each of them alone
    assert isinstance(outcomes[2], ValueError)
    stored = sorted(Comment.objects.filter(entry=entry).values_list("name", flat=True))
    assert stored == ["r0", "r1", "r3"]
    assert {outcomes[i] for i in (0, 1, 3)} == set(
        Comment.objects.filter(entry=entry).values_list("pk", flat=True)
    )


@batching
@pytest.mark.django_db(transaction=True)
def test_a_double_click_within_one_batch_is_stored_once(monkeypatch, create_entry):
    """Two posts of the same comment that queue together: the second finds the first in the
    shared transaction, and both posters get the one comment."""
    entry = create_entry()
    first_batch_waits_for(monkeypatch, 2)
    results = {}

    def post(i):
        text = "An earlier one" if i == 0 else "Only once please"
        results[i] = Comment.objects.post(entry, "192.0.2.1", name="r", text=text)

    one_then_more(2, post)
    (one, created_one), (two, created_two) = results[1], results[2]
    assert one.pk == two.pk and sorted([created_one, created_two]) == [False, True]
    assert Comment.objects.filter(entry=entry, text="Only once please").count() == 1


@batching
@pytest.mark.django_db(transaction=True)
def test_a_failing_callback_after_the_commit_writes_nothing_twice(monkeypatch, create_entry):
    """A callback that raises after the shared commit (mail, stale pages: theirs catch their
    errors) does not make the batch run again: each write is made once, as its poster was
    told."""
    entry = create_entry()
    entered = first_batch_waits_for(monkeypatch, 2)
    write, outcomes = comment_writes(entry, lambda i: transaction.on_commit(lambda: 1 / 0))
    one_then_more(2, write)
    assert len(entered) == 2
    stored = Comment.objects.filter(entry=entry).values_list("pk", flat=True)
    assert sorted(stored) == sorted(outcomes.values()) and len(stored) == 3
