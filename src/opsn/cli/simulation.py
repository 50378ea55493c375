"""Commande `opsn simuler`."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from opsn.cli.base import _fail, app, console
from opsn.core.errors import OpsnError
from opsn.core.money import fmt_fr
from opsn.core.pricing import MemberQuote, Pricer
from opsn.core.report import simulation_to_dict
from opsn.core.scenario import load_scenario

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "data" / "demo" / "simulation.yaml"


def _resolver() -> Callable[[str], dict[str, Any]] | None:
    try:
        from opsn.referentiel.resolve import resolve_member
    except ImportError:  # référentiel absent : les codes INSEE/SIREN seront refusés
        return None
    return resolve_member


def simulate(path: Path, year: int | None) -> tuple[str, int, list[MemberQuote]]:
    scenario = load_scenario(path, year, resolver=_resolver())
    pricer = Pricer(scenario.catalogue, scenario.index, scenario.year)
    return scenario.catalogue.ident, scenario.year, [pricer.quote(m) for m in scenario.members]


@app.command("simuler")
def simuler(
    fichier: Annotated[Path, typer.Argument(help="Fichier de scénario YAML (docs/scenario.md).")],
    annee: Annotated[
        int | None, typer.Option("--annee", help="Année à facturer (remplace celle du scénario).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table ou json.")] = "table",
) -> None:
    """Calcule, pour chaque adhérent du scénario, chaque ligne due et son explication."""
    if format not in ("table", "json"):
        _fail(f"format « {format} » inconnu : table ou json.")
    try:
        ident, year, quotes = simulate(fichier, annee)
    except OpsnError as exc:
        _fail(str(exc))
        return
    data = simulation_to_dict(ident, year, quotes)
    if format == "json":
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_simulation(ident, year, quotes, data)


def print_simulation(ident: str, year: int, quotes: list[MemberQuote], data: dict) -> None:
    console.print(f"[bold]Simulation {year}[/] – catalogue [cyan]{ident}[/]")
    for quote in quotes:
        m = quote.member
        head = f"\n[bold]{m.name}[/] ({m.kind}"
        if m.population_totale is not None:
            head += f", population totale {m.population_totale}"
            if m.population_source:
                head += f" – {m.population_source}"
        if m.agents is not None:
            head += f", {m.agents} agents"
        console.print(head + ")", highlight=False)
        for note in quote.notes:
            console.print(f"  [dim]{note}[/]", highlight=False)
        if quote.lines:
            table = Table(show_lines=True, header_style="bold", expand=True)
            table.add_column("Prestation", ratio=3)
            table.add_column("Qté", justify="right", ratio=1)
            table.add_column("Prix unitaire", justify="right", ratio=1)
            table.add_column("Montant", justify="right", ratio=1)
            table.add_column("Règle et calcul", ratio=6)
            for line in quote.lines:
                amount = {
                    "sur_devis": "sur devis",
                    "prix_manquant": "prix manquant",
                }.get(line.status, fmt_fr(line.amount) if line.amount is not None else "")
                vat = "" if line.vat.kind != "ht" else f" HT (TVA {line.vat.rate.normalize():f} %)"
                table.add_row(
                    f"[bold]{line.service_label}[/]\n{line.label}",
                    f"{line.quantity.normalize():f} {line.unit}",
                    fmt_fr(line.unit_price) if line.unit_price is not None else "–",
                    amount + vat,
                    f"{line.rule}\n[dim]{line.detail}[/]",
                )
            console.print(table)
        else:
            console.print("  Aucune ligne due pour cette année.")
        if quote.entitlements:
            droits = ", ".join(f"{k} : {v}" for k, v in quote.entitlements.items())
            console.print(
                f"  Droits inclus ({quote.entitlements_stratum}) : {droits}", highlight=False
            )
        for a in quote.allowances:
            console.print(
                f"  Dotation « {a.label} » : {a.used.normalize():f} j consommé(s) sur "
                f"{a.quantity.normalize():f} j / {a.period_years} an(s)",
                highlight=False,
            )
        for w in quote.warnings:
            console.print(f"  [yellow]Attention[/] : {w}", highlight=False)
        t = quote.totals
        line = f"  Total HT {fmt_fr(t.net)} – TVA {fmt_fr(t.vat)} – [bold]TTC {fmt_fr(t.gross)}[/]"
        console.print(line, highlight=False)
        for vt in t.by_rate:
            if vt.regime.mention:
                console.print(f"  [dim]{vt.regime.mention}[/]", highlight=False)
        if quote.sur_devis:
            console.print(
                f"  Sur devis (hors total) : {', '.join(x.label for x in quote.sur_devis)}",
                highlight=False,
            )
        if quote.missing_prices:
            names = ", ".join(x.label for x in quote.missing_prices)
            console.print(f"  [yellow]Prix manquants[/] (hors total) : {names}", highlight=False)
    if len(quotes) > 1:
        console.print(
            f"\n[bold]Total général[/] : HT {fmt_fr(Decimal(data['total_ht']))} – TVA "
            f"{fmt_fr(Decimal(data['total_tva']))} – TTC {fmt_fr(Decimal(data['total_ttc']))}",
            highlight=False,
        )
