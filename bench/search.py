"""Time search, related entries and tag pages on a seeded database (issue 13).

    DEBUG=1 SQLITE_PATH=/tmp/blog.sqlite3 .venv/bin/python bench/search.py [--tag]
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/mybench .venv/bin/python bench/search.py

Seed first (manage.py migrate; manage.py seed_blog --entries 100000 --seed 1). --tag gives
every entry 1 to 4 of 200 tags (deterministic, once) so that related entries and tag pages
have something to read. Each case is what the page runs (first page of 10 and the count),
best and median of --repeat runs, in milliseconds.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homepage.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Q  # noqa: E402
from taggit.models import Tag  # noqa: E402

from blog.models import Entry, TaggedEntry  # noqa: E402

QUERIES = [
    ("a body word in nearly every entry", "connection"),
    ("a rarer body word", "smörgåsbord"),
    ("a title topic", "Zürich"),
    ("two title topics", "postgresql deployments"),
    ("a stem (migrations → migrate)", "migrate"),
    ("no match", "xylophone"),
]


def timed(func, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def search_page(query):
    results = Entry.objects.published().search(query)
    return lambda: (list(results[:10]), results.count())


def substring_page(query):
    """The search before issue 13 on SQLite: every word in title or body, newest first."""
    condition = Q()
    for word in query.split():
        condition &= Q(title__icontains=word) | Q(body__icontains=word)
    results = Entry.objects.published().filter(condition).order_by("-timestamp", "-id")
    return lambda: (list(results[:10]), results.count())


def add_tags():
    if TaggedEntry.objects.exists():
        return
    rng = random.Random(1)
    tags = [Tag.objects.create(name=f"topic {n}", slug=f"topic-{n}") for n in range(200)]
    # Skewed like real tags: a few popular, many rare.
    weights = [1 / (n + 1) for n in range(200)]
    rows = []
    for entry_id in Entry.objects.values_list("id", flat=True).iterator():
        picked = set(rng.choices(tags, weights, k=rng.randint(1, 4)))
        rows.extend(TaggedEntry(content_object_id=entry_id, tag=tag) for tag in picked)
    TaggedEntry.objects.bulk_create(rows, batch_size=5000)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tag", action="store_true")
    options = parser.parse_args()
    total = Entry.objects.count()
    print(f"{connection.vendor}, {total:,} entries")
    print("| case | query | matches | best ms | median ms |")
    print("|---|---|---:|---:|---:|")
    for label, query in QUERIES:
        matches = Entry.objects.published().search(query).count()
        best, median = timed(search_page(query), options.repeat)
        print(f"| {label} | `{query}` | {matches:,} | {best:.1f} | {median:.1f} |")
    if connection.vendor == "sqlite":
        for label, query in QUERIES[:3]:
            best, median = timed(substring_page(query), options.repeat)
            print(f"| before: substring, {label} | `{query}` | | {best:.1f} | {median:.1f} |")
    if options.tag:
        add_tags()
        print(f"| (tags: {TaggedEntry.objects.count():,} on {total:,} entries) | | | | |")
        for label, slug in (("most popular tag", "topic-0"), ("rare tag", "topic-199")):
            tag = Tag.objects.get(slug=slug)
            page = Entry.objects.published().with_comment_counts().with_tags().tagged(tag)
            page = page.order_by("-timestamp", "-id")
            best, median = timed(lambda p=page: (list(p[:10]), p.count()), options.repeat)
            print(
                f"| tag page, {label} | `{slug}` | {page.count():,} | {best:.1f} | {median:.1f} |"
            )
        index = TaggedEntry.published_tags()
        best, median = timed(lambda: list(index.all()), options.repeat)
        print(f"| tag index with counts | | {index.count()} tags | {best:.1f} | {median:.1f} |")
        for label, pick in (("newest entry", "-timestamp"), ("oldest entry", "timestamp")):
            entry = Entry.objects.with_tags().order_by(pick).first()
            best, median = timed(entry.related, options.repeat)
            print(f"| related entries, {label} | | | {best:.1f} | {median:.1f} |")


if __name__ == "__main__":
    main()
