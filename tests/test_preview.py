"""The admin's live preview: a staff-only endpoint rendering Markdown as saving would."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from blog.markup import render_entry

pytestmark = pytest.mark.django_db
URL = reverse("blog:preview")


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("author", password="pw", is_staff=True)
    client.force_login(user)
    return client


def test_staff_get_the_same_html_saving_would_make(staff_client, create_entry):
    """Same renderer and allow-list: headings, footnotes, code; scripts shown as text."""
    entry = create_entry(title="Previewed")
    body = "# Head\n\nNote[^1] <script>alert(1)</script>\n\n```python\nx = 1\n```\n\n[^1]: N."
    response = staff_client.post(URL, {"body": body, "entry": entry.pk})
    assert response.status_code == 200
    html = response.json()["html"]
    assert html == render_entry(body, "", entry.slug)["body_html"]
    assert '<h2 id="head">Head</h2>' in html and '<span class="n">x</span>' in html
    assert "&lt;script&gt;" in html and "<script" not in html
    assert entry.body != body  # nothing saved
    entry.refresh_from_db()
    assert entry.body == "Some *text*."


def test_a_new_entry_can_be_previewed_before_it_is_saved(staff_client):
    response = staff_client.post(URL, {"body": "*new*", "entry": ""})
    assert response.status_code == 200
    assert response.json()["html"] == "<p><em>new</em></p>"


def test_readers_and_non_staff_users_are_refused(client):
    """403 with a message for anonymous readers and for logged-in users who are not staff."""
    response = client.post(URL, {"body": "x"})
    assert response.status_code == 403
    assert response.json() == {"error": "Only staff can preview entries."}
    user = get_user_model().objects.create_user("reader", password="pw")
    client.force_login(user)
    assert client.post(URL, {"body": "x"}).status_code == 403
    assert client.get(URL).status_code == 405


def test_the_preview_needs_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_user("s", password="pw", is_staff=True))
    assert client.post(URL, {"body": "x"}).status_code == 403


def test_an_overlong_body_is_refused_with_413(staff_client, settings):
    from blog.forms import PreviewForm

    limit = PreviewForm.base_fields["body"].max_length
    response = staff_client.post(URL, {"body": "x" * (limit + 1)})
    assert response.status_code == 413
    assert f"limited to {limit} characters" in response.json()["error"]
    response = staff_client.post(URL, {"body": "x", "entry": "not a number"})
    assert response.status_code == 400
