import html

from django import template
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from blog.markup import render_comment

register = template.Library()


@register.filter
def comment_html(text):
    """A comment's plain text as paragraphs with safe links (everything else escaped)."""
    return mark_safe(render_comment(text))


@register.filter
def excerpt(body_html, words=40):
    """The first words of rendered HTML as plain text (to be escaped again by the template)."""
    return Truncator(html.unescape(strip_tags(body_html))).words(int(words))


@register.filter(expects_localtime=True)
def datetime_attr(value):
    """A time for <time datetime="...">: ISO 8601 to the second (the HTML spec allows at most
    3 digits of a fraction, where Django's date:"c" writes microseconds)."""
    return value.isoformat(timespec="seconds") if value else ""
