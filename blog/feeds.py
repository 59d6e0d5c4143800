import json

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, SyndicationFeed
from django.utils.translation import gettext as _

from blog.markup import render_comment
from blog.models import Entry, TaggedEntry


class JSONFeed(SyndicationFeed):
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1) from the same data as RSS and Atom."""

    content_type = "application/feed+json; charset=utf-8"

    def write(self, outfile, encoding):
        feed = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.feed["title"],
            "home_page_url": self.feed["link"],
            "feed_url": self.feed["feed_url"],
            "description": self.feed["description"],
            "language": self.feed["language"],
            "items": [self._item(item) for item in self.items],
        }
        if self.feed["author_name"]:
            feed["authors"] = [{"name": self.feed["author_name"]}]
        json.dump(feed, outfile, cls=DjangoJSONEncoder, ensure_ascii=False)

    @staticmethod
    def _item(item):
        fields = {
            "id": item["unique_id"] or item["link"],
            "url": item["link"],
            "title": item["title"],
            "content_html": item["description"],
            "date_published": item["pubdate"],
            "date_modified": item["updateddate"],
            "tags": list(item["categories"] or ()),
        }
        return {key: value for key, value in fields.items() if value not in (None, [])}


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
        return Entry.objects.published().with_tags()[:20]

    def item_title(self, item):
        return item.title

    def item_categories(self, item):
        return sorted(tag.name for tag in item.tags.all())

    def item_description(self, item):
        return item.body_html

    def item_pubdate(self, item):
        return item.timestamp

    def item_updateddate(self, item):
        return item.last_modified


class AtomLatestEntriesFeed(LatestEntriesFeed):
    feed_type = Atom1Feed


class JSONLatestEntriesFeed(LatestEntriesFeed):
    feed_type = JSONFeed


class TagFeed(LatestEntriesFeed):
    """The latest published entries with one tag."""

    def get_object(self, request, slug):
        # Only tags of published entries: a draft's tag does not exist for readers.
        return get_object_or_404(TaggedEntry.published_tags(), slug=slug)

    def title(self, obj):
        return _("%(blog)s: entries tagged “%(tag)s”") % {"blog": settings.BLOG_TITLE, "tag": obj}

    def description(self, obj):
        return self.title(obj)

    subtitle = description

    def link(self, obj):
        return reverse("blog:tag", kwargs={"slug": obj.slug})

    def items(self, obj):
        return Entry.objects.published().tagged(obj).with_tags()[:20]


class AtomTagFeed(TagFeed):
    feed_type = Atom1Feed


class JSONTagFeed(TagFeed):
    feed_type = JSONFeed


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
        comments = obj.comments.public().select_related("entry", "parent")
        comments = list(comments.order_by("-created", "-id")[:50])
        pages = obj.comment_pages(comments)  # their links: one query, not one each
        for comment in comments:
            comment.page = pages[comment.pk]
        return comments

    def item_title(self, item):
        if item.parent is not None:
            return _("Reply by %(name)s to %(parent)s") % {
                "name": item.display_name,
                "parent": item.parent.display_name,
            }
        return _("Comment by %(name)s") % {"name": item.display_name}

    def item_description(self, item):
        return render_comment(item.text)

    def item_author_name(self, item):
        return item.display_name

    def item_author_link(self, item):
        return item.website or None

    def item_pubdate(self, item):
        return item.created

    def item_updateddate(self, item):
        return item.created


class AtomEntryCommentsFeed(EntryCommentsFeed):
    feed_type = Atom1Feed
    atom = True
