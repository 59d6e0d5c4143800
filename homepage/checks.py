"""System checks for the settings (``manage.py check``)."""

import re

from django.conf import settings
from django.core.checks import Warning, register

# What a SQLite database needs under a threaded server (homepage/settings.py, SQLITE_OPTIONS).
SQLITE_NEEDS = {
    "transaction_mode": "transaction_mode IMMEDIATE (writers wait at BEGIN, not mid-transaction)",
    "timeout": "a timeout of 5 seconds or more (how long a writer waits for the lock)",
    "journal_mode": "PRAGMA journal_mode=WAL in init_command (readers run while one writes)",
    "synchronous": "PRAGMA synchronous in init_command (FULL: a commit survives a power cut)",
}


def missing_sqlite_options(options: dict) -> list[str]:
    """Which of SQLITE_NEEDS these OPTIONS of a SQLite database lack."""
    init = re.sub(r"\s+", "", options.get("init_command", "")).lower()
    present = {
        "transaction_mode": str(options.get("transaction_mode", "")).upper() == "IMMEDIATE",
        "timeout": options.get("timeout", 0) >= 5,
        "journal_mode": "journal_mode=wal" in init,
        "synchronous": "synchronous=" in init,
    }
    return [SQLITE_NEEDS[name] for name, ok in present.items() if not ok]


@register()
def check_sqlite_options(app_configs, **kwargs):
    warnings = []
    for alias, database in settings.DATABASES.items():
        if database.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        if missing := missing_sqlite_options(database.get("OPTIONS", {})):
            warnings.append(
                Warning(
                    f"SQLite database {alias!r} lacks the settings for a threaded server: "
                    + "; ".join(missing)
                    + ".",
                    hint="Give it homepage.settings' SQLITE_OPTIONS, or requests will fail "
                    "with 'database is locked' under load.",
                    id="homepage.W001",
                )
            )
    return warnings
