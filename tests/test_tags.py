"""Tags: a page, feeds and an index per tag, published entries only; related entries."""

import json
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from taggit.models import Tag

from blog.models import Entry, TaggedEntry
from tests.page_files import page_file

pytestmark = pytest.mark.django_db


def tag_url(slug):
    return reverse("blog:tag", kwargs={"slug": slug})


def titles(response):
    return [entry.title for entry in response.context["object_list"]]


@pytest.fixture
def tagged(create_entry):
    """Two published entries tagged django, a draft and a scheduled one too; a tag only
    the draft has."""
    old = create_entry(title="Old django", days=-3)
    new = create_entry(title="New django", days=-1)
    draft = create_entry(title="Draft django", days=-2, is_draft=True)
    later = create_entry(title="Later django", days=2)
    for entry in (old, new, draft, later):
        entry.tags.add("Django")
    draft.tags.add("secret-plans")
    new.tags.add("python")
    return {"old": old, "new": new, "draft": draft, "later": later}


def test_tag_page_lists_published_entries_newest_first(client, tagged):
    response = client.get(tag_url("django"))
    assert response.status_code == 200
    assert titles(response) == ["New django", "Old django"]
    html = response.content.decode()
    assert "Entries tagged “Django”" in html
    assert "Draft django" not in html and "Later django" not in html


def test_a_tag_of_drafts_only_or_unknown_is_404_everywhere(client, tagged):
    """A draft's tag does not exist for readers: no page, no feed, not in the index."""
    for slug in ("secret-plans", "no-such-tag"):
        assert client.get(tag_url(slug)).status_code == 404
        for name in ("blog:tag-feed", "blog:tag-feed-atom", "blog:tag-feed-json"):
            assert client.get(reverse(name, kwargs={"slug": slug})).status_code == 404
    index = client.get(reverse("blog:tag-index")).content.decode()
    assert "secret-plans" not in index


def test_tag_index_counts_published_entries_only(client, tagged):
    response = client.get(reverse("blog:tag-index"))
    counts = {tag.name: tag.entry_count for tag in response.context["object_list"]}
    assert counts == {"Django": 2, "python": 1}
    html = response.content.decode()
    assert f'<a href="{tag_url("django")}">Django</a> <span class="meta">(2)</span>' in html


def test_tag_page_is_paginated(client, create_entry):
    now = timezone.now()
    for i in range(13):
        create_entry(title=f"Paged {i}", timestamp=now - timedelta(hours=i + 1)).tags.add("many")
    first = client.get(tag_url("many"))
    assert titles(first) == [f"Paged {i}" for i in range(10)]
    second = client.get(tag_url("many"), {"page": 2})
    assert titles(second) == ["Paged 10", "Paged 11", "Paged 12"]
    assert client.get(tag_url("many"), {"page": 3}).status_code == 404


def test_entry_pages_and_list_items_show_their_tags(client, tagged):
    link = f'<a href="{tag_url("python")}" rel="tag">python</a>'
    assert link in client.get(tagged["new"].get_absolute_url()).content.decode()
    assert link in client.get(reverse("blog:index")).content.decode()
    assert link in client.get(tag_url("django")).content.decode()


def test_tag_feeds_carry_published_entries_only(client, tagged):
    rss = client.get(reverse("blog:tag-feed", kwargs={"slug": "django"}))
    assert rss["Content-Type"].startswith("application/rss+xml")
    items = ElementTree.fromstring(rss.content).findall("./channel/item")
    assert [item.findtext("title") for item in items] == ["New django", "Old django"]
    assert {c.text for c in items[0].findall("category")} == {"Django", "python"}
    atom = client.get(reverse("blog:tag-feed-atom", kwargs={"slug": "django"}))
    assert atom["Content-Type"].startswith("application/atom+xml")
    assert b"Draft django" not in atom.content and b"New django" in atom.content
    feed = json.loads(client.get(reverse("blog:tag-feed-json", kwargs={"slug": "django"})).content)
    assert [item["title"] for item in feed["items"]] == ["New django", "Old django"]


def test_tag_page_advertises_its_feeds(client, tagged):
    html = client.get(tag_url("django")).content.decode()
    for name, kind in [
        ("blog:tag-feed", "application/rss+xml"),
        ("blog:tag-feed-atom", "application/atom+xml"),
        ("blog:tag-feed-json", "application/feed+json"),
    ]:
        href = reverse(name, kwargs={"slug": "django"})
        assert f'rel="alternate" type="{kind}"' in html and f'href="{href}"' in html


def test_tag_page_query_count_is_fixed(client, create_entry, settings):
    """Tag page: the same queries for 2 entries as for 30 (tags of all shown in one)."""
    settings.BLOG_PAGE_CACHE_SECONDS = 0

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(tag_url("t")).status_code == 200
        return len(captured.captured_queries)

    for i in range(2):
        create_entry(title=f"E{i}", days=-i - 1).tags.add("t", f"other{i}")
    small = count()
    for i in range(2, 30):
        create_entry(title=f"E{i}", days=-i - 1).tags.add("t", f"other{i}", "more")
    assert count() == small <= 7


# -- related entries ----------------------------------------------------------------------


def test_related_entries_share_most_tags_newest_first_on_ties(create_entry):
    entry = create_entry(title="Subject", days=-1)
    entry.tags.add("a", "b", "c")
    made = {}
    for title, tags, days in [
        ("Three", ["a", "b", "c"], -400),
        ("Two new", ["a", "b"], -2),
        ("Two old", ["b", "c"], -300),
        ("One 1", ["a"], -3),
        ("One 2", ["c", "unrelated"], -4),
        ("One 3", ["b"], -5),
        ("None", ["unrelated"], -6),
    ]:
        made[title] = create_entry(title=title, days=days)
        made[title].tags.add(*tags)
    create_entry(title="Draft", days=-1, is_draft=True).tags.add("a", "b", "c")
    create_entry(title="Scheduled", days=1).tags.add("a", "b", "c")
    subject = Entry.objects.with_tags().get(pk=entry.pk)
    with CaptureQueriesContext(connection) as captured:
        related = subject.related()
    assert [e.title for e in related] == ["Three", "Two new", "Two old", "One 1", "One 2"]
    assert len(captured.captured_queries) == 1


def test_an_entry_without_tags_has_no_related_entries_and_costs_no_query(create_entry):
    entry = create_entry()
    create_entry(title="Other").tags.add("x")
    subject = Entry.objects.with_tags().get(pk=entry.pk)
    with CaptureQueriesContext(connection) as captured:
        assert subject.related() == []
    assert captured.captured_queries == []


def test_entry_page_lists_related_entries(client, create_entry, settings):
    """Shown under the entry; the page's queries do not grow with the entries sharing tags."""
    settings.BLOG_PAGE_CACHE_SECONDS = 0
    entry = create_entry(title="Subject")
    entry.tags.add("shared")
    create_entry(title="Neighbour", days=-2).tags.add("shared")

    def count():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(entry.get_absolute_url())
        return response, len(captured.captured_queries)

    response, small = count()
    html = response.content.decode()
    assert 'id="related-heading">Related entries</h2>' in html
    assert [e.title for e in response.context["related"]] == ["Neighbour"]
    for i in range(40):
        create_entry(title=f"More {i}", days=-i - 3).tags.add("shared")
    response, big = count()
    assert len(response.context["related"]) == 5
    assert big == small == 6


# -- made stale like every page -----------------------------------------------------------


def test_tag_changes_show_on_the_next_request(
    client, create_entry, django_capture_on_commit_callbacks
):
    """Adding, removing or renaming a tag makes the tag page, the index and the entry's page
    files stale."""
    entry = create_entry(title="Cached")
    entry.tags.add("first")
    other = create_entry(title="Other", days=-2)
    other.tags.add("first")
    urls = [tag_url("first"), reverse("blog:tag-index"), entry.get_absolute_url()]

    def written_then_stale(write):
        for url in urls:
            client.get(url)
        assert all(page_file(url) for url in urls)  # Apache answers the next readers
        with django_capture_on_commit_callbacks(execute=True):
            write()
        assert not any(page_file(url) for url in urls)

    written_then_stale(lambda: entry.tags.add("second"))
    assert "second" in client.get(entry.get_absolute_url()).content.decode()
    assert "second" in client.get(reverse("blog:tag-index")).content.decode()
    written_then_stale(lambda: entry.tags.remove("first"))
    assert titles(client.get(tag_url("first"))) == ["Other"]
    tag = Tag.objects.get(slug="first")
    tag.name = "Renamed"
    written_then_stale(tag.save)
    assert "Renamed" in client.get(reverse("blog:tag-index")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        other.tags.clear()
    assert client.get(tag_url("first")).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        TaggedEntry.objects.create(content_object=other, tag=tag)  # as the admin's inline does
    assert titles(client.get(tag_url("first"))) == ["Other"]


def test_admin_sets_tags_with_the_autocomplete_inline(admin_client, create_entry):
    entry = create_entry(title="Admin tagged")
    tag = Tag.objects.create(name="Picked", slug="picked")
    local = timezone.localtime(entry.timestamp)
    response = admin_client.post(
        reverse("admin:blog_entry_change", args=[entry.pk]),
        {
            "title": entry.title,
            "slug": entry.slug,
            "body": entry.body,
            "timestamp_0": local.strftime("%Y-%m-%d"),
            "timestamp_1": local.strftime("%H:%M:%S"),
            "comments_enabled": "on",
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
            "tagged_items-TOTAL_FORMS": "1",
            "tagged_items-INITIAL_FORMS": "0",
            "images-TOTAL_FORMS": "0",
            "images-INITIAL_FORMS": "0",
            "tagged_items-0-tag": str(tag.pk),
        },
    )
    assert response.status_code == 302
    assert [t.name for t in entry.tags.all()] == ["Picked"]
    form = admin_client.get(reverse("admin:blog_entry_change", args=[entry.pk])).content.decode()
    assert "admin-autocomplete" in form
    found = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "blog", "model_name": "taggedentry", "field_name": "tag", "term": "pic"},
    )
    assert [r["text"] for r in found.json()["results"]] == ["Picked"]


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's query planner output")
def test_tag_page_walks_the_published_index(create_entry):
    """A tag's page reads entries newest first from entry_published_idx and stops at the
    page's end: no sort of every entry with the tag, however popular it is."""
    create_entry().tags.add("t")
    tag = Tag.objects.get()
    page = Entry.objects.published().with_comment_counts().tagged(tag).order_by("-timestamp", "-id")
    sql, params = page[:10].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(row[-1] for row in cursor.fetchall())
    assert "entry_published_idx" in plan
    assert "TEMP B-TREE" not in plan
