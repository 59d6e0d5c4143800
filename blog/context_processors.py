from django.conf import settings
from django.utils.functional import SimpleLazyObject

from blog import cache
from blog.models import Page


def site(request):
    return {
        "BLOG_TITLE": settings.BLOG_TITLE,
        "BLOG_DESCRIPTION": settings.BLOG_DESCRIPTION,
        # Only pages change them: one query per content version and process.
        "nav_pages": SimpleLazyObject(
            lambda: cache.per_version("nav-pages", lambda: list(Page.navigation()))
        ),
        "fragments": cache.fragments(),
    }
