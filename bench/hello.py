"""The ceiling: the least a WSGI app can do, served with the blog's mod_wsgi-express settings."""

BODY = b"Hello, world!\n"


def application(environ, start_response):
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
