"""Profile one page under load with py-spy: where an uncached request spends its time.

    .venv/bin/pip install py-spy     # for profiling only; not a requirement of the project
    .venv/bin/python bench/profile.py --entries 100000 /            # the front page
    .venv/bin/python bench/profile.py --entries 100000 "/?page=5000"

Serves the cached benchmark database (bench/cache, built by bench/run.py when missing) with
one mod_wsgi daemon process and the page cache off (--cached: on), loads the page with wrk, samples the
daemon with py-spy, and prints the share of samples in the functions that matter.
"""

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PROJECT, sqlite_database  # noqa: E402

from testing.server import Browser, Server  # noqa: E402

PY_SPY = PROJECT / ".venv" / "bin" / "py-spy"
SHOWN = (
    "blog/", "homepage/", "paginator.py", "template/base.py", "sqlite3/base.py", "csp/",
    "axes/", "django/middleware/", "django/contrib/", "cache/backends/", "handlers/wsgi.py",
)  # fmt: skip


def summary(raw: Path, limit: int) -> str:
    """Inclusive share of samples per function, for the project's code and a few hot spots."""
    inclusive, total = collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or "WSGIHandler.__call__" not in stack:  # idle threads
            continue
        total += int(count)
        for frame in set(frames):
            if any(part in frame for part in SHOWN):
                inclusive[frame] += int(count)
    lines = [f"{total} samples in requests"]
    for frame, count in inclusive.most_common(limit):
        lines.append(f"{count / total:6.1%}  {frame}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the page to load, e.g. / or /?page=9999")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--cached", action="store_true", help="keep the page cache on")
    options = parser.parse_args()
    if not PY_SPY.exists():
        parser.error(f"py-spy is not installed: {PY_SPY.parent}/pip install py-spy")
    source, _seconds = sqlite_database(options.entries)
    env = {} if options.cached else {"BLOG_PAGE_CACHE_SECONDS": "0"}
    server = Server(processes=1, threads=16, env=env)
    try:
        server.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, server.sqlite_path)
        server.start()
        status = Browser(server.url).get(options.path).status
        if status != 200:
            sys.exit(f"{options.path} answered {status}")
        (pid,) = map(str, server.daemon_pids())
        load = subprocess.Popen(
            ["wrk", "-t1", "-c8", f"-d{options.seconds + 2}s", server.url + options.path],
            stdout=subprocess.DEVNULL,
        )
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "profile.txt"
            subprocess.run(
                [str(PY_SPY), "record", "--pid", pid, "--duration", str(options.seconds)]
                + ["--rate", "100", "--format", "raw", "--output", str(raw), "--nonblocking"],
                check=True,
                capture_output=True,
            )
            load.wait()
            print(summary(raw, options.lines))
    finally:
        server.close()


if __name__ == "__main__":
    main()
