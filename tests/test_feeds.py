"""Feeds, sitemap and robots.txt: what feed readers and crawlers get."""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree

import pytest
from django.urls import reverse
from django.utils import timezone

from blog.models import Entry, Page

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def get_xml(client, url, content_type):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    return ElementTree.fromstring(response.content)  # raises on XML that is not well-formed


def test_rss_feed_lists_published_entries_with_absolute_links_and_dates(client, create_entry):
    """The RSS feed is valid XML: newest entries first, absolute links, RFC 822 pubDates."""
    old = create_entry(title="Older & wiser", body="Body with <angle> brackets", days=-3)
    new = create_entry(title="Newest", body="Some **bold** text", days=-1)
    channel = get_xml(client, reverse("blog:feed"), "application/rss+xml").find("channel")
    assert channel.findtext("title") == "homepage"
    assert channel.findtext("link") == "http://testserver/"
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Newest", "Older & wiser"]
    assert items[0].findtext("link") == f"http://testserver{new.get_absolute_url()}"
    assert items[1].findtext("link") == f"http://testserver{old.get_absolute_url()}"
    assert "<strong>bold</strong>" in items[0].findtext("description")
    assert parsedate_to_datetime(items[0].findtext("pubDate")) == new.timestamp.replace(
        microsecond=0
    )


def test_atom_feed_has_updated_on_every_entry(client, create_entry):
    """Every Atom entry carries id, title, link, published and updated; the feed has an author."""
    entries = [create_entry(title=f"Entry {i}", days=-i - 1) for i in range(3)]
    Entry.objects.filter(pk=entries[2].pk).update(updated=timezone.now() + timedelta(minutes=1))
    feed = get_xml(client, reverse("blog:feed-atom"), "application/atom+xml")
    assert feed.findtext(f"{ATOM}updated")
    assert feed.find(f"{ATOM}author/{ATOM}name").text == "homepage"
    assert feed.find(f"{ATOM}link[@rel='alternate']").get("href") == "http://testserver/"
    atom_entries = feed.findall(f"{ATOM}entry")
    assert len(atom_entries) == 3
    for atom_entry, entry in zip(atom_entries, entries, strict=True):
        assert atom_entry.findtext(f"{ATOM}id") == f"http://testserver{entry.get_absolute_url()}"
        assert atom_entry.findtext(f"{ATOM}title") == entry.title
        assert atom_entry.findtext(f"{ATOM}published")
        assert atom_entry.findtext(f"{ATOM}updated")
        assert atom_entry.find(f"{ATOM}link").get("href").startswith("http://testserver/")
    # The feed's own <updated> is the most recent change of any entry.
    edited = Entry.objects.get(pk=entries[2].pk)
    assert feed.findtext(f"{ATOM}updated").startswith(edited.updated.strftime("%Y-%m-%dT%H:%M"))


def test_atom_updated_is_never_before_published(client, create_entry):
    """An entry saved before it was scheduled to go live is 'updated' when it went live."""
    entry = create_entry(title="Was scheduled", days=-1)
    Entry.objects.filter(pk=entry.pk).update(updated=entry.timestamp - timedelta(days=2))
    feed = get_xml(client, reverse("blog:feed-atom"), "application/atom+xml")
    atom_entry = feed.find(f"{ATOM}entry")
    assert atom_entry.findtext(f"{ATOM}updated") == atom_entry.findtext(f"{ATOM}published")


def test_feed_of_an_empty_blog_is_valid(client, db):
    """No entries yet: both feeds are still well-formed with no items."""
    assert get_xml(client, reverse("blog:feed"), "application/rss+xml").find("channel/item") is None
    assert (
        get_xml(client, reverse("blog:feed-atom"), "application/atom+xml").find(f"{ATOM}entry")
        is None
    )


def test_feeds_are_advertised_in_the_page_head(client, create_entry):
    """Every page links both entry feeds; an entry page also links its comments feed."""
    entry = create_entry()
    html = client.get(reverse("blog:index")).content.decode()
    assert '<link rel="alternate" type="application/rss+xml"' in html
    assert f'href="{reverse("blog:feed")}"' in html
    assert f'href="{reverse("blog:feed-atom")}"' in html
    entry_html = client.get(entry.get_absolute_url()).content.decode()
    assert f'href="{entry.get_absolute_url()}feed/"' in entry_html


def test_comments_feed_lists_visible_comments_newest_first(client, create_entry, create_comment):
    """An entry's comment feed: visible comments only, newest first, linked to their anchors."""
    entry = create_entry(title="Talked about")
    now = timezone.now()
    first = create_comment(
        entry, text="first <b>word</b>", name="Ann", created=now - timedelta(hours=2)
    )
    second = create_comment(entry, text="second", name="", created=now - timedelta(hours=1))
    create_comment(entry, text="hidden spam", is_public=False)
    other = create_entry(title="Other entry")
    create_comment(other, text="elsewhere")

    channel = get_xml(client, entry.get_comments_feed_url(), "application/rss+xml").find("channel")
    assert channel.findtext("title") == "Comments on “Talked about”"
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Comment by Anonymous", "Comment by Ann"]
    assert items[0].findtext("link") == f"http://testserver{entry.get_absolute_url()}#c{second.pk}"
    assert items[1].findtext("link") == f"http://testserver{entry.get_absolute_url()}#c{first.pk}"
    assert "&lt;b&gt;word&lt;/b&gt;" in items[1].findtext("description")

    feed = get_xml(client, entry.get_comments_feed_url() + "atom/", "application/atom+xml")
    atom_entries = feed.findall(f"{ATOM}entry")
    assert len(atom_entries) == 2
    assert all(e.findtext(f"{ATOM}updated") for e in atom_entries)
    assert atom_entries[1].find(f"{ATOM}author/{ATOM}name").text == "Ann"


def test_comments_feed_links_each_comment_to_its_page_in_a_fixed_number_of_queries(
    client, create_entry, create_comment, settings, django_assert_max_num_queries
):
    """Items link to the page of the conversation that shows them (pages of first comments,
    a reply on its thread's); their pages come from one query, not one per item."""
    settings.BLOG_COMMENTS_PER_PAGE = 2
    entry = create_entry(title="Long thread")
    start = timezone.now() - timedelta(days=1)
    firsts = [
        create_comment(entry, text=f"c{n}", created=start + timedelta(minutes=n)) for n in range(5)
    ]
    reply = create_comment(entry, text="r", parent=firsts[2], created=start + timedelta(hours=1))
    with django_assert_max_num_queries(4):
        channel = get_xml(client, entry.get_comments_feed_url(), "application/rss+xml")
    links = {item.findtext("description"): item.findtext("link") for item in channel.iter("item")}
    url = f"http://testserver{entry.get_absolute_url()}"
    assert links["<p>c0</p>"] == f"{url}#c{firsts[0].pk}"
    assert links["<p>c3</p>"] == f"{url}?page=2#c{firsts[3].pk}"
    assert links["<p>r</p>"] == f"{url}?page=2#c{reply.pk}"
    assert links["<p>c4</p>"] == f"{url}?page=3#c{firsts[4].pk}"
    assert reply.get_absolute_url() == f"{entry.get_absolute_url()}?page=2#c{reply.pk}"


def test_comments_feed_of_unknown_or_hidden_entry_is_404(client, create_entry):
    """No comment feed for drafts, scheduled entries or unknown slugs; a wrong date is an
    old link and answers with a 301 to the feed's address."""
    draft = create_entry(title="Draft", is_draft=True)
    scheduled = create_entry(title="Soon", days=1)
    entry = create_entry(title="Real")
    assert client.get(draft.get_comments_feed_url()).status_code == 404
    assert client.get(scheduled.get_comments_feed_url()).status_code == 404
    assert client.get("/2001/jan/1/nope/feed/").status_code == 404
    response = client.get(f"/2001/jan/1/{entry.slug}/feed/")
    assert response.status_code == 301
    assert response["Location"] == entry.get_comments_feed_url()
    assert client.get(f"/2001/jan/1/{draft.slug}/feed/").status_code == 404


def test_sitemap_index_and_entries_with_lastmod(client, create_entry):
    """/sitemap.xml indexes the sections, each with lastmod; the entries section lists each
    entry with lastmod; tags and pages have their sections."""
    entries = [create_entry(title=f"Mapped {i}", days=-i - 1) for i in range(3)]
    entries[0].tags.add("mapped")
    Page.objects.create(title="About", slug="about", body="Me.")
    index = get_xml(client, reverse("blog:sitemap"), "application/xml")
    sections = [s.findtext(f"{SITEMAP}loc") for s in index.findall(f"{SITEMAP}sitemap")]
    assert {
        f"http://testserver/sitemap-{name}.xml" for name in ("entries", "tags", "pages")
    } <= set(sections)
    assert all(s.findtext(f"{SITEMAP}lastmod") for s in index.findall(f"{SITEMAP}sitemap"))

    urlset = get_xml(client, "/sitemap-entries.xml", "application/xml")
    urls = {u.findtext(f"{SITEMAP}loc"): u.findtext(f"{SITEMAP}lastmod") for u in urlset}
    assert set(urls) == {f"http://testserver{e.get_absolute_url()}" for e in entries}
    for entry in entries:
        lastmod = urls[f"http://testserver{entry.get_absolute_url()}"]
        assert lastmod == entry.last_modified.date().isoformat()

    blog_section = get_xml(client, "/sitemap-blog.xml", "application/xml")
    assert [u.findtext(f"{SITEMAP}loc") for u in blog_section] == ["http://testserver/"]


def test_sitemap_of_an_empty_blog(client, db):
    """No entries: the sitemap still answers with valid XML."""
    get_xml(client, reverse("blog:sitemap"), "application/xml")
    assert client.get("/sitemap-nope.xml").status_code == 404


def test_robots_txt_points_at_the_sitemap(client, db):
    """robots.txt is plain text, allows the site and names the sitemap's absolute URL."""
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "User-agent: *" in text
    assert "Sitemap: http://testserver/sitemap.xml" in text.splitlines()
    assert "Disallow: /search/" in text.splitlines()
