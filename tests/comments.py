"""Posting the comment form as a reader would: one helper for every test that comments."""

import re

from blog import spam

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


def post_comment(client, entry, *, from_page=False, ip="127.0.0.1", **fields):
    """POST the comment form of entry: "Reader" writing "Nice post." unless fields say
    otherwise, with a fresh form token (token= gives another). from_page=True GETs the
    entry's page first and posts the CSRF and form tokens it carries, as a browser does."""
    form = {
        "name": "Reader",
        "text": "Nice post.",
        "website": "",
        "token": spam.form_token(entry.pk),
    }
    if from_page:
        page = client.get(entry.get_absolute_url()).content.decode()
        form["csrfmiddlewaretoken"] = CSRF_RE.search(page).group(1)
        form["token"] = FORM_TOKEN_RE.search(page).group(1)
    form.update(fields)
    return client.post(entry.get_absolute_url(), form, REMOTE_ADDR=ip)
