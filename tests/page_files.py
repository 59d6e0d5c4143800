"""Where Django wrote a page for Apache (blog/cache.py): one helper for the tests that check."""

from blog import cache


def page_file(url, host="testserver"):
    """The file holding url's page in the live generation, as Apache serves it, or None."""
    version = cache.current_version()
    if version is None:
        return None
    path, _, query = url.partition("?")
    name = "index" if not query else "index." + query.replace("=", "-")
    base = cache.pages_root() / version.generation / f"{host}{path}{name}"
    found = [base.with_name(f"{base.name}.{ext}") for ext in cache.TYPES]
    return next((f for f in found if f.exists()), None)
