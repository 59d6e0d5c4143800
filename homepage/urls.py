from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from homepage.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("blog.urls")),
]
