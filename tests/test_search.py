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
on_sqlite = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's FTS5")


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


def test_results_link_to_entries_with_highlighted_snippets(client, create_entry):
    """A result shows its title linked to the permalink and a plain-text snippet of its
    body with the matched words in <mark>, everything else escaped."""
    entry = create_entry(title="Markup", body="A **bold** claim: 1 < 2 & 3 > 2 <b>x</b>.")
    html = search(client, "claims").content.decode()
    assert f'<a href="{entry.get_absolute_url()}">Markup</a>' in html
    assert "A bold <mark>claim</mark>: 1 &lt; 2 &amp; 3 &gt; 2" in html
    # Shown as text on SQLite; PostgreSQL's headline parser drops what looks like a tag.
    assert "<b>" not in html


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
        "OR",
        "AND NOT",
        "x OR y",
        "NEAR(x y)",
        "x*",
        "*",
        "-x",
        "^x",
        "title:x",
        '"x" + "y"',
        "(",
        "\u2028",
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
    """% and _ are not LIKE wildcards: full text search reads punctuation as a space."""
    create_entry(title="Discount", body="Save 100% today", days=-1)
    create_entry(title="Snake", body="snake_case names", days=-2)
    create_entry(title="Other", body="nothing", days=-3)
    assert titles(search(client, "100%")) == ["Discount"]
    assert titles(search(client, "snake_case")) == ["Snake"]
    assert titles(search(client, "e_c")) == []
    assert titles(search(client, "%")) == []
    assert titles(search(client, "_")) == []


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
    with django_assert_max_num_queries(3):  # the page, the count, the navigation's pages
        response = search(client, "counted")
    assert len(response.context["object_list"]) == 10


def test_queryset_search_is_the_one_place(create_entry):
    """Entry.objects.search() works on any queryset and returns nothing for blank input."""
    entry = create_entry(title="Findable", body="body")
    assert list(Entry.objects.search("findable")) == [entry]
    assert list(Entry.objects.search("  ")) == []


def test_full_text_stems_and_ranks_titles_first(client, create_entry):
    """Words match their stems; a title match ranks above body matches, however new the
    body matches are; equal ranks show the newest first."""
    create_entry(title="Notes", body="The server was running slowly.", days=-1)
    create_entry(title="Running servers", body="Notes.", days=-5)
    assert titles(search(client, "runs server")) == ["Running servers", "Notes"]
    create_entry(title="Django", body="Just a title.", days=-300)
    for i in range(3):
        create_entry(title=f"Other {i}", body="Some django text here.", days=-i - 1)
    assert titles(search(client, "django")) == ["Django", "Other 0", "Other 1", "Other 2"]


@on_postgresql
def test_postgresql_stop_words(client, create_entry):
    create_entry(title="Notes", body="The server was running slowly.", days=-1)
    assert titles(search(client, "the")) == []  # a stop word alone matches nothing


def test_search_index_follows_every_write(create_entry):
    """Saves, queryset updates (no signals) and deletes reach the index at once."""
    entry = create_entry(title="Original", body="zebra")
    assert list(Entry.objects.search("zebra")) == [entry]
    entry.title, entry.body = "Renamed", "giraffe"
    entry.save()
    assert list(Entry.objects.search("zebra")) == []
    assert list(Entry.objects.search("renamed giraffe")) == [entry]
    Entry.objects.filter(pk=entry.pk).update(body="okapi")
    assert list(Entry.objects.search("okapi")) == [entry]
    entry.delete()
    assert list(Entry.objects.search("okapi")) == []


def test_snippet_markup_is_only_ours(create_entry):
    """Control characters in a body never unbalance or forge the <mark> tags."""
    from blog.search import highlight

    create_entry(title="Tricky", body="a \x02 needle <mark>x</mark> \x03 b")
    snippet = Entry.objects.search("needle").get().snippet
    html = str(highlight(snippet))
    assert html.count("<mark>") == html.count("</mark>") == 1
    assert "<mark>needle</mark>" in html
    # Shown as text on SQLite; PostgreSQL's headline parser drops what looks like a tag.
    assert "&lt;mark&gt;x&lt;/mark&gt;" in html or connection.vendor == "postgresql"
    assert "\x02" not in html and "\x03" not in html


@on_sqlite
def test_sqlite_search_reads_the_fts_index(create_entry):
    """The query starts from the FTS5 index and reads entries by id: no table scan."""
    create_entry(title="Indexed", body="words")
    sql, params = Entry.objects.published().search("words").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(row[-1] for row in cursor.fetchall())
    assert "VIRTUAL TABLE INDEX" in plan
    assert "SCAN blog_entry\n" not in plan + "\n" and "SCAN blog_entry " not in plan


@on_sqlite
def test_lost_triggers_come_back_after_migrate(create_entry):
    """Django rebuilds a table to alter it, dropping its triggers: after_migrate puts them
    back and rebuilds the index from the entries."""
    from blog import search as blog_search

    entry = create_entry(title="Before", body="alpha")
    with connection.cursor() as cursor:
        for name in blog_search.SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    Entry.objects.filter(pk=entry.pk).update(body="beta")  # missed by the index
    assert list(Entry.objects.search("beta")) == []
    blog_search.after_migrate(using="default")
    assert list(Entry.objects.search("beta")) == [entry]
    assert list(Entry.objects.search("alpha")) == []


@on_postgresql
def test_postgresql_search_uses_the_gin_index(create_entry):
    """The match is answered by the GIN index on the stored vector, never by reading the
    table. (With published() the planner may walk the timestamp index instead on a tiny
    table; at 100,000 entries it takes the GIN index: bench/README.md.)"""
    create_entry(title="Indexed", body="words")
    sql, params = Entry.objects.search("words").query.sql_with_params()
    with connection.cursor() as cursor:
        # New rows wait in the GIN index's pending list, which the planner costs high.
        cursor.execute("SELECT gin_clean_pending_list('entry_search_idx')")
        cursor.execute("SET LOCAL enable_seqscan = off")  # as on a table too big to scan
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on entry_search_idx" in plan
    assert "Seq Scan" not in plan
