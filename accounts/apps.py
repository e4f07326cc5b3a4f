from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Customer master")

    def ready(self) -> None:
        from accounts.services import role_groups_sync

        # Groups and their model permissions are data the code owns: re-synced after
        # every migrate, so a new model's permissions reach the roles without a manual step.
        post_migrate.connect(role_groups_sync, dispatch_uid="accounts.role_groups_sync")
