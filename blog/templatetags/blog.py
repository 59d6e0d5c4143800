import json

from django import template
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.serializers.json import DjangoJSONEncoder
from django.template.defaultfilters import pluralize
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from blog import memo, search
from blog.markup import render_comment

register = template.Library()

DEFAULT_SHARE_IMAGE = "img/share.png"
# What django.utils.html.json_script escapes: no "</script>" or "<!--" inside the element.
JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.filter
def comment_html(text):
    """A comment's plain text as paragraphs with safe links (everything else escaped)."""
    return mark_safe(render_comment(text))


@register.simple_tag(takes_context=True)
def comment_threads(context, threads):
    """This page's comment threads, each a comment and its replies
    (blog/includes/thread.html) rendered once per process for all it shows: an entry page
    lists up to fifty, and their template's work was most of such a page's time (an
    {% include %} with a {% cache %} of seven values each was worse still). One tag for the
    page, not one a thread in a {% for %}: the loop and the tag's arguments were a fifth of
    the Python calls of a miss of an entry page with fifty threads."""
    form = bool(context.get("form"))  # the Reply links
    reply_to = context.get("reply_to") if form else None
    template = context.template.engine.get_template("blog/includes/thread.html")
    # Its links return to this page of comments.
    shared = (context["fragments"]["version"], form, context["page_obj"].number, get_language())

    def render(thread):
        with context.push(comment=thread.comment):
            return template.render(context)

    html = []
    for thread in threads:
        if reply_to in thread.ids:
            html.append(render(thread))  # with the reply form, for one reader
        else:
            key = (*shared, *thread.rows)
            html.append(memo.rendered_thread(key, lambda thread=thread: render(thread)))
    return mark_safe("".join(html))


@register.simple_tag(takes_context=True)
def entry_summary(context, entry):
    """An entry's summary on a list page: its parts before and after the comment count
    (blog/includes/entry_summary_*.html) rendered once per version in this process, the
    count every time. A comment changes only the count. Ten {% include %}s with two
    {% cache %} parts each took about 0.9 ms of a 2.1 ms front-page miss (in-process)."""

    def render():
        engine = context.template.engine
        url = entry.get_absolute_url()
        with context.push(entry=entry, url=url):
            top, rest = (
                engine.get_template(f"blog/includes/entry_summary_{part}.html").render(context)
                for part in ("top", "rest")
            )
        # Up to the count and after it, escaped once: format_html() each time took a
        # quarter of the tag's time.
        return format_html('{}<a href="{}#comments">', mark_safe(top), url), "</a>" + rest

    # The version this request read once (context processor), as comment_threads keys by.
    key = (context["fragments"]["version"], entry.pk, get_language())
    before, after = memo.rendered_summary(key, render)
    count = entry.comment_count
    label = f"{count} comment{pluralize(count)}" if count else "No comments"
    return mark_safe(before + label + after)  # the label: digits and words only


@register.filter
def comment_page_url(entry, number):
    return entry.get_comment_page_url(number)


@register.filter
def highlight(snippet):
    """A search result's snippet as safe HTML, the matched words in <mark>."""
    return search.highlight(snippet or "")


def _absolute(request, path):
    try:
        return request.build_absolute_uri(path)
    except DisallowedHost:  # the 400 page for a request to a host the site does not serve
        return path


@register.simple_tag(takes_context=True)
def absolute_url(context, path):
    return _absolute(context["request"], path)


@register.simple_tag(takes_context=True)
def canonical_url(context):
    """This page's address without stray query parameters: only the page number (past the
    first) and a search's words are part of what it shows."""
    request = context["request"]
    params = {}
    if context.get("query"):
        params["q"] = context["query"]
    page = context.get("page_obj")
    if page is not None and page.number > 1:
        params["page"] = page.number
    return _absolute(request, request.path + (f"?{urlencode(params)}" if params else ""))


@register.simple_tag(takes_context=True)
def share_image_url(context, entry):
    """The entry's own image for link previews, else the site's default one."""
    return _absolute(context["request"], entry.share_image or static(DEFAULT_SHARE_IMAGE))


@register.simple_tag(takes_context=True)
def entry_json_ld(context, entry):
    """schema.org BlogPosting as JSON-LD: data, not script, so the CSP allows it."""
    url = _absolute(context["request"], entry.get_absolute_url())
    data = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": entry.title,
        "description": entry.description,
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": entry.timestamp,
        "dateModified": entry.last_modified,
        "author": {"@type": "Person", "name": settings.BLOG_AUTHOR},
        "publisher": {"@type": "Organization", "name": settings.BLOG_TITLE},
        "image": share_image_url(context, entry),
        "keywords": [tag.name for tag in entry.sorted_tags],
    }
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)
    return format_html(
        '<script type="application/ld+json">{}</script>',
        mark_safe(text.translate(JSON_SCRIPT_ESCAPES)),
    )


@register.filter(expects_localtime=True)
def datetime_attr(value):
    """A time for <time datetime="...">: ISO 8601 to the second (the HTML spec allows at most
    3 digits of a fraction, where Django's date:"c" writes microseconds)."""
    return value.isoformat(timespec="seconds") if value else ""
