"""Posting the comment form as a reader would: one helper for every test that comments."""


def post_comment(client, entry, *, from_page=False, ip="127.0.0.1", **fields):
    """POST the comment form of entry: "Reader" writing "Nice post." unless fields say
    otherwise. from_page=True GETs the entry's page first, as a browser does (the form
    carries no token: every reader gets the same page)."""
    form = {"name": "Reader", "text": "Nice post.", "url": ""}
    if from_page:
        assert 'id="comment-form"' in client.get(entry.get_absolute_url()).content.decode()
    form.update(fields)
    return client.post(entry.get_absolute_url(), form, REMOTE_ADDR=ip)
