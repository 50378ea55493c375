from django.apps import AppConfig


class GestionConfig(AppConfig):
    name = "opsn.gestion"
    label = "gestion"
    verbose_name = "Gestion des adhérents et conventions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsn.gestion import audit

        audit.connect_signals()
