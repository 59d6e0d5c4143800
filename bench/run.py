"""Load the blog under Apache/mod_wsgi-express with wrk, against a hello-world ceiling.

    .venv/bin/python bench/run.py            # the full run (100 and 100,000 entries)
    .venv/bin/python bench/run.py --quick    # a short try-out (100 and 2,000 entries)
    .venv/bin/python bench/run.py --database-url postgres://postgres@127.0.0.1:5432/postgres

See bench/README.md for what it measures and the latest results.
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
sys.path.insert(0, str(PROJECT))

from testing import commands  # noqa: E402
from testing.commands import PYTHON  # noqa: E402
from testing.server import (  # noqa: E402
    Browser,
    Server,
    entry_links,
    form_fields,
    free_port,
    stop_group,
)

CACHE = BENCH / "cache"
RESULTS = BENCH / "results"
SEED_ARGS = ["--comments-per-entry", "3", "--seed", "1"]
CASES = ("front", "deep", "entry", "feed", "static", "mixed")
STATIC = "/static/css/site.css"  # Apache's own static-file rate, the ceiling for page files
PEERS = Path("/work/shared/peers")
MIB = 1024 * 1024


# -- databases -----------------------------------------------------------------------


def content_key() -> str:
    """Changes whenever the seeded content or the schema would: cached databases go stale."""
    digest = hashlib.sha256()
    files = [PROJECT / "blog/management/commands/seed_blog.py", *SEED_ARGS]
    files += sorted((PROJECT / "blog/migrations").glob("0*.py"))
    for item in files:
        digest.update(item.read_bytes() if isinstance(item, Path) else item.encode())
    return digest.hexdigest()[:10]


def manage(args: list[str], env: dict[str, str]) -> None:
    # Inherits the terminal, so seed_blog's progress bar shows there.
    commands.manage(*args, env=env, timeout=None, stdout=None, stderr=None)


def build_env(**settings: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "HOMEPAGE_ENV_FILE": os.devnull,
        "SECRET_KEY": "bench-build-only",
        **settings,
    }


def seed(entries: int, env: dict[str, str]) -> float:
    # seed_blog bumps the page cache's version: in a folder of its own, not the project's data/.
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"DATA_DIR": data_dir, **env}
        manage(["migrate", "--noinput", "-v0"], env)
        started = time.perf_counter()
        manage(["seed_blog", "--entries", str(entries), *SEED_ARGS], env)
        return time.perf_counter() - started


def sqlite_database(entries: int) -> tuple[Path, float | None]:
    """The cached SQLite file for this size (built when missing) and its seeding time."""
    CACHE.mkdir(exist_ok=True)
    key = content_key()
    path = CACHE / f"blog-{entries}-{key}.sqlite3"
    info = path.with_suffix(".json")
    if not path.exists():
        for stale in CACHE.glob(f"blog-{entries}-*"):
            stale.unlink()
        building = path.with_suffix(".building")
        seconds = seed(entries, build_env(SQLITE_PATH=str(building)))
        with contextlib.closing(sqlite3.connect(building)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for companion in ("-wal", "-shm"):
            Path(f"{building}{companion}").unlink(missing_ok=True)
        building.rename(path)
        info.write_text(json.dumps({"seed_seconds": seconds}))
    return path, json.loads(info.read_text()).get("seed_seconds") if info.exists() else None


def postgres_database(entries: int, url: str) -> tuple[str, float | None]:
    """A fresh copy of the cached PostgreSQL database for this size (a template database)."""
    import psycopg

    parts = urllib.parse.urlsplit(url)

    def with_name(name: str) -> str:
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

    template, run = f"homepage_bench_{entries}_{content_key()}", f"homepage_bench_run_{entries}"
    seconds = None
    with psycopg.connect(with_name("postgres"), autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [template]
        ).fetchone()
        if not exists:
            stale = admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                [f"homepage\\_bench\\_{entries}\\_%"],
            ).fetchall()
            for (name,) in stale:  # seeded by an older seed_blog or schema
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{template}_building"')
            seconds = seed(entries, build_env(DATABASE_URL=with_name(f"{template}_building")))
            # What autovacuum would soon do after a bulk load: planner statistics, and the
            # visibility map that lets counts be index-only scans.
            with psycopg.connect(with_name(f"{template}_building"), autocommit=True) as db:
                db.execute("VACUUM ANALYZE")
            admin.execute(f'ALTER DATABASE "{template}_building" RENAME TO "{template}"')
        admin.execute(f'DROP DATABASE IF EXISTS "{run}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{run}" TEMPLATE "{template}"')
    return with_name(run), seconds


# -- measuring ---------------------------------------------------------------------------


class MemorySampler(threading.Thread):
    """Samples the summed RSS of every process in Apache's process group."""

    def __init__(self, pgid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pgid, self.interval = pgid, interval
        self.samples: list[int] = []
        self.stopping = threading.Event()

    def rss(self) -> int:
        total = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError, ValueError, IndexError):  # gone meanwhile
                stat = Path(f"/proc/{pid}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) != self.pgid:
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
                if rss := re.search(r"VmRSS:\s+(\d+) kB", status):  # none for a zombie
                    total += int(rss.group(1)) * 1024
        return total

    def run(self):
        while not self.stopping.is_set():
            self.samples.append(self.rss())
            self.stopping.wait(self.interval)

    def __enter__(self):
        self.samples.append(self.rss())
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.join()
        self.samples.append(self.rss())


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: float, connections: int, threads: int, script=None, args=()) -> dict:
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{round(seconds)}s"]
    command += ["--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if args:
        command += ["--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def number(pattern: str, default: float = 0.0) -> float:
        match = re.search(pattern, output, re.MULTILINE)
        return float(match.group(1)) if match else default

    def percentile(p: int) -> float:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * UNITS[match.group(2)]

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": int(number(r"(\d+) requests in")),
        "p50": percentile(50),
        "p99": percentile(99),
        "non_2xx_3xx": int(number(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "posts": int(number(r"^POSTS (\d+)")),
        "output": output,
    }


def mixed_plan(server: Server, path: Path, variant: str = "cached") -> None:
    """100 request slots: 5 comment POSTs to entries whose form is open (no token to copy:
    every reader gets the same page; the POSTs carry the site's Origin, as a browser's do)."""
    browser = Browser(server.url)
    front = browser.get("/")
    entries = entry_links(front.text)
    posts = [
        entry for entry in entries if "text" in form_fields(Browser(server.url).get(entry).text)[1]
    ][:5]
    if not posts:
        raise RuntimeError("no entry with an open comment form on the front page")
    lines = []
    gets = ["/"] * 3 + entries[:10] + ["/?page=2", "/?page=3", "/feed/"]
    for slot in range(100):
        if slot % 20 == 10:
            lines.append(f"POST\t{posts[slot // 20 % len(posts)]}")
        else:
            lines.append(f"GET\t{as_miss(gets[slot % len(gets)], variant)}")
    path.write_text("\n".join(lines) + "\n")


def page_facts(server: Server) -> dict:
    """URLs to load and SQL queries per page, counted in-process against the same database."""
    result = subprocess.run(
        [str(PYTHON), str(BENCH / "pages.py")],
        cwd=PROJECT,
        env=server.process_env() | {"PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def bench_comments(server: Server, database_url: str | None) -> int:
    """How many of the mixed workload's comments the database holds, once the POSTs still in
    the server when wrk stopped are done (the count holds still for a second)."""
    query = "SELECT COUNT(*) FROM blog_comment WHERE name = 'bench'"

    def count() -> int:
        if not database_url:
            return server.sql(query)[0][0]
        import psycopg

        with psycopg.connect(database_url) as db:
            return db.execute(query).fetchone()[0]

    stored, deadline = count(), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1)
        if (now := count()) == stored:
            break
        stored = now
    return stored


def run_case(
    server, name, url, options, script=None, args=(), warmup=None, duration=None, interval=0.2
) -> dict:
    """wrk on url for duration (options.duration) after warmup (options.warmup) seconds of
    the same load, Apache's memory sampled every interval seconds meanwhile."""
    status = Browser(server.url).get(url.removeprefix(server.url)).status
    if status != 200:  # a redirect or an error page would be measured as a fast success
        raise RuntimeError(f"{url} answered {status}:\n{server.error_log[-3000:]}")
    load = {"connections": options.connections, "threads": options.wrk_threads}
    warm = wrk(url, options.warmup if warmup is None else warmup, **load, script=script, args=args)
    with MemorySampler(server.pid, interval) as memory:
        seconds = options.duration if duration is None else duration
        result = wrk(url, seconds, **load, script=script, args=args)
    result["posts_sent"] = warm["posts"] + result["posts"]  # the warm-up's are stored too
    result["rss_samples"] = memory.samples
    result["rss_peak"] = max(memory.samples)
    result["rss_end"] = memory.samples[-1]
    result["rss_growth"] = memory.samples[-1] - memory.samples[0]
    result["errors"] = result["non_2xx_3xx"] + result["socket_errors"]
    result["case"] = name
    return result


def server_options(options) -> dict:
    return {"processes": options.processes, "threads": options.threads}


def hello_server(options) -> Server:
    return Server(**server_options(options), extra_args=["--entry-point", str(BENCH / "hello.py")])


# "uncached": the same server, but every GET carries a query string that no page file answers
# (Apache's rules skip it, Django writes no file for it), so Django renders each one: the cost
# of a miss as a site with page files pays it, per-version memos and fragments included.
VARIANTS = ("cached", "uncached")
MISS = "uncached"


def as_miss(path: str, variant: str) -> str:
    if variant != "uncached":
        return path
    return path + ("&" if "?" in path else "?") + MISS


def blog_server(entries: int, variant: str, options) -> tuple[Server, dict]:
    """A started server on a fresh copy of the seeded database, and the facts of its pages."""
    env = {
        "BLOG_COMMENT_RATE": "1000000000",
        # A shared cache (Redis) must not hand one run's pages to the next.
        "CACHE_KEY_PREFIX": f"bench-{time.time_ns()}",
        **options.env,
    }
    if options.database_url:
        env["DATABASE_URL"], seconds = postgres_database(entries, options.database_url)
    else:
        source, seconds = sqlite_database(entries)
    server = Server(**server_options(options), env=env)
    if not options.database_url:
        server.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, server.sqlite_path)
    facts = page_facts(server)
    facts["seed_seconds"] = seconds
    server.start()
    return server, facts


def bench_case(server: Server, facts: dict, case: str, variant: str, options) -> dict:
    if case == "mixed":
        plan = server.tmp / "mixed.plan"
        mixed_plan(server, plan, variant)
        script_args = [str(plan), server.url]
        before = bench_comments(server, server.settings.get("DATABASE_URL"))
        result = run_case(server, case, server.url + "/", options, BENCH / "mixed.lua", script_args)
        added = bench_comments(server, server.settings.get("DATABASE_URL")) - before
        result["comments_added"] = added
    elif case == "static":
        result = run_case(server, case, server.url + STATIC, options)
    else:
        result = run_case(server, case, server.url + as_miss(facts["urls"][case], variant), options)
        cold, warm = facts["queries"][case]
        result["queries"] = f"{cold}/{warm}" if warm != cold else str(cold)
    return result


PAGE_CASES = ("front", "deep", "entry", "feed")


def cached_ratios(server: Server, facts: dict, options) -> dict[str, list[float]]:
    """Each page file's rate ÷ the static file's, measured side by side: options.rounds
    rounds of every case for options.round_seconds each, the static file first in each
    round. The machine's load drifts over minutes (the same case, minutes apart, differed by
    up to 20 %), so a page is divided by the static file of its own round, not of the run."""
    urls = {"static": server.url + STATIC} | {
        case: server.url + facts["urls"][case] for case in PAGE_CASES
    }
    load = {"connections": options.connections, "threads": options.wrk_threads}
    ratios = {case: [] for case in PAGE_CASES}
    for _round in range(options.rounds):
        found = {case: wrk(url, options.round_seconds, **load) for case, url in urls.items()}
        if errors := sum(r["socket_errors"] + r["non_2xx_3xx"] for r in found.values()):
            raise RuntimeError(f"{errors} errors in a side-by-side round")
        for case in PAGE_CASES:
            ratios[case].append(found[case]["rps"] / found["static"]["rps"])
    return ratios


def bench_variant(variant: str, sizes, options, progress) -> tuple[dict, dict]:
    """Every case on both databases, the two sizes back to back so that both see the same
    machine (it is shared: its load drifts over minutes)."""
    servers, runs = {}, {entries: [] for entries in sizes}
    try:
        for entries in sizes:
            servers[entries] = blog_server(entries, variant, options)
        # Copying the big database leaves hundreds of MB for the kernel to write back, and a
        # fresh server is slower for its first seconds of load: either would slow the first case.
        os.sync()
        for server, _facts in servers.values():
            load = {"connections": options.connections, "threads": options.wrk_threads}
            wrk(server.url + "/", 3 * options.warmup, **load)
        for case in CASES:
            best = {}
            for _round in range(options.repeat):
                for entries in sizes:
                    progress.set_description(f"{entries} entries, {variant}: {case}")
                    server, facts = servers[entries]
                    result = bench_case(server, facts, case, variant, options)
                    result["entries"], result["variant"] = entries, variant
                    # Other programs on the machine only ever slow a run down: keep the best.
                    if entries not in best or result["rps"] > best[entries]["rps"]:
                        best[entries] = result
                    progress.update()
            for entries in sizes:
                runs[entries].append(best[entries])
        if variant == "cached":
            for entries in sizes:
                progress.set_description(f"{entries} entries, cached ÷ static side by side")
                server, facts = servers[entries]
                facts["cached_ratios"] = cached_ratios(server, facts, options)
                progress.update()
        for server, _facts in servers.values():
            if "Traceback" in server.error_log:
                print(server.error_log[-3000:], file=sys.stderr)
        return runs, {entries: facts for entries, (_server, facts) in servers.items()}
    finally:
        for server, _facts in servers.values():
            server.close()


# -- the old site, and a long mixed run -----------------------------------------------------


@contextlib.contextmanager
def peer_server(venv: Path, database: Path, options):
    """The old Flask app with scoped_session (../shared/peers), under the same mod_wsgi-express
    settings, on its own blog.db."""
    root = Path(tempfile.mkdtemp(prefix="homepage-peer-"))
    root.chmod(0o755)
    port = free_port()
    command = [
        str(venv / "bin" / "mod_wsgi-express"), "start-server", str(PEERS / "flask_scoped.py"),
        "--host", "127.0.0.1", "--port", str(port), "--processes", str(options.processes),
        "--threads", str(options.threads), "--server-root", str(root / "server"),
    ]  # fmt: skip
    if os.geteuid() == 0:
        command += ["--user", "www-data", "--group", "www-data"]
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "BLOG_DB": str(database)}
    log = open(root / "log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=PEERS, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if Browser(url).get("/blog").status == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((root / "log").read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield url, process.pid
    finally:
        stop_group(process)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def peer_comparison(options) -> list[dict]:
    """The old site's /blog and homepage's front page (cached and not) on the same 50 entries."""
    venv = Path(options.peer_venv)
    work = Path(tempfile.mkdtemp(prefix="homepage-peer-data-"))
    work.chmod(0o755)
    database = work / "blog.db"
    subprocess.run(
        [str(venv / "bin" / "python"), str(PEERS / "make_legacy_db.py"), "--entries", "50",
         "--comments", "3", "--out", str(database), "--force"],
        check=True, capture_output=True,
    )  # fmt: skip
    database.chmod(0o644)
    results = []
    load = {"connections": options.connections, "threads": options.wrk_threads}
    try:
        with peer_server(venv, database, options) as (url, _pid):
            wrk(url + "/blog", options.warmup, **load)
            result = wrk(url + "/blog", options.duration, **load)
            results.append(dict(result, case="old Flask app /blog (50 entries, all listed)"))
        for variant in VARIANTS:
            env = {"BLOG_COMMENT_RATE": "1000000000", **options.env}
            with Server(**server_options(options), env=env) as server:
                server.manage("import_legacy_blog", str(database))
                server.manage("shell", "-c", "from blog.cache import renew; renew()")
                front = server.url + as_miss("/", variant)
                wrk(front, options.warmup, **load)
                result = wrk(front, options.duration, **load)
                results.append(dict(result, case=f"homepage / {variant} (same 50, 10 listed)"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# The soak's memory is measured after this much of the same load: in the first seconds
# Apache starts its extra children and each daemon thread opens its database connection
# and fills its caches (2 x 16: +50 MB in 15 s, then +3 MB in the next 15 s).
SOAK_WARMUP = 30


def soak(options) -> dict:
    """The mixed workload for options.soak seconds on 100 entries, page cache on, after a
    warm-up of the same load: Apache's memory idle, at the start, its peak, and at the end."""
    server, _facts = blog_server(100, "cached", options)
    try:
        plan = server.tmp / "mixed.plan"
        mixed_plan(server, plan)
        idle = MemorySampler(server.pid).rss()
        result = run_case(
            server, "soak", server.url + "/", options, BENCH / "mixed.lua",
            [str(plan), server.url], warmup=SOAK_WARMUP, duration=options.soak, interval=1.0,
        )  # fmt: skip
        result["comments_added"] = bench_comments(server, server.settings.get("DATABASE_URL"))
        result["rss"] = (result["rss_samples"][0], result["rss_peak"], result["rss_end"])
        result["rss_idle"] = idle
        result["rss_every_30_s"] = result["rss_samples"][::30]  # sampled every second
        return result
    finally:
        server.close()


# -- the report -------------------------------------------------------------------------


def megabytes(value: int) -> str:
    return f"{value / MIB:.0f}"


def table(hello: dict, runs: dict[tuple[int, str], list[dict]], small: int, big: int) -> str:
    rows = [
        "| case | entries | page cache | req/s | p50 ms | p99 ms | errors | ÷ hello | "
        f"{big:,}/{small:,} | SQL | peak RSS MB | RSS Δ MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(result, ratio="", entries="—", variant="—"):
        rows.append(
            f"| {result['case']} | {entries} | {variant} | {result['rps']:,.0f} | "
            f"{result['p50']:.1f} | {result['p99']:.1f} | {result['errors']} | "
            f"{result['rps'] / hello['rps']:.2f} | {ratio} | {result.get('queries', '—')} | "
            f"{megabytes(result['rss_peak'])} | {megabytes(result['rss_growth'])} |"
        )

    row(hello)
    found = {(r["entries"], r["variant"], r["case"]): r for rs in runs.values() for r in rs}
    for case in CASES:
        for variant in VARIANTS:
            before, after = found[small, variant, case], found[big, variant, case]
            row(before, entries=f"{small:,}", variant=variant)
            slower = f"{before['rps'] / after['rps']:.2f}×"
            row(after, ratio=slower, entries=f"{big:,}", variant=variant)
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small database, short runs")
    parser.add_argument("--database-url", help="a PostgreSQL server to compare with SQLite")
    parser.add_argument("--duration", type=int, help="seconds per case (default 10, quick 3)")
    parser.add_argument(
        "--warmup", type=float, help="seconds before each case (default 3, quick 1)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each case N times, keep the best"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="side-by-side rounds of the static file and the page files (default 5, quick 2)",
    )
    parser.add_argument(
        "--round-seconds", type=float, default=3, help="seconds per case in those rounds"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra setting for the blog's servers, e.g. REDIS_URL=redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--peer-venv",
        help="the old Flask app's virtualenv (../shared/peers/README.md): compare with it",
    )
    parser.add_argument(
        "--soak", type=int, default=0, help="also run the mixed workload this many seconds"
    )
    options = parser.parse_args()
    if options.duration is None:
        options.duration = 3 if options.quick else 10
    if options.warmup is None:
        options.warmup = 1 if options.quick else 3
    if options.rounds is None:
        options.rounds = 2 if options.quick else 5
    try:
        options.env = dict(item.split("=", 1) for item in options.env)
    except ValueError:
        parser.error("--env takes KEY=VALUE")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    small, big = (100, 2_000) if options.quick else (100, 100_000)
    command = "bench/run.py " + " ".join(sys.argv[1:])

    started = datetime.now(UTC)
    total = 2 + 2 * len(VARIANTS) * len(CASES) * options.repeat + bool(options.peer_venv) + 2
    total += bool(options.soak)
    with (
        tqdm(total=total, disable=not sys.stdout.isatty()) as progress,
        hello_server(options) as ceiling,
    ):
        # The ceiling before and after the blog's cases: the machine's load drifts.
        progress.set_description("hello world")
        hellos = [run_case(ceiling, "hello", ceiling.url + "/", options)]
        progress.update()
        extras = {}
        if options.peer_venv:  # first: a peer that cannot start fails the run at once
            progress.set_description("the old site")
            extras["peer"] = peer_comparison(options)
            progress.update()
        runs, facts = {}, {}
        for variant in VARIANTS:
            variant_runs, variant_facts = bench_variant(variant, (small, big), options, progress)
            for entries in (small, big):
                runs[entries, variant] = variant_runs[entries]
                # Only the server that built the database knows how long seeding took.
                seconds = facts.get(entries, {}).get("seed_seconds")
                facts[entries] = facts.get(entries, {}) | variant_facts[entries]
                facts[entries]["seed_seconds"] = facts[entries]["seed_seconds"] or seconds
        if options.soak:
            progress.set_description(f"mixed for {options.soak} s")
            extras["soak"] = soak(options)
            progress.update()
        progress.set_description("hello world")
        hellos.append(run_case(ceiling, "hello", ceiling.url + "/", options))
        progress.update()
    hello = dict(hellos[0], rps=sum(h["rps"] for h in hellos) / len(hellos))

    vendor = facts[big]["vendor"]
    lines = [
        f"# {vendor}, {started:%Y-%m-%d %H:%M} UTC: `.venv/bin/python {command.strip()}`",
        "",
        f"mod_wsgi-express {options.processes} processes × {options.threads} threads for every "
        f"case; wrk -t{options.wrk_threads} -c{options.connections}, {options.warmup:g} s warm-up "
        f"then {options.duration:g} s per case"
        + (f", best of {options.repeat} rounds" if options.repeat > 1 else "")
        + f"; {os.cpu_count()} CPUs shared with wrk.",
        "",
        table(hello, runs, small, big),
        "",
        f"- hello world: {hellos[0]['rps']:,.0f} req/s before the blog's cases, "
        f"{hellos[1]['rps']:,.0f} after; ÷ hello divides by their mean.",
    ]
    for entries in (small, big):
        fact = facts[entries]
        mixed = ", ".join(
            f"{variant} {r['posts_sent']} sent / {r.get('comments_added', 'n/a')} stored"
            for (size, variant), results in runs.items()
            for r in results
            if size == entries and r["case"] == "mixed"
        )
        memory = "; ".join(
            f"{variant} " + " → ".join(megabytes(r["rss_end"]) for r in results)
            for (size, variant), results in runs.items()
            if size == entries
        )
        lines.append(
            f"- {entries:,} entries ({fact['pages']:,} pages): deep = `{fact['urls']['deep']}`, "
            f"entry = `{fact['urls']['entry']}` ({fact['entry_comments']} comments); "
            f"mixed-workload comment POSTs: {mixed}. Apache RSS (MB) after each case: {memory}."
            + (f" Seeded in {fact['seed_seconds']:.1f} s." if fact.get("seed_seconds") else "")
        )
    found = {(r["entries"], r["variant"], r["case"]): r for rs in runs.values() for r in rs}
    for entries in (small, big):
        static = found[entries, "cached", "static"]["rps"]
        ratios = ", ".join(
            f"{case} {found[entries, 'cached', case]['rps'] / static:.2f}" for case in PAGE_CASES
        )
        side_by_side = ", ".join(
            f"{case} {statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
            for case, values in facts[entries]["cached_ratios"].items()
        )
        lines.append(
            f"- {entries:,} entries, cached ÷ Apache's static file: side by side, the median of "
            f"{options.rounds} rounds (their range): {side_by_side}; the cases above, minutes "
            f"apart (static {static:,.0f} req/s): {ratios}."
        )
    for result in extras.get("peer", []):
        lines.append(
            f"- {result['case']}: {result['rps']:,.0f} req/s, p50 {result['p50']:.1f} ms, "
            f"{result['non_2xx_3xx'] + result['socket_errors']} errors, "
            f"{result['rps'] / hello['rps']:.3f} of hello."
        )
    if "soak" in extras:
        result = extras["soak"]
        start, peak, end = (megabytes(value) for value in result["rss"])
        lines.append(
            f"- mixed for {options.soak} s (100 entries, cached): {result['rps']:,.0f} req/s "
            f"({result['rps'] / hello['rps']:.2f} of hello), "
            f"{result['non_2xx_3xx'] + result['socket_errors']} errors, "
            f"{result['posts_sent']} POSTs sent / {result['comments_added']} stored "
            f"(the {SOAK_WARMUP}-s warm-up's included); Apache RSS idle "
            f"{megabytes(result['rss_idle'])} MB, after the warm-up (start) {start} MB, "
            f"peak {peak} MB, end {end} MB; every 30 s: "
            + ", ".join(megabytes(value) for value in result["rss_every_30_s"])
            + " MB."
        )
    lines += [
        "",
        "SQL: queries per page counted in-process with the test client, cold/warm (a second "
        "request, which the page cache answers). ÷ hello: req/s over the hello-world app's. "
        f"{big:,}/{small:,}: how many times slower the page is at {big:,} entries. "
        "RSS: all Apache processes together, sampled every 0.2 s; Δ from start to end of the case.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.mkdir(exist_ok=True)
    name = f"{started:%Y%m%d-%H%M%S}-{vendor}{'-quick' if options.quick else ''}"
    (RESULTS / f"{name}.md").write_text(report)
    raw = {
        "hello": hellos,
        "runs": {f"{size} {variant}": results for (size, variant), results in runs.items()},
        "facts": facts,
        "extras": extras,
        "command": command,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(raw, indent=2, default=str))
    print(f"Written to {RESULTS / name}.md (raw figures in .json)")


if __name__ == "__main__":
    main()
