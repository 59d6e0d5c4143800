"""Turn reader- and author-written text into safe HTML."""

import threading

import markdown
import nh3
from django.utils.html import linebreaks, urlize

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "sub",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


# Building a Markdown instance costs more than converting a short body, but an instance
# keeps state while it converts: one per thread (mod_wsgi serves on many), reset each use.
_local = threading.local()


def _markdown() -> markdown.Markdown:
    md = getattr(_local, "md", None)
    if md is None:
        md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
        # Raw HTML in a body is shown as text, as the old site did, not interpreted.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        _local.md = md
    return md.reset()


def render_markdown(text: str) -> str:
    """Markdown to HTML, then cleaned with an allow-list (no scripts, handlers, js: URLs)."""
    html = _markdown().convert(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener",
    )


def render_comment(text: str) -> str:
    """Plain text with paragraphs, line breaks and nofollow links; everything else escaped."""
    return linebreaks(urlize(text, nofollow=True, autoescape=True), autoescape=False)
