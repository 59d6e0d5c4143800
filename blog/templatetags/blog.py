from django import template
from django.utils.safestring import mark_safe

from blog.markup import render_comment

register = template.Library()


@register.filter
def comment_html(text):
    """A comment's plain text as paragraphs with safe links (everything else escaped)."""
    return mark_safe(render_comment(text))
