"""blog/queries.py: archive dates and neighbours, right and in a fixed number of queries
however many entries there are (their pages' plans: tests/test_query_counts.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blog.models import Entry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    """Count the queries of the pages themselves, not of the page cache's hits."""
    settings.BLOG_PAGE_CACHE_SECONDS = 0


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


def test_neighbours_of_entries_with_the_same_timestamp(create_entry):
    """Entries published at the same instant are ordered by id, so none is skipped."""
    moment = timezone.now() - timedelta(hours=1)
    a, b, c = (create_entry(title=t, timestamp=moment) for t in "abc")
    assert a.neighbours() == (None, b)
    assert b.neighbours() == (a, c)
    assert c.neighbours() == (b, None)


def test_entry_page_query_count_is_fixed_with_neighbours(
    client, create_entry, create_comment, django_assert_max_num_queries
):
    """Entry, neighbours, tags, comments (the pages' count, the page's first comments and
    their replies) and the navigation's pages: seven queries however many entries exist."""
    for i in range(40):
        create_entry(title=f"E{i}", days=-i - 1)
    entry = create_entry(title="Centre", days=-20.5)
    create_comment(entry)
    with django_assert_max_num_queries(7):
        response = client.get(entry.get_absolute_url())
    assert response.context["older"] and response.context["newer"]
