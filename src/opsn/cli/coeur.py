"""Commande `opsn coeur` : le cœur de tarification compilé (facultatif, voir
`opsn.core.native`)."""

from __future__ import annotations

import typer

from opsn.cli.base import _fail, app, console
from opsn.core.errors import OpsnError

coeur_app = typer.Typer(
    help="Cœur de tarification compilé (facultatif : mêmes résultats, plus rapide).",
    no_args_is_help=True,
)
app.add_typer(coeur_app, name="coeur")


@coeur_app.command("compiler")
def compiler() -> None:
    """Compile le cœur de tarification (mypyc) pour les sources présentes ; tous les
    processus opsn de la machine s'en servent ensuite. Sans compilateur C, rien ne change."""
    from opsn.core import native

    try:
        folder = native.compile_core()
    except OpsnError as exc:
        _fail(str(exc))
        return
    console.print(
        f"Cœur compilé ({', '.join(native.COMPILED)}) dans {folder} ; les prochains processus "
        "opsn s'en servent (OPSN_COEUR_NATIF=0 pour s'en passer).",
        highlight=False,
    )


@coeur_app.command("etat")
def etat() -> None:
    """Dit si ce processus calcule avec le cœur compilé ou en Python pur."""
    from opsn.core import native

    if native.active():
        console.print(f"Cœur compilé, chargé depuis {native.build_dir()}.", highlight=False)
    else:
        console.print(
            "Cœur en Python pur (aucune compilation pour ces sources, ou OPSN_COEUR_NATIF=0) ; "
            "« opsn coeur compiler » le compile.",
            highlight=False,
        )
