from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from blog.cache import renew
from blog.models import Comment, Entry
from tests.comments import post_comment

pytestmark = pytest.mark.django_db


def test_index_lists_newest_first_with_counts(client, create_entry, create_comment):
    old = create_entry(title="Old entry", days=-3)
    new = create_entry(title="New entry", days=-1, featured=True)
    create_comment(old)
    create_comment(old)
    create_comment(old, is_public=False)
    response = client.get(reverse("blog:index"))
    assert response.status_code == 200
    assert list(response.context["latest"]) == [new, old]
    html = response.content.decode()
    assert html.index("New entry") < html.index("Old entry")
    assert "2 comments" in html
    assert "Featured" in html


def test_index_hides_unpublished(client, create_entry):
    create_entry(title="Tomorrow's news", days=1)
    create_entry(title="Half-written", is_draft=True)
    response = client.get(reverse("blog:index"))
    assert b"Tomorrow" not in response.content
    assert b"Half-written" not in response.content


def test_empty_blog_front_page(client, db):
    response = client.get(reverse("blog:index"))
    assert response.status_code == 200
    assert b"No entries yet" in response.content


def test_pagination_ten_a_page(client, create_entry):
    for i in range(23):
        create_entry(title=f"Entry {i}", timestamp=timezone.now() - timedelta(hours=i + 1))
    first = client.get(reverse("blog:index"))
    third = client.get(reverse("blog:index"), {"page": 3})
    assert len(first.context["latest"]) == 10
    assert [e.title for e in third.context["latest"]] == ["Entry 20", "Entry 21", "Entry 22"]
    assert client.get(reverse("blog:index"), {"page": "last"}).context["page_obj"].number == 3


@pytest.mark.parametrize("page", ["0", "-1", "4", "abc", "1e9", "99999999999999999999", ""])
def test_bad_page_numbers_are_404(client, create_entry, page):
    for i in range(23):
        create_entry(title=f"Entry {i}", days=-i - 1)
    response = client.get(reverse("blog:index"), {"page": page})
    expected = 200 if page == "" else 404
    assert response.status_code == expected


@pytest.mark.parametrize("old_url", ["/blog", "/blog.html"])
def test_old_urls_redirect_permanently(client, old_url):
    response = client.get(old_url + "?page=2")
    assert response.status_code == 301
    assert response["Location"] == "/?page=2"


def test_entry_page_shows_body_and_visible_comments_oldest_first(
    client, create_entry, create_comment
):
    entry = create_entry(title="Readable", body="Hello **there**")
    now = timezone.now()
    create_comment(entry, text="second", created=now)
    create_comment(entry, text="first", created=now - timedelta(minutes=5))
    create_comment(entry, text="secret spam", is_public=False)
    create_comment(entry, text="no name", name="")
    response = client.get(entry.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hello <strong>there</strong>" in html
    assert html.index("first") < html.index("second")
    assert "secret spam" not in html
    assert "Anonymous" in html
    assert 'name="text"' in html


def test_entry_escapes_html_in_title_and_comments(client, create_entry, create_comment):
    entry = create_entry(title="<b>bold</b> & co")
    create_comment(entry, text="<script>alert(1)</script>", name="<i>x</i>")
    html = client.get(entry.get_absolute_url()).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>x</i>" not in html


def test_unknown_entry_is_404(client, create_entry):
    entry = create_entry()
    assert client.get("/2001/jan/01/nope/").status_code == 404
    assert client.get("/2001/zzz/01/nope/").status_code == 404
    assert client.get(entry.get_absolute_url().replace(entry.slug, "other")).status_code == 404


def test_entry_with_moved_date_redirects_to_its_permalink(client, create_entry):
    entry = create_entry(title="Moved")
    response = client.get(f"/2001/jan/01/{entry.slug}/")
    assert response.status_code == 301
    assert response["Location"] == entry.get_absolute_url()


def test_scheduled_and_draft_entries_are_404_for_readers(client, create_entry):
    assert client.get(create_entry(title="Soon", days=1).get_absolute_url()).status_code == 404
    assert (
        client.get(create_entry(title="Draft", is_draft=True).get_absolute_url()).status_code == 404
    )


def test_staff_preview_a_draft_without_caching(admin_client, create_entry):
    entry = create_entry(title="Draft", is_draft=True)
    response = admin_client.get(entry.get_absolute_url())
    assert response.status_code == 200
    assert b"Draft" in response.content
    assert "no-cache" in response["Cache-Control"]


def test_post_comment_saves_and_redirects(client, create_entry):
    entry = create_entry()
    response = post_comment(client, entry, text="Great read!", name="Zoë")
    comment = Comment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{entry.get_absolute_url()}#c{comment.pk}"
    assert (comment.entry, comment.text, comment.name, comment.is_public) == (
        entry,
        "Great read!",
        "Zoë",
        True,
    )
    assert "Great read!" in client.get(response["Location"]).content.decode()


def test_invalid_comment_shows_message_and_keeps_text(client, create_entry):
    entry = create_entry()
    response = post_comment(client, entry, text="x" * 501, name="Keeper")
    html = response.content.decode()
    assert response.status_code == 400
    assert "limited to 500 characters" in html
    assert "x" * 501 in html
    assert 'value="Keeper"' in html
    assert Comment.objects.count() == 0


def test_blank_comment_is_rejected(client, create_entry):
    entry = create_entry()
    response = post_comment(client, entry, text="   \n  ")
    assert response.status_code == 400
    assert "Please write a comment." in response.content.decode()
    assert Comment.objects.count() == 0


def test_comment_on_unknown_entry_is_404(client, create_entry):
    entry = create_entry(title="Hidden", days=1)
    assert post_comment(client, entry).status_code == 404
    assert client.post("/2001/jan/01/nope/", {"text": "hi"}).status_code == 404
    assert Comment.objects.count() == 0


def test_list_query_count_is_constant(
    client,
    create_entry,
    create_comment,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    for i in range(30):
        entry = create_entry(title=f"E{i}", days=-i - 1)
        for _ in range(3):
            create_comment(entry)
    renew()  # the page cache's version: made once per change, not per page
    # Entries, count, comment counts, years, featured, tags, navigation pages, page links.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("blog:index"))
    assert len(response.context["latest"]) == 10
    # Again in this version (a miss of the page files, as for a reader with a query string):
    # everything but the comment counts is known, and they are counted again after a comment.
    with django_capture_on_commit_callbacks(execute=True):  # as the comment's commit
        create_comment(Entry.objects.get(title="E0"))
    with django_assert_max_num_queries(1):
        response = client.get(reverse("blog:index") + "?utm_source=x")
    assert "4 comments" in response.content.decode()
    with django_assert_max_num_queries(0):  # no comment since
        response = client.get(reverse("blog:index") + "?utm_source=y")
    assert "4 comments" in response.content.decode()


def test_entry_query_count_is_constant(
    client, create_entry, create_comment, django_assert_max_num_queries
):
    entry = create_entry()
    for _ in range(50):
        create_comment(entry)
    renew()
    # Entry with neighbours, its tags, comments (count, first comments, replies), page
    # links (related: none without tags).
    with django_assert_max_num_queries(7):
        response = client.get(entry.get_absolute_url())
    assert response.content.decode().count('class="comment"') == 50
