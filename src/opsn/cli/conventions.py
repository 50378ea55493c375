"""Commandes `opsn conventions …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opsn.cli.base import _django, _fail, _migrate, app, console, err
from opsn.core.errors import OpsnError

conventions_app = typer.Typer(help="Conventions : import depuis un tableur.", no_args_is_help=True)
app.add_typer(conventions_app, name="conventions")


@conventions_app.command("importer")
def conventions_importer(
    fichier: Annotated[
        Path, typer.Argument(help="CSV ou XLSX (modèle docs/modeles/conventions.csv).")
    ],
    operateur: Annotated[str, typer.Option("--operateur", help="Code de l'opérateur.")],
    utilisateur: Annotated[
        str,
        typer.Option(
            "--utilisateur",
            help="Identifiant de "
            "l'utilisateur qui importe (administrateur ou "
            "chargé de facturation).",
        ),
    ],
) -> None:
    """Importe des conventions existantes : tout ou rien, erreurs par ligne et colonne."""
    _django()
    _migrate()
    from django.contrib.auth import get_user_model
    from django.core.exceptions import PermissionDenied

    from opsn.gestion.imports import ImportRejected, conventions_import
    from opsn.gestion.models import Operator

    operator = Operator.objects.filter(code=operateur).first()
    if operator is None:
        _fail(f"opérateur « {operateur} » inconnu (chargez d'abord les catalogues : opsn demo).")
    user = get_user_model().objects.filter(username=utilisateur).first()
    if user is None:
        _fail(f"utilisateur « {utilisateur} » inconnu.")
    try:
        report = conventions_import(actor=user, operator=operator, path=fichier)
    except ImportRejected as exc:
        for line in exc.errors:
            err.print(line, highlight=False)
        _fail(f"import refusé ({len(exc.errors)} erreur(s)) : rien n'a été écrit.")
    except PermissionDenied as exc:
        _fail(str(exc))
    except OpsnError as exc:
        _fail(str(exc))
    else:
        console.print(f"{fichier.name} : {report.summary()}", highlight=False)
