"""Fill the database with realistic, deterministic entries and comments, fast.

The same --seed gives the same titles, slugs, bodies, timestamps, ids and comments on
every run and every database. Timestamps run back from a fixed date (--until), not from
"now", so that two runs are identical.
"""

import random
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils.text import slugify
from taggit.models import Tag
from tqdm import tqdm

from blog.models import Comment, Entry, TaggedEntry

# Rendering Markdown costs about a millisecond a body: 100,000 entries share this many
# distinct bodies, so seeding stays fast while every page still renders real HTML.
DISTINCT_BODIES = 500
UNTIL = datetime(2026, 1, 1, tzinfo=UTC)

TOPICS = (
    "Apache", "mod_wsgi", "Django", "SQLite", "PostgreSQL", "Redis", "Python", "Markdown",
    "the ORM", "migrations", "templates", "the admin", "caching", "threads", "WAL mode",
    "connection pools", "feeds", "pagination", "indexes", "unit tests", "deployments",
    "logging", "time zones", "Unicode", "static files", "systemd", "backups", "TLS",
    "Debian", "the query planner", "signals", "middleware", "sessions", "CSRF", "cookies",
    "benchmarks", "profiling", "py-spy", "wrk", "Lua", "HTTP/2", "ETags", "sitemaps",
    "the café's Wi-Fi", "Zürich", "Kraków", "São Paulo", "naïve datetimes", "résumés",
)  # fmt: skip
PATTERNS = (
    "Notes on {a}", "What I learned about {a}", "{a} and {b}", "Why {a} needs {b}",
    "A week with {a}", "{a} without {b}", "Making {a} fast", "Debugging {a}",
    "How {a} broke {b}", "Moving from {a} to {b}", "{a}, revisited", "Ten years of {a}",
    "Small tricks for {a}", "When {a} meets {b}", "Testing {a} with {b}", "{a} in practice",
)  # fmt: skip
WORDS = (
    "request", "thread", "worker", "process", "connection", "query", "index", "cache", "template",
    "view", "model", "server", "client", "session", "cookie", "header", "response", "latency",
    "throughput", "memory", "lock", "transaction", "commit", "rollback", "schema", "column",
    "table", "row", "page", "list", "feed", "entry", "comment", "reader", "editor", "deploy",
    "release", "backup", "restore", "log", "error", "warning", "timeout", "retry", "café", "naïve",
    "déjà", "vu", "façade", "über", "jalapeño", "smörgåsbord", "東京", "Grüße", "Ελλάδα",
)  # fmt: skip
NAMES = (
    "", "", "Alice", "bob", "Chloë", "José", "Kim", "O'Neil", "Grégoire", "Zoë Müller",
    "Søren", "Łukasz", "Ана", "小林", "Nguyễn Văn An", "priya", "Mohammed", "dana k.",
    "anonymous coward", "Åsa",
)  # fmt: skip
LANGUAGES = ("python", "bash", "sql", "apache", "")


def sentence(rng, low=6, high=18):
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!"))


def paragraph(rng, sentences=(2, 6)):
    return " ".join(sentence(rng) for _ in range(rng.randint(*sentences)))


def markdown_body(rng):
    """An entry body in Markdown: paragraphs, headings, lists, links, code."""
    parts = [paragraph(rng)]
    for _section in range(rng.randint(1, 3)):
        parts.append(f"# {sentence(rng, 2, 5).rstrip('.?!')}")
        parts.append(paragraph(rng))
        kind = rng.randrange(4)
        if kind == 0:
            parts.append("\n".join(f"- {sentence(rng, 3, 8)}" for _ in range(rng.randint(2, 5))))
        elif kind == 1:
            parts.append("\n".join(f"1. {sentence(rng, 3, 8)}" for _ in range(rng.randint(2, 4))))
        elif kind == 2:
            code = "\n".join(
                f"{rng.choice(WORDS[:20])}_{n} = {rng.randint(0, 999)}"
                for n in range(rng.randint(2, 6))
            )
            parts.append(f"```{rng.choice(LANGUAGES)}\n{code}\n```")
        else:
            parts.append(f"> {sentence(rng)}")
        topic = rng.choice(WORDS[:40])
        parts.append(
            f"{sentence(rng)} See [the notes on {topic}](https://example.org/{topic}/) "
            f"and `{topic}()` for *details*."
        )
    return "\n\n".join(parts)


def comment_text(rng):
    """Plain text up to 500 characters; some with a link or a second paragraph."""
    text = " ".join(sentence(rng, 3, 14) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.1:
        text += f" More at https://example.com/{rng.choice(WORDS[:40])}"
    if rng.random() < 0.15:
        text += "\n\n" + sentence(rng)
    return text[:500].strip()


class Command(BaseCommand):
    help = "Fill the database with realistic, deterministic entries and comments."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=100)
        parser.add_argument(
            "--comments-per-entry",
            type=int,
            default=3,
            help="Average; comments are spread unevenly over the entries, like real ones.",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--years", type=float, default=10, help="How far back the timestamps reach."
        )
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when entries exist."
        )

    def handle(self, *args, **options):
        entries, per_entry = options["entries"], options["comments_per_entry"]
        if entries < 0 or per_entry < 0 or options["batch_size"] < 1 or options["years"] <= 0:
            raise CommandError(
                "--entries and --comments-per-entry must be 0 or more, "
                "--batch-size and --years more than 0."
            )
        if options["if_empty"] and Entry.objects.exists():
            self.stdout.write("The database has entries already; nothing added.")
            return
        with transaction.atomic():
            added = self.seed(entries, per_entry, options)
            # Explicit ids leave PostgreSQL's sequences behind; the next save must not collide.
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [Entry, Comment]):
                    cursor.execute(sql)
        self.stdout.write(f"Added {entries} entries and {added} comments.")

    def seed(self, entries, per_entry, options):
        rng = random.Random(options["seed"])
        batch_size = options["batch_size"]
        bodies = [markdown_body(rng) for _ in range(min(entries, DISTINCT_BODIES))]

        # Each comment picks an entry at random: some entries get none, some many more.
        counts = [0] * entries
        for _ in range(entries * per_entry):
            counts[rng.randrange(entries)] += 1

        taken = set(Entry.objects.values_list("slug", flat=True))
        next_entry = (Entry.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        next_comment = (Comment.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        # An entry is tagged with the topics in its title, as an author would tag it.
        tags = {
            topic: Tag.objects.get_or_create(name=topic, defaults={"slug": slugify(topic)})[0]
            for topic in TOPICS
        }
        span = timedelta(days=365.25 * options["years"])
        step = span / max(entries, 1)
        added = 0

        progress = tqdm(
            total=entries, unit="entries", disable=not self.stdout.isatty(), file=self.stderr
        )
        with progress:
            for start in range(0, entries, batch_size):
                batch, comments, tagged = [], [], []
                for i in range(start, min(start + batch_size, entries)):
                    pattern, topics = rng.choice(PATTERNS), (rng.choice(TOPICS), rng.choice(TOPICS))
                    title = pattern.format(a=topics[0], b=topics[1])
                    if rng.random() < 0.5:
                        title = f"{title}: {sentence(rng, 2, 4).rstrip('.?!').lower()}"
                    title = title[:100]
                    slug = Entry.unique_slug(title, taken=taken)
                    taken.add(slug)
                    body = rng.randrange(len(bodies))
                    # Oldest first, so ids grow with time as on a real blog; each entry
                    # somewhere in its own slot, so none is later than UNTIL.
                    timestamp = UNTIL - span + step * (i + rng.random())
                    entry = Entry(
                        id=next_entry + i,
                        title=title,
                        slug=slug,
                        body=bodies[body],
                        timestamp=timestamp,
                        featured=rng.random() < 0.05,
                        comments_enabled=rng.random() < 0.95,
                        is_draft=False,
                    )
                    batch.append(entry)
                    used = topics if "{b}" in pattern else topics[:1]
                    tagged += [
                        TaggedEntry(content_object_id=entry.id, tag=tags[topic])
                        for topic in dict.fromkeys(used)
                    ]
                    created = timestamp
                    for _ in range(counts[i]):
                        created += timedelta(minutes=rng.randint(1, 60 * 24 * 3))
                        comments.append(
                            Comment(
                                id=next_comment + added + len(comments),
                                entry_id=entry.id,
                                name=rng.choice(NAMES),
                                text=comment_text(rng),
                                created=min(created, UNTIL),
                                is_public=rng.random() < 0.97,
                                ip_address=rng.choice(
                                    (None, f"192.0.2.{rng.randrange(256)}", "2001:db8::1")
                                ),
                            )
                        )
                Entry.objects.bulk_create(batch)
                TaggedEntry.objects.bulk_create(tagged)
                Comment.objects.bulk_create(comments, batch_size=batch_size * 4)
                added += len(comments)
                progress.update(len(batch))
        return added
