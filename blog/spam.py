"""Comment abuse guards that need no third-party service, and nothing per reader in the page.

There is no minimum time between showing the form and posting it: every reader gets the
same page bytes (Apache serves them from a file, Python never sees the reader's GET), so no
render time can be known per reader, and a per-reader token or cookie would end that. A bot
that waits three seconds beat it anyway; the honeypot, the link cap, the per-address rate
limit and the duplicate window stay (docs/caching.md).
"""

import ipaddress
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.html import urlize

# One match per address: "https://www.example.org" is one link, not two.
LINK_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


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
