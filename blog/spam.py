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
import unicodedata

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
    # incr() first: after a window's first comment, one step (each takes the file cache's
    # lock, which every process's comments queue on) where add() then incr() took two.
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first comment, or its count was evicted
        if cache.add(key, 1, timeout=window + 1):
            return False
        try:
            count = cache.incr(key)  # another process added it meanwhile
        except ValueError:  # evicted between add and incr
            return False
    return count > settings.BLOG_COMMENT_RATE


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def valid_ip(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


# -- posing as the author -------------------------------------------------------------

# Names nobody but the site's staff may comment under, besides the staff's own names.
RESERVED_NAMES = (
    "admin", "administrator", "author", "the author", "moderator", "webmaster", "staff",
)  # fmt: skip
# Latin look-alikes NFKC leaves alone (lower-case Cyrillic and Greek, after casefold).
CONFUSABLES = str.maketrans(
    {
        **dict(zip("авеһіјкмнорсѕтухԁԛԝӏ", "abehijkmhopcstyxdqwl", strict=True)),
        **dict(zip("αβεηικμνορτυχ", "abenikuvoptux", strict=True)),
        "ı": "i",
        "ɑ": "a",
    }
)


def name_key(name: str) -> str:
    """A name as a person reads it: width, case, accents, look-alike letters, invisible
    characters, spacing and punctuation make no difference."""
    name = unicodedata.normalize("NFKC", name).casefold()
    decomposed = unicodedata.normalize("NFKD", name).translate(CONFUSABLES)
    # Keep letters and digits only: drops combining accents (Mn), zero-width and other
    # format characters (Cf), spaces, dots, dashes.
    return "".join(ch for ch in decomposed if unicodedata.category(ch)[0] in "LN")


def impersonates_author(name: str) -> bool:
    """Whether an anonymous commenter's name reads as the author's, a staff user's, or a
    role's ("admin", "author", ...)."""
    from django.contrib.auth import get_user_model

    key = name_key(name)
    if not key:
        return False
    reserved = {name_key(n) for n in (*RESERVED_NAMES, settings.BLOG_AUTHOR)}
    if key in reserved:
        return True
    staff = get_user_model().objects.filter(is_staff=True)
    for user in staff.only("username", "first_name", "last_name"):
        if key in {name_key(user.get_full_name()), name_key(user.get_username())}:
            return True
    return False
