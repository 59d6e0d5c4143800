"""Search at /search/?q=: titles and bodies, paginated, safe with any query string."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from blog.models import Entry

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="PostgreSQL full text search"
)


def search(client, q, **params):
    return client.get(reverse("blog:search"), {"q": q, **params})


def titles(response):
    return [entry.title for entry in response.context["object_list"]]


def test_finds_words_in_titles_and_bodies(client, create_entry):
    """Every word must appear in the title or the body; case does not matter."""
    create_entry(title="Apache threads", body="How mod_wsgi runs Django.", days=-2)
    create_entry(title="Cooking", body="Threads of saffron in the APACHE kitchen.", days=-1)
    create_entry(title="Unrelated", body="Nothing to see.", days=-3)
    response = search(client, "apache threads")
    assert response.status_code == 200
    assert sorted(titles(response)) == ["Apache threads", "Cooking"]
    assert titles(search(client, "saffron")) == ["Cooking"]
    assert titles(search(client, "saffron django")) == []
    html = response.content.decode()
    assert "2 results for “apache threads”" in html


def test_results_link_to_entries_with_plain_excerpts(client, create_entry):
    """A result shows its title linked to the permalink and its excerpt (first paragraph)."""
    entry = create_entry(title="Markup", body="A **bold** claim: 1 < 2 & 3 > 2.")
    html = search(client, "claim").content.decode()
    assert f'<a href="{entry.get_absolute_url()}">Markup</a>' in html
    assert "<p>A <strong>bold</strong> claim: 1 &lt; 2 &amp; 3 &gt; 2.</p>" in html


def test_empty_query_shows_the_form_only(client, create_entry):
    """No query (or only spaces) shows the form and no results, not every entry."""
    create_entry(title="Anything")
    for params in ({}, {"q": ""}, {"q": "   "}):
        response = client.get(reverse("blog:search"), params)
        assert response.status_code == 200
        assert list(response.context["object_list"]) == []
        assert 'name="q"' in response.content.decode()
        assert "results for" not in response.content.decode()


def test_results_are_paginated_and_pages_keep_the_query(client, create_entry):
    """Ten results a page; page links keep the query; a page past the end is a 404."""
    now = timezone.now()
    for i in range(13):
        create_entry(title=f"Paged {i}", body="needle", timestamp=now - timedelta(hours=i + 1))
    first = search(client, "needle")
    assert len(first.context["object_list"]) == 10
    assert first.context["paginator"].count == 13
    assert 'href="?q=needle&amp;page=2"' in first.content.decode()
    second = search(client, "needle", page=2)
    assert len(second.context["object_list"]) == 3
    assert 'href="?q=needle&amp;page=1"' in second.content.decode()
    assert search(client, "needle", page=3).status_code == 404


@pytest.mark.parametrize(
    "q",
    [
        "%",
        "_",
        "100%",
        "a_b",
        "'",
        '"',
        "' OR 1=1 --",
        '"unclosed',
        "back\\slash",
        "\\",
        "<script>alert(1)</script>",
        "-",
        "!",
        "&|:*",
        "()",
        "日本語",
        "x" * 200,
        "word " * 40,
    ],
)
def test_odd_queries_never_fail(client, create_entry, q):
    """Wildcards, quotes, backslashes, operators and many words are searched as plain text."""
    create_entry(title="Plain entry", body="Nothing special here.")
    response = search(client, q)
    assert response.status_code == 200
    assert titles(response) == []
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_wildcards_match_only_themselves(client, create_entry):
    """% and _ are literal characters, not LIKE wildcards."""
    create_entry(title="Discount", body="Save 100% today", days=-1)
    create_entry(title="Snake", body="snake_case names", days=-2)
    create_entry(title="Other", body="nothing", days=-3)
    if connection.vendor != "postgresql":  # full text search ignores punctuation by design
        assert titles(search(client, "100%")) == ["Discount"]
        assert titles(search(client, "e_c")) == ["Snake"]
    assert titles(search(client, "%")) in ([], ["Discount"])
    assert "Other" not in titles(search(client, "_"))


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("x" * 10_000, "at most 200 characters"),
        ("a\x00b", "characters that are not allowed"),
    ],
)
def test_unusable_queries_are_400_with_a_message(client, create_entry, q, message):
    """A 10 kB query or a NUL character is a 400 with a human message, never a 500."""
    create_entry()
    response = search(client, q)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(response.context["object_list"]) == []


def test_search_form_is_in_every_page_header(client, db):
    """The header carries a search box pointing at the search page."""
    html = client.get(reverse("blog:index")).content.decode()
    assert f'action="{reverse("blog:search")}"' in html
    assert 'type="search"' in html


def test_search_query_count_is_constant(client, create_entry, django_assert_max_num_queries):
    """A result page costs the same few queries however many entries match."""
    for i in range(25):
        create_entry(title=f"Count {i}", body="counted", days=-i - 1)
    with django_assert_max_num_queries(2):
        response = search(client, "counted")
    assert len(response.context["object_list"]) == 10


def test_queryset_search_is_the_one_place(create_entry):
    """Entry.objects.search() works on any queryset and returns nothing for blank input."""
    entry = create_entry(title="Findable", body="body")
    assert list(Entry.objects.search("findable")) == [entry]
    assert list(Entry.objects.search("  ")) == []


@on_postgresql
def test_postgresql_full_text_stems_and_ranks(client, create_entry):
    """On PostgreSQL, words match their stems and title matches rank above body matches."""
    create_entry(title="Notes", body="The server was running slowly.", days=-1)
    create_entry(title="Running servers", body="Notes.", days=-5)
    assert titles(search(client, "runs server")) == ["Running servers", "Notes"]
    assert titles(search(client, "the")) == []  # a stop word alone matches nothing
