"""Comment spam and abuse guards, moderation and admin notification.

Rejected posts get a clear message and are never stored.
"""

import re
import time

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from blog.models import Comment
from tests.comments import post_comment

pytestmark = pytest.mark.django_db


def test_honeypot_filled_is_rejected_with_a_visible_message(client, create_entry):
    """A filled hidden field is refused with a message above the form, outside the hidden part."""
    entry = create_entry()
    response = post_comment(client, entry, url="http://spam.example")
    assert response.status_code == 400
    html = response.content.decode()
    message = "a hidden field was filled in"
    assert message in html
    hidden_part = html[html.index('class="field hp') :]
    hidden_part = hidden_part[: hidden_part.index("</p>")]
    assert message not in hidden_part
    assert 'value="http://spam.example"' not in html  # the re-rendered trap is empty again
    assert Comment.objects.count() == 0


def test_honeypot_is_hidden_from_people_not_with_an_inline_style(client, create_entry):
    """The trap field is hidden by the stylesheet (class hp), out of tab order, not autofilled."""
    html = client.get(create_entry().get_absolute_url()).content.decode()
    assert 'class="field hp"' in html
    assert 'aria-hidden="true"' in html
    assert 'name="url"' in html and 'tabindex="-1"' in html and 'autocomplete="off"' in html
    assert "style=" not in html


CROSS_ORIGIN_CASES = [
    # (Sec-Fetch-Site, Origin, accepted)
    ("same-origin", "http://testserver", True),
    ("none", "", True),  # typed into the address bar, a bookmark
    ("cross-site", "https://evil.example", False),
    ("same-site", "http://sub.testserver", False),
    ("", "https://evil.example", False),  # an older browser: Origin alone decides
    ("", "null", False),  # a sandboxed frame or a data: page
    ("", "http://testserver", True),
    ("", "https://testserver", False),  # another scheme is another origin
    ("", "", True),  # no browser sent it, so no other site made it
]


@pytest.mark.parametrize("fetch_site,origin,accepted", CROSS_ORIGIN_CASES)
def test_cross_origin_comments_are_refused(client, create_entry, fetch_site, origin, accepted):
    """Readers' forms carry no CSRF token: Sec-Fetch-Site, else Origin, says where a post
    comes from (the rule of Go's http.CrossOriginProtection), with a page that says why."""
    entry = create_entry()
    headers = {}
    if fetch_site:
        headers["HTTP_SEC_FETCH_SITE"] = fetch_site
    if origin:
        headers["HTTP_ORIGIN"] = origin
    response = client.post(
        entry.get_absolute_url(), {"name": "", "text": "From afar?", "url": ""}, **headers
    )
    if accepted:
        assert response.status_code == 302
        assert Comment.objects.get().text == "From afar?"
    else:
        assert response.status_code == 403
        assert "This form was not sent from this site" in response.content.decode()
        assert Comment.objects.count() == 0


def test_trusted_origins_may_post(client, create_entry, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org", "https://blog.example.net"]
    entry = create_entry()
    for origin in ["https://www.example.org", "https://blog.example.net"]:
        response = client.post(
            entry.get_absolute_url(),
            {"text": f"From {origin}", "url": ""},
            HTTP_SEC_FETCH_SITE="cross-site",
            HTTP_ORIGIN=origin,
        )
        assert response.status_code == 302, origin
    response = client.post(
        entry.get_absolute_url(),
        {"text": "From elsewhere", "url": ""},
        HTTP_ORIGIN="https://example.org.evil.example",
    )
    assert response.status_code == 403
    assert Comment.objects.count() == 2


def test_staff_comments_keep_djangos_csrf_check(admin_user, create_entry):
    """Logged-in staff get a CSRF token in the form and must send it back."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    entry = create_entry()
    page = client.get(entry.get_absolute_url()).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = {"text": "Staff says hi", "url": ""}
    refused = client.post(entry.get_absolute_url(), data)
    assert refused.status_code == 403
    assert "The form could not be verified" in refused.content.decode()
    accepted = client.post(entry.get_absolute_url(), {**data, "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert Comment.objects.get().text == "Staff says hi"


def test_readers_forms_carry_no_token(client, create_entry):
    """Nothing per reader in a public page: no CSRF token, no signed form token."""
    entry = create_entry()
    html = client.get(entry.get_absolute_url()).content.decode()
    assert 'id="comment-form"' in html
    assert "csrfmiddlewaretoken" not in html and 'name="token"' not in html
    assert "csrftoken" not in client.cookies


def test_rate_limit_per_client(client, create_entry, settings, time_machine):
    """Past BLOG_COMMENT_RATE comments in the window a client gets a 429 with a message;
    other clients are unaffected; the limit lifts when the window ends."""
    settings.BLOG_COMMENT_RATE = 2
    settings.BLOG_COMMENT_RATE_WINDOW = 2
    entry = create_entry()
    time_machine.move_to(time.time() // 2 * 2 + 2, tick=False)  # the beginning of a window
    assert post_comment(client, entry, text="one").status_code == 302
    assert post_comment(client, entry, text="two").status_code == 302
    response = post_comment(client, entry, text="three")
    assert response.status_code == 429
    assert "You are posting comments too quickly" in response.content.decode()
    assert "three" in response.content.decode()  # the text is kept
    assert post_comment(client, entry, text="from elsewhere", ip="192.0.2.7").status_code == 302
    assert sorted(Comment.objects.values_list("text", flat=True)) == [
        "from elsewhere",
        "one",
        "two",
    ]
    assert Comment.objects.get(text="from elsewhere").ip_address == "192.0.2.7"
    time_machine.shift(2)  # the next window
    assert post_comment(client, entry, text="three").status_code == 302


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("See https://www.example.org/page and https://www.example.net", True),
        ("http://a.example http://b.example", True),
        ("example.com example.org example.net", False),
        ("http://a.example http://b.example http://c.example", False),
        ("[x](http://a.example) www.b.example http://c.example", False),
        ("No links at all, just text.", True),
    ],
)
def test_link_cap(client, create_entry, text, accepted):
    """At most BLOG_COMMENT_MAX_LINKS (2) links; one address counts once."""
    entry = create_entry()
    response = post_comment(client, entry, text=text)
    if accepted:
        assert response.status_code == 302
        assert Comment.objects.get().text == text
    else:
        assert response.status_code == 400
        assert "A comment may contain at most 2 links." in response.content.decode()
        assert Comment.objects.count() == 0


def test_double_post_is_stored_once(client, create_entry):
    """The same comment sent twice (double click, reload) is stored once; the second post
    lands on the first with a message."""
    entry = create_entry()
    first = post_comment(client, entry, text="Only once please")
    second = post_comment(client, entry, text="Only once please")
    comment = Comment.objects.get()
    assert first["Location"] == second["Location"] == f"{entry.get_absolute_url()}#c{comment.pk}"
    page = client.get(second["Location"]).content.decode()
    assert "You had already posted this comment." in page
    assert page.count("Only once please") == 1


def test_disabled_comments_are_closed(client, create_entry):
    """With comments disabled the page says so, has no form, and posts are refused."""
    entry = create_entry(comments_enabled=False)
    html = client.get(entry.get_absolute_url()).content.decode()
    assert "Comments are closed." in html
    assert 'name="text"' not in html
    response = post_comment(client, entry)
    assert response.status_code == 400
    assert "Comments are closed for this entry." in response.content.decode()
    assert Comment.objects.count() == 0


def test_comments_close_after_the_configured_days(client, create_entry, settings):
    """BLOG_COMMENTS_CLOSE_AFTER_DAYS closes comments on older entries only."""
    settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS = 14
    old = create_entry(title="Old", days=-15)
    recent = create_entry(title="Recent", days=-13)
    assert "Comments are closed." in client.get(old.get_absolute_url()).content.decode()
    assert post_comment(client, old).status_code == 400
    assert post_comment(client, recent).status_code == 302
    assert list(Comment.objects.values_list("entry__title", flat=True)) == ["Recent"]


def test_moderated_comments_wait_for_approval(client, admin_client, create_entry, settings):
    """With moderation on, a new comment is stored hidden, the reader is told, and an admin
    approves or hides comments in bulk from the admin."""
    settings.BLOG_COMMENTS_MODERATED = True
    entry = create_entry()
    response = post_comment(client, entry, text="Waiting in line")
    assert response.status_code == 302
    assert response["Location"] == entry.get_absolute_url()
    page = client.get(entry.get_absolute_url()).content.decode()
    assert "Your comment will appear once it is approved." in page
    assert "Waiting in line" not in page
    post_comment(client, entry, text="Also waiting")
    assert Comment.objects.filter(is_public=False).count() == 2

    changelist = reverse("admin:blog_comment_changelist")
    pending = admin_client.get(changelist, {"is_public__exact": "0"})
    assert pending.context["cl"].result_count == 2
    ids = list(Comment.objects.values_list("pk", flat=True))
    response = admin_client.post(
        changelist, {"action": "show_comments", "_selected_action": ids}, follow=True
    )
    assert "2 comments are now visible." in response.content.decode()
    page = client.get(entry.get_absolute_url()).content.decode()
    assert "Waiting in line" in page and "Also waiting" in page

    admin_client.post(changelist, {"action": "hide_comments", "_selected_action": ids[:1]})
    assert list(Comment.objects.filter(is_public=True).values_list("pk", flat=True)) == ids[1:]


def test_admins_are_mailed_about_new_comments(
    client, create_entry, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """With notification on, each new comment mails ADMINS once it is committed."""
    settings.BLOG_COMMENTS_NOTIFY_ADMINS = True
    settings.ADMINS = [("Editor", "editor@example.org")]
    settings.BLOG_COMMENTS_MODERATED = True
    entry = create_entry(title="Mailed entry")
    with django_capture_on_commit_callbacks(execute=True):
        post_comment(client, entry, text="Tell the editor", name="Zoë")
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["editor@example.org"]
    assert "Mailed entry" in mail.subject
    assert "Zoë commented on “Mailed entry” (awaiting approval)" in mail.body
    assert "Tell the editor" in mail.body


def test_no_mail_when_notification_is_off(
    client, create_entry, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """Notification is opt-in."""
    settings.ADMINS = [("Editor", "editor@example.org")]
    with django_capture_on_commit_callbacks(execute=True):
        assert post_comment(client, create_entry()).status_code == 302
    assert mailoutbox == []


class BrokenBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def test_broken_mail_server_does_not_lose_the_comment(
    client, create_entry, settings, django_capture_on_commit_callbacks
):
    """A failing mail server is logged; the reader still gets the redirect and the comment."""
    settings.BLOG_COMMENTS_NOTIFY_ADMINS = True
    settings.ADMINS = [("Editor", "editor@example.org")]
    settings.EMAIL_BACKEND = f"{__name__}.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        response = post_comment(client, create_entry())
    assert response.status_code == 302
    assert Comment.objects.count() == 1


def test_comment_timestamps_and_ip_are_recorded(client, create_entry):
    """A saved comment records when and from which address it came."""
    before = timezone.now()
    post_comment(client, create_entry(), ip="2001:db8::1")
    comment = Comment.objects.get()
    assert comment.created >= before
    assert comment.ip_address == "2001:db8::1"
