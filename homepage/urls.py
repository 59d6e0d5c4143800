from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from homepage.health import healthz

# A database that cannot answer is a 503 with Retry-After; 400s say why (homepage/errors.py).
handler400 = "homepage.errors.bad_request"
handler500 = "homepage.errors.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("blog.urls")),
]
