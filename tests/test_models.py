from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blog.models import COMMENT_NAME_MAX_LENGTH, COMMENT_TEXT_MAX_LENGTH, Comment, Entry

pytestmark = pytest.mark.django_db


def test_published_hides_scheduled_and_drafts(create_entry):
    """published() is what readers see: past, non-draft entries only."""
    past = create_entry(title="Past", days=-1)
    create_entry(title="Future", days=1)
    create_entry(title="Draft", days=-2, is_draft=True)
    assert list(Entry.objects.published()) == [past]


def test_default_ordering_newest_first(create_entry):
    old = create_entry(title="Old", days=-10)
    new = create_entry(title="New", days=-1)
    mid = create_entry(title="Mid", days=-5)
    assert list(Entry.objects.all()) == [new, mid, old]


def test_slug_from_title_and_suffix_on_collision(create_entry):
    first = create_entry(title="Hello, World!")
    second = create_entry(title="Hello world")
    third = create_entry(title="hello WORLD")
    assert [first.slug, second.slug, third.slug] == [
        "hello-world",
        "hello-world-2",
        "hello-world-3",
    ]


def test_slug_for_title_without_latin_letters(create_entry):
    assert create_entry(title="日本語").slug == "entry"


def test_slug_is_unique_in_the_database(create_entry):
    """The database itself refuses a duplicate slug, not only the admin form."""
    create_entry(title="One", slug="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.bulk_create([Entry(title="Two", slug="same", body="x", body_html="x")])


def test_saving_keeps_slug_and_updates_updated(create_entry):
    entry = create_entry(title="Original")
    before = entry.updated
    entry.title = "Renamed"
    entry.save()
    entry.refresh_from_db()
    assert entry.slug == "original"
    assert entry.updated > before


def test_body_html_is_rendered_and_sanitized(create_entry):
    entry = create_entry(
        body="**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert "<strong>bold</strong>" in entry.body_html
    assert "<script" not in entry.body_html
    assert "javascript:" not in entry.body_html
    assert "<img" not in entry.body_html
    assert "&lt;script&gt;" in entry.body_html  # shown as text, not lost


def test_absolute_url_uses_local_date(settings, create_entry):
    settings.TIME_ZONE = "America/New_York"
    ts = datetime(2024, 3, 1, 2, 30, tzinfo=UTC)  # 29 Feb 21:30 in New York
    entry = create_entry(title="Leap", timestamp=ts)
    assert entry.get_absolute_url() == "/2024/feb/29/leap/"


def test_comments_are_deleted_with_their_entry(create_entry, create_comment):
    entry = create_entry()
    create_comment(entry)
    entry.delete()
    assert Comment.objects.count() == 0


def test_comment_display_name_defaults_to_anonymous(create_entry, create_comment):
    entry = create_entry()
    assert create_comment(entry, name="").display_name == "Anonymous"
    assert create_comment(entry, name="Zoë").display_name == "Zoë"


def test_comment_text_length_is_enforced_by_the_database(create_entry):
    entry = create_entry()
    Comment.objects.create(entry=entry, text="x" * 500)
    # SQLite has only the check constraint; PostgreSQL's varchar(500) refuses it first.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Comment.objects.create(entry=entry, text="x" * 501)
    with pytest.raises(IntegrityError), transaction.atomic():
        Comment.objects.create(entry=entry, text="")


def test_visible_comments_oldest_first_without_hidden(create_entry, create_comment):
    entry = create_entry()
    now = timezone.now()
    late = create_comment(entry, text="late", created=now)
    early = create_comment(entry, text="early", created=now - timedelta(hours=1))
    create_comment(entry, text="hidden", is_public=False)
    assert list(entry.visible_comments()) == [early, late]


def test_comment_counts_only_visible(create_entry, create_comment):
    entry = create_entry()
    create_comment(entry)
    create_comment(entry)
    create_comment(entry, is_public=False)
    assert Entry.objects.with_comment_counts().get(pk=entry.pk).comment_count == 2


def test_a_shallow_copy_takes_counts_the_shared_row_does_not(create_entry, create_comment):
    row = Entry.objects.get(pk=create_entry().pk)  # as a list page keeps it, per version
    create_comment(row)
    [copy] = Entry.objects.add_comment_counts([row.shallow_copy()])
    assert copy.comment_count == 1 and not hasattr(row, "comment_count")
    assert (copy.pk, copy.title, copy.get_absolute_url()) == (
        row.pk,
        row.title,
        row.get_absolute_url(),
    )
    assert copy == row and copy is not row  # the same entry (by its key), another object


def test_comments_close_after_configured_days(settings, create_entry):
    settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS = 30
    assert create_entry(title="Recent", days=-29).comments_open
    assert not create_entry(title="Old", days=-31).comments_open
    assert not create_entry(title="Disabled", comments_enabled=False).comments_open
    assert not create_entry(title="Scheduled", days=1).comments_open


@pytest.mark.parametrize("close_after_days", [30, 0])
def test_entry_properties_agree_with_the_queryset_rules(settings, create_entry, close_after_days):
    """is_published, is_scheduled and comments_open judge one entry as published(),
    scheduled() and commentable() judge the table (0 days: comments never close)."""
    settings.BLOG_COMMENTS_CLOSE_AFTER_DAYS = close_after_days
    for days in (-400, -31, -29, -1, 1):
        for is_draft in (False, True):
            for comments_enabled in (False, True):
                create_entry(days=days, is_draft=is_draft, comments_enabled=comments_enabled)
    entries = list(Entry.objects.all())
    for rule, flag in (
        ("published", "is_published"),
        ("scheduled", "is_scheduled"),
        ("commentable", "comments_open"),
    ):
        chosen = set(getattr(Entry.objects, rule)())
        assert chosen == {entry for entry in entries if getattr(entry, flag)}
        assert 0 < len(chosen) < len(entries)


def test_comment_limits_come_from_the_model(create_entry):
    """The form's maxlength attributes are the model fields' limits, as the database checks."""
    from blog.forms import CommentForm

    form = CommentForm(entry=create_entry())
    assert form.fields["text"].widget.attrs["maxlength"] == "500"
    assert form.fields["name"].widget.attrs["maxlength"] == "80"


@pytest.mark.parametrize(
    ("field", "value"), [("text", ""), ("text", "x" * 501), ("name", "n" * 81)]
)
def test_full_clean_holds_the_bounds_of_the_length_checks(create_entry, field, value):
    comment = Comment(entry=create_entry(), **({"text": "Fine."} | {field: value}))
    with pytest.raises(ValidationError) as error:
        comment.full_clean()
    assert set(error.value.message_dict) == {field}


def test_a_comments_checks_are_held_by_full_clean_without_asking_the_database(
    create_entry, create_comment
):
    """The CHECKs the database holds (text's and name's bounds, not its own reply) are
    refused by full_clean() already: validate_constraints() does not ask them again."""
    entry = create_entry()
    too_long = {
        "text": {"text": "x" * (COMMENT_TEXT_MAX_LENGTH + 1)},
        "name": {"name": "n" * (COMMENT_NAME_MAX_LENGTH + 1)},
    }
    for field, values in [("text", {"text": ""}), *too_long.items()]:
        with pytest.raises(ValidationError) as refused:
            Comment(entry=entry, **{"text": "Fine", **values}).full_clean()
        assert field in refused.value.message_dict
    comment = create_comment(entry)
    comment.parent = comment
    with pytest.raises(ValidationError, match="one level deep"):
        comment.full_clean()
    with CaptureQueriesContext(connection) as captured:
        Comment(entry=entry, text="Fine").validate_constraints()
    assert not captured.captured_queries
