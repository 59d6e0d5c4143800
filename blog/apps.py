from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "blog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from blog import search, signals  # noqa: F401  (connects the receivers)

        post_migrate.connect(search.after_migrate, sender=self)
