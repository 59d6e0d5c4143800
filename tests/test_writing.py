"""Writing a post: drafts and publishing, summaries, revisions, and old links that live on."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from blog.models import Entry, FormerSlug
from tests.entries import admin_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("author", "a@example.org", "a-passphrase")
    client.force_login(user)
    return client


def test_a_new_entry_is_a_draft_hidden_everywhere(client, staff_client):
    """Saving a new entry in the admin keeps it a draft: no list, feed, sitemap or search."""
    response = staff_client.post(reverse("admin:blog_entry_add"), admin_form(title="Secret"))
    assert response.status_code == 302
    entry = Entry.objects.get(title="Secret")
    assert entry.is_draft
    client.logout()
    for url in ("/", reverse("blog:feed")):
        assert "Secret" not in client.get(url).content.decode()
    assert "0 results for" in client.get(reverse("blog:search") + "?q=Secret").content.decode()
    assert client.get(entry.get_absolute_url()).status_code == 404


def test_the_add_form_has_the_publish_button_and_starts_as_draft(staff_client):
    html = staff_client.get(reverse("admin:blog_entry_add")).content.decode()
    assert 'name="_publish"' in html and "Save and publish" in html
    assert (
        'name="is_draft" aria-describedby="id_is_draft_helptext" id="id_is_draft" checked' in html
    )


def test_save_and_publish_dates_the_entry_now(client, staff_client):
    """Publishing a draft written days ago dates it at the moment of publishing."""
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        entry = Entry.objects.create(title="Written earlier", body="Text.")
    change = reverse("admin:blog_entry_change", args=[entry.pk])
    before = timezone.now()
    response = staff_client.post(change, admin_form(entry, _publish="Save and publish"))
    assert response.status_code == 302
    entry.refresh_from_db()
    assert not entry.is_draft
    assert before <= entry.timestamp <= timezone.now()
    client.logout()
    assert "Written earlier" in client.get("/").content.decode()
    assert client.get(entry.get_absolute_url()).status_code == 200


def test_publish_keeps_a_time_the_author_chose(staff_client):
    """A publication time typed in the same form (scheduled, or back-dated) stands."""
    entry = Entry.objects.create(title="Planned", body="Text.")
    later = timezone.localtime(timezone.now() + timedelta(days=2)).replace(microsecond=0)
    form = admin_form(
        entry,
        _publish="Save and publish",
        timestamp_0=later.strftime("%Y-%m-%d"),
        timestamp_1=later.strftime("%H:%M:%S"),
    )
    assert (
        staff_client.post(reverse("admin:blog_entry_change", args=[entry.pk]), form).status_code
        == 302
    )
    entry.refresh_from_db()
    assert not entry.is_draft and entry.timestamp == later and entry.is_scheduled


def test_the_publish_button_is_gone_once_published(staff_client, create_entry):
    entry = create_entry()
    html = staff_client.get(reverse("admin:blog_entry_change", args=[entry.pk])).content.decode()
    assert 'name="_publish"' not in html


@pytest.mark.django_db(transaction=True)  # pages go stale when the write commits
def test_bulk_actions_publish_unpublish_feature_unfeature(client, staff_client, create_entry):
    """The change list's actions; each makes cached pages stale at once."""
    drafts = [create_entry(title=f"Bulk {i}", is_draft=True, days=-5) for i in range(2)]
    changelist = reverse("admin:blog_entry_changelist")
    assert "Bulk 0" not in client.get("/").content.decode()

    def act(action, entries):
        data = {"action": action, "_selected_action": [e.pk for e in entries]}
        assert staff_client.post(changelist, data).status_code == 302

    act("publish_entries", drafts)
    assert not Entry.objects.filter(is_draft=True).exists()
    assert all(e.timestamp > timezone.now() - timedelta(minutes=1) for e in Entry.objects.all())
    anonymous = client.__class__()
    assert "Bulk 0" in anonymous.get("/").content.decode()
    act("feature_entries", drafts[:1])
    assert list(Entry.objects.filter(featured=True)) == [Entry.objects.get(title="Bulk 0")]
    assert "featured-heading" in anonymous.get("/").content.decode()
    act("unfeature_entries", drafts[:1])
    assert not Entry.objects.filter(featured=True).exists()
    assert "featured-heading" not in anonymous.get("/").content.decode()
    act("unpublish_entries", drafts)
    assert Entry.objects.filter(is_draft=True).count() == 2
    assert "Bulk 0" not in anonymous.get("/").content.decode()


def test_lists_show_excerpts_with_continue_reading(client, create_entry):
    """Front page, archives and search show the excerpt and a link; the feed the whole body."""
    entry = create_entry(
        title="Long read", body="Opening words.\n\nThe middle.\n\n<!--more-->\n\nHidden end."
    )
    summarised = create_entry(title="Summed up", summary="In *short*.", body="Whole body here.")
    # Year and month archives list titles and dates only (issue 13's archives).
    for url in ("/",):
        html = client.get(url).content.decode()
        assert "Opening words." in html and "The middle." in html
        assert "Hidden end." not in html
        assert f'<a href="{entry.get_absolute_url()}">Continue reading' in html
    found = client.get("/search/?q=words").content.decode()  # a highlighted snippet
    assert "Opening <mark>words</mark>" in found
    assert f'<a href="{entry.get_absolute_url()}">Continue reading' in found
    front = client.get("/").content.decode()
    assert "In <em>short</em>." in front and "Whole body here." not in front
    feed = client.get(reverse("blog:feed")).content.decode()
    assert "Hidden end." in feed and "Whole body here." in feed
    page = client.get(entry.get_absolute_url()).content.decode()
    assert "Hidden end." in page and "more--" not in page
    detail = client.get(summarised.get_absolute_url()).content.decode()
    assert '<meta name="description" content="In short.">' in detail


def test_description_and_share_image_properties(create_entry):
    """description: plain text of the excerpt, 300 characters at most; share_image: ""
    without images."""
    entry = create_entry(body="A *first* paragraph & more.\n\nSecond.")
    assert entry.description == "A first paragraph & more."
    assert entry.share_image == ""
    long = create_entry(title="Long", body="word " * 200)
    assert len(long.description) <= 300 and long.description.endswith("…")


@pytest.mark.django_db(transaction=True)  # pages go stale when the write commits
def test_updated_shows_only_after_a_real_edit(client, create_entry):
    """Editing the title, summary or body after publication shows "Updated"; toggling
    featured (or editing a draft) does not."""
    entry = create_entry(title="Edited", days=-3)
    entry = Entry.objects.get(pk=entry.pk)
    entry.featured = True
    entry.save()
    assert entry.revised is None
    assert "Updated" not in client.get(entry.get_absolute_url()).content.decode()
    entry.body = "New text."
    entry.save()
    assert entry.revised is not None and entry.was_revised
    page = client.get(entry.get_absolute_url()).content.decode()
    revised = timezone.localtime(entry.revised).isoformat(timespec="seconds")
    assert f'Updated <time datetime="{revised}">' in page
    draft = Entry.objects.get(pk=create_entry(title="D", is_draft=True).pk)
    draft.body = "Changed while a draft."
    draft.save()
    assert draft.revised is None


def test_a_changed_slug_keeps_old_links_and_comment_feeds(client, create_entry):
    """Old permalinks (any date) and old comment feed URLs answer with a 301 to today's."""
    entry = Entry.objects.get(pk=create_entry(title="First name").pk)
    old_url, old_feed = entry.get_absolute_url(), entry.get_comments_feed_url()
    old_atom = entry.get_comments_feed_url(atom=True)
    entry.slug = "second-name"
    entry.save()
    entry.slug = "third-name"
    entry.timestamp -= timedelta(days=40)
    entry.save()
    assert set(FormerSlug.objects.values_list("slug", flat=True)) == {"first-name", "second-name"}
    for old, new in (
        (old_url, entry.get_absolute_url()),
        (old_url.replace("first-name", "second-name"), entry.get_absolute_url()),
        (old_feed, entry.get_comments_feed_url()),
        (old_atom, entry.get_comments_feed_url(atom=True)),
    ):
        response = client.get(old)
        assert response.status_code == 301, old
        assert response["Location"] == new
    assert client.get(entry.get_absolute_url()).status_code == 200


def test_old_links_of_hidden_entries_stay_404(client, create_entry):
    entry = Entry.objects.get(pk=create_entry(title="Gone private").pk)
    old_url = entry.get_absolute_url()
    entry.slug, entry.is_draft = "renamed", True
    entry.save()
    assert client.get(old_url).status_code == 404
    assert client.get(old_url + "feed/").status_code == 404


def test_a_slug_taken_again_belongs_to_its_new_entry(client, create_entry):
    """A new entry may reuse a former slug: its link now leads to the new entry."""
    old = Entry.objects.get(pk=create_entry(title="Shared").pk)
    old.slug = "moved"
    old.save()
    new = create_entry(title="Shared")
    assert new.slug == "shared"
    assert not FormerSlug.objects.filter(slug="shared").exists()
    assert client.get(new.get_absolute_url()).status_code == 200


@pytest.mark.django_db(transaction=True)  # pages go stale when the write commits
def test_render_entries_renders_every_entry_again(client, create_entry):
    """manage.py render_entries: stored HTML made by an older renderer is made anew (no
    revision), and pages show it at once."""
    entry = create_entry(title="Old render", body="# Heading\n\nText[^1].\n\n[^1]: Note.")
    Entry.objects.filter(pk=entry.pk).update(body_html="<p>stale</p>", excerpt_html="")
    assert "stale" in client.get(entry.get_absolute_url()).content.decode()
    out = io.StringIO()
    call_command("render_entries", stdout=out)
    assert out.getvalue().strip() == "Rendered 1 entries."
    entry.refresh_from_db()
    assert '<h2 id="heading">Heading</h2>' in entry.body_html
    assert (
        entry.excerpt_html
        == '<p>Text<sup><a class="footnote-ref" href="#fn-old-render-1" rel="nofollow noopener">1</a></sup>.</p>'
    )
    assert entry.revised is None
    assert "stale" not in client.get(entry.get_absolute_url()).content.decode()


def test_bulk_create_renders_like_save(create_entry):
    """bulk_create() (imports, seeding) fills body, summary and excerpt HTML as save() does."""
    Entry.objects.bulk_create(
        [Entry(title="Bulk", slug="bulk", body="One.\n\nTwo.", summary="*S*", is_draft=False)]
    )
    bulk = Entry.objects.get(slug="bulk")
    saved = create_entry(title="Saved", slug="saved", body="One.\n\nTwo.", summary="*S*")
    for field in ("body_html", "summary_html", "excerpt_html"):
        assert getattr(bulk, field) == getattr(saved, field) != ""
