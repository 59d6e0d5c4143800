from django.contrib.sitemaps import Sitemap
from django.db.models import Max
from django.db.models.functions import Greatest
from django.urls import reverse

from blog.models import Entry


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


sitemaps = {"blog": IndexSitemap, "entries": EntrySitemap}
