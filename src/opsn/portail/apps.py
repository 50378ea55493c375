from django.apps import AppConfig


class PortailConfig(AppConfig):
    """Portail des membres : simulateur public, devis, API, espace du référent. Sans modèle
    propre (les modèles restent dans `gestion`) ; gabarits, fichiers statiques, avis."""

    name = "opsn.portail"
    label = "portail"
    verbose_name = "Portail des membres"

    def ready(self) -> None:
        from opsn.portail import signaux

        signaux.connect()
