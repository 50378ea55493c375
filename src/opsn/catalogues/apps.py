from django.apps import AppConfig


class CataloguesConfig(AppConfig):
    """Pages des catalogues (sans modèle propre : `CatalogueVersion` reste dans `gestion`)."""

    name = "opsn.catalogues"
    label = "catalogues"
    verbose_name = "Catalogues"
