"""Commande `opsn plateforme` : comptes d'administrateur de la plateforme (création des
opérateurs, données de référence, administration Django). Le premier se crée ici, sur le
serveur ; les suivants aussi (l'administration ne gère pas les comptes)."""

from __future__ import annotations

from typing import Annotated

import typer

from opsn.cli.base import _django, _fail, _migrate, app, console

plateforme_app = typer.Typer(
    help="Administrateurs de la plateforme (création des opérateurs, indices, administration).",
    no_args_is_help=True,
)
app.add_typer(plateforme_app, name="plateforme")


@plateforme_app.command("administrateur")
def administrateur(
    identifiant: Annotated[str, typer.Argument(help="Identifiant de connexion du compte.")],
    courriel: Annotated[str, typer.Option("--courriel", help="Courriel du compte.")] = "",
) -> None:
    """Crée un compte administrateur de la plateforme ; affiche son mot de passe initial une
    seule fois."""
    _django()
    _migrate()
    from django.core.exceptions import ValidationError

    from opsn.gestion.permissions import SYSTEM
    from opsn.plateforme.comptes import platform_admin_create

    try:
        user, password = platform_admin_create(
            actor=SYSTEM, username=identifiant, email=courriel.strip()
        )
    except ValidationError as exc:
        _fail(" ".join(exc.messages))
        return
    console.print(
        f"Administrateur de la plateforme « {user.username} » créé. Mot de passe initial : "
        f"[bold]{password}[/] (affiché une seule fois ; à changer depuis la page "
        "« Mot de passe »).",
        highlight=False,
    )


@plateforme_app.command("administrateurs")
def administrateurs() -> None:
    """Liste les administrateurs de la plateforme."""
    _django()
    _migrate()
    from opsn.gestion.models import PlatformAdmin

    rows = PlatformAdmin.objects.select_related("user").order_by("user__username")
    if not rows:
        console.print(
            "Aucun administrateur de la plateforme : « opsn plateforme administrateur "
            "IDENTIFIANT » en crée un."
        )
    for row in rows:
        state = "actif" if row.user.is_active else "désactivé"
        console.print(f"{row.user.username} ({state}, depuis le {row.granted_at:%d/%m/%Y})")
