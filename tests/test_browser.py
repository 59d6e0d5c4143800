"""End to end in Debian's Chromium (Playwright) against the blog on a loopback live server.

Screenshots of the main pages at a phone and a desktop width go to artifacts/screenshots/.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from blog.models import Comment, Entry
from tests.browser import DESKTOP, PHONE

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"


def screenshot(page, name):
    """Save the page at desktop and phone widths."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def make_entries():
    now = timezone.now()
    older = Entry.objects.create(
        title="Threads and SQLite",
        body="Why one **global** connection broke.\n\n- threads\n- locks",
        timestamp=now - timedelta(days=3),
        featured=True,
        is_draft=False,
    )
    entry = Entry.objects.create(
        title="Moving to Django",
        body="# What changed\n\nEvery thread gets its own connection. `CONN_MAX_AGE` helps.",
        timestamp=now - timedelta(days=1),
        is_draft=False,
    )
    Comment.objects.create(
        entry=entry, name="Ann", text="Helpful, thanks!\nSee https://example.org"
    )
    return older, entry


def test_reader_follows_an_entry_and_comments(live_server, page):
    """A reader opens the front page, follows an entry, posts a comment and sees it."""
    older, entry = make_entries()
    page.goto(live_server.url + "/")
    assert page.title() == "homepage"
    assert (
        page.locator(".featured-list").get_by_role("link", name="Threads and SQLite").is_visible()
    )
    screenshot(page, "front-page")

    page.locator("article.entry-summary h2").get_by_role("link", name="Moving to Django").click()
    page.wait_for_url(f"**{entry.get_absolute_url()}")
    assert page.locator("h1").inner_text() == "Moving to Django"
    assert page.locator(".entry-body h2").inner_text() == "What changed"
    assert page.get_by_role("link", name="← Threads and SQLite").is_visible()
    assert page.locator(".comment-text a[href='https://example.org']").is_visible()

    page.get_by_label("Name (optional)").fill("Zoë")
    page.get_by_label("Comment").fill("Posted from a real browser.\nSecond line.")
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_url(re.compile(r"#c\d+$"))
    comment = Comment.objects.get(name="Zoë")
    assert page.url.endswith(f"{entry.get_absolute_url()}#c{comment.pk}")
    posted = page.locator(f"#c{comment.pk}")
    assert "Posted from a real browser." in posted.inner_text()
    assert posted.locator("br").count() == 1
    screenshot(page, "entry-page")
    assert page.console_errors == []  # nothing blocked by the Content-Security-Policy


def test_bad_comment_shows_the_fields_error(live_server, page):
    """An empty comment comes back with the field's message next to it and nothing stored."""
    _older, entry = make_entries()
    page.goto(live_server.url + entry.get_absolute_url())
    page.get_by_label("Name (optional)").fill("Hasty")
    response_status = []
    page.on("response", lambda r: r.request.method == "POST" and response_status.append(r.status))
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_selector(".has-errors .errors")
    assert response_status == [400]
    assert page.locator(".has-errors .errors").inner_text() == "Please write a comment."
    assert page.get_by_label("Name (optional)").input_value() == "Hasty"
    assert Comment.objects.filter(name="Hasty").count() == 0
    screenshot(page, "comment-error")


def test_admin_writes_an_entry_that_reaches_front_page_and_feed(live_server, admin_page):
    """An admin logs in, writes an entry in Markdown; it appears on the front page and feed."""
    admin = admin_page.admin_url
    page = admin_page
    page.goto(admin + "blog/entry/add/")
    page.get_by_label("Title").fill("Written in the browser")
    page.locator("#id_body").fill("Markdown from **Chromium**:\n\n1. one\n2. two")
    page.locator("input[name=_continue]").click()
    page.wait_for_selector(".entry-preview")
    assert page.locator(".entry-preview strong").inner_text() == "Chromium"
    screenshot(page, "admin-entry")
    entry = Entry.objects.get(title="Written in the browser")
    assert entry.slug == "written-in-the-browser"
    assert entry.is_draft  # saved, not yet published
    page.locator("input[name=_publish]").click()
    page.wait_for_selector(".messagelist .success")
    entry.refresh_from_db()

    page.goto(live_server.url + "/")
    summary = page.locator("article.entry-summary").first
    assert summary.locator("h2").inner_text() == "Written in the browser"
    assert summary.locator(".entry-body strong").inner_text() == "Chromium"
    assert summary.locator(".entry-body ol li").count() == 0  # the first paragraph only

    feed = page.request.get(live_server.url + "/feed/")
    assert feed.status == 200
    assert "<title>Written in the browser</title>" in feed.text()
    assert "&lt;li&gt;two&lt;/li&gt;" in feed.text()  # feeds carry the whole body
    assert f"<link>{live_server.url}{entry.get_absolute_url()}</link>" in feed.text()


def test_search_page_in_the_browser(live_server, page):
    """The header's search box finds entries and shows excerpts."""
    make_entries()
    page.goto(live_server.url + "/")
    page.get_by_role("searchbox", name="Search entries").fill("connection")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url("**/search/?q=connection")
    results = page.locator("article.search-result h2")
    assert sorted(results.all_inner_texts()) == ["Moving to Django", "Threads and SQLite"]
    screenshot(page, "search")


def test_a_reader_asks_and_the_author_answers(
    live_server, admin_page, browser, admin_user, mailoutbox, settings
):
    """A reader asks with their address and "Tell me about replies"; the author, logged in,
    answers through the comment's Reply link (no JavaScript needed); the reader sees the answer
    in the thread with the Author mark, gets one mail, and unsubscribes from its link."""
    settings.BLOG_SITE_URL = live_server.url
    _older, entry = make_entries()
    reader = browser.new_context(viewport=DESKTOP).new_page()
    errors = []
    reader.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    reader.goto(live_server.url + entry.get_absolute_url())
    reader.get_by_label("Name (optional)").fill("Curious")
    reader.get_by_label("E-mail (optional, never shown)").fill("curious@example.org")
    reader.get_by_label("Website (optional)").fill("https://curious.example/")
    reader.get_by_label("Comment").fill("Does it hold under load?")
    reader.get_by_label("Tell me about replies").check()
    reader.get_by_role("button", name="Post comment").click()
    reader.wait_for_url(re.compile(r"#c\d+$"))
    question = Comment.objects.get(name="Curious")
    assert (question.email, question.notify) == ("curious@example.org", True)
    name_link = reader.locator(f"#c{question.pk} a.name")
    assert name_link.get_attribute("rel") == "nofollow ugc"
    assert "curious@example.org" not in reader.content()

    author = admin_page
    author.goto(live_server.url + entry.get_absolute_url())
    author.locator(f"#c{question.pk}").get_by_role("link", name="Reply to Curious").click()
    author.wait_for_url(f"**?reply_to={question.pk}#reply")
    form = author.locator(f"#c{question.pk} #reply")
    assert form.get_by_role("heading").inner_text() == "Reply to Curious"
    assert form.locator(".badge.author").is_visible()
    screenshot(author, "reply-form")
    form.get_by_label("Comment").fill("It does: see the server tests.")
    form.get_by_role("button", name="Post reply").click()
    author.wait_for_url(re.compile(r"#c\d+$"))
    answer = Comment.objects.get(text="It does: see the server tests.")
    assert (answer.parent, answer.user, answer.is_public) == (question, admin_user, True)

    reader.reload()
    shown = reader.locator(f"#c{question.pk} .replies #c{answer.pk}")
    assert shown.locator(".badge.author").inner_text() == "Author"
    assert "It does: see the server tests." in shown.inner_text()
    screenshot(reader, "conversation")

    assert [mail.to for mail in mailoutbox] == [["curious@example.org"]]
    body = mailoutbox[0].body
    assert f"{live_server.url}{entry.get_absolute_url()}#c{answer.pk}" in body
    unsubscribe = re.search(r"(http://\S+/unsubscribe/\S+/)", body).group(1)
    reader.goto(unsubscribe)
    reader.get_by_role("button", name="Stop these e-mails").click()
    reader.get_by_text("you will get no more e-mails").wait_for()
    assert not Comment.objects.get(pk=question.pk).notify
    reader.goto(unsubscribe)
    assert reader.get_by_text("You had already unsubscribed").is_visible()
    assert errors == []  # nothing blocked by the Content-Security-Policy
    # (The admin's pages, which link no icon, make the browser ask for /favicon.ico.)
    assert [e for e in author.console_errors if "favicon.ico" not in e[1]["url"]] == []
    reader.context.close()
