import functools

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils.functional import SimpleLazyObject

from blog import memo
from blog.models import Page


def site(request):
    return {
        "BLOG_TITLE": settings.BLOG_TITLE,
        "BLOG_DESCRIPTION": settings.BLOG_DESCRIPTION,
        # Only pages change them: one query per content version and process.
        "nav_pages": SimpleLazyObject(
            lambda: memo.per_version("nav-pages", lambda: list(Page.navigation()))
        ),
        "fragments": memo.fragments(),
        "site_urls": _site_urls(get_script_prefix()),
    }


@functools.cache
def _site_urls(script_prefix: str) -> dict[str, str]:
    """The links in every page's header, reversed once per process (and prefix the site is
    mounted at): the URLconf does not change while it runs, and reversing them for each
    request was a tenth of an uncached page's time."""
    names = ["index", "tag-index", "search", "feed", "feed-atom", "feed-json"]
    return {name.replace("-", "_"): reverse(f"blog:{name}") for name in names}
