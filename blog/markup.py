"""Turn reader- and author-written text into safe HTML."""

import re
import threading
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from html.parser import HTMLParser

import markdown
import nh3
from django.conf import settings
from django.utils.html import linebreaks, urlize
from django.utils.text import slugify
from markdown.extensions.footnotes import FootnoteExtension
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from pygments.token import STANDARD_TYPES

# Every tag, attribute and class an entry may carry; anything else is dropped by nh3.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "li", "ol", "p", "pre", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class"},
    "abbr": {"title"},
    "code": {"class"},
    "div": {"class"},
    "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "img": {"src", "alt", "title", "srcset", "sizes", "width", "height", "loading"},
    "input": {"type", "checked", "disabled", "aria-label"},
    "li": {"id", "class"},
    "span": {"class"},
    "sup": {"id"},
    "td": {"align"},
    "th": {"align"},
}  # fmt: skip
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
# The classes the renderer itself writes: code blocks, table of contents, footnotes, tasks,
# and Pygments' short token classes (the colours are in static/css/code.css).
ALLOWED_CLASSES = {
    "a": {"footnote-ref", "footnote-backref"},
    "div": {"codehilite", "toc", "footnote"},
    "li": {"task-list-item"},
    "span": {name for name in STANDARD_TYPES.values() if name},
}
LANGUAGE_CLASS = re.compile(r"language-[\w#+.-]{1,40}")
SAFE_ID = re.compile(r"[^\W][\w-]{0,120}")
# Ids the page templates use themselves: a heading must not take one.
PAGE_IDS = re.compile(r"content|comments|comment-form|archive|archive-heading|featured-heading|"
                      r"site-search|c\d+|fn(ref)?-.*")  # fmt: skip
TASK = re.compile(r"\[([ xX])\]\s")
MORE = "<!--more-->"
MORE_LINE = re.compile(r"<!--\s*more\s*-->\s*")
IMAGE_SCHEME = "image:"
IMAGE_SIZES = "(max-width: 42rem) 100vw, 42rem"  # the column of static/css/site.css


@dataclass
class Rendered:
    html: str
    excerpt: str  # the part before <!--more-->, "" without the marker


def heading_id(value: str, separator: str) -> str:
    """A heading's id: its words, never one of the page's own ids."""
    slug = slugify(value, allow_unicode=True)
    return f"{slug}-section" if PAGE_IDS.fullmatch(slug) else slug


class EntryFootnotes(FootnoteExtension):
    """Footnote ids carry the entry's key, so two entries on one page never share one."""

    prefix = "entry"

    def number(self, label: str) -> int:
        labels = list(self.footnotes)
        return labels.index(label) + 1 if label in labels else len(labels) + 1

    def makeFootnoteId(self, id):  # noqa: N802 (the extension's name)
        return f"fn-{self.prefix}-{self.number(id)}"

    def makeFootnoteRefId(self, id, found=False):  # noqa: N802
        return self.unique_ref(f"fnref-{self.prefix}-{self.number(id)}", found)


class MoreMarker(Preprocessor):
    """A line holding only <!--more--> ends the excerpt; it reaches the HTML as a marker."""

    def run(self, lines):
        return [
            self.md.htmlStash.store(MORE) if MORE_LINE.fullmatch(line) else line for line in lines
        ]


class TaskLists(Treeprocessor):
    """Items "- [ ] to do" and "- [x] done" get a (read-only) check box."""

    def run(self, root):
        for li in root.iter("li"):
            holder = li[0] if (not (li.text or "").strip() and len(li) and li[0].tag == "p") else li
            match = TASK.match(holder.text or "")
            if not match:
                continue
            done = match.group(1) != " "
            box = etree.Element("input", type="checkbox", disabled="disabled")
            box.set("aria-label", "done" if done else "to do")
            if done:
                box.set("checked", "checked")
            box.tail = " " + holder.text[match.end() :]
            holder.text = ""
            holder.insert(0, box)
            li.set("class", "task-list-item")


class EntryImages(Treeprocessor):
    """![alt](image:ID) becomes the entry's uploaded image ID with its renditions."""

    images: dict = {}

    def run(self, root):
        for parent in list(root.iter()):
            for img in [child for child in parent if child.tag == "img"]:
                src = img.get("src", "")
                if not src.startswith(IMAGE_SCHEME):
                    continue
                image = self.images.get(src.removeprefix(IMAGE_SCHEME).strip())
                if image is None:
                    # An unknown number stays visible to the author instead of vanishing.
                    img.tag, img.text = "span", f"[image {src.removeprefix(IMAGE_SCHEME)}?]"
                    img.attrib.clear()
                    continue
                alt = img.get("alt") or image["alt"]
                img.attrib.clear()
                img.attrib.update(image, alt=alt, sizes=IMAGE_SIZES, loading="lazy")


# Building a Markdown instance costs more than converting a short body, but an instance
# keeps state while it converts: one per thread (mod_wsgi serves on many), reset each use.
_local = threading.local()


def _markdown() -> markdown.Markdown:
    md = getattr(_local, "md", None)
    if md is None:
        md = markdown.Markdown(
            extensions=[
                "fenced_code",
                "tables",
                "sane_lists",
                "codehilite",
                "toc",
                EntryFootnotes(BACKLINK_TITLE="Back to the text", SEPARATOR="-"),
            ],
            extension_configs={
                # Classes only (never style=""): the colours live in static/css/code.css.
                "codehilite": {"guess_lang": False, "css_class": "codehilite"},
                # The entry title is the page's h1: "#" starts at h2.
                "toc": {"baselevel": 2, "slugify": heading_id, "toc_depth": "2-4"},
            },
        )
        # Raw HTML in a body is shown as text, as the old site did, not interpreted.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After fenced_code (25): a marker inside a code block is only text.
        md.preprocessors.register(MoreMarker(md), "more", 20)
        md.treeprocessors.register(TaskLists(md), "tasks", 1)
        md.treeprocessors.register(EntryImages(md), "images", 2)
        _local.md = md
    return md.reset()


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        allowed = ALLOWED_CLASSES.get(tag, set())
        kept = [
            name
            for name in value.split()
            if name in allowed or (tag == "code" and LANGUAGE_CLASS.fullmatch(name))
        ]
        return " ".join(kept) or None
    if attribute == "id":
        return value if SAFE_ID.fullmatch(value) else None
    if tag == "img" and attribute == "srcset":
        # Only the renditions the renderer wrote: uploads of this site.
        urls = [part.split()[0] for part in value.split(",") if part.strip()]
        return value if urls and all(u.startswith(settings.MEDIA_URL) for u in urls) else None
    if attribute in ("width", "height"):
        return value if value.isdigit() else None
    if attribute == "loading":
        return value if value == "lazy" else None
    if tag == "input":
        return {"type": "checkbox", "aria-label": value[:20]}.get(attribute, "")
    return value


def sanitise(html: str, ids: bool = True) -> str:
    """The allow-list. ids=False for excerpts, which share list pages with other entries'."""
    attributes = ALLOWED_ATTRIBUTES
    if not ids:
        attributes = {tag: names - {"id"} for tag, names in ALLOWED_ATTRIBUTES.items()}
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=attributes,
        attribute_filter=_filter_attribute,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener",
    )


def render(text: str, key: str = "entry", images: dict | None = None) -> Rendered:
    """Markdown to sanitised HTML; key makes footnote ids unique to one entry; images maps
    an uploaded image's id (as text) to its <img> attributes."""
    md = _markdown()
    footnotes = next(ext for ext in md.registeredExtensions if isinstance(ext, EntryFootnotes))
    footnotes.prefix = slugify(key) or "entry"
    md.treeprocessors["images"].images = images or {}
    html = md.convert(text)
    head, marker, _rest = html.partition(MORE)
    return Rendered(html=sanitise(html), excerpt=sanitise(head, ids=False) if marker else "")


def render_entry(body: str, summary: str, key: str, images: dict | None = None) -> dict:
    """An entry's rendered fields: body_html, summary_html, and excerpt_html (what lists show:
    the summary, else the body up to <!--more-->, else its first paragraph; without ids)."""
    body_parts = render(body, key=key, images=images)
    summary_html = render(summary, key=f"{key}-summary", images=images).html if summary else ""
    if summary.strip():
        excerpt = sanitise(summary_html, ids=False)
    else:
        excerpt = body_parts.excerpt or first_paragraph(body_parts.html)
    return {"body_html": body_parts.html, "summary_html": summary_html, "excerpt_html": excerpt}


def render_markdown(text: str, key: str = "entry", images: dict | None = None) -> str:
    """Markdown to HTML, then cleaned with an allow-list (no scripts, handlers, js: URLs)."""
    return render(text, key, images).html


class _FirstParagraph(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=False)
        self.depth, self.start, self.end = 0, None, None
        self.lines = html.splitlines(keepends=True)
        self.feed(html)

    def position(self):
        line, column = self.getpos()
        return sum(len(text) for text in self.lines[: line - 1]) + column

    def handle_starttag(self, tag, attrs):
        if self.start is None and self.depth == 0 and tag == "p":
            self.start = self.position()
        if tag not in ("br", "hr", "img", "input"):
            self.depth += 1

    def handle_endtag(self, tag):
        self.depth -= 1
        if self.start is not None and self.end is None and self.depth == 0 and tag == "p":
            self.end = self.position() + len("</p>")


def first_paragraph(html: str) -> str:
    """The first top-level paragraph of sanitised HTML, without ids ("" when it has none)."""
    parser = _FirstParagraph(html)
    if parser.start is None or parser.end is None:
        return ""
    return sanitise(html[parser.start : parser.end], ids=False)


def render_comment(text: str) -> str:
    """Plain text with paragraphs, line breaks and nofollow links; everything else escaped."""
    return linebreaks(urlize(text, nofollow=True, autoescape=True), autoescape=False)
