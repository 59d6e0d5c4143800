import contextlib
import os
import pty
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from blog.markup import render_markdown
from blog.models import Comment, Entry
from testing.commands import manage

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def seed(*args):
    out = StringIO()
    call_command("seed_blog", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot():
    entries = list(
        Entry.objects.order_by("id").values_list("id", "title", "slug", "body", "timestamp")
    )
    comments = list(
        Comment.objects.order_by("id").values_list("id", "entry_id", "name", "text", "created")
    )
    return entries, comments


def test_seeds_the_requested_numbers():
    """N entries, all published, and N x M comments spread over them."""
    out = seed("--entries", "40", "--comments-per-entry", "3")
    assert out.strip() == "Added 40 entries and 120 comments."
    assert Entry.objects.published().count() == 40
    assert Comment.objects.count() == 120
    per_entry = {entry.comments.count() for entry in Entry.objects.all()}
    assert len(per_entry) > 2  # uneven, like real comments


def test_same_seed_same_content_other_seed_other_content():
    """The same --seed gives the same ids, titles, slugs, bodies, timestamps and comments."""
    seed("--entries", "30", "--seed", "7")
    first = snapshot()
    Entry.objects.all().delete()
    seed("--entries", "30", "--seed", "7")
    assert snapshot() == first
    Entry.objects.all().delete()
    seed("--entries", "30", "--seed", "8")
    assert [e[1] for e in snapshot()[0]] != [e[1] for e in first[0]]


def test_entries_are_tagged_with_the_topics_of_their_titles():
    """Each entry carries one or two tags, each named in its title, so tag pages, tag feeds
    and related entries have something to show on a demo blog."""
    seed("--entries", "40")
    for entry in Entry.objects.prefetch_related("tags"):
        names = [tag.name for tag in entry.tags.all()]
        assert 1 <= len(names) <= 2
        assert all(name in entry.title for name in names), (entry.title, names)
    assert any(entry.related() for entry in Entry.objects.prefetch_related("tags"))


def test_content_is_realistic():
    """Markdown bodies with headings, lists, links and code, rendered; timestamps over years;
    some featured; comment texts within the limit; empty and non-ASCII names."""
    seed("--entries", "200", "--comments-per-entry", "3")
    entries = list(Entry.objects.all())
    bodies = "\n".join(entry.body for entry in entries)
    for marker in ("# ", "\n- ", "\n1. ", "](https://", "```", "`"):
        assert marker in bodies
    for entry in entries[:20]:
        assert entry.body_html == render_markdown(entry.body)
    assert "<h2 id=" in entries[0].body_html or "<h2 id=" in entries[1].body_html
    timestamps = [entry.timestamp for entry in entries]
    assert max(timestamps) - min(timestamps) > timedelta(days=5 * 365)
    assert max(timestamps) <= timezone.now()
    assert 0 < sum(entry.featured for entry in entries) < len(entries) / 2
    assert len({entry.slug for entry in entries}) == len(entries)
    assert all(entry.slug and len(entry.title) <= 100 for entry in entries)
    comments = list(Comment.objects.all())
    assert all(0 < len(comment.text) <= 500 for comment in comments)
    names = {comment.name for comment in comments}
    assert "" in names
    assert any(not name.isascii() for name in names)
    assert any(not comment.text.isascii() for comment in comments)
    entry_times = dict(Entry.objects.values_list("id", "timestamp"))
    assert all(comment.created >= entry_times[comment.entry_id] for comment in comments)


def test_if_empty_leaves_an_existing_blog_alone():
    """--if-empty seeds an empty database and adds nothing to one with entries."""
    out = seed("--if-empty", "--entries", "5")
    assert Entry.objects.count() == 5
    out = seed("--if-empty", "--entries", "5")
    assert "nothing added" in out
    assert Entry.objects.count() == 5


def test_seeding_again_adds_with_fresh_ids_and_slugs(create_entry):
    """A second run appends: new ids after the old ones, no slug taken twice, and the
    database still hands out the next id to a normal save."""
    seed("--entries", "20", "--seed", "3")
    seed("--entries", "20", "--seed", "3")
    assert Entry.objects.count() == 40
    assert Entry.objects.values("slug").distinct().count() == 40
    assert list(Entry.objects.order_by("id").values_list("id", flat=True)) == list(range(1, 41))
    assert create_entry(title="After seeding").pk > 40


@pytest.mark.parametrize(
    "args", [["--entries", "-1"], ["--comments-per-entry", "-2"], ["--batch-size", "0"]]
)
def test_bad_arguments_are_refused(args):
    """Negative counts or an empty batch stop with a message, and add nothing."""
    with pytest.raises(CommandError, match="must be"):
        seed(*args)
    assert Entry.objects.count() == 0


def test_no_progress_bar_when_not_on_a_terminal():
    """Output to a file or pipe is the one summary line, no progress bar."""
    out, err = StringIO(), StringIO()
    call_command("seed_blog", "--entries", "3", "--batch-size", "1", stdout=out, stderr=err)
    assert out.getvalue() == "Added 3 entries and 9 comments.\n"
    assert err.getvalue() == ""


@pytest.mark.own_database
def test_progress_bar_on_a_terminal(tmp_path):
    """On a terminal, seeding shows a progress bar counting the entries."""
    env = os.environ | {"DATA_DIR": str(tmp_path), "HOMEPAGE_ENV_FILE": os.devnull}
    env.pop("DATABASE_URL", None)
    manage("migrate", "-v0", env=env, timeout=120)
    terminal, child = pty.openpty()
    manage(
        "seed_blog", "--entries", "30", "--batch-size", "10",
        env=env, stdin=child, stdout=child, stderr=child, timeout=120,
    )  # fmt: skip
    os.close(child)
    output = b""
    with contextlib.suppress(OSError):  # EIO once everything written is read
        while chunk := os.read(terminal, 4096):
            output += chunk
    os.close(terminal)
    assert b"30/30" in output
    assert b"Added 30 entries and 90 comments." in output


@pytest.mark.postgres
@pytest.mark.own_database
def test_postgres_sequences_follow_the_explicit_ids(postgres_url):
    """On PostgreSQL, after seeding with explicit ids, new rows get the next ids."""
    env = os.environ | {"DATABASE_URL": postgres_url}

    manage("migrate", "-v0", env=env, timeout=120)
    seeded = manage("seed_blog", "--entries", "50", "--comments-per-entry", "2", env=env)
    assert seeded.stdout.startswith("Added 50 entries and 100 comments.")
    create = (
        "from blog.models import Entry; from django.utils import timezone; "
        "e = Entry.objects.create(title='New', body='b', timestamp=timezone.now()); "
        "c = e.comments.create(text='New comment'); print(e.pk, c.pk)"
    )
    assert manage("shell", "-v0", "-c", create, env=env).stdout.split() == ["51", "101"]
