"""Hostile and malformed input: a clear 4xx (or the form again, with a message), never a 500,
and nothing stored from a refused request. The same table runs against the views (Django's
test client, CSRF enforced) and, for the cases marked ``server``, against Apache/mod_wsgi.
"""

import html
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import reverse

from blog.models import Comment
from testing.server import Browser, form_fields

FORM = "application/x-www-form-urlencoded"
MB = 1024 * 1024
DROP = object()  # leave the field out of the form


@dataclass
class Case:
    id: str
    status: int
    says: str  # the human message the answer must contain
    fields: dict = field(default_factory=dict)  # changes to a valid comment form
    raw: bytes = b""  # appended to the urlencoded form body as is
    method: str = "POST"
    path: str = "{entry}"  # {entry}, {scheduled}, {draft}, {closed}: those entries' URLs
    query: str = ""
    headers: dict = field(default_factory=dict)
    content_type: str = FORM
    stored: bool = False  # an accepted comment: stored as sent, shown escaped
    server: bool = False  # also run against the real server
    server_status: int | None = None  # when Apache, not Django, answers there
    server_says: str | None = None


LINK_LIMIT = "http://a.example http://b.example http://c.example"
SCRIPT = "<script>alert('x')</script>"
IMG = '"><img src=x onerror=alert(1)>'

CASES = [
    # The comment form: limits and required fields.
    Case("empty-text", 400, "Please write a comment.", {"text": ""}, server=True),
    Case("whitespace-text", 400, "Please write a comment.", {"text": "  \n\t  \r\n "}),
    Case("text-501", 400, "limited to 500 characters (this one has 501)", {"text": "x" * 501}, server=True),
    Case("name-81", 400, "limited to 80 characters (this one has 81)", {"name": "n" * 81}),
    Case("text-500-accepted", 302, "", {"text": "y" * 500}, stored=True, server=True),
    Case("name-80-accepted", 302, "", {"name": "é" * 80}, stored=True),
    Case("no-fields", 400, "Please write a comment.", {"name": DROP, "text": DROP, "url": DROP}),
    Case("honeypot", 400, "hidden field", {"url": "http://spam.example"}),
    Case("too-many-links", 400, "at most 2 links", {"text": LINK_LIMIT}),
    # NUL bytes and encodings.
    Case("nul-in-text", 400, "Null characters are not allowed.", {"text": "a\x00b"}, server=True),
    Case("nul-in-name", 400, "Null characters are not allowed.", {"name": "\x00"}),
    Case("invalid-utf8-text", 400, "not valid UTF-8", {"text": DROP}, raw=b"&text=%FF%FEabc", server=True),
    Case("invalid-utf8-name", 400, "not valid UTF-8", {"name": DROP}, raw=b"&name=%C3%28"),
    Case("overlong-utf8", 400, "not valid UTF-8", {"text": DROP}, raw=b"&text=%C0%AF"),
    Case("surrogate-utf8", 400, "not valid UTF-8", {"text": DROP}, raw=b"&text=%ED%A0%80"),
    Case("raw-latin1-bytes", 400, "not valid UTF-8", {"text": DROP}, raw=b"&text=caf\xe9"),
    Case("invalid-utf8-query", 400, "not valid UTF-8", query="x=%FF"),
    Case("broken-multipart", 400, "form data could not be read", content_type="multipart/form-data; boundary="),
    # Size limits (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS).
    Case("1mb-text", 400, "larger than this site accepts", {"text": "x" * MB}, server=True),
    Case("1mb-extra-field", 400, "larger than this site accepts", {"junk": "j" * MB}),
    Case("3000-fields", 400, "more fields than this site accepts", {f"f{n}": "1" for n in range(3000)}, server=True),
    Case("3000-query-fields", 400, "more fields than this site accepts", method="GET", path="/", query="&".join(f"q{n}=1" for n in range(3000))),
    # Cross-origin posts (readers' forms carry no CSRF token: homepage/crossorigin.py).
    Case("cross-site-post", 403, "not sent from this site", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, server=True),
    Case("foreign-origin", 403, "not sent from this site", headers={"Origin": "https://evil.example"}, server=True),
    Case("null-origin", 403, "not sent from this site", headers={"Origin": "null"}),
    Case("cross-site-text-plain-body", 403, "not sent from this site", headers={"Sec-Fetch-Site": "cross-site"}, content_type="text/plain"),
    # Where the comment goes.
    Case("missing-entry", 404, "Page not found", path="/2024/jan/1/no-such-entry/", server=True),
    Case("scheduled-entry", 404, "Page not found", path="{scheduled}", server=True),
    Case("draft-entry", 404, "Page not found", path="{draft}"),
    Case("closed-entry", 400, "Comments are closed", path="{closed}"),
    # Only the comment view is exempt from CSRF: a tokenless POST elsewhere is refused first.
    Case("post-to-list-page", 403, "could not be verified", path="/"),
    # Markup and SQL are text: stored as sent, shown escaped.
    Case("script-in-text", 302, "", {"text": SCRIPT}, stored=True, server=True),
    Case("img-onerror-in-name", 302, "", {"name": IMG}, stored=True, server=True),
    Case("js-url-in-text", 302, "", {"text": "javascript:alert(document.cookie)"}, stored=True),
    Case("html-entities-in-text", 302, "", {"text": "&lt;b&gt; &amp; &#x3C;script&#x3E;"}, stored=True),
    Case("sql-in-text", 302, "", {"text": "'; DROP TABLE blog_comment; --"}, stored=True, server=True),
    Case("sql-in-name", 302, "", {"name": "' OR '1'='1"}, stored=True),
    Case("unicode-controls", 302, "", {"text": "\u202egnp.exe \u200b\ufeff ok"}, stored=True),
    # Page numbers.
    Case("page-0", 404, "Page not found", method="GET", path="/", query="page=0", server=True),
    Case("page-minus-1", 404, "Page not found", method="GET", path="/", query="page=-1"),
    Case("page-abc", 404, "Page not found", method="GET", path="/", query="page=abc", server=True),
    Case("page-1e9", 404, "Page not found", method="GET", path="/", query="page=1e9"),
    Case("page-huge", 404, "Page not found", method="GET", path="/", query="page=" + "9" * 30),
    Case("page-invalid-utf8", 400, "not valid UTF-8", method="GET", path="/", query="page=%FF", server=True),
    Case("year-page-abc", 404, "Page not found", method="GET", path="/2024/", query="page=abc"),
    # URLs.
    Case("very-long-url", 404, "Page not found", method="GET", path="/" + "a" * 10_000, server=True, server_status=414, server_says="Request-URI Too Long"),
    Case("very-long-slug", 404, "Page not found", method="GET", path="/2024/jan/1/" + "s" * 5000 + "/"),
    Case("impossible-date", 404, "Page not found", method="GET", path="/2024/feb/30/x/"),
    Case("year-zero", 404, "Page not found", method="GET", path="/0000/"),
    Case("bad-month", 404, "Page not found", method="GET", path="/2024/xyz/"),
    Case("invalid-utf8-path", 404, "Page not found", method="GET", path="/%FF%FE/", server=True),
    Case("nul-in-path", 404, "Page not found", method="GET", path="/%00/"),
    # HTTP methods.
    Case("put", 405, "Method not allowed", method="PUT", path="/"),
    Case("delete-entry", 405, "Method not allowed", method="DELETE", server=True),
    Case("patch", 405, "Method not allowed", method="PATCH", path="/"),
    Case("unknown-method", 405, "Method not allowed", method="FOO", path="/", server=True),
    Case("trace", 405, "Method not allowed", method="TRACE", path="/", server=True, server_says="Method Not Allowed"),
    # Host header.
    Case("bad-host", 400, "does not answer to that host name", method="GET", path="/", headers={"Host": "evil.example"}, server=True),
    Case("bad-host-port", 400, "does not answer to that host name", method="GET", path="/", headers={"Host": "127.0.0.1:abc"}),
    Case("host-with-path", 400, "does not answer to that host name", method="GET", path="/", headers={"Host": "evil.example/../"}),
    # Path traversal on static URLs.
    Case("static-dotdot", 404, "not found", method="GET", path="/static/../.env", server=True),
    Case("static-encoded-dotdot", 404, "not found", method="GET", path="/static/%2e%2e/%2e%2e/homepage/settings.py", server=True, server_status=400, server_says="Bad Request"),
    Case("static-encoded-slash", 404, "not found", method="GET", path="/static/..%2f..%2f.env", server=True),
]  # fmt: skip


def comment_body(fields: dict, raw: bytes) -> bytes:
    kept = {name: value for name, value in fields.items() if value is not DROP}
    return urllib.parse.urlencode(kept).encode() + raw


def prepare_form(case: Case, page_html: str) -> dict:
    """The comment form as the entry page rendered it, filled in, then changed by the case."""
    _action, fields = form_fields(page_html)
    fields.update(name="Reader", text="A fine comment.", url="")
    fields.update(case.fields)
    return fields


def expected_text(fields: dict) -> tuple[str, str]:
    return fields["name"], fields["text"]


# -- against the views ----------------------------------------------------------------


@pytest.fixture
def site(create_entry, settings):
    settings.BLOG_COMMENT_RATE = 10_000
    entries = {
        "entry": create_entry(title="Open entry"),
        "scheduled": create_entry(title="Scheduled entry", days=3),
        "draft": create_entry(title="Draft entry", is_draft=True),
        "closed": create_entry(title="Closed entry", comments_enabled=False),
    }
    return {name: entry.get_absolute_url() for name, entry in entries.items()}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_views_refuse_or_store_safely(case, site):
    client = Client(enforce_csrf_checks=True)
    page = client.get(site["entry"])
    assert page.status_code == 200
    path = case.path.format(**site)
    url = f"{path}?{case.query}" if case.query else path
    before = Comment.objects.count()
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in case.headers.items()}

    fields = {}
    if case.method == "POST":
        fields = prepare_form(case, page.content.decode())
        body = comment_body(fields, case.raw)
        if case.content_type != FORM:
            body = body if case.content_type == "text/plain" else b"--x\r\nbroken"
        response = client.generic("POST", url, body, content_type=case.content_type, **headers)
    else:
        response = client.generic(case.method, url, **headers)

    text = response.content.decode("utf-8", "replace")
    assert response.status_code == case.status, text[-2000:]
    if not case.stored:
        assert case.says.lower() in text.lower(), text[-2000:]
        assert Comment.objects.count() == before
        return
    name, comment_text = expected_text(fields)
    [comment] = Comment.objects.filter(pk=int(response["Location"].rsplit("#c", 1)[1]))
    assert (comment.name, comment.text) == (name, comment_text)
    assert Comment.objects.count() == before + 1
    shown = client.get(site["entry"]).content.decode()
    for value in (name, comment_text):
        assert html.escape(value, quote=False) in shown or html.escape(value) in shown
    assert SCRIPT not in shown and IMG not in shown
    assert 'href="javascript:' not in shown


def test_the_table_is_large_enough():
    """The issue asks for at least 40 hostile inputs, a subset of them against the server."""
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    assert 15 <= sum(case.server for case in CASES) < len(CASES)


# -- against the real server ------------------------------------------------------------

SERVER_CASES = [case for case in CASES if case.server]


@pytest.fixture(scope="module")
def bad_input_server():
    from testing.server import Server

    server = Server(
        processes=1,
        threads=4,
        env={"BLOG_COMMENT_RATE": "100000"},
    )
    try:
        server.start()
        created = server.manage(
            "shell",
            "-c",
            "from datetime import timedelta\n"
            "from django.utils import timezone\n"
            "from blog.models import Entry\n"
            "now = timezone.now()\n"
            "urls = [Entry.objects.create(title=t, body='b', timestamp=now + timedelta(days=d),"
            " **{'is_draft': False, **f}).get_absolute_url() for t, d, f in [('Open entry', -1, {}),"
            " ('Scheduled entry', 3, {}), ('Draft entry', -1, {'is_draft': True}),"
            " ('Closed entry', -1, {'comments_enabled': False})]]\n"
            "print(' '.join(urls))\n",
        )
        urls = created.stdout.strip().splitlines()[-1].split()
        yield server, dict(zip(["entry", "scheduled", "draft", "closed"], urls, strict=True))
    finally:
        server.close()


@pytest.mark.server
@pytest.mark.parametrize("case", SERVER_CASES, ids=[case.id for case in SERVER_CASES])
def test_server_refuses_or_stores_safely(case, bad_input_server):
    server, site = bad_input_server
    browser = Browser(server.url)
    page = browser.get(site["entry"])
    assert page.status == 200
    path = case.path.format(**site)
    url = f"{path}?{case.query}" if case.query else path
    count = "SELECT count(*) FROM blog_comment"
    [(before,)] = server.sql(count)
    headers = {"Origin": server.url, "Referer": server.url + site["entry"], **case.headers}

    fields = {}
    if case.method == "POST":
        fields = prepare_form(case, page.text)
        headers["Content-Type"] = case.content_type
        response = browser.request("POST", url, comment_body(fields, case.raw), headers)
    else:
        response = browser.request(case.method, url, headers=headers)

    expected_status = case.server_status or case.status
    assert response.status == expected_status, response.text[-2000:]
    [(after,)] = server.sql(count)
    if not case.stored:
        says = case.server_says or case.says
        assert says.lower() in response.text.lower(), response.text[-2000:]
        assert after == before
        return
    assert after == before + 1
    name, comment_text = expected_text(fields)
    assert server.sql(
        "SELECT name, text FROM blog_comment WHERE id = ?", (response.comment_id,)
    ) == [(name, comment_text)]
    shown = browser.get(site["entry"]).text
    assert html.escape(comment_text, quote=False) in shown or html.escape(comment_text) in shown
    assert SCRIPT not in shown and IMG not in shown


@pytest.mark.server
def test_server_error_log_has_no_tracebacks_but_the_expected_ones(bad_input_server):
    """Apache's log shows no 500 and no traceback, after this module's cases that ran here
    too: a refused Host and an oversized request are logged in a line each."""
    server, site = bad_input_server
    browser = Browser(server.url)
    assert browser.request("GET", "/", headers={"Host": "evil.example"}).status == 400
    assert browser.post(site["entry"], {"name": "big", "text": "x" * MB}).status == 400
    time.sleep(0.5)  # stderr reaches the log through Apache's pipe
    log = server.error_log
    assert "Invalid HTTP_HOST header: 'evil.example'" in log
    assert "RequestDataTooBig Request body exceeded" in log
    assert "Internal Server Error" not in log
    assert "Service Unavailable" not in log
    assert "Traceback" not in log


def test_admin_login_form_with_hostile_input_is_shown_again(client, db):
    """The admin's own form refuses NUL bytes and overlong input with its message, no 500."""
    url = reverse("admin:login")
    for username in ["\x00admin", "a" * 10_000, SCRIPT]:
        response = client.post(url, {"username": username, "password": "x", "next": "/"})
        assert response.status_code == 200
        assert SCRIPT not in response.content.decode()
        assert response.context["form"].errors


def test_search_with_hostile_queries_never_fails(client, db):
    """Search answers NUL bytes, wildcards and 10 kB queries with a page, never a 500."""
    url = reverse("blog:search")
    for query in ["\x00", "%", "_", "'\"\\", "x" * 10_000, SCRIPT]:
        response = client.get(url, {"q": query})
        assert response.status_code in (200, 400)
        assert SCRIPT not in response.content.decode()
