from django.contrib.sitemaps import views as sitemap_views
from django.urls import path, register_converter
from django.views.generic import RedirectView, TemplateView

from blog import converters, feeds, views
from blog.sitemaps import sitemaps

register_converter(converters.FourDigitYearConverter, "yyyy")
register_converter(converters.MonthConverter, "mon")
register_converter(converters.DayConverter, "dd")

app_name = "blog"

urlpatterns = [
    path("", views.EntryIndexView.as_view(), name="index"),
    # The old Flask site's URLs.
    path(
        "blog", RedirectView.as_view(pattern_name="blog:index", permanent=True, query_string=True)
    ),
    path(
        "blog.html",
        RedirectView.as_view(pattern_name="blog:index", permanent=True, query_string=True),
    ),
    path("feed/", feeds.LatestEntriesFeed(), name="feed"),
    path("feed/atom/", feeds.AtomLatestEntriesFeed(), name="feed-atom"),
    path("feed/json/", feeds.JSONLatestEntriesFeed(), name="feed-json"),
    path("tags/", views.TagIndexView.as_view(), name="tag-index"),
    path("tags/<slug:slug>/", views.TagView.as_view(), name="tag"),
    path("tags/<slug:slug>/feed/", feeds.TagFeed(), name="tag-feed"),
    path("tags/<slug:slug>/feed/atom/", feeds.AtomTagFeed(), name="tag-feed-atom"),
    path("tags/<slug:slug>/feed/json/", feeds.JSONTagFeed(), name="tag-feed-json"),
    path("pages/<slug:slug>/", views.PageView.as_view(), name="page"),
    path("search/", views.EntrySearchView.as_view(), name="search"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
    path("preview/", views.preview, name="preview"),
    path(
        "sitemap.xml",
        sitemap_views.index,
        {"sitemaps": sitemaps, "sitemap_url_name": "blog:sitemap-section"},
        name="sitemap",
    ),
    path(
        "sitemap-<section>.xml",
        sitemap_views.sitemap,
        {"sitemaps": sitemaps},
        name="sitemap-section",
    ),
    path(
        "robots.txt",
        TemplateView.as_view(template_name="robots.txt", content_type="text/plain; charset=utf-8"),
        name="robots",
    ),
    path("<yyyy:year>/", views.EntryYearArchiveView.as_view(), name="archive-year"),
    path("<yyyy:year>/<mon:month>/", views.EntryMonthArchiveView.as_view(), name="archive-month"),
    path(
        "<yyyy:year>/<mon:month>/<dd:day>/<slug:slug>/",
        views.EntryDetailView.as_view(),
        name="entry",
    ),
    path(
        "<yyyy:year>/<mon:month>/<dd:day>/<slug:slug>/feed/",
        feeds.EntryCommentsFeed(),
        name="entry-feed",
    ),
    path(
        "<yyyy:year>/<mon:month>/<dd:day>/<slug:slug>/feed/atom/",
        feeds.AtomEntryCommentsFeed(),
        name="entry-feed-atom",
    ),
]
