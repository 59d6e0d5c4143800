"""Every kind of HTML page the site renders is valid HTML5 (the W3C Nu Html Checker: 0 errors).

Feeds and sitemaps are XML and checked in test_feeds.py; the admin's pages are Django's.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from blog import notifications
from homepage.errors import service_unavailable
from tests.html_validator import assert_valid_html, html_errors

pytestmark = [pytest.mark.django_db, pytest.mark.html]


def page(response, status=200) -> str:
    assert response.status_code == status, response
    return response.content.decode()


def test_every_kind_of_page_is_valid_html(client, create_entry, create_comment, settings):
    settings.BLOG_COMMENTS_PER_PAGE = 1  # the entry's two first comments: two pages, a pager
    # Times with microseconds: Django's date:"c" would put all six digits in datetime="".
    now = timezone.now().replace(microsecond=622099)
    entry = create_entry(
        title="Valid <em>HTML</em> & more",
        body="Some *text* with [a link](https://example.org) and `code`.\n\n- one\n- two",
        timestamp=now - timedelta(days=40),
        featured=True,
    )
    for number in range(12):  # two pages on the front page
        create_entry(title=f"Entry {number}", timestamp=now - timedelta(days=number, hours=1))
    zoe = create_comment(
        entry,
        text="A comment\nwith https://example.org/ a link.",
        name="Zoë",
        website="https://zoe.example/?a=1&b=2",
        email="zoe@example.org",
        notify=True,
    )
    create_comment(entry, text="Another comment.", name="")
    draft = create_entry(title="A draft", is_draft=True)
    year, month = entry.timestamp.year, entry.timestamp.strftime("%b").lower()
    blank_comment = {"name": "", "text": " ", "url": ""}
    staff = Client()
    editor = get_user_model().objects.create_superuser("editor", "e@example.org", "x")
    staff.force_login(editor)
    create_comment(entry, text="The author answers.", name="editor", parent=zoe, user=editor)
    reply_page = f"{entry.get_absolute_url()}?reply_to={zoe.pk}"
    unsubscribe = notifications.unsubscribe_url(zoe)
    strict = Client(enforce_csrf_checks=True)

    pages = {
        "front page": page(client.get(reverse("blog:index"))),
        "front page, page 2": page(client.get(reverse("blog:index") + "?page=2")),
        "entry with comments": page(client.get(entry.get_absolute_url())),
        "entry, second page of comments": page(client.get(entry.get_absolute_url() + "?page=2")),
        "comment form error (400)": page(
            client.post(entry.get_absolute_url(), blank_comment), status=400
        ),
        "reply form": page(client.get(reply_page)),
        "reply form error (400)": page(
            client.post(entry.get_absolute_url(), {**blank_comment, "reply_to": zoe.pk}), status=400
        ),
        "the author's reply form": page(staff.get(reply_page)),
        "unsubscribe: ask": page(client.get(unsubscribe)),
        "unsubscribe: done": page(client.post(unsubscribe)),
        "unsubscribe: already": page(client.post(unsubscribe)),
        "unsubscribe: forged link (400)": page(
            client.get(reverse("blog:unsubscribe", kwargs={"token": "forged"})), status=400
        ),
        "year archive": page(client.get(reverse("blog:archive-year", args=[year]))),
        "month archive": page(client.get(reverse("blog:archive-month", args=[year, month]))),
        "search with results": page(client.get(reverse("blog:search") + "?q=entry")),
        "search without results": page(client.get(reverse("blog:search") + "?q=nothing+here")),
        "search form": page(client.get(reverse("blog:search"))),
        "search refused (400)": page(
            client.get(reverse("blog:search") + "?q=" + "x" * 201), status=400
        ),
        "not found (404)": page(client.get("/2001/jan/1/no-such-entry/"), status=404),
        "method not allowed (405)": page(client.put(entry.get_absolute_url()), status=405),
        # Only the readers' comment view is CSRF-exempt: a tokenless POST elsewhere gets it.
        "CSRF failure (403)": page(strict.post("/", {}), status=403),
        "cross-origin comment (403)": page(
            client.post(entry.get_absolute_url(), {}, HTTP_SEC_FETCH_SITE="cross-site"),
            status=403,
        ),
        "staff preview of a draft": page(staff.get(draft.get_absolute_url())),
        "staff preview of a scheduled entry": page(
            staff.get(create_entry(title="Later", days=3).get_absolute_url())
        ),
        "server error (500)": render_to_string("500.html"),
        "database unavailable (503)": service_unavailable().content.decode(),
        "log-in locked out": render_to_string(
            "lockout.html",
            {"cooloff_timedelta": timedelta(minutes=15)},
            request=RequestFactory().get("/admin/login/"),
        ),
    }
    assert 'datetime="' in pages["entry with comments"]
    assert 'class="comment reply"' in pages["entry with comments"]
    assert 'id="reply"' in pages["reply form"] and 'id="reply"' in pages["the author's reply form"]

    assert_valid_html(pages)


def test_the_checker_finds_errors():
    """The helper is not a formality: an invalid page fails it, with the reason."""
    errors = html_errors(
        {
            "valid": "<!DOCTYPE html><html lang=en><title>t</title><p>ok</p></html>",
            "invalid": '<!DOCTYPE html><html lang=en><title>t</title><time datetime="2024-01-01T'
            '10:00:00.622099+00:00">x</time><p><div></div></p></html>',
        }
    )
    assert list(errors) == ["invalid"]
    assert any("datetime" in message for message in errors["invalid"])
