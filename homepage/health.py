"""Health check for Apache, load balancers and the server tests."""

from django.db import DatabaseError, connections
from django.http import HttpResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    """200 "ok" only when every configured database answers a query; 503 otherwise."""
    for connection in connections.all():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            return HttpResponse(
                f"database {connection.alias!r} is not answering\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
