class SearchIndexRouter:
    """The SQLite search index (EntrySearchIndex) is derived data that triggers write:
    dumpdata and loaddata leave it out (they ask this), and migrations never touch it."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "blog" and model_name == "entrysearchindex":
            return False
        return None
