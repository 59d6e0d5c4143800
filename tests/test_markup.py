"""Markdown bodies and plain-text comments reach the page as safe HTML only."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from blog.management.commands.code_css import stylesheet
from blog.markup import render_comment, render_entry, render_markdown
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
    # The syntax added with headings, footnotes, [TOC], highlighting and images.
    "# <script>alert('heading')</script>",
    '# " onmouseover="alert(1)" x="',
    "## <img src=x onerror=alert(1)>\n\n[TOC]",
    'Note[^"><script>alert(1)</script>]\n\n[^"><script>alert(1)</script>]: <b onclick=x>n</b>',
    "Text[^1]\n\n[^1]: [foot](javascript:alert(1))",
    '```"><script>alert(1)</script>\nx = 1\n```',
    "```python onload=alert(1)\nx = 1\n```",
    "```javascript\n</code></pre><script>alert(1)</script>\n```",
    '![x](image:1" onerror="alert(1))',
    '![x" onerror="alert(1)](image:99)',
    "- [x] <script>alert('task')</script>",
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
    """The page's main content (the layout and the search page's own form are trusted and
    tested elsewhere)."""
    main = html[html.index('<main id="content">') : html.index("</main>")]
    if 'class="search-page-form"' in main:
        main = main[main.index("</form>") :]
    return main


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_in_entry_bodies_never_go_live(client, create_entry, attack):
    """Each attack in an entry body (and before <!--more-->, and in a summary) is removed or
    shown as text on the entry page, the list and the search results."""
    body = f"Before marmalade.\n\n{attack}\n\n<!--more-->\n\nAfter."
    entry = create_entry(title="Attack", body=body)
    summarised = create_entry(title="Summarised", summary=f"Gist.\n\n{attack}", body="Body.")
    for url in (
        entry.get_absolute_url(),
        summarised.get_absolute_url(),
        reverse("blog:index"),
        reverse("blog:search") + "?q=marmalade",  # not a stop word for PostgreSQL
    ):
        html = client.get(url).content.decode()
        assert "marmalade" in html or "Gist." in html
        assert_nothing_live(page_without_layout(html))
    assert "After." in client.get(entry.get_absolute_url()).content.decode()
    for field in ("body_html", "excerpt_html", "summary_html"):
        for rendered in (getattr(entry, field), getattr(summarised, field)):
            assert "<script" not in rendered
            assert_nothing_live(rendered)


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_in_comments_never_go_live(client, create_entry, attack):
    """A comment carrying an attack (text and name) is posted, stored, and shown only as text."""
    entry = create_entry()
    response = client.post(
        entry.get_absolute_url(),
        {"name": attack[:80], "text": attack, "url": ""},
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
        "# Heading\n\n*em* **strong** `code`\n\n- one\n- two\n\n"
        "```\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[a link](https://example.org/path?x=1) ![alt](https://example.org/i.png)"
    )
    assert '<h2 id="heading">Heading</h2>' in html
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert '<div class="codehilite"><pre><span></span><code>print(' in html
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


class Ids(HTMLParser):
    def __init__(self, html):
        super().__init__()
        self.ids = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.ids += [value for name, value in attrs if name == "id"]


def test_headings_start_at_h2_with_linkable_ids():
    """The entry title is the page's h1: # is h2, ## h3; each heading gets an id from its
    words (unique in the entry), never one of the page's own ids such as "comments"."""
    html = render_markdown("# Intro\n\n## Détails\n\n# Intro\n\n# Comments\n\n###### Deep")
    assert '<h2 id="intro">Intro</h2>' in html
    assert '<h3 id="détails">Détails</h3>' in html
    assert '<h2 id="intro_1">Intro</h2>' in html
    assert '<h2 id="comments-section">Comments</h2>' in html
    assert "<h6" in html and "<h1" not in html and "<h7" not in html


def test_toc_lists_the_headings():
    """[TOC] becomes a list of links to the headings."""
    html = render_markdown("[TOC]\n\n# One\n\n## Two\n\nText")
    toc = html[html.index('<div class="toc">') : html.index("</div>")]
    assert 'href="#one"' in toc and 'href="#two"' in toc


def test_footnotes_link_both_ways_with_ids_unique_to_the_entry():
    """Footnotes get a back-link; their ids carry the entry's key, so two entries differ."""
    text = "Claim[^a] and another[^b].\n\n[^a]: First.\n[^b]: Second."
    one, two = render_markdown(text, key="one"), render_markdown(text, key="two")
    assert '<sup id="fnref-one-1"><a class="footnote-ref" href="#fn-one-1"' in one
    assert '<li id="fn-one-2">' in one
    assert 'class="footnote-backref" href="#fnref-one-1"' in one
    assert not set(Ids(one).ids) & set(Ids(two).ids)


def test_fenced_code_is_highlighted_with_classes_only():
    """```python is highlighted by Pygments with classes (colours in code.css), no style=""."""
    html = render_markdown("```python\ndef f():\n    return 'x'\n```")
    assert '<div class="codehilite">' in html
    assert '<span class="k">def</span>' in html and '<span class="nf">f</span>' in html
    assert "style=" not in html
    unknown = render_markdown("```no-such-language\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in unknown and "<b>" not in unknown


def test_code_stylesheet_is_the_commands_output(settings):
    """static/css/code.css is what manage.py code_css makes (light and dark)."""
    css = (settings.BASE_DIR / "static" / "css" / "code.css").read_text()
    assert css == stylesheet()
    assert ".codehilite .k {" in css and "@media (prefers-color-scheme: dark)" in css


def test_task_lists_get_read_only_check_boxes():
    html = render_markdown("- [ ] write\n- [x] test\n- plain")
    assert (
        '<li class="task-list-item"><input aria-label="to do" disabled="" type="checkbox"> write'
        in html
    )
    assert 'checked="" disabled=""' in html
    assert "<li>plain</li>" in html


def test_image_references_become_responsive_images():
    """![alt](image:ID) takes the upload's renditions; an unknown number is shown as text."""
    image = {
        "src": "/media/images/a-960.jpg",
        "srcset": "/media/images/a-480.jpg 480w, /media/images/a-960.jpg 960w",
        "width": "960",
        "height": "640",
        "alt": "Stored alt",
    }
    html = render_markdown("![](image:7) ![Own alt](image:7) ![x](image:8)", images={"7": image})
    assert (
        '<img alt="Stored alt" height="640" loading="lazy" '
        'sizes="(max-width: 42rem) 100vw, 42rem" src="/media/images/a-960.jpg" '
        'srcset="/media/images/a-480.jpg 480w, /media/images/a-960.jpg 960w" width="960">'
    ) in html
    assert 'alt="Own alt"' in html
    assert "[image 8?]" in html


def test_excerpt_is_the_summary_or_the_text_before_more_or_the_first_paragraph():
    """Lists show the summary; else the body up to <!--more-->; else its first paragraph;
    an excerpt carries no ids (several share a list page)."""
    body = "# Head\n\nFirst[^1].\n\nSecond.\n\n<!--more-->\n\nThird.\n\n[^1]: Note."
    parts = render_entry(body, "", "k")
    assert parts["excerpt_html"].startswith("<h2>Head</h2>")
    assert "Second." in parts["excerpt_html"] and "Third." not in parts["excerpt_html"]
    assert "id=" not in parts["excerpt_html"]
    assert "more" not in parts["body_html"] and "Third." in parts["body_html"]
    no_marker = render_entry("# Head\n\nFirst *para*.\n\nSecond.", "", "k")
    assert no_marker["excerpt_html"] == "<p>First <em>para</em>.</p>"
    summarised = render_entry(body, "The *gist*.", "k")
    assert summarised["excerpt_html"] == "<p>The <em>gist</em>.</p>"
    assert summarised["summary_html"] == "<p>The <em>gist</em>.</p>"
    in_code = render_entry("```\n<!--more-->\n```\n\nAfter.", "", "k")
    assert "&lt;!--more--&gt;" in in_code["body_html"]


def test_a_list_page_never_repeats_an_id(client, create_entry):
    """Entries with the same headings and footnotes share the front page with unique ids."""
    for title in ("One", "Two"):
        create_entry(title=title, body="# Intro\n\nText[^1].\n\n<!--more-->\n\n[^1]: N.")
    ids = Ids(client.get(reverse("blog:index")).content.decode()).ids
    assert len(ids) == len(set(ids))
