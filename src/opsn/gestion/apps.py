from django.apps import AppConfig


class GestionConfig(AppConfig):
    name = "opsn.gestion"
    label = "gestion"
    verbose_name = "Gestion des adhérents et conventions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from opsn.gestion import audit, integrity

        audit.connect_signals()
        connection_created.connect(integrity.on_connection_created)
