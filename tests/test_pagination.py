from datetime import timedelta

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from blog.models import Entry
from blog.pagination import TwoEndedPaginator

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(create_entry):
    """25 entries, some sharing a timestamp, so only the id breaks their ties."""
    now = timezone.now()
    for i in range(25):
        create_entry(title=f"Entry {i}", timestamp=now - timedelta(hours=i // 3 + 1))
    return Entry.objects.published().order_by("-timestamp", "-id")


@pytest.mark.parametrize("orphans", [0, 3])
def test_pages_match_plain_pagination(entries, orphans):
    """Every page holds what Django's Paginator would put there, read from either end."""
    ours = TwoEndedPaginator(entries, 4, orphans=orphans)
    plain = Paginator(entries, 4, orphans=orphans)
    assert ours.num_pages == plain.num_pages
    for number in plain.page_range:
        assert list(ours.page(number)) == list(plain.page(number)), number
    together = [entry for number in ours.page_range for entry in ours.page(number)]
    assert together == list(entries)


def test_last_page_is_read_from_the_far_end(entries):
    """The last page asks for its rows in reverse order, without an OFFSET over the others."""
    paginator = TwoEndedPaginator(entries, 10)
    assert paginator.count == 25
    with CaptureQueriesContext(connection) as captured:
        page = list(paginator.page(3))
    assert page == list(entries)[20:]
    sql = captured.captured_queries[-1]["sql"]
    assert "LIMIT 5" in sql
    assert "OFFSET" not in sql
    assert '"timestamp" ASC' in sql


def test_orderings_without_the_id_read_forwards(create_entry):
    """Without the primary key last, ties could fall on other pages backwards: forwards it is."""
    for i in range(6):
        create_entry(title=f"Same time {i}", timestamp=timezone.now() - timedelta(days=1))
    by_time = Entry.objects.order_by("-timestamp")
    with CaptureQueriesContext(connection) as captured:
        list(TwoEndedPaginator(by_time, 2).page(3))
    assert "OFFSET 4" in captured.captured_queries[-1]["sql"]


def test_last_list_page_in_the_blog(client, entries):
    """The front page's last page shows the oldest entries, oldest last."""
    response = client.get(reverse("blog:index"), {"page": "last"})
    assert list(response.context["latest"]) == list(entries)[20:]
    assert response.context["latest"][-1].title == "Entry 24"
