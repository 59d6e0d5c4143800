"""Run by bench/run.py inside Django, against the database a server is about to serve.

Prints JSON: the URLs to load (a deep list page near the end, an entry page with comments)
and the SQL queries each page makes, counted with the test client: cold (the first request
of the process, on an empty cache) and warm (the same page again).
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homepage.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count, Q  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from blog.models import Entry  # noqa: E402
from blog.views import BlogViewMixin  # noqa: E402

COMMENTS = 5  # the entry page shows an entry with this many comments (or the most there are)


def pick_entry():
    recent = (
        Entry.objects.published()
        .filter(comments_enabled=True)
        .annotate(n=Count("comments", filter=Q(comments__is_public=True)))
        .order_by("-timestamp", "-id")[:200]
    )
    entries = list(recent)
    exact = [entry for entry in entries if entry.n == COMMENTS]
    entry = exact[0] if exact else max(entries, key=lambda entry: entry.n)
    return entry.get_absolute_url(), entry.n


def main(extra_paths):
    entries = Entry.objects.published().count()
    pages = max(1, -(-entries // BlogViewMixin.paginate_by))
    entry_url, comments = pick_entry()
    urls = {
        "front": "/",
        "deep": f"/?page={max(1, pages - 1)}",
        "entry": entry_url,
        "feed": "/feed/",
    }
    client = Client(HTTP_HOST="127.0.0.1")
    queries = {}
    for name, path in [*urls.items(), *((p, p) for p in extra_paths)]:
        counts = []
        for _attempt in ("cold", "warm"):  # warm: a page cache, if on, answers the second
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            if response.status_code != 200:
                sys.exit(f"{path} answered {response.status_code}")
            counts.append(len(captured.captured_queries))
        queries[name] = counts
    json.dump(
        {
            "entries": entries,
            "pages": pages,
            "entry_comments": comments,
            "urls": urls,
            "queries": queries,
            "vendor": connection.vendor,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
