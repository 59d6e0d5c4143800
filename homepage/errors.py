"""Bad requests and failing databases: what readers get, and what the log says.

A database that is locked, read-only, missing or unreachable is a passing fault, not a bug
in the page: readers get a 503 with Retry-After (and the error log the traceback), and the
site recovers by itself once the fault ends. A malformed request gets a 4xx page in the
site's look that says what was wrong.
"""

import logging
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
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
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


class ClientErrorFormatter(logging.Formatter):
    """For django.security's records (a refused Host, an oversized or malformed request): the
    client's error, not the server's, so one line each. Django attaches the traceback of its
    check, and anyone could fill the log with 15 lines a request."""

    def formatException(self, exc_info) -> str:
        return ""


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


class MalformedRequestMiddleware:
    """Refuse requests no page of this site can answer, before CSRF or a view sees them, and
    give every 405 a page saying so.

    * A method other than GET, HEAD, POST, OPTIONS: 405 (the CSRF check would otherwise
      answer "form could not be verified", which misleads). A method the view does not
      take (a POST to a list page) gets Django's bodiless 405; both get the 405 page.
    * A query string or form body that is not UTF-8: 400. Django would decode it with
      U+FFFD replacement characters and a broken client's comment would be stored as
      garbage; browsers always send UTF-8 for this site's UTF-8 pages.
    """

    ALLOWED_METHODS = ("GET", "HEAD", "POST", "OPTIONS")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in self.ALLOWED_METHODS:
            check_utf8(request)
            response = self.get_response(request)
        else:
            response = HttpResponseNotAllowed(self.ALLOWED_METHODS)
        if response.status_code == 405 and not response.streaming and not response.content:
            return method_not_allowed(request, response["Allow"])
        return response


def is_utf8(raw: bytes) -> bool:
    """Whether a query string or form body decodes as UTF-8 once its escapes are undone."""
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_utf8(request) -> None:
    if not is_utf8(get_bytes_from_wsgi(request.META, "QUERY_STRING", "")):
        raise InvalidEncoding("query string is not UTF-8")
    if (
        request.method == "POST"
        and request.content_type == "application/x-www-form-urlencoded"
        and request.content_params.get("charset", "utf-8").lower() in {"utf-8", "utf8"}
        and not is_utf8(request.body)  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE
    ):
        raise InvalidEncoding("form body is not UTF-8")


def method_not_allowed(request, allowed: str) -> HttpResponse:
    response = render(request, "405.html", {"allowed": allowed}, status=405)
    response["Allow"] = allowed
    return response
