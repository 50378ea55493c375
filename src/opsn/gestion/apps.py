from django.apps import AppConfig


class GestionConfig(AppConfig):
    name = "opsn.gestion"
    label = "gestion"
    verbose_name = "Gestion des adhérents et conventions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate, pre_migrate

        from opsn.gestion import audit, integrity

        audit.connect_signals()
        connection_created.connect(integrity.on_connection_created)
        pre_migrate.connect(integrity.on_pre_migrate, sender=self)
        post_migrate.connect(integrity.on_post_migrate, sender=self)
