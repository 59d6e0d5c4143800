"""Comment spam and abuse guards, moderation and admin notification.

Rejected posts get a clear message and are never stored.
"""

import time

import pytest
from django.core import signing
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone

from blog import spam
from blog.models import Comment
from tests.comments import post_comment

pytestmark = pytest.mark.django_db


def aged_token(entry_pk, seconds):
    """A genuine form token as if the form had been rendered `seconds` ago."""
    payload = {"e": entry_pk, "t": time.time() - seconds}
    return signing.dumps(payload, salt=spam.SALT, compress=False)


def test_honeypot_filled_is_rejected_with_a_visible_message(client, create_entry, no_comment_delay):
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


def test_posting_faster_than_the_minimum_time_is_rejected(client, create_entry, settings):
    """A form sent back sooner than BLOG_COMMENT_MIN_SECONDS is refused; a later one is saved."""
    settings.BLOG_COMMENT_MIN_SECONDS = 5
    entry = create_entry()
    response = post_comment(client, entry, token=aged_token(entry.pk, 1))
    assert response.status_code == 400
    assert "That was very fast" in response.content.decode()
    assert Comment.objects.count() == 0
    assert post_comment(client, entry, token=aged_token(entry.pk, 6)).status_code == 302
    assert Comment.objects.count() == 1


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "forged:token", "OTHER-ENTRY", "EXPIRED"],
)
def test_missing_forged_or_stale_tokens_are_rejected(client, create_entry, no_comment_delay, token):
    """A token that is missing, forged, for another entry or a day old is refused; the form
    comes back with a fresh token, so posting it again works without retyping."""
    entry = create_entry()
    other = create_entry(title="Other")
    token = {
        "OTHER-ENTRY": spam.form_token(other.pk),
        "EXPIRED": aged_token(entry.pk, spam.TOKEN_MAX_AGE + 60),
    }.get(token, token)
    response = post_comment(client, entry, token=token, text="Typed with care")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Typed with care" in html
    assert Comment.objects.count() == 0
    if token:  # a missing token gets Django's "required" message instead
        assert "This form had expired. Please post again." in html
        fresh = response.context["form"].data["token"]
        assert spam.token_age(fresh, entry.pk) is not None
        assert post_comment(client, entry, token=fresh, text="Typed with care").status_code == 302
        assert Comment.objects.count() == 1


def test_rate_limit_per_client(client, create_entry, settings, no_comment_delay, time_machine):
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
def test_link_cap(client, create_entry, no_comment_delay, text, accepted):
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


def test_double_post_is_stored_once(client, create_entry, no_comment_delay):
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


def test_disabled_comments_are_closed(client, create_entry, no_comment_delay):
    """With comments disabled the page says so, has no form, and posts are refused."""
    entry = create_entry(comments_enabled=False)
    html = client.get(entry.get_absolute_url()).content.decode()
    assert "Comments are closed." in html
    assert 'name="text"' not in html
    response = post_comment(client, entry)
    assert response.status_code == 400
    assert "Comments are closed for this entry." in response.content.decode()
    assert Comment.objects.count() == 0


def test_comments_close_after_the_configured_days(client, create_entry, settings, no_comment_delay):
    """BLOG_COMMENTS_CLOSE_AFTER_DAYS closes comments on older entries only."""
    settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS = 14
    old = create_entry(title="Old", days=-15)
    recent = create_entry(title="Recent", days=-13)
    assert "Comments are closed." in client.get(old.get_absolute_url()).content.decode()
    assert post_comment(client, old).status_code == 400
    assert post_comment(client, recent).status_code == 302
    assert list(Comment.objects.values_list("entry__title", flat=True)) == ["Recent"]


def test_moderated_comments_wait_for_approval(
    client, admin_client, create_entry, settings, no_comment_delay
):
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
    client, create_entry, settings, mailoutbox, django_capture_on_commit_callbacks, no_comment_delay
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
    client, create_entry, settings, mailoutbox, django_capture_on_commit_callbacks, no_comment_delay
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
    client, create_entry, settings, django_capture_on_commit_callbacks, no_comment_delay
):
    """A failing mail server is logged; the reader still gets the redirect and the comment."""
    settings.BLOG_COMMENTS_NOTIFY_ADMINS = True
    settings.ADMINS = [("Editor", "editor@example.org")]
    settings.EMAIL_BACKEND = f"{__name__}.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        response = post_comment(client, create_entry())
    assert response.status_code == 302
    assert Comment.objects.count() == 1


def test_comment_timestamps_and_ip_are_recorded(client, create_entry, no_comment_delay):
    """A saved comment records when and from which address it came."""
    before = timezone.now()
    post_comment(client, create_entry(), ip="2001:db8::1")
    comment = Comment.objects.get()
    assert comment.created >= before
    assert comment.ip_address == "2001:db8::1"
