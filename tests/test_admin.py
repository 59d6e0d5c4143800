import pytest
from django.urls import reverse

from blog.models import Comment, Entry

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
        {
            "title": "From the admin",
            "slug": "",
            "body": "Body",
            "timestamp_0": "2024-01-02",
            "timestamp_1": "10:00:00",
            "comments_enabled": "on",
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
        },
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

    call_command(
        "createsuperuser", interactive=False, username="boss", email="boss@example.org"
    )
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="boss").is_superuser
