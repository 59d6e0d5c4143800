"""Date archives, their navigation, time zones, prev/next links, featured entries, error pages."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def at(year, month, day, hour=12, minute=0):
    """An aware datetime in the site's current time zone."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone.get_current_timezone())


def test_year_archive_lists_its_entries_and_months(client, create_entry):
    """/YYYY/ lists that year's entries, links its months, and links neighbouring years."""
    create_entry(title="Spring 2023", timestamp=at(2023, 4, 2))
    march = create_entry(title="March 2024", timestamp=at(2024, 3, 5))
    july = create_entry(title="July 2024", timestamp=at(2024, 7, 9))
    create_entry(title="Winter 2025", timestamp=at(2025, 1, 20))
    response = client.get(reverse("blog:archive-year", args=[2024]))
    assert response.status_code == 200
    assert list(response.context["object_list"]) == [july, march]
    html = response.content.decode()
    assert '<a href="/2024/mar/">March</a>' in html
    assert '<a href="/2024/jul/">July</a>' in html
    assert '<a rel="prev" href="/2023/">' in html
    assert '<a rel="next" href="/2025/">' in html


def test_month_archive_links_previous_and_next_months_with_entries(client, create_entry):
    """/YYYY/mon/ lists the month's entries and links the nearest months that have entries."""
    create_entry(title="January", timestamp=at(2024, 1, 10))
    feb = create_entry(title="February", timestamp=at(2024, 2, 29))
    create_entry(title="May", timestamp=at(2024, 5, 1))
    response = client.get(reverse("blog:archive-month", args=[2024, "feb"]))
    assert list(response.context["object_list"]) == [feb]
    html = response.content.decode()
    assert '<a rel="prev" href="/2024/jan/">← January 2024</a>' in html
    assert '<a rel="next" href="/2024/may/">May 2024 →</a>' in html
    assert '<a href="/2024/">2024</a>' in html


def test_front_page_links_every_year_newest_first(client, create_entry):
    """The front page's archive section links each year that has entries."""
    for year in (2021, 2023, 2024):
        create_entry(title=f"In {year}", timestamp=at(year, 6, 1))
    response = client.get(reverse("blog:index"))
    assert [d.year for d in response.context["date_list"]] == [2024, 2023, 2021]
    html = response.content.decode()
    assert html.index('href="/2024/"') < html.index('href="/2023/"') < html.index('href="/2021/"')
    assert 'href="/2022/"' not in html


def test_empty_archives_and_bad_dates_are_404(client, create_entry):
    """Years and months without entries, impossible dates and odd years are 404s, not 500s."""
    create_entry(timestamp=at(2024, 3, 5))
    client.raise_request_exception = False
    for url in (
        "/2019/",
        "/2024/jan/",
        "/2024/foo/",
        "/0000/",
        "/0000/jan/",
        "/2024/feb/30/an-entry-x/",
        "/9999/dec/31/nothing/",
        "/0000/jan/1/nothing/feed/",
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_entries_near_midnight_land_in_their_local_day(settings, client, create_entry, zone):
    """In a non-UTC TIME_ZONE, entries minutes either side of midnight on New Year's Eve
    belong to the local year, month and day: in archives and in their permalinks."""
    settings.TIME_ZONE = zone
    local = ZoneInfo(zone)
    before = create_entry(title="Before", timestamp=datetime(2024, 12, 31, 23, 55, tzinfo=local))
    after = create_entry(title="After", timestamp=datetime(2025, 1, 1, 0, 5, tzinfo=local))
    # In UTC these two are on the same calendar day: the split must come from the local zone.
    utc_days = {e.timestamp.astimezone(ZoneInfo("UTC")).date() for e in (before, after)}
    assert len(utc_days) == 1

    assert before.get_absolute_url() == "/2024/dec/31/before/"
    assert after.get_absolute_url() == "/2025/jan/1/after/"
    assert client.get(before.get_absolute_url()).context["entry"] == before
    assert client.get(after.get_absolute_url()).context["entry"] == after
    assert list(client.get("/2024/").context["object_list"]) == [before]
    assert list(client.get("/2025/").context["object_list"]) == [after]
    assert list(client.get("/2024/dec/").context["object_list"]) == [before]
    assert list(client.get("/2025/jan/").context["object_list"]) == [after]
    assert [d.year for d in client.get("/").context["date_list"]] == [2025, 2024]
    html = client.get(before.get_absolute_url()).content.decode()
    assert '<time datetime="2024-12-31T23:55:00' in html


def test_entry_page_links_older_and_newer_entries(client, create_entry):
    """An entry links its published neighbours by date with rel=prev/next."""
    now = timezone.now()
    first = create_entry(title="First", timestamp=now - timedelta(days=3))
    middle = create_entry(title="Middle", timestamp=now - timedelta(days=2))
    last = create_entry(title="Last", timestamp=now - timedelta(days=1))
    html = client.get(middle.get_absolute_url()).content.decode()
    assert f'<a rel="prev" href="{first.get_absolute_url()}">← First</a>' in html
    assert f'<a rel="next" href="{last.get_absolute_url()}">Last →</a>' in html
    assert 'rel="prev"' not in client.get(first.get_absolute_url()).content.decode()
    assert 'rel="next"' not in client.get(last.get_absolute_url()).content.decode()


def test_featured_section_on_the_first_page_only(client, create_entry):
    """Page 1 shows up to five published featured entries, newest first; later pages don't."""
    now = timezone.now()
    featured = [
        create_entry(title=f"Star {i}", featured=True, timestamp=now - timedelta(hours=i + 1))
        for i in range(7)
    ]
    for i in range(10):
        create_entry(title=f"Plain {i}", timestamp=now - timedelta(days=i + 1))
    first = client.get(reverse("blog:index"))
    assert list(first.context["featured"]) == featured[:5]
    html = first.content.decode()
    section = html[html.index('id="featured-heading"') : html.index("</section>")]
    assert "Star 0" in section and "Star 4" in section and "Star 5" not in section
    second = client.get(reverse("blog:index"), {"page": 2})
    assert "featured" not in second.context
    assert 'id="featured-heading"' not in second.content.decode()


def test_no_featured_section_without_featured_entries(client, create_entry):
    """Without featured entries the section is left out entirely."""
    create_entry(title="Ordinary")
    assert 'id="featured-heading"' not in client.get(reverse("blog:index")).content.decode()


def test_not_found_page_is_friendly_and_in_the_site_look(client, db):
    """A real 404 renders templates/404.html inside the site's layout."""
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'class="site-header"' in html
    assert "/static/css/site.css" in html
    assert 'href="/"' in html


def test_server_error_page_is_friendly_and_in_the_site_look(db):
    """The 500 page needs no context or database and keeps the site's stylesheet."""
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "/static/css/site.css" in html
