import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from blog.models import Comment, Entry
from tests.entries import admin_form

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:blog_entry_changelist",
        "admin:blog_entry_add",
        "admin:blog_comment_changelist",
    ],
)
def test_admin_pages_load_for_superuser(admin_client, url_name):
    assert admin_client.get(reverse(url_name)).status_code == 200


def test_admin_entry_change_page_with_comments_inline(admin_client, create_entry, create_comment):
    entry = create_entry(title="Inline me")
    create_comment(entry, text="Shown inline")
    response = admin_client.get(reverse("admin:blog_entry_change", args=[entry.pk]))
    assert response.status_code == 200
    assert "Shown inline" in response.content.decode()


def test_admin_search_filters_and_date_hierarchy(admin_client, create_entry):
    create_entry(title="Apache notes", body="threads")
    create_entry(title="Other", body="nothing", featured=True)
    url = reverse("admin:blog_entry_changelist")
    assert admin_client.get(url, {"q": "threads"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"featured__exact": "1"}).context["cl"].result_count == 1
    assert admin_client.get(url).context["cl"].date_hierarchy == "timestamp"


def test_admin_add_entry_makes_slug(admin_client, db):
    response = admin_client.post(
        reverse("admin:blog_entry_add"),
        admin_form(title="From the admin", timestamp_0="2024-01-02", timestamp_1="10:00:00"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Entry.objects.get().slug == "from-the-admin"


def test_admin_hide_and_show_actions(admin_client, create_entry, create_comment):
    entry = create_entry()
    comments = [create_comment(entry), create_comment(entry)]
    url = reverse("admin:blog_comment_changelist")
    ids = [c.pk for c in comments]
    admin_client.post(url, {"action": "hide_comments", "_selected_action": ids})
    assert Comment.objects.filter(is_public=True).count() == 0
    admin_client.post(url, {"action": "show_comments", "_selected_action": ids})
    assert Comment.objects.filter(is_public=True).count() == 2


def test_createsuperuser_flow(db):
    from django.core.management import call_command

    call_command("createsuperuser", interactive=False, username="boss", email="boss@example.org")
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="boss").is_superuser


def test_entry_change_page_previews_the_rendered_markdown(admin_client, create_entry):
    """The change page shows the body as readers see it: rendered and sanitised."""
    entry = create_entry(
        body="# Sub\n\n**Bold** <script>alert(1)</script> [x](javascript:alert(1))"
    )
    html = admin_client.get(reverse("admin:blog_entry_change", args=[entry.pk])).content.decode()
    preview = html[html.index('class="entry-preview') :]
    preview = preview[: preview.index("</div>")]
    assert '<h2 id="sub">Sub</h2>' in preview
    assert "<strong>Bold</strong>" in preview
    assert "&lt;script&gt;" in preview
    assert "<script" not in preview
    assert "javascript:" not in preview


def test_add_page_has_the_live_preview(admin_client):
    """A new entry's form has the live preview (its script and the endpoint's address)."""
    html = admin_client.get(reverse("admin:blog_entry_add")).content.decode()
    assert f'data-preview-url="{reverse("blog:preview")}" data-entry=""' in html
    assert 'src="/static/js/entry-preview.js"' in html


def test_view_on_site_leads_to_the_permalink(admin_client, create_entry):
    """The change page links "View on site", which redirects to the entry's permalink."""
    entry = create_entry(title="Seen on site", is_draft=True)
    html = admin_client.get(reverse("admin:blog_entry_change", args=[entry.pk])).content.decode()
    assert "View on site" in html
    ct = ContentType.objects.get_for_model(Entry)
    response = admin_client.get(reverse("admin:view_on_site", args=[ct.pk, entry.pk]))
    assert response.status_code == 302
    assert response["Location"].endswith(entry.get_absolute_url())
    assert admin_client.get(entry.get_absolute_url()).status_code == 200  # staff preview


def test_changelist_shows_status_and_comment_counts(admin_client, create_entry, create_comment):
    """The entry list shows each entry's status and its visible and hidden comment counts."""
    entry = create_entry(title="Counted")
    create_entry(title="Later", days=2)
    create_entry(title="Unfinished", is_draft=True, days=-3)
    create_comment(entry)
    create_comment(entry)
    create_comment(entry, is_public=False)
    response = admin_client.get(reverse("admin:blog_entry_changelist"))
    rows = {e.title: e for e in response.context["cl"].result_list}
    assert (rows["Counted"].visible_count, rows["Counted"].hidden_count) == (2, 1)
    html = response.content.decode()
    for status in ("Published", "Scheduled", "Draft"):
        assert f">{status}<" in html
    assert [e.title for e in response.context["cl"].result_list] == [
        "Later",
        "Counted",
        "Unfinished",
    ]


def test_featured_is_editable_from_the_list(admin_client, create_entry):
    """Featured can be toggled for several entries at once from the changelist."""
    first = create_entry(title="First", days=-2)
    second = create_entry(title="Second", days=-1)
    response = admin_client.post(
        reverse("admin:blog_entry_changelist"),
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": str(second.pk),
            "form-0-featured": "on",
            "form-1-id": str(first.pk),
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert list(Entry.objects.filter(featured=True)) == [second]


def test_comment_list_newest_first(admin_client, create_entry, create_comment):
    """Admins see the newest comments first."""
    from datetime import timedelta

    from django.utils import timezone

    entry = create_entry()
    old = create_comment(entry, text="old", created=timezone.now() - timedelta(days=1))
    new = create_comment(entry, text="new")
    response = admin_client.get(reverse("admin:blog_comment_changelist"))
    assert list(response.context["cl"].result_list) == [new, old]
