"""Drafts and scheduled entries leak nowhere; staff can preview them.

Each test builds one published entry and two hidden ones (a draft and an entry scheduled for
tomorrow), all with distinctive titles and words, and looks at one surface readers can reach.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from blog.models import Comment

pytestmark = pytest.mark.django_db

HIDDEN_TITLES = ["Secret draft", "Scheduled surprise"]


@pytest.fixture
def entries(create_entry):
    """A published entry between a hidden draft and a hidden scheduled entry, all featured."""
    now = timezone.now()
    return {
        "draft": create_entry(
            title="Secret draft",
            body="unpublishedword",
            is_draft=True,
            featured=True,
            timestamp=now - timedelta(hours=1),
        ),
        "public": create_entry(
            title="Public entry",
            body="unpublishedword visible",
            featured=True,
            timestamp=now - timedelta(hours=2),
        ),
        "scheduled": create_entry(
            title="Scheduled surprise",
            body="unpublishedword",
            featured=True,
            timestamp=now + timedelta(days=1),
        ),
    }


def assert_no_hidden_titles(html):
    for title in HIDDEN_TITLES:
        assert title not in html


def test_front_page_list(client, entries):
    """The front page lists only the published entry."""
    response = client.get(reverse("blog:index"))
    assert list(response.context["latest"]) == [entries["public"]]
    assert_no_hidden_titles(response.content.decode())


def test_featured_section(client, entries):
    """The featured section shows only published featured entries."""
    response = client.get(reverse("blog:index"))
    assert list(response.context["featured"]) == [entries["public"]]
    assert 'id="featured-heading"' in response.content.decode()


def test_year_and_month_archives(client, create_entry, entries):
    """Archives list only published entries; a year holding only drafts is not linked or served."""
    create_entry(
        title="Secret draft", is_draft=True, timestamp=timezone.now() - timedelta(days=800)
    )
    public = entries["public"]
    local = timezone.localtime(public.timestamp)
    year = client.get(reverse("blog:archive-year", args=[local.year]))
    month = client.get(
        reverse("blog:archive-month", args=[local.year, local.strftime("%b").lower()])
    )
    for response in (year, month):
        assert list(response.context["object_list"]) == [public]
        assert_no_hidden_titles(response.content.decode())
    index = client.get(reverse("blog:index"))
    assert [d.year for d in index.context["date_list"]] == [local.year]
    old_year = timezone.localtime(timezone.now() - timedelta(days=800)).year
    assert client.get(reverse("blog:archive-year", args=[old_year])).status_code == 404


def test_month_archive_navigation_skips_hidden_months(client, create_entry):
    """Previous/next month links only lead to months with published entries."""
    now = timezone.now()
    create_entry(title="Secret draft", is_draft=True, timestamp=now - timedelta(days=40))
    public = create_entry(title="Public", timestamp=now - timedelta(minutes=5))
    local = timezone.localtime(public.timestamp)
    response = client.get(
        reverse("blog:archive-month", args=[local.year, local.strftime("%b").lower()])
    )
    assert response.context["previous_month"] is None
    assert response.context["next_month"] is None


def test_previous_and_next_links(client, entries, create_entry):
    """Prev/next on an entry page skip drafts and scheduled entries."""
    now = timezone.now()
    older = create_entry(title="Older public", timestamp=now - timedelta(hours=5))
    response = client.get(entries["public"].get_absolute_url())
    assert response.context["older"] == older
    assert response.context["newer"] is None
    assert_no_hidden_titles(response.content.decode())
    response = client.get(older.get_absolute_url())
    assert response.context["newer"] == entries["public"]


def test_counts(client, entries, create_comment):
    """Page counts and archive counts ignore hidden entries; hidden comments are not counted."""
    create_comment(entries["public"])
    create_comment(entries["public"], is_public=False)
    response = client.get(reverse("blog:index"))
    assert response.context["paginator"].count == 1
    assert "1 comment" in response.content.decode()
    assert "2 comments" not in response.content.decode()


def test_feeds(client, entries):
    """Neither the RSS nor the Atom feed mentions a hidden entry."""
    for name in ("blog:feed", "blog:feed-atom"):
        content = client.get(reverse(name)).content.decode()
        assert "Public entry" in content
        assert_no_hidden_titles(content)
    for hidden in (entries["draft"], entries["scheduled"]):
        assert client.get(hidden.get_comments_feed_url()).status_code == 404


def test_sitemap(client, entries):
    """The sitemap lists only published permalinks."""
    content = client.get("/sitemap-entries.xml").content.decode()
    assert entries["public"].get_absolute_url() in content
    for hidden in (entries["draft"], entries["scheduled"]):
        assert hidden.get_absolute_url() not in content


def test_search(client, entries):
    """Search finds the published entry only, even for words all three share."""
    response = client.get(reverse("blog:search"), {"q": "unpublishedword"})
    assert list(response.context["object_list"]) == [entries["public"]]
    assert_no_hidden_titles(response.content.decode())
    response = client.get(reverse("blog:search"), {"q": "Secret draft"})
    assert list(response.context["object_list"]) == []


def test_permalink_is_404_for_readers(client, entries):
    """Readers get a 404 at a hidden entry's permalink, also after a date change redirect."""
    for hidden in (entries["draft"], entries["scheduled"]):
        assert client.get(hidden.get_absolute_url()).status_code == 404
        assert client.get(f"/2001/jan/1/{hidden.slug}/").status_code == 404


def test_comment_on_hidden_entry_is_refused(client, entries):
    """Readers cannot post comments to hidden entries."""
    for hidden in (entries["draft"], entries["scheduled"]):
        data = {"text": "hi", "name": "", "url": ""}
        assert client.post(hidden.get_absolute_url(), data).status_code == 404
    assert Comment.objects.count() == 0


@pytest.mark.parametrize(
    ("key", "mark"),
    [("draft", "Draft — not visible to readers"), ("scheduled", "Scheduled — visible from")],
)
def test_staff_preview_is_marked_and_not_cached(admin_client, entries, key, mark):
    """Staff see hidden entries at their permalink with a visible mark and no-cache headers."""
    response = admin_client.get(entries[key].get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert mark in html
    assert 'class="status' in html
    cache_control = response["Cache-Control"]
    assert "no-cache" in cache_control
    assert "no-store" in cache_control
    assert "private" in cache_control
    assert "Expires" in response


def test_published_entry_is_cacheable_and_unmarked(admin_client, entries):
    """A published entry carries no preview mark or no-cache header, even for staff."""
    response = admin_client.get(entries["public"].get_absolute_url())
    assert 'class="status' not in response.content.decode()
    assert "no-store" not in response.get("Cache-Control", "")


def test_staff_preview_has_no_comment_form(admin_client, entries):
    """Comments cannot be written on a preview: they are closed until it is published."""
    html = admin_client.get(entries["draft"].get_absolute_url()).content.decode()
    assert 'name="text"' not in html
    assert "Comments are closed." in html
