from django.conf import settings

from blog.models import Page


def site(request):
    return {
        "BLOG_TITLE": settings.BLOG_TITLE,
        "BLOG_DESCRIPTION": settings.BLOG_DESCRIPTION,
        # Evaluated by base.html's navigation: one query, and only on pages that render it.
        "nav_pages": Page.navigation(),
    }
