from django.apps import AppConfig


class AdherentsConfig(AppConfig):
    """Pages des adhérents (sans modèle propre : les modèles restent dans `gestion`)."""

    name = "opsn.adherents"
    label = "adherents"
    verbose_name = "Adhérents"
