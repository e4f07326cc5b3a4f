from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Customer master")

    def ready(self) -> None:
        from accounts.sales_days import sqlite_days_drop, sqlite_days_install
        from accounts.services import role_groups_sync

        # Groups and their model permissions are data the code owns: re-synced after
        # every migrate, so a new model's permissions reach the roles without a manual step.
        post_migrate.connect(role_groups_sync, dispatch_uid="accounts.role_groups_sync")
        # SQLite's sales-day triggers are dropped before every migrate and made again after
        # it, the days summed afresh (accounts/sales_days.py). Both signals go out once per
        # app: this app's are enough.
        pre_migrate.connect(sqlite_days_drop, sender=self, dispatch_uid="accounts.sqlite_days_drop")
        post_migrate.connect(
            sqlite_days_install, sender=self, dispatch_uid="accounts.sqlite_days_install"
        )
