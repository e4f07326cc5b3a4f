from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class KamConfig(AppConfig):
    name = "kam"
    verbose_name = "KAM"

    def ready(self) -> None:
        from kam.foreign_keys import sqlite_checks_drop, sqlite_checks_install

        # SQLite's foreign-key check triggers are a function of the models, made after
        # every migrate (a migration may rebuild any table): see kam/foreign_keys.py.
        pre_migrate.connect(sqlite_checks_drop, dispatch_uid="kam.sqlite_checks_drop")
        post_migrate.connect(sqlite_checks_install, dispatch_uid="kam.sqlite_checks_install")
