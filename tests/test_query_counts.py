"""Pages cost the same few queries, and walk an index, however big the blog grows."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from blog.models import Entry

pytestmark = pytest.mark.django_db

on_sqlite = pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="SQLite's query planner output"
)


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    """Count the queries of the pages themselves, not of the page cache's hits."""
    settings.BLOG_PAGE_CACHE_SECONDS = 0


def make_blog(create_entry, create_comment, entries, years, comments=2):
    start = datetime(2025, 6, 1, tzinfo=UTC)
    step = timedelta(days=365 * years) / entries
    made = []
    for i in range(entries):
        entry = create_entry(title=f"Entry {i}", timestamp=start - step * i, featured=i % 7 == 0)
        entry.tags.add(f"tag{i % 5}", f"tag{i % 3}", "everything")
        for j in range(comments):
            create_comment(entry, text=f"Comment {j}", is_public=j != 1)
        made.append(entry)
    return made


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_list_pages_cost_the_same_whatever_the_size(client, create_entry, create_comment):
    """Front page and last page: as many queries for 3 entries in one year as for 60 entries
    with comments over 12 years (counts, archive years and featured list included)."""
    make_blog(create_entry, create_comment, entries=3, years=0.5)
    index = reverse("blog:index")
    small = (queries(client, index), queries(client, f"{index}?page=1"))
    Entry.objects.all().delete()
    make_blog(create_entry, create_comment, entries=60, years=12)
    big = (queries(client, index), queries(client, f"{index}?page=6"))
    assert small[0] == big[0] <= 8  # 6, and the tags of the page's entries, the page links
    assert big[1] <= big[0]


def test_comment_counts_count_public_comments_only(client, create_entry, create_comment):
    """The list shows each entry's public comments (the subquery, not a JOIN)."""
    entry = create_entry(title="Counted")
    for is_public in (True, True, False):
        create_comment(entry, is_public=is_public)
    create_entry(title="Quiet")
    counts = {e.title: e.comment_count for e in Entry.objects.published().with_comment_counts()}
    assert counts == {"Counted": 2, "Quiet": 0}


def test_entry_page_costs_the_same_for_old_and_new_entries(client, create_entry, create_comment):
    """An entry page (with its neighbours, comments, tags, related entries and the page
    links of the navigation) is six queries, oldest or newest, however many share its tags."""
    entries = make_blog(create_entry, create_comment, entries=30, years=5, comments=6)
    newest, oldest = entries[0], entries[-1]
    assert queries(client, newest.get_absolute_url()) == 6
    assert queries(client, oldest.get_absolute_url()) == 6
    assert queries(client, entries[15].get_absolute_url()) == 6


def test_archive_dates_skip_empty_periods_in_three_queries(create_entry, settings):
    """Years (or months, or days) with entries, newest first, in the site's time zone, as
    dates() gives them; a period without entries is left out; three queries however many."""
    settings.TIME_ZONE = "Europe/Berlin"
    for timestamp in (
        datetime(2019, 5, 1, tzinfo=UTC),
        datetime(2019, 5, 20, tzinfo=UTC),
        datetime(2021, 12, 31, 23, 30, tzinfo=UTC),  # already 2022 in Berlin
        datetime(2023, 3, 1, tzinfo=UTC),
    ):
        create_entry(timestamp=timestamp)
    create_entry(title="Draft", timestamp=datetime(2020, 5, 1, tzinfo=UTC), is_draft=True)
    published = Entry.objects.published()
    with CaptureQueriesContext(connection) as captured:
        years = published.dates_with_entries("year")
    assert [year.year for year in years] == [2023, 2022, 2019]
    assert years[0].isoformat() == "2023-01-01T00:00:00+01:00"
    assert len(captured.captured_queries) == 3
    for kind in ("year", "month", "day"):
        assert published.dates_with_entries(kind) == list(
            published.datetimes("timestamp", kind, order="DESC")
        )
    assert Entry.objects.none().dates_with_entries("year") == []


def test_archive_days_across_daylight_saving_changes(create_entry, settings):
    """Day starts step over the 25-hour day of a DST change without losing or repeating one."""
    settings.TIME_ZONE = "Europe/Berlin"
    for day in (25, 26, 27):
        create_entry(timestamp=datetime(2025, 10, day, 12, tzinfo=UTC))
    days = Entry.objects.published().dates_with_entries("day")
    assert [day.day for day in days] == [27, 26, 25]


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(row[-1] for row in cursor.fetchall())


@on_sqlite
def test_list_and_count_read_the_published_index(create_entry):
    """Page and count walk entry_published_idx: no table scan, no sort, no GROUP BY."""
    create_entry()
    published = Entry.objects.published()
    page = published.with_comment_counts().order_by("-timestamp", "-id")[100:110]
    for query_plan in (plan(page), plan(published.values("pk"))):
        assert "USING INDEX entry_published_idx" in query_plan or (
            "USING COVERING INDEX entry_published_idx" in query_plan
        )
        assert not re.search(r"SCAN blog_entry(?! USING)", query_plan)  # no table scan
        assert "TEMP B-TREE" not in query_plan
