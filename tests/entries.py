"""The admin's entry form, as a browser posts it (inlines included)."""

from django.utils import timezone


def admin_form(entry=None, **fields):
    """The admin change form's data, as the browser posts it."""
    moment = timezone.localtime(entry.timestamp if entry else timezone.now())
    data = {
        "title": entry.title if entry else "A post",
        "slug": entry.slug if entry else "",
        "summary": entry.summary if entry else "",
        "body": entry.body if entry else "Text.",
        "timestamp_0": moment.strftime("%Y-%m-%d"),
        "timestamp_1": moment.strftime("%H:%M:%S"),
        "comments_enabled": "on",
        "comments-TOTAL_FORMS": "0",
        "comments-INITIAL_FORMS": "0",
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
        "tagged_items-TOTAL_FORMS": "0",
        "tagged_items-INITIAL_FORMS": "0",
    }
    if entry is None or entry.is_draft:
        data["is_draft"] = "on"
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}
