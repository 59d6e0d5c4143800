"""The default cache: Django's file cache, shared by every process of one host."""

import contextlib
import fcntl
import logging
import os
import pickle
import pwd
import threading
import time
import zlib

from django.core.cache.backends import filebased

from homepage.ownership import folder_owner, hand_over

logger = logging.getLogger("homepage.filecache")


class FileBasedCache(filebased.FileBasedCache):
    """Django's FileBasedCache with counters that hold across processes.

    add() and incr() run under a lock on the cache directory, so two processes counting
    the same key (the comment rate limit) never lose a count, and incr() keeps the key's
    expiry (Django's rewrites it with the default timeout). incr() rewrites the key's file
    in place: Django's set() writes a temporary file, renames it and lists the folder to cull
    it, and under load each of those system calls waited for the interpreter lock again
    while every process's comments queued on this one. A file that cannot be read whole (a
    write cut short) is a miss.

    ``manage.py`` run as root (a seed, an import, loaddata) while the server runs must not
    lock the server's user out: as root, the files it creates belong to the cache folder's
    owner, and a cache folder it creates to the owner of the folder above (the data
    directory; scripts/serve gives both to the server's user), as SQLite does with its
    -wal and -shm files. Should the cache still be unwritable (files left by an older
    version, a wrong chown), it works as an empty cache: a file this process may not read
    is a miss, a write that fails stores nothing (pages are rendered, the comment rate limit
    lets comments through), and the error log says once per process what is wrong and how
    to fix it.
    """

    _warned = False
    _warned_lock = threading.Lock()

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except (PermissionError, EOFError, pickle.UnpicklingError, zlib.error):
            return default

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except (PermissionError, pickle.UnpicklingError):
            return False

    def set(self, key, value, timeout=filebased.DEFAULT_TIMEOUT, version=None):
        with self._unless_unwritable():
            super().set(key, value, timeout, version)

    def add(self, key, value, timeout=filebased.DEFAULT_TIMEOUT, version=None):
        with self._unless_unwritable(), self._lock():
            return super().add(key, value, timeout, version)
        return False

    def incr(self, key, delta=1, version=None):
        with self._unless_unwritable(), self._lock():
            try:
                with open(self._key_to_file(key, version), "r+b") as file:
                    expiry = pickle.load(file)
                    value = pickle.loads(zlib.decompress(file.read())) + delta
                    now = time.time()
                    if expiry is not None and expiry <= now:
                        raise ValueError(f"Key '{key}' not found")
                    file.seek(0)
                    self._write_content(file, None if expiry is None else expiry - now, value)
                    file.truncate()
                    return value
            except (FileNotFoundError, EOFError, pickle.UnpicklingError, zlib.error):
                raise ValueError(f"Key '{key}' not found") from None
        raise ValueError(f"Key '{key}' not found")  # an unwritable cache holds nothing

    def delete(self, key, version=None):
        with self._unless_unwritable():
            return super().delete(key, version)
        return False

    def _createdir(self):
        if os.path.isdir(self._dir):
            return
        super()._createdir()
        with contextlib.suppress(FileNotFoundError):  # clear() may have removed it
            hand_over(self._dir)

    def _write_content(self, file, timeout, value):
        if owner := folder_owner(self._dir):
            os.fchown(file.fileno(), *owner)
        super()._write_content(file, timeout, value)

    @contextlib.contextmanager
    def _unless_unwritable(self):
        try:
            yield
        except PermissionError as error:
            with self._warned_lock:
                if FileBasedCache._warned:
                    return
                FileBasedCache._warned = True
            user = pwd.getpwuid(os.geteuid()).pw_name
            logger.error(
                "The cache folder %s is not writable by %s (%s): pages are not cached and "
                "the comment rate limit is off until it is. Fix: chown -R %s: %s",
                self._dir,
                user,
                error.strerror,
                user,
                self._dir,
            )

    @contextlib.contextmanager
    def _lock(self):
        self._createdir()
        # Not a *.djcache file: clear() and culling leave it alone. Opened for reading,
        # so a lock file that root created is still usable by the server's user.
        lock = os.open(os.path.join(self._dir, "counters.lock"), os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            if owner := folder_owner(self._dir):
                os.fchown(lock, *owner)
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # releases the lock
