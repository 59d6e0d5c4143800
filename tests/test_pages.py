"""Pages such as About: Markdown written in the admin, in the navigation, drafts hidden."""

import pytest
from django.urls import reverse

from blog.models import Page
from tests.page_files import page_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def create_page(db):
    def make(title="About", slug="about", body="I *write* here.", **fields):
        return Page.objects.create(title=title, slug=slug, body=body, **fields)

    return make


def test_page_shows_its_markdown_sanitised(client, create_page):
    page = create_page(body="Hello *you*. <script>alert(1)</script> [x](javascript:alert(1))")
    response = client.get(page.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>About</h1>" in html
    assert "Hello <em>you</em>." in html
    assert "<script>alert" not in html and 'href="javascript' not in html


def test_a_draft_page_is_invisible(client, create_page):
    page = create_page(is_draft=True, nav_order=1)
    assert client.get(page.get_absolute_url()).status_code == 404
    assert page.get_absolute_url() not in client.get(reverse("blog:index")).content.decode()
    assert page.get_absolute_url() not in client.get("/sitemap-pages.xml").content.decode()


def test_navigation_lists_published_pages_in_order(client, create_page):
    create_page(title="Projects", slug="projects", nav_order=2)
    create_page(title="About", slug="about", nav_order=1)
    create_page(title="Hidden", slug="hidden", nav_order=0, is_draft=True)
    create_page(title="Unlisted", slug="unlisted")  # no nav_order: reachable, not listed
    html = client.get(reverse("blog:index")).content.decode()
    nav = html[html.index('<nav aria-label="Site">') : html.index("</nav>")]
    assert nav.index('href="/pages/about/"') < nav.index('href="/pages/projects/"')
    assert "Hidden" not in nav and "Unlisted" not in nav
    assert client.get("/pages/unlisted/").status_code == 200
    about = client.get("/pages/about/").content.decode()
    assert '<a href="/pages/about/" aria-current="page">About</a>' in about
    assert 'href="/" aria-current' not in about


def test_page_edits_show_on_the_next_request(
    client, create_page, django_capture_on_commit_callbacks
):
    """Pages are page files like entries; an edit, a new page or a deletion makes every page
    stale (the navigation is on every page)."""
    page = create_page(body="First version.", nav_order=1)
    for url in (page.get_absolute_url(), "/"):
        client.get(url)
        assert page_file(url) is not None, url  # Apache answers the next reader
    with django_capture_on_commit_callbacks(execute=True):
        page.body = "Second version."
        page.save()
    assert page_file(page.get_absolute_url()) is None and page_file("/") is None
    assert "Second version." in client.get(page.get_absolute_url()).content.decode()
    client.get("/")
    with django_capture_on_commit_callbacks(execute=True):
        create_page(title="Now", slug="now", nav_order=2)
    assert page_file("/") is None
    assert 'href="/pages/now/"' in client.get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        Page.objects.get(slug="now").delete()
    assert page_file("/") is None
    assert 'href="/pages/now/"' not in client.get("/").content.decode()


def test_pages_are_in_the_sitemap(client, create_page):
    create_page()
    xml = client.get("/sitemap-pages.xml").content.decode()
    assert "<loc>http://testserver/pages/about/</loc>" in xml


def test_page_urls_do_not_shadow_the_blog(client, create_page, create_entry):
    """Pages live under /pages/: a page slugged like a blog path changes nothing else."""
    for slug in ("feed", "search", "tags", "2024"):
        create_page(title=slug, slug=slug)
    create_entry(title="Still here")
    assert "Still here" in client.get("/").content.decode()
    assert client.get("/feed/")["Content-Type"].startswith("application/rss+xml")
    assert client.get("/search/", {"q": "still"}).status_code == 200
    assert client.get("/pages/feed/").status_code == 200


def test_admin_adds_a_page(admin_client):
    response = admin_client.post(
        reverse("admin:blog_page_add"),
        {"title": "Colophon", "slug": "colophon", "body": "Made with **Django**.", "nav_order": 3},
    )
    assert response.status_code == 302
    page = Page.objects.get()
    assert page.body_html == "<p>Made with <strong>Django</strong>.</p>"
    assert not page.is_draft
