from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate, pre_migrate


class KamConfig(AppConfig):
    name = "kam"
    verbose_name = "KAM"

    def ready(self) -> None:
        from kam.foreign_keys import sqlite_checks_drop, sqlite_checks_install

        # SQLite's foreign-key check triggers are a function of the models, made after
        # every migrate (a migration may rebuild any table): see kam/foreign_keys.py.
        # Both signals go out once per app, all before or all after the migrations: one
        # app's (the customers' app, which the checked keys point to) is enough.
        accounts = apps.get_app_config("accounts")
        pre_migrate.connect(
            sqlite_checks_drop, sender=accounts, dispatch_uid="kam.sqlite_checks_drop"
        )
        post_migrate.connect(
            sqlite_checks_install, sender=accounts, dispatch_uid="kam.sqlite_checks_install"
        )
