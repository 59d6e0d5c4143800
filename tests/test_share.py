"""What a shared link shows: canonical link, description, Open Graph, Twitter card, JSON-LD;
and the JSON Feed beside RSS and Atom."""

import json
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from blog.models import Entry, Page

pytestmark = pytest.mark.django_db

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


@pytest.fixture
def site(create_entry):
    entry = create_entry(
        title="Shared </script> entry",
        body="The *first* words of the body. " * 20,
        timestamp=datetime(2024, 5, 6, 7, 8, tzinfo=UTC),
    )
    entry.tags.add("sharing")
    Page.objects.create(
        title="About", slug="about", body="Me.", description="Who writes here.", nav_order=1
    )
    return entry


def head(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return BeautifulSoup(response.content, "html.parser").head


def meta(soup, name):
    found = soup.find_all("meta", attrs={"name": name})
    assert len(found) == 1, name
    return found[0]["content"]


def page_kinds(entry):
    return {
        "index": (reverse("blog:index"), "Notes and essays."),
        "entry": (entry.get_absolute_url(), "The first words of the body."),
        "tag": (reverse("blog:tag", kwargs={"slug": "sharing"}), "1 entry tagged “sharing”"),
        "tag index": (reverse("blog:tag-index"), "Every topic on"),
        "year": (reverse("blog:archive-year", args=[2024]), "Entries from 2024"),
        "month": (reverse("blog:archive-month", args=[2024, "may"]), "Entries from May 2024"),
        "page": (reverse("blog:page", kwargs={"slug": "about"}), "Who writes here."),
        "search": (reverse("blog:search") + "?q=first&utm_source=x", "Notes and essays."),
    }


def test_every_kind_of_page_has_a_canonical_link_and_its_own_description(client, site):
    for kind, (url, description) in page_kinds(site).items():
        soup = head(client, url)
        canonical = soup.find_all("link", rel="canonical")
        assert len(canonical) == 1, kind
        expected = "http://testserver" + url.split("?")[0]
        if kind == "search":
            expected += "?q=first"  # stray parameters dropped
        assert canonical[0]["href"] == expected, kind
        assert meta(soup, "description").startswith(description), kind
        feeds = {link["type"] for link in soup.find_all("link", rel="alternate")}
        assert {"application/rss+xml", "application/atom+xml", "application/feed+json"} <= feeds


def test_a_later_page_is_its_own_canonical(client, create_entry):
    for i in range(12):
        create_entry(title=f"E{i}", days=-i - 1)
    soup = head(client, "/?page=2&ref=x")
    assert soup.find("link", rel="canonical")["href"] == "http://testserver/?page=2"


def test_entry_page_carries_open_graph_twitter_card_and_json_ld(client, site):
    soup = head(client, site.get_absolute_url())
    url = "http://testserver" + site.get_absolute_url()
    og = {tag["property"]: tag["content"] for tag in soup.find_all("meta", property=True)}
    assert og["og:type"] == "article"
    assert og["og:title"] == "Shared </script> entry"
    assert og["og:url"] == url
    assert og["og:description"].startswith("The first words of the body.")
    assert len(og["og:description"]) <= 300
    assert og["og:image"] == "http://testserver/static/img/share.png"  # the site default
    assert og["article:published_time"] == "2024-05-06T07:08:00+00:00"
    assert og["article:modified_time"] == site.last_modified.isoformat()
    assert og["article:tag"] == "sharing"
    assert meta(soup, "twitter:card") == "summary"

    scripts = soup.find_all("script")
    assert [s["type"] for s in scripts] == ["application/ld+json"]
    assert "</script>" not in scripts[0].string  # escaped, so the element cannot end early
    data = json.loads(scripts[0].string)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "BlogPosting"
    assert data["headline"] == "Shared </script> entry"
    assert data["url"] == data["mainEntityOfPage"] == url
    assert data["datePublished"].startswith("2024-05-06T07:08:00")
    assert data["image"] == og["og:image"]
    assert data["keywords"] == ["sharing"]


def test_default_share_image_is_served(client, site):
    from django.contrib.staticfiles import finders

    assert finders.find("img/share.png")


def test_pages_other_than_entries_are_no_articles(client, site):
    for kind, (url, _description) in page_kinds(site).items():
        if kind != "entry":
            soup = head(client, url)
            assert soup.find("script", type="application/ld+json") is None, kind
            assert soup.find("meta", property="og:type") is None, kind


# -- JSON Feed 1.1 ------------------------------------------------------------------------


def check_json_feed(response):
    """The spec's required fields: version, title, items; each item an id and content."""
    assert response.status_code == 200
    assert response["Content-Type"] == "application/feed+json; charset=utf-8"
    feed = json.loads(response.content)
    assert feed["version"] == JSON_FEED_VERSION
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed["items"], list)
    assert feed["home_page_url"].startswith("http://testserver/")
    assert feed["feed_url"] == "http://testserver" + response.wsgi_request.path
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item["content_html"], str)
        assert item["url"].startswith("http://testserver/")
        datetime.fromisoformat(item["date_published"])  # RFC 3339
        datetime.fromisoformat(item["date_modified"])
    return feed


def test_json_feeds_carry_published_entries_only(client, site, create_entry):
    create_entry(title="A draft", is_draft=True).tags.add("sharing")
    create_entry(title="Scheduled", days=1).tags.add("sharing")
    for url in (reverse("blog:feed-json"), reverse("blog:tag-feed-json", args=["sharing"])):
        feed = check_json_feed(client.get(url))
        assert [item["title"] for item in feed["items"]] == [site.title]
        item = feed["items"][0]
        assert item["id"] == "http://testserver" + site.get_absolute_url()
        assert "<em>first</em>" in item["content_html"]
        assert item["tags"] == ["sharing"]
        assert feed["authors"] == [{"name": "homepage"}]


def test_json_feed_of_an_empty_blog_is_valid(client, db):
    assert check_json_feed(client.get(reverse("blog:feed-json")))["items"] == []


def test_json_feed_is_written_for_apache_and_made_stale(client, site):
    """The JSON feed is a page file like the others (.json), and a write retires it."""
    from blog import cache

    url = reverse("blog:feed-json")
    response = client.get(url)
    generation = cache.current_version().generation
    written = cache.pages_root() / generation / "testserver" / "feed" / "json" / "index.json"
    assert written.read_bytes() == response.content
    Entry.objects.filter(pk=site.pk).update(title="Renamed")
    cache.renew()  # what the update's commit does (tests never commit)
    assert not written.exists() or cache.current_version().generation != generation
    assert json.loads(client.get(url).content)["items"][0]["title"] == "Renamed"
