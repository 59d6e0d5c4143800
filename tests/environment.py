"""Loaded by pytest before Django (see pyproject.toml): settings for the test run.

The tests expect the settings' defaults whatever the caller exported (``ALLOWED_HOSTS='*'``,
``DEBUG=1``, a ``TIME_ZONE``, ...): every variable homepage/settings.py reads is cleared for
this process and the commands and servers it starts, except DATABASE_URL, which chooses the
database of the run (scripts/test's PostgreSQL pass).
"""

import os
import re
import tempfile
from pathlib import Path

from testing.server import PREPARED_ENV, drop_prepared_databases

SETTINGS = Path(__file__).resolve().parent.parent / "homepage" / "settings.py"
READ = r'(?:env_(?:bool|int|list)\(|os\.environ(?:\.get)?[\[(])"([A-Z0-9_]+)"'

for name in set(re.findall(READ, SETTINGS.read_text(encoding="utf-8"))) - {"DATABASE_URL"}:
    os.environ.pop(name, None)
os.environ["SECRET_KEY"] = "insecure-key-for-the-test-run-only"
# The developer's .env (a local SECRET_KEY, a production DATABASE_URL) must not leak in.
os.environ["HOMEPAGE_ENV_FILE"] = os.devnull
os.environ["HTTPS"] = "0"  # the test client speaks plain HTTP


def pytest_configure(config):
    """The run's test servers share their prepared databases and static files
    (testing/server.py): the folder is made once, before pytest-xdist starts its workers,
    which inherit the variable."""
    if PREPARED_ENV not in os.environ:
        config.homepage_prepared = tempfile.TemporaryDirectory(prefix="homepage-prepared-")
        os.environ[PREPARED_ENV] = config.homepage_prepared.name


def pytest_unconfigure(config):
    if prepared := getattr(config, "homepage_prepared", None):
        del os.environ[PREPARED_ENV]
        drop_prepared_databases(Path(prepared.name))
        prepared.cleanup()
