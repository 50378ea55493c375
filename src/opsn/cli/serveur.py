"""Commandes `opsn demo`, `opsn serveur` et `opsn gerer`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from opsn.cli.base import _django, _migrate, app, console
from opsn.cli.catalogue import catalogue_lister
from opsn.cli.simulation import DEMO_SCENARIO, simuler


@app.command("demo")
def demo(
    serveur: Annotated[
        bool,
        typer.Option(
            "--serveur/--sans-serveur", help="Démarrer le back-office après la préparation."
        ),
    ] = True,
    port: Annotated[int, typer.Option("--port")] = 8000,
    reinitialiser: Annotated[
        bool,
        typer.Option("--reinitialiser", help="Vider la base de démonstration et la reconstruire."),
    ] = False,
) -> None:
    """Catalogues et simulation de démonstration, puis base de démonstration et back-office."""
    import datetime as dt

    catalogue_lister()
    console.print()
    simuler(DEMO_SCENARIO, None, "table")
    _django()
    from django.conf import settings
    from django.core.management import call_command

    from opsn.gestion.demo import DEMO_PASSWORD, build_demo, demo_exists

    console.print(
        f"\n[bold]Base de démonstration[/] : {settings.DATABASES['default']['NAME']}",
        highlight=False,
    )
    _migrate()
    if reinitialiser:
        call_command("flush", interactive=False, verbosity=0)
    if demo_exists():
        console.print("Base déjà préparée (relancez avec --reinitialiser pour la reconstruire).")
        from django.contrib.auth import get_user_model

        names = list(
            get_user_model().objects.order_by("username").values_list("username", flat=True)
        )
        console.print(
            f"Comptes : {', '.join(names)} – mot de passe « {DEMO_PASSWORD} »", highlight=False
        )
    else:
        with console.status("Préparation des adhérents, conventions et usages…"):
            users = build_demo(today=dt.date.today())
        table = Table(title="Comptes de démonstration", header_style="bold")
        for col in ("Identifiant", "Mot de passe", "Rôle", "Opérateur", "Adhérent"):
            table.add_column(col)
        for u in users:
            table.add_row(u.username, u.password, u.role, u.operator, u.member or "–")
        console.print(table)
    if serveur:
        console.print(
            f"\nBack-office : [bold]http://127.0.0.1:{port}/[/] (Ctrl+C pour arrêter)",
            highlight=False,
        )
        _runserver(port)


def _runserver(port: int) -> None:
    import os

    from django.core.management import call_command

    os.environ.setdefault("OPSN_DEBUG", "0")
    call_command("runserver", f"127.0.0.1:{port}", "--noreload", "--insecure")


@app.command("serveur")
def serveur(port: Annotated[int, typer.Option("--port")] = 8000) -> None:
    """Démarre le back-office (migrations appliquées au préalable)."""
    _django()
    _migrate()
    console.print(f"Back-office : http://127.0.0.1:{port}/", highlight=False)
    _runserver(port)


@app.command("gerer", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def gerer(ctx: typer.Context) -> None:
    """Commandes d'administration Django (migrate, createsuperuser, shell…)."""
    _django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["opsn gerer", *ctx.args])
