"""Commandes `opsn catalogue …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opsn.cli.base import _fail, _write_text, app, console, err
from opsn.core import bounds
from opsn.core.catalogue import CATALOGUE_DIR, catalogue_files, find_catalogue, load_catalogue
from opsn.core.errors import OpsnError

catalogue_app = typer.Typer(
    help="Catalogues des opérateurs : vérifier, comparer les forfaits.", no_args_is_help=True
)
app.add_typer(catalogue_app, name="catalogue")


@catalogue_app.command("lister")
def catalogue_lister() -> None:
    """Liste les catalogues livrés et leurs versions."""
    table = Table(header_style="bold")
    for col in ("Catalogue", "Libellé", "En vigueur à partir du", "Services", "Source"):
        table.add_column(col)
    try:
        for path in catalogue_files():
            cat = load_catalogue(path)
            table.add_row(
                cat.ident, cat.label, str(cat.valid_from or "–"), str(len(cat.services)), cat.source
            )
    except OpsnError as exc:
        _fail(str(exc))
    console.print(table)


@catalogue_app.command("verifier")
def catalogue_verifier(
    chemin: Annotated[
        Path | None,
        typer.Argument(help="Fichier ou dossier ; par défaut tous les catalogues livrés."),
    ] = None,
) -> None:
    """Valide un catalogue ou tous ; affiche la première erreur de chaque fichier."""
    target = chemin or CATALOGUE_DIR
    if not target.exists():
        _fail(f"{target} : fichier ou dossier introuvable.")
    try:
        files = sorted(target.rglob("*.yaml")) if target.is_dir() else [target]
    except OSError as exc:
        _fail(f"{target} : lecture impossible ({exc.strerror or exc}).")
    if not files:
        _fail(f"{target} : aucun fichier .yaml.")
    failures = 0
    for path in files:
        try:
            cat = load_catalogue(path)
        except OpsnError as exc:
            failures += 1
            err.print(f"[red]✗[/] {exc}", highlight=False)
            continue
        console.print(
            f"[green]✓[/] {path} : {cat.ident}, {len(cat.services)} services, "
            f"{len(cat.tables)} tables de strates, {len(cat.grids)} grilles, "
            f"{len(cat.matrices)} tableaux de forfaits",
            highlight=False,
        )
    if failures:
        err.print(f"{failures} catalogue(s) invalide(s) sur {len(files)}.")
        raise typer.Exit(code=1)


@catalogue_app.command("comparer")
def catalogue_comparer(
    catalogue: Annotated[
        str, typer.Argument(help="Catalogue (cdg47, cdg47/ancienne-annexe, cdg82…) ou fichier.")
    ],
    population: Annotated[int | None, typer.Option("--population", min=0)] = None,
    agents: Annotated[int | None, typer.Option("--agents", min=0)] = None,
    categorie: Annotated[list[str] | None, typer.Option("--categorie")] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Écrit aussi le tableau en HTML.")
    ] = None,
) -> None:
    """Tableau comparatif des forfaits : ce que chacun inclut, avec les quotas de la strate."""
    from opsn.comparison import build_comparison, render_html

    for option, value, bound in (
        ("--population", population, bounds.POPULATION),
        ("--agents", agents, bounds.AGENTS),
    ):
        if value is not None:
            try:
                bound.check(value)
            except bounds.BoundError as exc:
                _fail(f"{option} : {exc}")

    if population is not None and agents is not None:
        _fail(
            "--population et --agents s'excluent : une commune a une population, un "
            "établissement des agents."
        )
    try:
        cat = find_catalogue(catalogue)
        comparison = build_comparison(
            cat, population=population, agents=agents, categories=categorie or []
        )
    except OpsnError as exc:
        _fail(str(exc))
        return
    console.print(f"[bold]{cat.label}[/] ({cat.ident})", highlight=False)
    if comparison.subject:
        console.print(f"Pour : {comparison.subject}", highlight=False)
    for matrix in comparison.matrices:
        table = Table(title=matrix.title, header_style="bold", show_lines=True)
        table.add_column("Prestation")
        for col in matrix.columns:
            table.add_column(col)
        for row in matrix.rows:
            table.add_row(row.label, *row.cells)
        console.print(table)
    if comparison.strata_note:
        console.print(comparison.strata_note, highlight=False)
    if html:
        _write_text(html, render_html(cat, comparison))
        console.print(f"Tableau HTML écrit dans {html}", highlight=False)
