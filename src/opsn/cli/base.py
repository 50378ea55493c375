"""Éléments communs des commandes `opsn` : application Typer, consoles, sortie en erreur,
démarrage de Django, acteur et opérateurs désignés en ligne de commande."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    help="opsn : catalogues, simulations et facturation des opérateurs publics de services "
    "numériques.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

console = Console(width=140)
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]Erreur[/] : {message}", highlight=False)
    raise typer.Exit(code=1)


def _django() -> None:
    from opsn.web.bootstrap import setup

    setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _actor(username: str | None):  # noqa: ANN202
    from django.contrib.auth import get_user_model

    from opsn.gestion.permissions import SYSTEM

    if username is None:
        return SYSTEM
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        _fail(f"utilisateur « {username} » inconnu.")
    return user


def _operators(code: str | None) -> list:
    from opsn.gestion.models import Operator

    operators = list(Operator.objects.order_by("code"))
    if code:
        operators = [o for o in operators if o.code == code]
        if not operators:
            _fail(f"opérateur « {code} » inconnu.")
    if not operators:
        _fail("aucun opérateur en base : lancez d'abord « opsn demo » ou chargez les catalogues.")
    return operators
