"""Read KEY=VALUE lines from an environment file into os.environ.

Apache's SetEnv never reaches os.environ, so mod_wsgi daemons (system Apache or
mod_wsgi-express) get their settings from this file. Variables already set in the
real environment win.
"""

import os
from pathlib import Path


def load_env_file(path: str | os.PathLike) -> None:
    path = Path(path)
    if not path.is_file():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        os.environ.setdefault(key, value)
