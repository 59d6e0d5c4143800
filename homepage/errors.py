"""Bad requests and failing databases: what readers get, and what the log says.

A database that is locked, read-only, missing or unreachable is a passing fault, not a bug
in the page: readers get a 503 with Retry-After (and the error log the traceback), and the
site recovers by itself once the fault ends. A malformed request gets a 4xx page in the
site's look that says what was wrong.
"""

import logging
import os
import signal
import sys
from urllib.parse import unquote_to_bytes

from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.db import InterfaceError, OperationalError, connections
from django.db.backends.signals import connection_created
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.template import loader
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views import defaults

logger = logging.getLogger("homepage.errors")

RETRY_AFTER_SECONDS = 30
# Errors of the database's surroundings (locks, files, network), as opposed to a wrong query.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


def service_unavailable() -> HttpResponse:
    # Rendered without a request: the page must not need the database it reports on.
    response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """handler500. Django calls it while handling the exception, so sys.exception() is it."""
    if isinstance(sys.exception(), UNAVAILABLE_ERRORS):
        return service_unavailable()
    return defaults.server_error(request, template_name)


class InvalidEncoding(BadRequest):
    pass


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    """handler400: Django's page, plus the reason where it is safe and useful to say."""
    reasons = {
        InvalidEncoding: _("The request was not valid UTF-8 text."),
        MultiPartParserError: _("The form data could not be read."),
        RequestDataTooBig: _("The request was larger than this site accepts."),
        TooManyFieldsSent: _("The form had more fields than this site accepts."),
        TooManyFilesSent: _("The form had more files than this site accepts."),
        DisallowedHost: _("This site does not answer to that host name."),
    }
    reason = next((text for cls, text in reasons.items() if isinstance(exception, cls)), "")
    try:
        return render(request, template_name, {"reason": reason}, status=400)
    except Exception:  # a page about a broken request must not fail on that request
        logger.exception("Could not render %s", template_name)
        return HttpResponseBadRequest(_("Bad request."), content_type="text/plain")


def _is_utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class MalformedRequestMiddleware:
    """Refuse requests no page of this site can answer, before CSRF or a view sees them.

    * A method other than GET, HEAD, POST, OPTIONS: 405 (the CSRF check would otherwise
      answer "form could not be verified", which misleads).
    * A query string or form body that is not UTF-8: 400. Django would decode it with
      U+FFFD replacement characters and a broken client's comment would be stored as
      garbage; browsers always send UTF-8 for this site's UTF-8 pages.
    """

    ALLOWED_METHODS = ("GET", "HEAD", "POST", "OPTIONS")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in self.ALLOWED_METHODS:
            return method_not_allowed(request, self.ALLOWED_METHODS)
        if not _is_utf8(get_bytes_from_wsgi(request.META, "QUERY_STRING", "")):
            raise InvalidEncoding("query string is not UTF-8")
        if (
            request.method == "POST"
            and request.content_type == "application/x-www-form-urlencoded"
            and request.content_params.get("charset", "utf-8").lower() in {"utf-8", "utf8"}
            and not _is_utf8(request.body)  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE
        ):
            raise InvalidEncoding("form body is not UTF-8")
        return self.get_response(request)


def method_not_allowed(request, allowed) -> HttpResponse:
    allowed = ", ".join(allowed)
    response = render(request, "405.html", {"allowed": allowed}, status=405)
    response["Allow"] = allowed
    return response


class EmptyErrorBodyMiddleware:
    """Give Django's bodiless 405 (a method the view does not take, such as a POST to a list
    page) a page saying so."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not response.streaming and not response.content:
            allowed = [method.strip() for method in response.get("Allow", "").split(",")]
            return method_not_allowed(request, [method for method in allowed if method])
        return response


def _file_identity(path) -> tuple:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid)


def _sqlite_file(connection) -> str | None:
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return None
    name = str(connection.settings_dict["NAME"])
    return None if name.startswith("file:") else name


def _remember_file(sender, connection, **kwargs):
    path = _sqlite_file(connection)
    if path:
        try:
            connection.homepage_file_identity = _file_identity(path)
        except OSError:
            connection.homepage_file_identity = None


def _restart_mod_wsgi_daemon() -> bool:
    """Ask mod_wsgi for a graceful restart of this daemon process (its documented SIGINT).

    SQLite shares per-process state among all connections to one file (descriptors, the
    WAL index), so a file that was read-only or replaced is only fully forgotten when every
    thread's connection has closed, and idle threads may keep theirs for long. A fresh
    process is the one reliable way; Apache starts it, in-flight requests finish first.
    """
    try:
        import mod_wsgi
    except ImportError:
        return False
    if not getattr(mod_wsgi, "process_group", ""):  # not a mod_wsgi daemon (tests, a shell)
        return False
    os.kill(os.getpid(), signal.SIGINT)
    return True


class DatabaseFileGuardMiddleware:
    """Notice an SQLite file removed, replaced or re-permissioned under the running server.

    Connections persist across requests (CONN_MAX_AGE) and an open file descriptor outlives
    such a change: writes would go on into a deleted file (and be lost), or keep failing
    after an operator fixed the file's permissions. So before each request compare the file
    (one stat() call) with the one this thread's connection opened. While the file is
    missing answer 503 without connecting, since connecting would create an empty database
    in its place. When it changed, reconnect, and under mod_wsgi restart the process once so
    that no other thread keeps the old file.
    """

    restarting = False  # one restart per process

    def __init__(self, get_response):
        self.get_response = get_response
        connection_created.connect(_remember_file, dispatch_uid="homepage.errors.remember_file")

    def __call__(self, request):
        for alias in connections:
            connection = connections[alias]
            path = _sqlite_file(connection)
            if path is None:
                continue
            try:
                identity = _file_identity(path)
            except OSError as exc:
                connection.close()
                logger.error("SQLite database %s is unavailable: %s", path, exc)
                return service_unavailable()
            if connection.connection is not None and identity != getattr(
                connection, "homepage_file_identity", identity
            ):
                connection.close()
                if not DatabaseFileGuardMiddleware.restarting:
                    DatabaseFileGuardMiddleware.restarting = _restart_mod_wsgi_daemon()
                    logger.warning(
                        "SQLite database %s changed on disk; reconnecting%s.",
                        path,
                        " and restarting this server process"
                        if DatabaseFileGuardMiddleware.restarting
                        else "",
                    )
        return self.get_response(request)
