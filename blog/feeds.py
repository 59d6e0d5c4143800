from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from blog.markup import render_comment
from blog.models import Entry


class LatestEntriesFeed(Feed):
    def title(self):
        return settings.BLOG_TITLE

    def description(self):
        return settings.BLOG_DESCRIPTION

    subtitle = description

    def link(self):
        return reverse("blog:index")

    def author_name(self):
        return settings.BLOG_AUTHOR

    def items(self):
        return Entry.objects.published()[:20]

    def item_title(self, item):
        return item.title

    def item_description(self, item):
        return item.body_html

    def item_pubdate(self, item):
        return item.timestamp

    def item_updateddate(self, item):
        return item.last_modified


class AtomLatestEntriesFeed(LatestEntriesFeed):
    feed_type = Atom1Feed


class EntryCommentsFeed(Feed):
    """The visible comments of one published entry, newest first."""

    atom = False

    def __call__(self, request, *args, **kwargs):
        try:
            return super().__call__(request, *args, **kwargs)
        except Http404:
            # An entry whose date or slug changed: its old feed links answer with a 301.
            entry = Entry.objects.published().find_by_slug(kwargs["slug"])
            url = entry and entry.get_comments_feed_url(atom=self.atom)
            if url is None or url == request.path:
                raise
            return redirect(url, permanent=True)

    def get_object(self, request, year, month, day, slug):
        entry = get_object_or_404(Entry.objects.published(), slug=slug)
        # Only at the entry's own permalink, like the entry page itself.
        if not request.path.startswith(entry.get_absolute_url()):
            raise Http404
        return entry

    def title(self, obj):
        return _("Comments on “%(title)s”") % {"title": obj.title}

    def description(self, obj):
        return self.title(obj)

    subtitle = description

    def link(self, obj):
        return obj.get_absolute_url() + "#comments"

    def author_name(self):
        return settings.BLOG_AUTHOR

    def items(self, obj):
        return obj.visible_comments().select_related("entry").reverse()[:50]

    def item_title(self, item):
        return _("Comment by %(name)s") % {"name": item.display_name}

    def item_description(self, item):
        return render_comment(item.text)

    def item_author_name(self, item):
        return item.display_name

    def item_pubdate(self, item):
        return item.created

    def item_updateddate(self, item):
        return item.created


class AtomEntryCommentsFeed(EntryCommentsFeed):
    feed_type = Atom1Feed
    atom = True
