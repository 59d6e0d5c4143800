"""The Apache side of the page cache: the directives that serve the page files Django writes
(blog/cache.py), generated from the settings by ``manage.py page_cache_config``, so the
cookies, scheme, headers and types are the ones Django decides (docs/caching.md)."""

import re
from io import BytesIO

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpResponse
from django.urls import path, set_urlconf

from blog.cache import CURRENT, TYPES, pages_root
from blog.middleware import share

# Where Apache hands back a request its rules sent to a page file that is not there (never
# rendered, removed as stale, or of a generation retired as the request passed): a GET of
# this URL, with the reader's request in REDIRECT_URL and REDIRECT_QUERY_STRING.
MISS_URL = "/.page-miss"
MISSES = ("404", "403")  # no file; a file removed between Apache's stat() and its open()
# The URLs whose page may be of another type than HTML (feeds, sitemaps): the rules look
# for their files by type. Every other page is HTML, and its file is served without a look
# first (a missing one is a miss). A URL left out here is still right, only never a hit.
OTHER_TYPES_AT = r"/feed/([a-z]+/)?$|\.xml$"


class _HeaderProbe:
    """A URLconf of one view answering like a cached page, for shared_headers()."""

    @staticmethod
    def view(request):
        response = HttpResponse(b"", content_type=TYPES["html"])
        share(response)
        return response

    urlpatterns = [path("page-cache-headers/", view)]


def shared_headers() -> dict[str, str]:
    """The headers Django gives a cached page (security headers, CSP, Cache-Control, Vary),
    got by sending a request through the whole middleware stack: Apache sends these with
    the page files, so Django stays the one place that decides them."""
    hosts = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", ".")]
    host = hosts[0] if hosts else "localhost"
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/page-cache-headers/",
        "QUERY_STRING": "probe",  # not a page the middleware would write
        "SERVER_NAME": host,
        "SERVER_PORT": "443" if settings.HTTPS else "80",
        "HTTP_HOST": host,
        "wsgi.url_scheme": "https" if settings.HTTPS else "http",
        "wsgi.input": BytesIO(),
    }
    request = WSGIRequest(environ)
    request.urlconf = _HeaderProbe
    try:
        response = WSGIHandler().get_response(request)
    finally:
        set_urlconf(None)  # the handler left the probe's as this thread's URLconf
    if response.status_code != 200:
        raise RuntimeError(f"the header probe got {response.status_code}, not 200")
    skip = {"content-type", "content-length"}
    return {name: value for name, value in response.items() if name.lower() not in skip}


def handing_back_misses(application):
    """The WSGI application, answering Apache's misses (MISS_URL) as the reader's request.
    Only Apache sets REDIRECT_STATUS, on an internal redirect; for any other request this
    passes it on as it is."""

    def handle(environ, start_response):
        if environ.get("PATH_INFO") == MISS_URL and environ.get("REDIRECT_STATUS") in MISSES:
            environ = environ | {
                "PATH_INFO": environ.get("REDIRECT_URL", MISS_URL),
                "QUERY_STRING": environ.get("REDIRECT_QUERY_STRING", ""),
                # An ErrorDocument's request is a GET; the reader's was a GET or a HEAD.
                "REQUEST_METHOD": environ.get("REDIRECT_REQUEST_METHOD", "GET"),
            }
        return application(environ, start_response)

    return handle


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def apache_config() -> str:
    """The directives that serve the page files, for the site's <VirtualHost> (mod_rewrite's
    rules are not inherited by virtual hosts). They run where Apache maps a URL to a file,
    so a hit is served in one request cycle: no internal redirect, no per-directory
    rewriting, no Python. The rules check nothing on disk for an HTML page: a hit costs
    what a static file does, plus their string work; a miss comes back to Django as
    MISS_URL (handing_back_misses())."""
    root = pages_root()
    cookies = "|".join((settings.SESSION_COOKIE_NAME, CookieStorage.cookie_name))
    secure = "%{HTTPS} == 'on' || %{req:X-Forwarded-Proto} == 'https'"
    wrong_scheme = f"!({secure})" if settings.HTTPS else secure
    page = f"{root}/{CURRENT}/%{{HTTP_HOST}}%{{REQUEST_URI}}%{{ENV:HOMEPAGE_PAGE}}"
    rules = [
        "RewriteCond %{QUERY_STRING} ^page=([0-9]+)$",
        "RewriteRule ^ - [E=HOMEPAGE_PAGE:index.page-%1]",
        "RewriteCond %{QUERY_STRING} ^$",
        "RewriteRule ^ - [E=HOMEPAGE_PAGE:index]",
    ]
    html = f"RewriteRule ^ {page}.html [L]"  # a file path, not a URL: the file is the answer
    rules += [f"RewriteCond %{{REQUEST_URI}} !{OTHER_TYPES_AT}", html]
    for ext in TYPES:
        if ext != "html":
            rules += [f"RewriteCond {page}.{ext} -f", f"RewriteRule ^ {page}.{ext} [L]"]
    rules.append(html)  # none of another type: an HTML page, or a miss
    rule_count = sum(line.startswith("RewriteRule") for line in rules)
    # Apache serves these itself (Alias): no page file can be there, so not one stat() for them
    # (a URL on another host, or the whole site at "/", is not a prefix to skip).
    aliased = "|".join(
        re.escape(url)
        for url in (settings.STATIC_URL, settings.MEDIA_URL)
        if url.startswith("/") and url != "/"
    )
    lines = [
        "# Generated by `manage.py page_cache_config` from the site's settings: do not edit.",
        "# Anonymous GET/HEAD answered from the page files Django writes (blog/cache.py).",
        "RewriteEngine On",
        "# Not a page the files may answer, or a miss handed back: skip the page rules.",
        *([f"RewriteCond %{{REQUEST_URI}} ^({aliased}) [OR]"] if aliased else []),
        "RewriteCond %{ENV:REDIRECT_STATUS} . [OR]",
        "RewriteCond %{REQUEST_METHOD} !^(GET|HEAD)$ [OR]",
        "RewriteCond %{QUERY_STRING} !^(page=[0-9]{1,9})?$ [OR]",
        # NV: the files' Vary header is Django's (shared_headers()), not mod_rewrite's.
        f"RewriteCond %{{HTTP_COOKIE}} (^|;)\\s*({cookies})= [OR,NV]",
        # A folder's name has at most 255 bytes (the host's and each part of the path, the
        # last with "index…" added): Apache answers a longer one with its own 403.
        "RewriteCond %{REQUEST_URI} [^/]{200} [OR]",
        "RewriteCond %{HTTP_HOST} !^[A-Za-z0-9][-A-Za-z0-9.:\\[\\]]{0,199}$ [OR]",
        f'RewriteCond expr "{wrong_scheme}" [NV]',
        f"RewriteRule ^ - [S={rule_count}]",
        *rules,
        # No URL maps to this folder: only the rules above reach it.
        f'<Directory "{root}">',
        # FollowSymLinks: the link to the live generation (blog.cache.CURRENT); without it
        # Apache also lstat()s each folder from here down to the file, on every hit. Only
        # the daemons write here, and they make no other links.
        "    Options FollowSymLinks",
        "    AllowOverride None",
        "    Require all granted",
        "    FileETag MTime Size",
        *(f"    Header set {name} {_quoted(value)}" for name, value in shared_headers().items()),
        *(
            f'    <Files "*.{ext}">\n        ForceType {_quoted(content_type)}\n    </Files>'
            for ext, content_type in TYPES.items()
        ),
        "</Directory>",
        # A miss: not in the folder above when the pages folder itself is missing (its
        # parents' 403), so for whatever the rules sent to a page file.
        "<If \"-n reqenv('HOMEPAGE_PAGE')\">",
        *(f"    ErrorDocument {status} {MISS_URL}" for status in MISSES),
        "</If>",
    ]
    return "\n".join(lines) + "\n"
