"""The default cache: Django's file cache, shared by every process of one host."""

import contextlib
import fcntl
import os
import pickle
import time
import zlib

from django.core.cache.backends import filebased


class FileBasedCache(filebased.FileBasedCache):
    """Django's FileBasedCache with counters that hold across processes.

    add() and incr() run under a lock on the cache directory, so two processes counting
    the same key (the comment rate limit) never lose a count, and incr() keeps the key's
    expiry (Django's rewrites it with the default timeout).

    A file this process may not read is a miss: ``manage.py`` run as root (a seed, an
    import, loaddata) writes cache files only root can read, and the next set() by the
    server's user replaces them, as the cache directory belongs to that user.
    """

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except PermissionError:
            return default

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except PermissionError:
            return False

    def add(self, key, value, timeout=filebased.DEFAULT_TIMEOUT, version=None):
        with self._lock():
            return super().add(key, value, timeout, version)

    def incr(self, key, delta=1, version=None):
        with self._lock():
            try:
                with open(self._key_to_file(key, version), "rb") as file:
                    expiry = pickle.load(file)
                    value = pickle.loads(zlib.decompress(file.read()))
            except (FileNotFoundError, PermissionError, EOFError):
                expiry, value = 0, None
            now = time.time()
            if value is None or (expiry is not None and expiry <= now):
                raise ValueError(f"Key '{key}' not found")
            value += delta
            self.set(key, value, None if expiry is None else expiry - now, version)
            return value

    @contextlib.contextmanager
    def _lock(self):
        self._createdir()
        # Not a *.djcache file: clear() and culling leave it alone. Opened for reading,
        # so a lock file that root created is still usable by the server's user.
        lock = os.open(os.path.join(self._dir, "counters.lock"), os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # releases the lock
