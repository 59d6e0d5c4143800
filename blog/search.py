"""Full text search of entries: SQLite's FTS5 index, or PostgreSQL's text search.

SQLite: an FTS5 table over title and body whose content is blog_entry itself (external
content: the index stores only tokens), kept in step by triggers, ranked by bm25 with the
title weighted above the body, words stemmed (porter). PostgreSQL: plainto_tsquery against
a stored weighted tsvector column (the database keeps it in step) with the GIN index
entry_search_idx. Both give each result a snippet with the matched words between START and STOP, made safe by highlight().
"""

import re

from django.db import models
from django.db.models.expressions import RawSQL
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0  # bm25: a word in the title counts ten in the body
SNIPPET_WORDS = 24
SEARCH_CONFIG = "english"  # PostgreSQL text search configuration (stemming, stop words)
# Control characters mark the matched words: Markdown bodies do not hold them, and the
# markup is added only after the text around them is escaped.
START, STOP = "\x02", "\x03"
MARKED = re.compile(f"{START}([^{START}{STOP}]*){STOP}")

FTS_TABLE = "blog_entry_fts"
SQLITE_TABLE = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
    title, body, content='blog_entry', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
)"""
# Every change to blog_entry, including bulk inserts and raw SQL, reaches the index.
SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON blog_entry BEGIN
    INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body);
END""",
    f"{FTS_TABLE}_delete": f"""
CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON blog_entry BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
END""",
    f"{FTS_TABLE}_update": f"""
CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF id, title, body ON blog_entry
BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body);
END""",
}
# The weighted vector is stored (a generated column Django's model does not list), not
# computed per query: ranking reads it for every match, and recomputing to_tsvector of
# each body made a common word take seconds at 100,000 entries (bench/README.md).
# PostgreSQL refuses to change the type of a column a generated column reads: a migration
# that alters title or body there must uninstall() before and install() after.
POSTGRESQL_COLUMN = "search_document"
POSTGRESQL_INDEX = [
    f"""
ALTER TABLE blog_entry ADD COLUMN IF NOT EXISTS {POSTGRESQL_COLUMN} tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, COALESCE(title, '')), 'A')
        || setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, COALESCE(body, '')), 'B')
    ) STORED""",
    f"CREATE INDEX IF NOT EXISTS entry_search_idx ON blog_entry USING gin ({POSTGRESQL_COLUMN})",
]


def install(connection):
    """Create the search index of this database if it is missing (migrations call it).

    On SQLite, also after every migrate: Django rebuilds a table to alter it, and dropping
    the old blog_entry drops its triggers; they are put back and the index rebuilt.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for sql in POSTGRESQL_INDEX:
                cursor.execute(sql)
        elif connection.vendor == "sqlite":
            names = "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
            existing = {row[0] for row in cursor.execute(names).fetchall()}
            missing = [sql for name, sql in SQLITE_TRIGGERS.items() if name not in existing]
            if FTS_TABLE in existing and not missing:
                return
            cursor.execute(SQLITE_TABLE)
            for sql in missing:
                cursor.execute(sql)
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def uninstall(connection):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS entry_search_idx")
            cursor.execute(f"ALTER TABLE blog_entry DROP COLUMN IF EXISTS {POSTGRESQL_COLUMN}")
        elif connection.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


def after_migrate(using, **kwargs):
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "sqlite" and FTS_TABLE in connection.introspection.table_names():
        install(connection)


# -- SQLite ---------------------------------------------------------------------------


class DocumentField(models.TextField):
    """FTS5's hidden column named after its table, the left side of MATCH."""


@DocumentField.register_lookup
class Match(models.Lookup):
    lookup_name = "match"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} MATCH {rhs}", lhs_params + rhs_params


def fts5_expression(words: list[str]) -> str:
    """The reader's words as an FTS5 query that every one must match.

    Each word becomes a string token ("..." with quotes doubled), inside which FTS5 reads
    nothing as syntax: OR, NOT, -, *, ^, : and parentheses are searched as text, never
    an error. Words without a letter or digit would be empty phrases and are left out.
    """
    terms = []
    for word in words:
        word = word.replace("\x00", "")
        if any(char.isalnum() for char in word):
            terms.append('"{}"'.format(word.replace('"', '""')))
    return " ".join(terms)


def bm25():
    # The join alias of EntrySearchIndex is its table's name (the only join to it).
    return RawSQL(
        f"bm25({FTS_TABLE}, %s, %s)", (TITLE_WEIGHT, BODY_WEIGHT), output_field=models.FloatField()
    )


def fts5_snippet():
    return RawSQL(
        f"snippet({FTS_TABLE}, 1, %s, %s, %s, %s)",
        (START, STOP, "…", SNIPPET_WORDS),
        output_field=models.TextField(),
    )


# -- PostgreSQL -----------------------------------------------------------------------


def postgresql_search(queryset, words: list[str]):
    from django.contrib.postgres.search import (
        SearchHeadline,
        SearchQuery,
        SearchRank,
        SearchVectorField,
    )

    if not words:
        return queryset.none()
    document = RawSQL(f'"blog_entry"."{POSTGRESQL_COLUMN}"', [], output_field=SearchVectorField())
    # Plain: every word must match, and nothing in them is an operator (-x, OR, "...",
    # <->), as on SQLite; plainto_tsquery never raises.
    query = SearchQuery(" ".join(words), search_type="plain", config=SEARCH_CONFIG)
    snippet = SearchHeadline(
        "body",
        query,
        config=SEARCH_CONFIG,
        start_sel=START,
        stop_sel=STOP,
        max_words=SNIPPET_WORDS,
        min_words=SNIPPET_WORDS // 2,
    )
    return (
        queryset.annotate(document=document, rank=SearchRank(document, query), snippet=snippet)
        .filter(document=query)  # @@, answered by the GIN index entry_search_idx
        .order_by("-rank", "-timestamp", "-id")
    )


# -- both -----------------------------------------------------------------------------


MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MARKDOWN_MARKS = re.compile(r"[*`#]+")


def _plain(text: str) -> str:
    """Snippets come from the Markdown source: links read as their text, no emphasis marks."""
    text = MARKDOWN_MARKS.sub("", MARKDOWN_LINK.sub(r"\1", text))
    return escape(text.replace(START, "").replace(STOP, ""))


def highlight(snippet: str) -> str:
    """A snippet as safe HTML: everything escaped, the matched words in <mark>."""
    parts, position = [], 0
    for match in MARKED.finditer(snippet):
        parts.append(_plain(snippet[position : match.start()]))
        parts.append(format_html("<mark>{}</mark>", MARKDOWN_MARKS.sub("", match[1])))
        position = match.end()
    parts.append(_plain(snippet[position:]))
    return mark_safe("".join(parts))
