from django.contrib.sitemaps import Sitemap
from django.db.models import Max
from django.db.models.functions import Greatest
from django.urls import reverse

from blog.models import Entry, Page, TaggedEntry


class EntrySitemap(Sitemap):
    limit = 5000  # URLs per sitemap page; big blogs get several pages from the index

    def items(self):
        # Only what get_absolute_url and lastmod read, in a stable order for paging.
        return Entry.objects.published().only("slug", "timestamp", "updated").order_by("id")

    def lastmod(self, item):
        return item.last_modified

    def get_latest_lastmod(self):
        # One aggregate instead of the default, which loads every entry.
        latest = Entry.objects.published().aggregate(
            latest=Greatest(Max("updated"), Max("timestamp"))
        )
        return latest["latest"]


class IndexSitemap(Sitemap):
    changefreq = "daily"

    def items(self):
        return ["blog:index"]

    def location(self, item):
        return reverse(item)

    def lastmod(self, item):
        return EntrySitemap().get_latest_lastmod()


class TagSitemap(Sitemap):
    limit = 5000

    def items(self):
        return TaggedEntry.published_tags().only("slug")

    def location(self, item):
        return reverse("blog:tag", kwargs={"slug": item.slug})

    def get_latest_lastmod(self):
        # A tag's page changes with its entries.
        return EntrySitemap().get_latest_lastmod() if self.items().exists() else None


class PageSitemap(Sitemap):
    def items(self):
        return Page.objects.published().only("slug", "updated").order_by("id")

    def lastmod(self, item):
        return item.updated

    def get_latest_lastmod(self):
        return Page.objects.published().aggregate(latest=Max("updated"))["latest"]


sitemaps = {
    "blog": IndexSitemap,
    "entries": EntrySitemap,
    "tags": TagSitemap,
    "pages": PageSitemap,
}
