"""Markdown bodies and plain-text comments reach the page as safe HTML only."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from blog.markup import render_comment, render_markdown
from blog.models import Comment

pytestmark = pytest.mark.django_db

ATTACKS = [
    "<script>alert('body')</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">raw link</a>',
    "<svg onload=alert(1)></svg>",
    "<iframe src=https://evil.example></iframe>",
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><input name="password"></form>',
    '<p style="color:red" onclick="alert(1)">styled</p>',
    "[click](javascript:alert(1))",
    "[mixed case](JaVaScRiPt:alert(1))",
    "[entity](java&#115;cript:alert(1))",
    "[spaced](  javascript:alert(1))",
    "[vb](vbscript:msgbox(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![image](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[ref][evil]\n\n[evil]: javascript:alert(1)",
    '[title](https://example.org "x\\" onmouseover=\\"alert(1)")',
    "`<script>alert('code')</script>`",
    "```\n<script>alert('fenced')</script>\n```",
]
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
BAD_TAGS = {"script", "iframe", "svg", "object", "embed", "style", "base", "meta"}


class LiveHTML(HTMLParser):
    """Collects what a browser would act on: elements and their attributes (entities decoded)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def assert_nothing_live(html):
    """No script-capable element, no event handler, no inline style, no script URL,
    and no form but the page's own comment form."""
    tags = LiveHTML(html).tags
    assert [attrs.get("id") for tag, attrs in tags if tag == "form"] in ([], ["comment-form"])
    for tag, attrs in tags:
        assert tag not in BAD_TAGS, (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert name != "style", (tag, value)
            if name in ("href", "src", "action", "formaction"):
                cleaned = "".join((value or "").split()).lower()
                assert not cleaned.startswith(BAD_SCHEMES), (tag, name, value)


def page_without_layout(html):
    """The page's main content (the layout itself is trusted and tested elsewhere)."""
    return html[html.index('<main id="content">') : html.index("</main>")]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_in_entry_bodies_never_go_live(client, create_entry, attack):
    """Each attack in an entry body is removed or shown as text on the entry page and list."""
    entry = create_entry(title="Attack", body=f"Before.\n\n{attack}\n\nAfter.")
    for url in (entry.get_absolute_url(), reverse("blog:index")):
        html = client.get(url).content.decode()
        assert "Before." in html and "After." in html
        assert_nothing_live(page_without_layout(html))
    assert "<script" not in entry.body_html


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_in_comments_never_go_live(client, create_entry, attack):
    """A comment carrying an attack (text and name) is posted, stored, and shown only as text."""
    entry = create_entry()
    response = client.post(
        entry.get_absolute_url(),
        {"name": attack[:80], "text": attack, "website": ""},
    )
    assert response.status_code == 302
    assert Comment.objects.get().text == attack
    html = client.get(entry.get_absolute_url()).content.decode()
    assert_nothing_live(page_without_layout(html))
    feed = client.get(entry.get_comments_feed_url()).content.decode()
    assert "<script" not in feed  # descriptions are escaped inside the XML


def test_raw_html_in_a_body_is_shown_as_text():
    """Authors' raw HTML is escaped, not interpreted and not silently dropped."""
    html = render_markdown("Hello <b>world</b> <script>alert(1)</script>")
    assert "&lt;b&gt;world&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>" not in html


def test_markdown_renders_the_usual_constructs():
    """Headings, emphasis, lists, code blocks, tables and http links survive sanitising."""
    html = render_markdown(
        "## Heading\n\n*em* **strong** `code`\n\n- one\n- two\n\n"
        "```\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[a link](https://example.org/path?x=1) ![alt](https://example.org/i.png)"
    )
    assert "<h2>Heading</h2>" in html
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert "<pre><code>print('hi')" in html or "<pre><code>print(&#x27;hi&#x27;)" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<a href="https://example.org/path?x=1" rel="nofollow noopener">a link</a>' in html
    assert '<img alt="alt" src="https://example.org/i.png">' in html


def test_comments_are_plain_text_with_line_breaks_and_safe_links():
    """Comments keep paragraphs and line breaks; http links become nofollow anchors."""
    html = render_comment("First line\nsecond line\n\nNew paragraph: https://example.org/a?b=1&c=2")
    assert html.startswith("<p>First line<br>second line</p>")
    assert (
        '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow">https://example.org/a?b=1&amp;c=2</a>'
        in html
    )
    assert render_comment("*not markdown*") == "<p>*not markdown*</p>"
    assert "javascript:" not in render_comment("javascript:alert(1)").split('href="')[-1][:12]
