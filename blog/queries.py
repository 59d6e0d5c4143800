"""Queries shaped for the database: what they return is plain, how they ask is not.

Archive dates and neighbours read a few index entries however big the blog grows, because
SQLite ranges an index scan on the first bound it is given and never on an OR (their plans
and counts are asserted in tests/test_queries.py; bench/README.md has the figures). Search
is full text on both databases (blog/search.py).
"""

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone

from blog import search

SEARCH_MAX_WORDS = 10  # bounds the query a long search string can build

# Longer than any such period (DST included) and shorter than two: added to the start of
# one, it lands in the next.
PERIOD_STEP = {"year": timedelta(days=370), "month": timedelta(days=32), "day": timedelta(hours=36)}


def period_start(moment: datetime, kind: str) -> datetime:
    """The start of the year, month or day holding moment, in the site's time zone."""
    local = timezone.localtime(moment)
    fields = {"year": (local.year, 1, 1), "month": (local.year, local.month, 1)}
    return timezone.make_aware(datetime(*fields.get(kind, (local.year, local.month, local.day))))


class PlannedQueries(QuerySet):
    """Mixed into EntryQuerySet: the queries whose form the database depends on."""

    def dates_with_entries(self, kind: str) -> list[datetime]:
        """The first moment of each year, month or day (local time) with entries, newest first.

        What dates() gives, from a few index entries per period instead of truncating the
        timestamp of every row: the oldest and the newest entry, then, for each period
        between, the first entry on or after its start, all in one query.
        """
        span = [
            self.order_by(order).values_list("pk", "timestamp").first()
            for order in ("timestamp", "-timestamp")
        ]
        if span[0] is None:
            return []
        starts, start, newest = {}, period_start(span[0][1], kind), span[1][1]
        while start <= newest:
            starts[f"p{len(starts)}"] = start
            start = period_start(start + PERIOD_STEP[kind], kind)
        # Each probe's bound first: SQLite ranges its index scan on the first lower bound, and
        # an archive's own (1 January) would make every probe walk from there.
        probes = {
            name: Subquery(
                (self.model.objects.filter(timestamp__gte=start) & self)
                .order_by("timestamp")
                .values("timestamp")[:1]
            )
            for name, start in starts.items()
        }
        found = self.model.objects.filter(pk=span[0][0]).values(**probes).get().values()
        return sorted({period_start(at, kind) for at in found if at is not None}, reverse=True)

    def search(self, query: str):
        """Entries matching every word of query (stemmed), best match first, each with a
        highlighted ``snippet`` (see blog.search.highlight). Titles weigh more than bodies.

        SQLite: the FTS5 index blog_entry_fts, ranked by bm25. PostgreSQL: full text search
        on a stored weighted vector with the GIN index entry_search_idx.
        """
        words = query.split()[:SEARCH_MAX_WORDS]
        if connection.vendor == "postgresql":
            return search.postgresql_search(self, words)
        expression = search.fts5_expression(words)
        if not expression:
            return self.none()
        return (
            self.filter(search_index__document__match=expression)
            .annotate(rank=search.bm25(), snippet=search.fts5_snippet())
            .order_by("rank", "-timestamp", "-id")
        )

    def neighbours(self, entry) -> tuple:
        """The entries of this queryset just before and after entry, as (older, newer), in one
        query."""
        # Each bound stands alone, outside any OR: SQLite cannot range its index scan on an
        # OR, and an old entry's neighbours would cost a walk through every newer entry.
        objects = self.model.objects
        same_time = {"timestamp": entry.timestamp}
        older = (objects.filter(timestamp__lte=entry.timestamp) & self).exclude(
            **same_time, id__gte=entry.id
        )
        newer = (objects.filter(timestamp__gte=entry.timestamp) & self).exclude(
            **same_time, id__lte=entry.id
        )
        pair = objects.filter(
            Q(pk=Subquery(older.order_by("-timestamp", "-id").values("pk")[:1]))
            | Q(pk=Subquery(newer.order_by("timestamp", "id").values("pk")[:1]))
        ).only("title", "slug", "timestamp")
        older_entry = newer_entry = None
        for found in pair:
            if (found.timestamp, found.id) < (entry.timestamp, entry.id):
                older_entry = found
            else:
                newer_entry = found
        return older_entry, newer_entry
