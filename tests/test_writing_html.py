"""The new pages pass the W3C Nu Html Checker: an entry with every new construct, the lists
with excerpts, and search."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from blog.models import EntryImage
from tests.html_validator import assert_valid_html, needs_checker
from tests.test_images import picture

pytestmark = pytest.mark.django_db
BODY = """[TOC]

# Setting up

Text with a note[^n] and a [link](https://example.org).

## Details

```python
print("hi")
```

- [ ] open
- [x] done

| a | b |
|---|---|
| 1 | 2 |

![](image:{image})

<!--more-->

The rest.

[^n]: The note.
"""


@pytest.mark.html
@needs_checker
def test_entry_lists_and_search_are_valid_html(client, create_entry):
    # Whole seconds: date:"c" prints microseconds, which the checker refuses (issue 11's).
    now = timezone.now().replace(microsecond=0)
    first = create_entry(title="First", body="x", timestamp=now - timedelta(days=1))
    image = EntryImage.objects.create(entry=first, image=picture(), alt="A picture")
    first.body = BODY.format(image=image.pk)
    first.summary = ""
    first.save()
    create_entry(title="Second", body=BODY.format(image=0), timestamp=now - timedelta(days=2))
    create_entry(
        title="Third",
        summary="A *summary*.",
        body=BODY.format(image=0),
        timestamp=now - timedelta(days=3),
    )
    pages = {
        "entry": first.get_absolute_url(),
        "index": reverse("blog:index"),
        "search": reverse("blog:search") + "?q=note",
    }
    responses = {name: client.get(url) for name, url in pages.items()}
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(pages, 200)
    assert_valid_html({name: r.content.decode() for name, r in responses.items()})
