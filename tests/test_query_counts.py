"""Pages cost the same few queries, and walk an index, however big the blog grows."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from blog.models import Entry, _first_comment_ids_sql, _first_comments_sql, _replies_sql

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
    # 6, the tags of the page's entries, their comment counts, the page links
    assert small[0] == big[0] <= 9
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
    """An entry page (with its neighbours, comments in three queries, tags, related entries
    and the page links of the navigation) is eight queries, oldest or newest, however many
    share its tags."""
    entries = make_blog(create_entry, create_comment, entries=30, years=5, comments=6)
    newest, oldest = entries[0], entries[-1]
    assert queries(client, newest.get_absolute_url()) == 8
    assert queries(client, oldest.get_absolute_url()) == 8
    assert queries(client, entries[15].get_absolute_url()) == 8


def test_entry_page_queries_stay_fixed_as_threads_grow(client, create_entry, create_comment):
    """The entry page costs as many queries with one comment as with 20 threads of 5 replies:
    replies come in one query for the page's threads, not one query per thread."""
    entry = create_entry()
    create_comment(entry)
    one_comment = queries(client, entry.get_absolute_url())
    for n in range(20):
        root = create_comment(entry, text=f"Thread {n}")
        for m in range(5):
            create_comment(entry, text=f"Reply {n}.{m}", parent=root)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(entry.get_absolute_url()).content.decode()
    assert len(captured.captured_queries) == one_comment <= 8
    assert html.count('class="comment reply"') == 100
    assert html.count('class="comment"') == 21


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


def test_tag_index_pages_and_json_feeds_cost_the_same_whatever_the_size(
    client, create_entry, create_comment
):
    """The tag index, a page, and the JSON feeds (site and tag): as many queries for 3
    entries as for 60 with many tags."""
    from blog.models import Page

    Page.objects.create(title="About", slug="about", body="Me.", nav_order=1)
    urls = [
        reverse("blog:tag-index"),
        reverse("blog:page", kwargs={"slug": "about"}),
        reverse("blog:feed-json"),
        reverse("blog:tag-feed-json", kwargs={"slug": "everything"}),
        reverse("blog:sitemap-section", kwargs={"section": "tags"}),
    ]
    make_blog(create_entry, create_comment, entries=3, years=0.5)
    small = [queries(client, url) for url in urls]
    Entry.objects.all().delete()
    make_blog(create_entry, create_comment, entries=60, years=12)
    assert [queries(client, url) for url in urls] == small
    assert max(small) <= 4


def test_a_comment_asks_no_check_constraint_of_the_database(client, create_entry):
    """The length CHECKs repeat the fields' own bounds, which the form and full_clean()
    hold: a comment does not ask SQL about them again (a query each)."""
    entry = create_entry()
    with CaptureQueriesContext(connection) as captured:
        response = client.post(entry.get_absolute_url(), {"name": "Ann", "text": "Hello."})
    assert response.status_code == 302
    sqls = [query["sql"] for query in captured.captured_queries]
    assert any(sql.startswith("INSERT") for sql in sqls)
    assert not [sql for sql in sqls if '"_check"' in sql]


def test_an_entrys_first_comment_ids_are_one_query_compiled_once(create_entry, create_comment):
    """The ids that page a conversation (and place a comment on its page): the rule of
    first_comments(), its SQL built once per process, then one query a time."""
    entry = create_entry()
    first = create_comment(entry, text="First")
    create_comment(entry, text="A reply", parent=first)
    create_comment(entry, text="Hidden", is_public=False)
    second = create_comment(entry, text="Second")
    _first_comment_ids_sql.cache_clear()
    expected = list(entry.first_comments().values_list("id", flat=True))
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert entry.first_comment_ids() == expected == [first.pk, second.pk]
        assert len(captured.captured_queries) == 1
    assert _first_comment_ids_sql.cache_info().misses == 1


def test_an_entry_pages_threads_are_two_queries_compiled_once(create_entry, create_comment):
    """A page of a conversation's threads: the rows the ORM's queries give (times as
    aware datetimes), in two queries whose SQL is built once per process for its comments."""
    entry = create_entry()
    first = create_comment(entry, text="First")
    reply = create_comment(entry, text="A reply", parent=first)
    hidden = create_comment(entry, text="Hidden", is_public=False)
    create_comment(entry, text="Hidden's reply", parent=hidden)
    second = create_comment(entry, text="Second")
    _first_comments_sql.cache_clear()
    _replies_sql.cache_clear()
    ids = entry.first_comment_ids()
    expected = [t.rows for t in entry.comment_threads(entry.first_comments().filter(pk__in=ids))]
    assert [[row[0] for row in rows] for rows in expected] == [[first.pk, reply.pk], [second.pk]]
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert [thread.rows for thread in entry.page_threads(ids)] == expected
        assert len(captured.captured_queries) == 2
    assert expected[0][1][-1] == reply.created and timezone.is_aware(expected[0][1][-1])
    assert (_first_comments_sql.cache_info().misses, _replies_sql.cache_info().misses) == (1, 1)
    # A new first comment is another page of threads: compiled for its ids.
    third = create_comment(entry, text="Third")
    assert [t.comment.pk for t in entry.page_threads(entry.first_comment_ids())] == [
        first.pk,
        second.pk,
        third.pk,
    ]
    assert entry.page_threads([]) == []
