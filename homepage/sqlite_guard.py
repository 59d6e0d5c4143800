"""The SQLite file guard: a database file removed, replaced or re-permissioned under the
running server is noticed before the next request uses it (see DatabaseFileGuardMiddleware)."""

import contextlib
import fcntl
import logging
import os
import signal
import threading

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from homepage.errors import service_unavailable

logger = logging.getLogger(__name__)


def _file_identity(path) -> tuple:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid)


def _sqlite_file(connection) -> str | None:
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return None
    name = str(connection.settings_dict["NAME"])
    return None if name.startswith("file:") else name


@contextlib.contextmanager
def one_writer(using: str = DEFAULT_DB_ALIAS):
    """A write transaction (transaction.atomic()) whose writers of a SQLite file queue on a
    lock file beside it before BEGIN IMMEDIATE. The kernel wakes the next one as soon as the
    lock is free, where SQLite's busy handler polls with sleeps of up to 100 ms: 16
    connections posting comments to 2 x 16 daemons had a p99 of 1.7 s without it, 0.5 s
    with it. The lock ends at the commit, before the commit's callbacks (mail, stale pages),
    which need no lock. Without the lock file (a read-only folder), writers wait as SQLite
    makes them."""
    path = _sqlite_file(connections[using])
    try:
        lock = os.open(f"{path}-writer.lock", os.O_RDONLY | os.O_CREAT, 0o644) if path else None
    except OSError:
        lock = None

    def release():
        nonlocal lock
        if lock is not None:
            os.close(lock)
            lock = None

    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        with transaction.atomic(using=using):
            transaction.on_commit(release, using=using)  # the first of the callbacks
            yield
    finally:
        release()


class _Turn:
    """One thread's write waiting in write_together(): its work, and then its outcome."""

    def __init__(self, work):
        self.work, self.ready, self.leads = work, threading.Event(), False
        self.result, self.error = None, RuntimeError("The write was not made.")


_waiting: dict[str, list[_Turn]] = {}  # by database alias: the turns not yet taken
_writing: set[str] = set()  # the aliases whose turns a thread of this process is writing
_turns = threading.Lock()


def write_together(work, using: str = DEFAULT_DB_ALIAS):
    """work()'s result, from a write transaction (one_writer()) that on SQLite also holds the
    work of the other threads of this process that queued while the last one ran: one wait
    for the lock file, one BEGIN and one COMMIT (its fsync) for all of them, run by the first
    to queue. Each step under the lock also waits for the interpreter lock, so under the
    mixed workload a comment held the lock ~7 ms for ~1 ms of CPU, and that hold was the
    ceiling of the whole server (bench/README.md). If the shared transaction fails, each
    work runs again alone: one bad write loses no other. Elsewhere, and inside a
    transaction, work() runs alone at once: PostgreSQL has row locks, and batches locking
    rows in different orders could deadlock."""
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with one_writer(using):
            return work()
    turn = _Turn(work)
    with _turns:
        _waiting.setdefault(using, []).append(turn)
        turn.leads = using not in _writing
        _writing.add(using)
    if not turn.leads:
        turn.ready.wait()  # written by another thread, or told to write the next batch
    if turn.leads:
        _write_batch(using)
    if turn.error is not None:
        raise turn.error
    return turn.result


def _write_batch(using: str) -> None:
    with _turns:
        batch = _waiting.pop(using, [])
    committed = []
    try:
        try:
            with one_writer(using):
                transaction.on_commit(lambda: committed.append(True), using=using)
                for turn in batch:
                    turn.result, turn.error = turn.work(), None
        except Exception:
            if committed:  # a callback after the commit failed: the writes are made
                logger.exception("A callback after a commit of comments failed")
                return
            for turn in batch:  # the transaction is rolled back: each alone
                try:
                    with one_writer(using):
                        turn.result, turn.error = turn.work(), None
                except Exception as error:
                    turn.result, turn.error = None, error
    finally:
        with _turns:
            following = _waiting.get(using)
            if following:
                following[0].leads = True
            else:
                _writing.discard(using)
        for turn in batch:
            turn.ready.set()
        if following:
            following[0].ready.set()


def remember_file(sender, connection, **kwargs):
    """connection_created receiver (HomepageConfig.ready): note which file it opened."""
    path = _sqlite_file(connection)
    if path:
        try:
            connection.homepage_file_identity = _file_identity(path)
        except OSError:
            connection.homepage_file_identity = None


def _restart_mod_wsgi_daemon() -> bool:
    """Ask mod_wsgi for a graceful restart of this daemon process (its documented SIGINT).

    SQLite shares per-process state among all connections to one file (descriptors, the
    WAL index), so a file that was read-only or replaced is only fully forgotten when every
    thread's connection has closed, and idle threads may keep theirs for long. A fresh
    process is the one reliable way; Apache starts it, in-flight requests finish first.
    """
    try:
        import mod_wsgi
    except ImportError:
        return False
    if not getattr(mod_wsgi, "process_group", ""):  # not a mod_wsgi daemon (tests, a shell)
        return False
    os.kill(os.getpid(), signal.SIGINT)
    return True


class DatabaseFileGuardMiddleware:
    """Notice an SQLite file removed, replaced or re-permissioned under the running server.

    Connections persist across requests (CONN_MAX_AGE) and an open file descriptor outlives
    such a change: writes would go on into a deleted file (and be lost), or keep failing
    after an operator fixed the file's permissions. So before each request compare the file
    (one stat() call) with the one this thread's connection opened. While the file is
    missing answer 503 without connecting, since connecting would create an empty database
    in its place. When it changed, reconnect, and under mod_wsgi restart the process once so
    that no other thread keeps the old file.
    """

    restarting = False  # one restart per process

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for alias in connections:
            connection = connections[alias]
            path = _sqlite_file(connection)
            if path is None:
                continue
            try:
                identity = _file_identity(path)
            except OSError as exc:
                connection.close()
                logger.error("SQLite database %s is unavailable: %s", path, exc)
                return service_unavailable()
            if connection.connection is not None and identity != getattr(
                connection, "homepage_file_identity", identity
            ):
                connection.close()
                if not DatabaseFileGuardMiddleware.restarting:
                    DatabaseFileGuardMiddleware.restarting = _restart_mod_wsgi_daemon()
                    logger.warning(
                        "SQLite database %s changed on disk; reconnecting%s.",
                        path,
                        " and restarting this server process"
                        if DatabaseFileGuardMiddleware.restarting
                        else "",
                    )
        return self.get_response(request)
