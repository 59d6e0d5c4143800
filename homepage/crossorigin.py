"""Cross-origin protection for forms that carry no CSRF token (readers' comment forms, whose
pages every reader shares byte for byte; docs/caching.md has the threat model).

The rule of Go 1.25's ``http.CrossOriginProtection``: a browser says where a request comes
from. ``Sec-Fetch-Site`` other than ``same-origin`` or ``none`` is refused; without it, an
``Origin`` that is not the site's own is refused; a request with neither comes from no
browser (or one from before 2020), so no other site can have made it, and it is allowed.
Origins in ``CSRF_TRUSTED_ORIGINS`` are allowed too.
"""

from django.conf import settings
from django.shortcuts import render


def is_trusted(origin: str) -> bool:
    scheme, _, host = origin.partition("://")
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted_scheme, _, pattern = trusted.partition("://")
        if scheme == trusted_scheme and (
            host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
        ):
            return True
    return False


def is_cross_origin(request) -> bool:
    """Whether a browser sent this request on another site's behalf."""
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE", "")
    origin = request.META.get("HTTP_ORIGIN", "")
    if fetch_site in ("same-origin", "none"):
        return False
    own = f"{request.scheme}://{request.get_host()}"
    if not fetch_site and origin in ("", own):
        return False
    return not (origin and is_trusted(origin))


def refused(request):
    """The 403 page of a cross-origin form post."""
    return render(request, "403_cross_origin.html", status=403)
