"""Ligne de commande `opsn` (Typer), un module par groupe de commandes.

Messages en français ; code de sortie non nul en cas d'erreur.
"""

from __future__ import annotations

from opsn.cli import (
    catalogue,  # noqa: F401
    coeur,  # noqa: F401
    conventions,  # noqa: F401
    facturation,  # noqa: F401
    pieces,  # noqa: F401
    plateforme,  # noqa: F401
    serveur,  # noqa: F401
    simulation,  # noqa: F401  (ordre d'affichage de l'aide)
    taches,  # noqa: F401
)
from opsn.cli.base import app
from opsn.referentiel.cli import app as referentiel_app

app.add_typer(referentiel_app, name="referentiel")

__all__ = ["app", "main"]


def main() -> None:
    app()
