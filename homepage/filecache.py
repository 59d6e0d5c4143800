"""The default cache: Django's file cache, shared by every process of one host."""

from django.core.cache.backends import filebased


class FileBasedCache(filebased.FileBasedCache):
    """Django's FileBasedCache, where a file this process may not read is a miss.

    ``manage.py`` run as root (a seed, an import, loaddata) writes cache files readable by
    root only, which the server's user (www-data) cannot read. Treated as missing, such a
    file is replaced by the next set(), as the cache directory belongs to the server's user.
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
