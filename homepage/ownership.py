"""What root creates under the server's folders stays the server's.

``manage.py`` run as root while the site runs (a seed, an import, loaddata) creates cache
files, page files and folders; the server's user must go on writing them. As SQLite does
with its -wal and -shm files, each new one gets the owner of the folder it is in (which
scripts/serve gives to the server's user).
"""

import os


def folder_owner(folder) -> tuple[int, int] | None:
    """As root: the owner and group of folder, for what root creates in it; else None."""
    if os.geteuid() != 0:
        return None
    above = os.stat(folder)
    return above.st_uid, above.st_gid


def hand_over(path) -> None:
    """As root: give path (just created) to the owner of the folder it is in."""
    if owner := folder_owner(os.path.dirname(os.path.abspath(path))):
        os.chown(path, *owner, follow_symlinks=False)  # a link itself, not its target
