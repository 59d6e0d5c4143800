"""Conversations: replies one level deep, the author's own voice, following a thread by mail,
commenters' websites, and moderation that learns."""

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from blog import cache, notifications, spam
from blog.models import Comment, Entry
from tests.comments import post_comment
from tests.test_comment_guards import BrokenBackend  # noqa: F401  (a backend by dotted path)

pytestmark = pytest.mark.django_db


def page_html(client, entry, query=""):
    response = client.get(entry.get_absolute_url() + query)
    assert response.status_code == 200
    return response.content.decode()


def block(html, comment):
    """The HTML of one comment's <article> (with its replies, for a first comment)."""
    start = html.index(f'id="c{comment.pk}"')
    depth, pos = 1, html.index(">", start)
    while depth:
        opening = html.find("<article", pos)
        closing = html.find("</article>", pos)
        if opening != -1 and opening < closing:
            depth, pos = depth + 1, opening + 1
        else:
            depth, pos = depth - 1, closing + 1
    return html[start:pos]


def reply(client, comment, **fields):
    return post_comment(client, comment.entry, reply_to=comment.pk, **fields)


# -- replies ------------------------------------------------------------------------------


def test_reply_link_puts_the_form_under_the_comment_without_javascript(
    client, create_entry, create_comment
):
    """Each comment's Reply link is ?reply_to=<id>#reply; that page has the form inside that
    comment (the anchor scrolls to it), carrying the id, and no second form at the end."""
    entry = create_entry()
    ann = create_comment(entry, name="Ann", text="A question?")
    bob = create_comment(entry, name="Bob", text="Another one.")
    html = page_html(client, entry)
    link = f'href="{entry.get_absolute_url()}?reply_to={ann.pk}#reply"'
    assert link in block(html, ann)
    assert html.count('id="comment-form"') == 1 and 'id="reply"' not in html

    html = page_html(client, entry, f"?reply_to={ann.pk}")
    assert html.count('id="comment-form"') == 1
    assert 'id="reply"' in block(html, ann) and 'id="reply"' not in block(html, bob)
    assert "Reply to Ann" in block(html, ann)
    assert f'name="reply_to" value="{ann.pk}"' in block(html, ann)
    assert "Post reply" in html and "Leave a new comment instead" in html
    # Unknown, hidden or malformed targets: the ordinary page.
    hidden = create_comment(entry, is_public=False)
    for junk in (hidden.pk, 999999, "x", ""):
        html = page_html(client, entry, f"?reply_to={junk}")
        assert 'id="reply"' not in html and "Leave a comment" in html
    # A reply page is the entry page again: search engines keep to the permalink.
    assert '<meta name="robots" content="noindex">' in page_html(
        client, entry, f"?reply_to={ann.pk}"
    )
    assert "noindex" not in page_html(client, entry)


def test_replies_show_under_their_comment_oldest_first(client, create_entry, create_comment):
    """A reply is stored with its parent, redirects to its own anchor, and shows inside its
    comment's thread, oldest first, after which the next first comment follows."""
    entry = create_entry()
    ann = create_comment(entry, name="Ann", created=timezone.now() - timedelta(hours=2))
    create_comment(entry, name="Later", text="Later comment.")
    first = reply(client, ann, name="Bob", text="First answer.")
    second = reply(client, ann, name="Cy", text="Second answer.")
    replies = list(Comment.objects.filter(parent=ann).order_by("created"))
    assert [r.text for r in replies] == ["First answer.", "Second answer."]
    assert first["Location"] == f"{entry.get_absolute_url()}#c{replies[0].pk}"
    assert second["Location"] == f"{entry.get_absolute_url()}#c{replies[1].pk}"
    html = page_html(client, entry)
    thread = block(html, ann)
    assert 'class="replies"' in thread
    assert thread.index("First answer.") < thread.index("Second answer.")
    assert "Later comment." not in thread and html.index("Second answer.") < html.index(
        "Later comment."
    )
    assert 'class="comment reply"' in thread


def test_a_reply_to_a_reply_joins_the_same_thread(client, create_entry, create_comment):
    """Replies are one level deep: answering a reply stores the answer under the first
    comment (the form was shown under the reply the reader clicked)."""
    entry = create_entry()
    ann = create_comment(entry, name="Ann")
    reply(client, ann, name="Bob", text="Answer.")
    bobs = Comment.objects.get(name="Bob")
    assert 'id="reply"' in block(page_html(client, entry, f"?reply_to={bobs.pk}"), bobs)
    reply(client, bobs, name="Cy", text="Answer to the answer.")
    assert Comment.objects.get(name="Cy").parent == ann


def test_replying_to_a_missing_hidden_or_foreign_comment_is_refused(
    client, create_entry, create_comment
):
    """A reply to a comment that is not shown on this entry gets a 400 with a message and the
    text kept; nothing is stored."""
    entry = create_entry()
    other = create_comment(create_entry(title="Other"), name="Elsewhere")
    hidden = create_comment(entry, is_public=False)
    for target in (other.pk, hidden.pk, 424242):
        response = post_comment(client, entry, reply_to=target, text="Lost answer")
        assert response.status_code == 400
        html = response.content.decode()
        assert "The comment you are answering is no longer shown." in html
        assert "Lost answer" in html
    assert not Comment.objects.filter(text="Lost answer").exists()


def test_thread_rules_hold_for_the_model_and_the_database(create_entry, create_comment):
    """Admin forms (clean()) refuse a reply to a reply or to another entry's comment; the
    database refuses a comment that answers itself; post() refuses a foreign parent."""
    entry = create_entry()
    ann = create_comment(entry)
    answer = create_comment(entry, parent=ann)
    with pytest.raises(ValidationError, match="one level deep"):
        Comment(entry=entry, text="x", parent=answer).full_clean()
    with pytest.raises(ValidationError, match="entry of its comment"):
        Comment(entry=create_entry(title="Other"), text="x", parent=ann).full_clean()
    ann.parent = create_comment(entry)
    with pytest.raises(ValidationError, match="A comment with replies cannot become a reply"):
        ann.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Comment.objects.filter(pk=answer.pk).update(parent=answer.pk)
    with pytest.raises(ValueError):
        Comment.objects.post(
            create_entry(title="Third"), "127.0.0.1", name="", text="x", parent=ann
        )


def test_hidden_or_deleted_comments_hide_their_replies_but_keep_them(
    client, create_entry, create_comment
):
    """Hiding a comment hides its thread from readers (page, counts, feed) and showing it again
    brings the thread back; deleting it keeps the replies, hidden, for the admin."""
    entry = create_entry()
    ann = create_comment(entry, name="Ann", text="Root text")
    kept = create_comment(entry, name="Bob", text="Reply text", parent=ann)
    counts = lambda: Entry.objects.with_comment_counts().get(pk=entry.pk).comment_count  # noqa: E731
    assert counts() == 2
    Comment.objects.filter(pk=ann.pk).update(is_public=False)
    assert "Reply text" not in page_html(client, entry) and counts() == 0
    feed = client.get(entry.get_comments_feed_url()).content.decode()
    assert "Reply text" not in feed
    Comment.objects.filter(pk=ann.pk).update(is_public=True)
    assert "Reply text" in page_html(client, entry) and counts() == 2

    ann.delete()
    kept.refresh_from_db()
    assert (kept.text, kept.parent, kept.is_public) == ("Reply text", None, False)
    assert "Reply text" not in page_html(client, entry) and counts() == 0


@pytest.mark.parametrize("rule", ["closed", "moderated", "duplicate", "rate", "links", "honeypot"])
def test_replies_obey_every_rule_comments_do(client, create_entry, create_comment, settings, rule):
    """Closing, moderation, the double-post guard, the rate limit and the spam guards apply to
    replies as to comments: they go through the same form and Comment.objects.post()."""
    entry = create_entry()
    ann = create_comment(entry)
    fields = {"text": "An answer."}
    if rule == "closed":
        Entry.objects.filter(pk=entry.pk).update(comments_enabled=False)
        ann.entry.refresh_from_db()
        assert reply(client, ann, **fields).status_code == 400
        assert not ann.replies.exists()
    elif rule == "moderated":
        settings.BLOG_COMMENTS_MODERATED = True
        assert reply(client, ann, **fields)["Location"] == entry.get_absolute_url()
        assert list(ann.replies.values_list("is_public", flat=True)) == [False]
        assert "An answer." not in page_html(client, entry)
    elif rule == "duplicate":
        assert reply(client, ann, **fields).status_code == 302
        assert reply(client, ann, **fields).status_code == 302
        assert ann.replies.count() == 1
        # The same words as a new comment, not a reply, are another comment.
        assert post_comment(client, entry, **fields).status_code == 302
        assert entry.comments.filter(text="An answer.").count() == 2
    elif rule == "rate":
        settings.BLOG_COMMENT_RATE = 2
        statuses = [reply(client, ann, text=f"Answer {n}").status_code for n in range(3)]
        assert statuses == [302, 302, 429]
        assert ann.replies.count() == 2
    elif rule == "links":
        settings.BLOG_COMMENT_MAX_LINKS = 1
        assert reply(client, ann, text="http://a.example http://b.example").status_code == 400
        assert not ann.replies.exists()
    elif rule == "honeypot":
        assert reply(client, ann, url="http://spam.example", **fields).status_code == 400
        assert not ann.replies.exists()


def test_counts_feeds_and_admin_show_replies_with_their_parent(
    client, admin_client, create_entry, create_comment
):
    """The list counts replies; the comment feed names whom a reply answers; the admin's
    comment list shows and filters replies with a link to their parent."""
    entry = create_entry(title="Talk")
    ann = create_comment(entry, name="Ann", text="Question")
    answer = create_comment(entry, name="Bob", text="Answer", parent=ann)
    assert Entry.objects.with_comment_counts().get(pk=entry.pk).comment_count == 2
    index = client.get(reverse("blog:index")).content.decode()
    assert "2 comments" in index

    rss = client.get(entry.get_comments_feed_url()).content.decode()
    assert "<title>Reply by Bob to Ann</title>" in rss
    assert "<title>Comment by Ann</title>" in rss
    atom = client.get(entry.get_comments_feed_url() + "atom/").content.decode()
    assert "<title>Reply by Bob to Ann</title>" in atom

    changelist = reverse("admin:blog_comment_changelist")
    html = admin_client.get(changelist).content.decode()
    parent_link = reverse("admin:blog_comment_change", args=[ann.pk])
    assert f'<a href="{parent_link}">#{ann.pk} Ann</a>' in html
    replies = admin_client.get(changelist, {"thread": "replies"})
    assert [c.pk for c in replies.context["cl"].result_list] == [answer.pk]
    first = admin_client.get(changelist, {"thread": "first"})
    assert [c.pk for c in first.context["cl"].result_list] == [ann.pk]


def test_a_reply_makes_cached_pages_stale(client, create_entry, create_comment):
    """The entry page, cached for readers, shows a new reply on the next request."""
    entry = create_entry()
    ann = create_comment(entry)
    assert "Fresh answer" not in page_html(client, entry)
    assert client.get(entry.get_absolute_url()).status_code == 200  # a cache hit
    reply(client, ann, text="Fresh answer")
    assert "Fresh answer" in block(page_html(client, entry), ann)


# -- the author's voice -------------------------------------------------------------------


def test_staff_comment_is_the_authors_with_a_mark_and_no_moderation(
    admin_client, admin_user, client, create_entry, create_comment, settings
):
    """A logged-in staff user's comment is tied to them, named as their account, shown with an
    Author mark, and visible at once even under moderation; their form asks no name."""
    settings.BLOG_COMMENTS_MODERATED = True
    admin_user.first_name, admin_user.last_name = "Jane", "Doe"
    admin_user.save()
    entry = create_entry()
    ann = create_comment(entry, name="Ann")
    form = page_html(admin_client, entry, f"?reply_to={ann.pk}")
    assert 'name="name"' not in form and 'name="email"' not in form
    assert "Commenting as <strong>Jane Doe</strong>" in form
    response = reply(admin_client, ann, name="Someone else", text="The author answers.")
    answer = Comment.objects.get(text="The author answers.")
    assert response["Location"] == answer.get_absolute_url()
    assert (answer.user, answer.name, answer.is_public, answer.parent) == (
        admin_user,
        "Jane Doe",
        True,
        ann,
    )
    html = page_html(client, entry)
    assert '<span class="badge author">Author</span>' in block(html, answer)
    assert "Jane Doe" in block(html, answer)
    anns_own = block(html, ann).split('class="replies"')[0]
    assert "Ann" in anns_own and "badge author" not in anns_own


IMPERSONATIONS = [
    "Jane Doe",  # BLOG_AUTHOR
    "jane doe",
    "JANE  DOE ",
    "Jane\u200bDoe",  # zero-width space
    "Jáne Dóe",  # accents
    "Ｊａｎｅ Ｄｏｅ",  # full width
    "Jane.Doe",
    "admin",
    "Admin ",
    "ADMIN",
    "Ａdmin",
    "a\u200bdmin",
    "a\u00addmin",  # soft hyphen
    "Admín",
    "аdmin",  # Cyrillic а
    "𝐚𝐝𝐦𝐢𝐧",  # mathematical bold
    "Administrator",
    "author",
    "The Author",
    "editor-in-chief",  # a staff user's username
    "Editor In Chief",
    "Max Mustermann",  # a staff user's full name
    "max.mustermann",
]


@pytest.mark.parametrize("name", IMPERSONATIONS)
def test_readers_cannot_comment_under_the_authors_name(client, create_entry, settings, name):
    """An anonymous comment under the author's, a staff user's or a role's name, however
    written, is refused with a message; the text is kept; nothing is stored."""
    settings.BLOG_AUTHOR = "Jane Doe"
    get_user_model().objects.create_user(
        "editor-in-chief", first_name="Max", last_name="Mustermann", is_staff=True
    )
    entry = create_entry()
    response = post_comment(client, entry, name=name, text="Trust me.")
    assert response.status_code == 400
    html = response.content.decode()
    assert "is the author’s name (or reads like it)" in html
    assert "Trust me." in html
    assert not Comment.objects.exists()


@pytest.mark.parametrize("name", ["Jane", "Doe John", "Adminah", "Authorised reader", "Zoë", ""])
def test_other_names_are_welcome(client, create_entry, settings, name):
    """Names that merely share letters with the author's are not refused."""
    settings.BLOG_AUTHOR = "Jane Doe"
    assert post_comment(client, create_entry(), name=name).status_code == 302
    assert Comment.objects.get().name == name


def test_former_staff_names_are_free(create_entry, db):
    """Only current staff names are protected (a non-staff account's name is anyone's)."""
    get_user_model().objects.create_user("guest", first_name="Gus", is_staff=False)
    assert not spam.impersonates_author("Gus")
    assert not spam.impersonates_author("guest")


# -- following a thread -------------------------------------------------------------------


def subscriber(client, entry, name, email, **fields):
    response = post_comment(client, entry, name=name, email=email, notify="on", **fields)
    assert response.status_code == 302, response.content.decode()[-2000:]
    return Comment.objects.get(name=name)


def test_addresses_never_reach_pages_feeds_or_the_page_cache(client, create_entry):
    """An address is stored (lower case) but never shown: not on the page, in either feed, in
    the cached copy, nor in the reply form's page."""
    entry = create_entry()
    ann = subscriber(client, entry, "Ann", "Ann.Secret@Example.org")
    assert (ann.email, ann.notify) == ("ann.secret@example.org", True)
    bodies = [
        page_html(client, entry),
        page_html(client, entry, f"?reply_to={ann.pk}"),
        client.get(entry.get_comments_feed_url()).content.decode(),
        client.get(entry.get_comments_feed_url() + "atom/").content.decode(),
    ]
    files = [path for path in cache.pages_root().rglob("index.*") if path.is_file()]
    assert len(files) >= 3  # the page and its feeds, written for Apache
    stored = b"".join(path.read_bytes() for path in files)
    for text in [*bodies, stored.decode()]:
        assert "secret" not in text.lower()


def test_asking_for_mail_needs_an_address(client, create_entry):
    """The checkbox without an address is refused next to the address field."""
    response = post_comment(client, create_entry(), notify="on", text="Tell me")
    assert response.status_code == 400
    assert "Please give your e-mail address to hear about replies." in response.content.decode()
    assert not Comment.objects.exists()


def test_subscribers_get_one_mail_per_reply_and_can_unsubscribe_once(
    client, admin_client, create_entry, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """Ann asks and subscribes, Bob replies and subscribes, Cy replies without: each reply mails
    every earlier subscriber but its own author, once, with a link to the reply and a signed
    unsubscribe link that works once, then says so."""
    settings.BLOG_SITE_URL = "https://blog.example"
    entry = create_entry(title="Question time")
    with django_capture_on_commit_callbacks(execute=True):
        ann = subscriber(client, entry, "Ann", "ann@example.org", text="How?")
        assert mailoutbox == []  # a first comment is no reply
        bob = subscriber(client, entry, "Bob", "bob@example.org", reply_to=ann.pk, text="Me too")
    assert [m.to for m in mailoutbox] == [["ann@example.org"]]

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply(client, ann, name="Cy", email="cy@example.org", text="Like this.")
    assert sorted(m.to for m in mailoutbox) == [["ann@example.org"], ["bob@example.org"]]
    cy = Comment.objects.get(name="Cy")
    mail = next(m for m in mailoutbox if m.to == ["ann@example.org"])
    assert mail.subject == "New reply on “Question time”"
    assert "Cy replied" in mail.body and "Like this." in mail.body
    assert f"https://blog.example{entry.get_absolute_url()}#c{cy.pk}" in mail.body
    unsubscribe = re.search(r"https://blog\.example(/unsubscribe/\S+/)", mail.body).group(1)
    assert mail.extra_headers["List-Unsubscribe"] == f"<https://blog.example{unsubscribe}>"
    assert mail.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "bob@example.org" not in mail.body and "cy@example.org" not in mail.body

    # The author answers: everyone who subscribed hears, nobody twice.
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply(admin_client, bob, text="The author's answer.")
    assert sorted(m.to for m in mailoutbox) == [["ann@example.org"], ["bob@example.org"]]
    assert "(the author)" in mailoutbox[0].body

    # Unsubscribing: a page with a button (GET changes nothing), then once, then "already".
    asked = client.get(unsubscribe)
    assert asked.status_code == 200 and "Stop these e-mails" in asked.content.decode()
    assert Comment.objects.get(pk=ann.pk).notify
    done = client.post(unsubscribe, {"List-Unsubscribe": "One-Click"})
    assert "you will get no more e-mails" in done.content.decode()
    assert not Comment.objects.get(pk=ann.pk).notify
    again = client.post(unsubscribe)
    assert again.status_code == 200 and "You had already unsubscribed" in again.content.decode()
    assert "You had already unsubscribed" in client.get(unsubscribe).content.decode()

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply(client, ann, name="Dee", text="Late answer.")
    assert [m.to for m in mailoutbox] == [["bob@example.org"]]  # Bob still follows


def test_forged_unsubscribe_links_are_refused(client, create_entry):
    """A link whose signature does not match gets a 400 page that says so."""
    entry = create_entry()
    ann = subscriber(client, entry, "Ann", "ann@example.org")
    good = notifications.unsubscribe_url(ann)
    forged = good.replace(good.split("/")[2], str(ann.pk + 1) + ":forged")
    for url in (forged, reverse("blog:unsubscribe", kwargs={"token": "abc"})):
        response = client.post(url)
        assert response.status_code == 400
        assert "This unsubscribe link is not valid." in response.content.decode()
    assert Comment.objects.get(pk=ann.pk).notify


def test_moderated_replies_are_announced_when_approved(
    client, admin_client, create_entry, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """A reply waiting for moderation mails nobody; approving it in the admin mails the
    subscribers once; approving it again mails nobody."""
    entry = create_entry()
    ann = subscriber(client, entry, "Ann", "ann@example.org")
    settings.BLOG_COMMENTS_MODERATED = True
    with django_capture_on_commit_callbacks(execute=True):
        reply(client, ann, name="Bob", text="Waiting answer.")
    assert mailoutbox == []
    answer = Comment.objects.get(name="Bob")
    changelist = reverse("admin:blog_comment_changelist")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                changelist, {"action": "show_comments", "_selected_action": [answer.pk]}
            )
    assert [m.to for m in mailoutbox] == [["ann@example.org"]]
    assert "Waiting answer." in mailoutbox[0].body

    # Ticking "visible" on a reply's own admin page approves it the same way.
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply(client, ann, name="Cy", text="Another waiting answer.")
    cy = Comment.objects.get(name="Cy")
    change = reverse("admin:blog_comment_change", args=[cy.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "created"}
    data |= {"is_public": "on", "created_0": "2024-01-01", "created_1": "10:00:00"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Comment.objects.get(pk=cy.pk).is_public
    assert [m.to for m in mailoutbox] == [["ann@example.org"]]
    assert "Another waiting answer." in mailoutbox[0].body


def test_a_down_mail_server_never_loses_a_reply(
    client, create_entry, settings, caplog, django_capture_on_commit_callbacks
):
    """Mail is sent after the commit; a failing server is logged once and the reader still
    gets their reply and the redirect."""
    settings.EMAIL_BACKEND = "tests.test_comment_guards.BrokenBackend"
    entry = create_entry()
    ann = subscriber(client, entry, "Ann", "ann@example.org")
    subscriber(client, entry, "Bob", "bob@example.org", reply_to=ann.pk, text="Me too")
    with caplog.at_level(logging.ERROR, logger="blog.notifications"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = reply(client, ann, name="Cy", text="An answer.")
        assert response.status_code == 302
        assert Comment.objects.filter(name="Cy").exists()  # stored before any mail
        for callback in callbacks:
            callback()
    failures = [r for r in caplog.records if "reply notifications" in r.getMessage()]
    assert len(failures) == 1


def test_addresses_are_deleted_with_their_comment(client, create_entry):
    """Deleting a comment (or its entry) leaves its address nowhere in the database."""
    entry = create_entry()
    ann = subscriber(client, entry, "Ann", "ann@example.org")
    subscriber(client, entry, "Bob", "bob@example.org", reply_to=ann.pk, text="Me too")
    ann.delete()
    assert list(Comment.objects.values_list("email", flat=True)) == ["bob@example.org"]
    entry.delete()
    assert not Comment.objects.exists()


# -- commenters' websites -----------------------------------------------------------------


@pytest.mark.parametrize(
    "website, stored",
    [
        ("https://ann.example/", "https://ann.example/"),
        ("http://ann.example/blog?x=1", "http://ann.example/blog?x=1"),
        ("ann.example", "https://ann.example"),
        ("", ""),
    ],
)
def test_websites_link_the_name_with_nofollow_ugc(client, create_entry, website, stored):
    entry = create_entry()
    assert post_comment(client, entry, name="Ann", website=website).status_code == 302
    ann = Comment.objects.get()
    assert ann.website == stored
    meta = block(page_html(client, entry), ann)
    if stored:
        assert (
            f'<a class="name" href="{stored.replace("&", "&amp;")}" rel="nofollow ugc">Ann</a>'
            in meta
        )
    else:
        assert '<strong class="name">Ann</strong>' in meta


@pytest.mark.parametrize(
    "website",
    [
        "javascript:alert(1)",
        "ftp://ann.example/",
        "data:text/html,hi",
        "https://" + "a" * 200 + ".example",
        "http://",
        "https://ann .example",
    ],
)
def test_bad_websites_are_refused_with_a_message(client, create_entry, website):
    response = post_comment(client, create_entry(), website=website, text="Kept text")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Kept text" in html
    assert (
        "Please give a web address starting with http:// or https://." in html
        or "Web addresses are limited to 200 characters" in html
    )
    assert not Comment.objects.exists()


# -- moderation that learns ---------------------------------------------------------------


def test_an_approved_address_is_approved_at_once(client, admin_client, create_entry, settings):
    """Under moderation, a commenter whose earlier comment (same address, any case) was
    approved is visible at once; a new address still waits."""
    settings.BLOG_COMMENTS_MODERATED = True
    entry = create_entry()
    post_comment(client, entry, email="ann@example.org", text="First")
    first = Comment.objects.get(text="First")
    assert not first.is_public
    post_comment(client, entry, email="Ann@Example.org", text="Second")
    assert not Comment.objects.get(text="Second").is_public  # nothing approved yet
    admin_client.post(
        reverse("admin:blog_comment_changelist"),
        {"action": "show_comments", "_selected_action": [first.pk]},
    )
    response = post_comment(client, entry, email="ANN@example.org", text="Third")
    third = Comment.objects.get(text="Third")
    assert third.is_public and response["Location"] == third.get_absolute_url()
    post_comment(client, entry, email="new@example.org", text="Stranger")
    post_comment(client, entry, text="No address")
    assert not Comment.objects.filter(text__in=["Stranger", "No address"], is_public=True).exists()


def test_spam_is_kept_out_and_its_address_never_approved_again(
    client, admin_client, create_entry, create_comment, settings
):
    """Marking as spam removes a comment from pages, counts and feeds; that address's next
    comments wait for approval even though an earlier one was approved, and even with
    moderation off."""
    entry = create_entry()
    good = create_comment(entry, text="Fine words", email="sam@example.org")
    bad = create_comment(entry, text="Buy pills", email="sam@example.org")
    create_comment(entry, text="Reply to spam", parent=bad)
    response = admin_client.post(
        reverse("admin:blog_comment_changelist"),
        {"action": "mark_spam", "_selected_action": [bad.pk]},
        follow=True,
    )
    assert "1 comment is marked as spam" in response.content.decode()
    bad.refresh_from_db()
    assert (bad.is_spam, bad.is_public) == (True, False)
    assert list(Comment.objects.public()) == [good]
    assert Entry.objects.with_comment_counts().get(pk=entry.pk).comment_count == 1
    assert "Buy pills" not in page_html(client, entry)
    assert "Buy pills" not in client.get(entry.get_comments_feed_url()).content.decode()
    # Visible is one rule: even a spam comment left "visible" stays out.
    Comment.objects.filter(pk=bad.pk).update(is_public=True)
    assert "Buy pills" not in page_html(client, entry)

    post_comment(client, entry, email="sam@example.org", text="Moderation off")
    assert not Comment.objects.get(text="Moderation off").is_public
    settings.BLOG_COMMENTS_MODERATED = True
    post_comment(client, entry, email="SAM@example.org", text="Moderation on")
    assert not Comment.objects.get(text="Moderation on").is_public
    assert not Comment.objects.trusted_email("sam@example.org")


def test_admins_hear_of_replies_but_not_of_their_own_comments(
    client, admin_client, create_entry, create_comment, settings, mailoutbox,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """The admins' mail names whom a reply answers; the author's own comments mail nobody."""
    settings.BLOG_COMMENTS_NOTIFY_ADMINS = True
    settings.ADMINS = [("Editor", "editor@example.org")]
    ann = create_comment(create_entry(title="Mailed"), name="Ann")
    with django_capture_on_commit_callbacks(execute=True):
        reply(client, ann, name="Bob", text="Reader answer")
        reply(admin_client, ann, text="Author answer")
    assert len(mailoutbox) == 1
    assert "Bob replied to Ann on “Mailed”" in mailoutbox[0].body


# -- pages of a long conversation ----------------------------------------------------------


@pytest.fixture
def long_conversation(settings, create_entry, create_comment):
    """Seven first comments, three to a page, and replies to the first and the fifth."""
    settings.BLOG_COMMENTS_PER_PAGE = 3
    entry = create_entry(title="Much discussed")
    start = timezone.now() - timedelta(days=1)
    firsts = []
    for n in range(7):
        comment = create_comment(entry, text=f"First comment {n + 1}")
        Comment.objects.filter(pk=comment.pk).update(created=start + timedelta(minutes=n))
        firsts.append(Comment.objects.get(pk=comment.pk))
    replies = [create_comment(entry, text=f"Reply to {n + 1}", parent=firsts[n]) for n in (0, 4)]
    return entry, firsts, replies


def test_a_long_conversation_is_paged_by_first_comments_with_their_replies(
    client, long_conversation
):
    entry, firsts, replies = long_conversation
    url = entry.get_absolute_url()
    pages = [page_html(client, entry, query) for query in ("", "?page=2", "?page=3")]
    shown = [re.findall(r"<p>((?:First comment|Reply to) \d)</p>", html) for html in pages]
    assert shown == [
        ["First comment 1", "Reply to 1", "First comment 2", "First comment 3"],
        ["First comment 4", "First comment 5", "Reply to 5", "First comment 6"],
        ["First comment 7"],
    ]
    assert "Comments page 2 of 3" in pages[1]
    assert f'rel="prev" href="{url}#comments"' in pages[1]  # page 1 is the entry's own address
    assert f'rel="next" href="{url}?page=3#comments"' in pages[1]
    assert 'rel="next"' not in pages[2] and 'rel="prev"' not in pages[0]
    assert (
        "(comments, page 2)" in pages[1]
        and f'rel="canonical" href="http://testserver{url}?page=2"' in pages[1]
    )
    for query in ("?page=4", "?page=0", "?page=last", "?page=2x"):
        assert client.get(url + query).status_code == 404, query


def test_a_comment_links_to_the_page_that_shows_it(client, long_conversation):
    entry, firsts, replies = long_conversation
    url = entry.get_absolute_url()
    assert firsts[0].get_absolute_url() == f"{url}#c{firsts[0].pk}"
    assert firsts[4].get_absolute_url() == f"{url}?page=2#c{firsts[4].pk}"
    assert replies[1].get_absolute_url() == f"{url}?page=2#c{replies[1].pk}"
    response = post_comment(client, entry, text="The eighth word")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{url}?page=3#c")
    assert "The eighth word" in client.get(location.partition("#")[0]).content.decode()


def test_a_reply_on_a_later_page_keeps_its_page(client, long_conversation):
    """The Reply link, the reply form and a form error all stay on the comment's page."""
    entry, firsts, replies = long_conversation
    url = entry.get_absolute_url()
    html = page_html(client, entry, "?page=2")
    assert f'href="{url}?page=2&amp;reply_to={firsts[3].pk}#reply"' in html
    html = page_html(client, entry, f"?page=2&reply_to={firsts[3].pk}")
    assert 'id="reply"' in block(html, firsts[3])
    assert f'action="{url}?page=2#reply"' in html
    response = client.post(
        f"{url}?page=2", {"name": "R", "text": "", "url": "", "reply_to": firsts[3].pk}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="reply"' in block(html, firsts[3]) and "Please write a comment." in html
    assert not Comment.objects.filter(parent=firsts[3]).exists()
