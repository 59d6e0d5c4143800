from django.apps import AppConfig


class HomepageConfig(AppConfig):
    """The project's own parts that are no blog: connects the SQLite file guard, registers the
    settings' system checks."""

    name = "homepage"

    def ready(self):
        from django.db.backends.signals import connection_created

        from homepage import checks  # noqa: F401  (registers them)
        from homepage.sqlite_guard import remember_file

        connection_created.connect(remember_file, dispatch_uid="homepage.sqlite_guard")
