"""Comment abuse guards that need no third-party service."""

import ipaddress
import re
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.html import urlize

SALT = "blog.comment-form"
# One match per address: "https://www.example.org" is one link, not two.
LINK_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
TOKEN_MAX_AGE = 60 * 60 * 24  # a form left open for a day must be reloaded


def form_token(entry_pk: int) -> str:
    """Signed token rendered into the form; proves which entry and when it was shown."""
    return signing.dumps({"e": entry_pk, "t": time.time()}, salt=SALT, compress=False)


def token_age(token: str, entry_pk: int) -> float | None:
    """Seconds since the form was rendered, or None when the token is forged or stale."""
    try:
        data = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("e") != entry_pk:
        return None
    try:
        age = time.time() - float(data["t"])
    except (KeyError, TypeError, ValueError):
        return None
    return age if age <= TOKEN_MAX_AGE else None


def count_links(text: str) -> int:
    """Links in a comment: written-out addresses, and whatever else urlize would link."""
    linked = urlize(text, autoescape=True).count("<a ")
    return max(linked, len(LINK_RE.findall(text)))


class RateLimited(ValidationError):
    """This client posted more comments than BLOG_COMMENT_RATE allows lately."""


def rate_limited(client: str) -> bool:
    """Count one comment for this client; True once it is over the limit for the window."""
    window = settings.BLOG_COMMENT_RATE_WINDOW
    # The window is in the key: file and database caches implement incr() as a set()
    # with the default timeout, so an expiry-based window would keep getting longer.
    key = f"blog:comment-rate:{client}:{int(time.time() // window)}"
    if cache.add(key, 1, timeout=window + 1):
        return False
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=window + 1)
        return False
    return count > settings.BLOG_COMMENT_RATE


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def valid_ip(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
