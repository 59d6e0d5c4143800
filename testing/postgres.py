"""A PostgreSQL server of a test's own: a new cluster in a temporary folder, on a free port
of 127.0.0.1, for tests that stop and start their database server. The machine's server is
not theirs to stop: other tests, runs and programs use it meanwhile.

``with PrivatePostgres() as postgres:`` ``postgres.url`` (no database name), ``stop()``,
``start()`` (it returns once the server accepts connections), ``running()``; leaving the
block stops it (pg_ctl, by the pid in its postmaster.pid) and deletes the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from testing.server import free_port


def _bin_dir() -> Path:
    """The newest installed server's programs (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("No PostgreSQL server programs in /usr/lib/postgresql")
    return found[-1].parent


class PrivatePostgres:
    def __init__(self):
        self.bin = _bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="homepage-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        # initdb refuses to run as root: then the cluster is the postgres user's.
        self.as_owner = []
        if os.geteuid() == 0:
            self.as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres", "postgres")
        try:
            self._run(
                "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                "--encoding=UTF8", "--locale=C.UTF-8",
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, program: str, *args) -> None:
        subprocess.run(
            [*self.as_owner, self.bin / program, *map(str, args)],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", self.data, "-l", self.folder / "log", "-o", options, "-w", "start"
        )
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()
