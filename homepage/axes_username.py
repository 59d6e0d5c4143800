"""The username django-axes records for a failed log-in."""

from django.conf import settings


def recorded_username(request, credentials=None) -> str:
    """As typed, cut to the 255 characters of axes' column and without NUL characters:
    PostgreSQL refuses longer values and NULs, which would turn a bad log-in into a 500."""
    field = settings.AXES_USERNAME_FORM_FIELD
    source = credentials if credentials else getattr(request, "data", request.POST)
    username = source.get(field) or ""
    return str(username).replace("\x00", "")[:255]
