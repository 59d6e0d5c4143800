"""Every kind of page in Chromium: axe-core finds no serious or critical violation at desktop
and phone widths, light and dark; the JSON-LD data block passes the CSP; the pages are valid
HTML for the Nu checker."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from blog import notifications
from blog.models import Comment, Entry, Page
from tests.browser import DESKTOP, PHONE
from tests.html_validator import assert_valid_html, needs_checker

AXE = Path(django_settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(autouse=True)
def _comment_pages(settings):
    """One first comment per page: the entry's comments come in two pages, with their pager."""
    settings.BLOG_COMMENTS_PER_PAGE = 1


def make_site():
    """Entries with tags, code, a table and comments, a draft, and a page in the navigation."""
    entries = []
    for i in range(12):
        entry = Entry.objects.create(
            title=f"Entry number {i}",
            body=(
                f"# Part {i}\n\nSome *text* with a [link](https://example.org/{i}).\n\n"
                "```\nprint('code')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
            ),
            timestamp=datetime(2024, 5, 1 + i, 12, tzinfo=UTC),
            featured=i == 3,
            is_draft=False,
        )
        entry.tags.add("django", f"topic-{i % 3}")
        entries.append(entry)
    ann = Comment.objects.create(
        entry=entries[-1],
        name="Ann",
        text="Nice, see https://example.org",
        website="https://ann.example/",
        email="ann@example.org",
        notify=True,
    )
    Comment.objects.create(entry=entries[-1], parent=ann, name="Bob", text="Agreed.")
    Comment.objects.create(entry=entries[-1], name="Cy", text="On the second page.")
    Page.objects.create(title="About", slug="about", body="About *me*.", nav_order=1)
    return entries


def page_urls(entries):
    ann = Comment.objects.get(name="Ann")
    return {
        "index": reverse("blog:index"),
        "index-page-2": reverse("blog:index") + "?page=2",
        "entry": entries[-1].get_absolute_url(),
        "entry-reply-form": f"{entries[-1].get_absolute_url()}?reply_to={ann.pk}",
        "entry-comments-page-2": f"{entries[-1].get_absolute_url()}?page=2",
        "unsubscribe": notifications.unsubscribe_url(ann),
        "tag": reverse("blog:tag", kwargs={"slug": "django"}),
        "tag-index": reverse("blog:tag-index"),
        "year": reverse("blog:archive-year", args=[2024]),
        "month": reverse("blog:archive-month", args=[2024, "may"]),
        "page": reverse("blog:page", kwargs={"slug": "about"}),
        "search": reverse("blog:search") + "?q=text",
        "search-empty": reverse("blog:search") + "?q=nothingmatches",
        "not-found": "/no-such-page/",
    }


def axe_violations(page):
    """axe-core's violations on the page (axe is in the page already: see the test)."""
    return page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_nothing_serious_on_any_page(live_server, browser, viewport):  # noqa: F811
    """In light and in dark: each page is loaded once and judged in both colour schemes
    (the media query applies at once; a second load cost ~2.5 s of CPU a viewport)."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (npm ci)")
    urls = page_urls(make_site())
    # axe is injected as a script: only this test's context lifts the CSP for it. Loaded
    # into every page the context opens, sent to Chromium once.
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    problems, backgrounds = [], set()
    for name, url in urls.items():
        page.goto(live_server.url + url)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            backgrounds.add(page.evaluate("getComputedStyle(document.body).backgroundColor"))
            for violation in axe_violations(page):
                if violation["impact"] in ("serious", "critical"):
                    problems.append((name, scheme, violation))
    context.close()
    assert problems == []
    assert len(backgrounds) == 2  # both schemes were judged, not one twice


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dark_mode_follows_the_system(live_server, browser):  # noqa: F811
    make_site()
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.goto(live_server.url + "/")
        colours[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        context.close()
    assert colours["light"] == "rgb(253, 253, 252)"
    assert colours["dark"] == "rgb(23, 24, 26)"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_skip_link_and_focus_are_visible(live_server, browser):  # noqa: F811
    make_site()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => {
            const el = document.activeElement, style = getComputedStyle(el);
            const box = el.getBoundingClientRect();
            return {text: el.textContent, outline: style.outlineStyle, top: box.top};
        }"""
    )
    assert focused["text"] == "Skip to content"
    assert focused["outline"] == "solid" and focused["top"] >= 0  # shown, with a ring
    page.keyboard.press("Enter")
    # The fragment navigation lands a moment after the key press: wait for it.
    page.wait_for_url(re.compile(r"#content$"), timeout=5000)
    assert page.locator('nav[aria-label="Site"] a[aria-current="page"]').inner_text() == "Entries"
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_json_ld_passes_the_content_security_policy(live_server, browser):  # noqa: F811
    """The data block is no script to run: Chromium reports no CSP violation for it."""
    entries = make_site()
    context = browser.new_context()
    page = context.new_page()
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    page.goto(live_server.url + entries[-1].get_absolute_url())
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["@type"] == "BlogPosting"
    blocked = page.evaluate(
        """() => new Promise(resolve => {
            const seen = [];
            document.addEventListener("securitypolicyviolation", e => seen.push(e.violatedDirective));
            setTimeout(() => resolve(seen), 300);
        })"""
    )
    assert blocked == []
    assert [m for m in messages if "Content Security Policy" in m] == []
    context.close()


@pytest.mark.html
@needs_checker
@pytest.mark.django_db
def test_every_kind_of_page_is_valid_html():
    """The Nu Html Checker (vnu.jar) finds no error on any kind of page."""
    client = Client()
    assert_valid_html(
        {name: client.get(url).content.decode() for name, url in page_urls(make_site()).items()}
    )
