"""Ligne de commande `opsn` (Typer).

Messages en français ; code de sortie non nul en cas d'erreur.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opsn.core.catalogue import CATALOGUE_DIR, catalogue_files, find_catalogue, load_catalogue
from opsn.core.errors import OpsnError
from opsn.core.money import fmt_fr
from opsn.core.pricing import MemberQuote, Pricer
from opsn.core.report import simulation_to_dict
from opsn.core.scenario import load_scenario
from opsn.referentiel.cli import app as referentiel_app

app = typer.Typer(
    help="opsn : catalogues, simulations et facturation des opérateurs publics de services "
    "numériques.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
catalogue_app = typer.Typer(
    help="Catalogues des opérateurs : vérifier, comparer les forfaits.", no_args_is_help=True
)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(referentiel_app, name="referentiel")

console = Console(width=140)
err = Console(stderr=True)

DEMO_SCENARIO = Path(__file__).resolve().parent / "data" / "demo" / "simulation.yaml"


def _fail(message: str) -> None:
    err.print(f"[bold red]Erreur[/] : {message}", highlight=False)
    raise typer.Exit(code=1)


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
    files = sorted(target.rglob("*.yaml")) if target.is_dir() else [target]
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
        html.write_text(render_html(cat, comparison), encoding="utf-8")
        console.print(f"Tableau HTML écrit dans {html}", highlight=False)


def _django() -> None:
    from opsn.web.bootstrap import setup

    setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


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


@app.command("facturer")
def facturer(
    annee: Annotated[int, typer.Option("--annee", help="Année à facturer.")],
    operateur: Annotated[str | None, typer.Option("--operateur")] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Écrire et émettre les factures (sinon : simulation).")
    ] = False,
    brouillons: Annotated[
        bool,
        typer.Option("--brouillons", help="Avec --apply : s'arrêter aux brouillons, sans numéro."),
    ] = False,
    date_emission: Annotated[
        str | None, typer.Option("--date-emission", help="AAAA-MM-JJ ; par défaut aujourd'hui.")
    ] = None,
    utilisateur: Annotated[str | None, typer.Option("--utilisateur")] = None,
    format: Annotated[str, typer.Option("--format", help="table ou json")] = "table",
) -> None:
    """Campagne annuelle : simulation par défaut, --apply pour créer et émettre les factures."""
    import datetime as dt

    from rich.progress import Progress

    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    from opsn.facturation.billing import billing_preview, billing_run

    try:
        issued_on = dt.date.fromisoformat(date_emission) if date_emission else dt.date.today()
    except ValueError:
        _fail(f"date d'émission « {date_emission} » invalide (AAAA-MM-JJ).")
    actor = _actor(utilisateur)
    result: dict = {"annee": annee, "operateurs": []}
    for operator in _operators(operateur):
        with Progress(console=err, transient=True, disable=format == "json") as bar:
            task = bar.add_task(f"{operator.code} : calcul des adhérents", total=None)

            def tick(done: int, total: int, task=task, bar=bar) -> None:  # noqa: ANN001
                bar.update(task, completed=done, total=total)

            try:
                if apply:
                    report = billing_run(
                        actor=actor,
                        operator=operator,
                        year=annee,
                        issued_on=issued_on,
                        issue=not brouillons,
                        progress=tick,
                    )
                    bills, created = report.bills, report.created
                else:
                    bills, created = (
                        billing_preview(operator=operator, year=annee, progress=tick),
                        [],
                    )
            except (PermissionDenied, ValidationError) as exc:
                _fail(" ".join(getattr(exc, "messages", [str(exc)])))
                return
        entry = {
            "operateur": operator.code,
            "adherents": [
                {
                    "adherent": b.member.name,
                    "total_ht": str(b.totals.net),
                    "total_tva": str(b.totals.vat),
                    "total_ttc": str(b.totals.gross),
                    "lignes": len(b.lines),
                    "bloquants": b.blocking,
                    "deja_facture": b.already_invoiced,
                }
                for b in bills
            ],
            "factures_creees": [i.number or f"brouillon {i.pk}" for i in created],
        }
        result["operateurs"].append(entry)
        if format == "json":
            continue
        table = Table(title=f"{operator.name} – {annee}", header_style="bold")
        for col, just in (
            ("Adhérent", "left"),
            ("Lignes", "right"),
            ("Total TTC", "right"),
            ("État", "left"),
        ):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for b in bills:
            state = (
                "[red]bloqué[/] : " + " ; ".join(b.blocking)
                if b.blocking
                else f"déjà facturé ({b.already_invoiced})"
                if b.already_invoiced
                else "à facturer"
            )
            table.add_row(b.member.name, str(len(b.lines)), fmt_fr(b.totals.gross), state)
        console.print(table)
        billable = [b for b in bills if b.billable]
        blocked = [b for b in bills if b.blocking]
        console.print(
            f"{len(billable)} adhérent(s) à facturer pour "
            f"{fmt_fr(sum((b.totals.gross for b in billable), Decimal(0)))} TTC, "
            f"{len(blocked)} bloqué(s), "
            f"{sum(1 for b in bills if b.already_invoiced)} déjà facturé(s).",
            highlight=False,
        )
        if apply:
            numbers = [i.number for i in created if i.number]
            span = f" ({numbers[0]} à {numbers[-1]})" if numbers else ""
            what = "brouillon(s) créé(s)" if brouillons else "facture(s) émise(s)"
            console.print(f"[green]{len(created)} {what}[/]{span}.", highlight=False)
        else:
            console.print("Simulation : rien n'a été écrit (ajoutez --apply pour émettre).")
    if format == "json":
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


factures_app = typer.Typer(
    help="Factures émises : PDF Factur-X, titres de recettes, avoirs.", no_args_is_help=True
)
app.add_typer(factures_app, name="factures")


@factures_app.command("pdf")
def factures_pdf(
    annee: Annotated[int, typer.Option("--annee")],
    operateur: Annotated[str, typer.Option("--operateur")],
    dossier: Annotated[Path, typer.Option("--dossier", help="Dossier de sortie.")] = Path(
        "factures"
    ),
    processus: Annotated[
        int, typer.Option("--processus", min=1, help="Processus de rendu (un par cœur).")
    ] = 2,
    zip_: Annotated[bool, typer.Option("--zip", help="Produire aussi l'archive ZIP.")] = False,
) -> None:
    """PDF/A-3b avec XML Factur-X de chaque pièce émise (et archive ZIP)."""
    from rich.progress import Progress

    _django()
    _migrate()
    from opsn.facturation.exports import pdf_zip, render_pdfs

    (operator,) = _operators(operateur)
    target = dossier / operator.code / str(annee)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("Rendu des PDF", total=None)
        paths = render_pdfs(
            operator,
            annee,
            target,
            workers=processus,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )
    console.print(f"{len(paths)} PDF dans {target}", highlight=False)
    if zip_ and paths:
        archive = pdf_zip(paths, dossier / f"{operator.code}-{annee}.zip")
        console.print(f"Archive : {archive}", highlight=False)


@factures_app.command("titres")
def factures_titres(
    annee: Annotated[int, typer.Option("--annee")],
    operateur: Annotated[str, typer.Option("--operateur")],
    sortie: Annotated[
        Path | None, typer.Option("--sortie", help="Fichier CSV (sinon la sortie standard).")
    ] = None,
) -> None:
    """CSV des titres de recettes : une ligne par pièce et par imputation."""
    _django()
    _migrate()
    from opsn.facturation.exports import titres_csv

    (operator,) = _operators(operateur)
    text = titres_csv(operator, annee)
    if sortie is None:
        typer.echo(text, nl=False)
    else:
        sortie.write_text(text, encoding="utf-8")
        console.print(f"{text.count(chr(10)) - 1} titre(s) écrits dans {sortie}", highlight=False)


@factures_app.command("avoir")
def factures_avoir(
    numero: Annotated[str, typer.Argument(help="Numéro de la facture à corriger.")],
    operateur: Annotated[str, typer.Option("--operateur")],
    motif: Annotated[str, typer.Option("--motif")],
    date_emission: Annotated[str | None, typer.Option("--date-emission")] = None,
    utilisateur: Annotated[str | None, typer.Option("--utilisateur")] = None,
) -> None:
    """Émet un avoir total sur une facture émise."""
    import datetime as dt

    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    from opsn.facturation.billing import invoice_credit
    from opsn.gestion.models import Invoice

    (operator,) = _operators(operateur)
    invoice = Invoice.objects.filter(operator=operator, number=numero).first()
    if invoice is None:
        _fail(f"facture « {numero} » introuvable chez {operator.code}.")
    issued_on = dt.date.fromisoformat(date_emission) if date_emission else dt.date.today()
    try:
        credit = invoice_credit(
            actor=_actor(utilisateur), invoice=invoice, reason=motif, issued_on=issued_on
        )
    except (PermissionDenied, ValidationError) as exc:
        _fail(" ".join(getattr(exc, "messages", [str(exc)])))
        return
    console.print(
        f"Avoir {credit.number} émis sur la facture {numero} ({fmt_fr(credit.total_ttc)} TTC).",
        highlight=False,
    )


@app.command("evolution")
def evolution(
    annee: Annotated[int, typer.Option("--annee")],
    operateur: Annotated[str, typer.Option("--operateur")],
    sortie: Annotated[Path | None, typer.Option("--sortie")] = None,
) -> None:
    """Évolution par adhérent et par service par rapport à l'année précédente (CSV)."""
    _django()
    _migrate()
    from opsn.facturation.evolution import evolution_csv, evolution_report

    (operator,) = _operators(operateur)
    text = evolution_csv(evolution_report(operator=operator, year=annee))
    if sortie is None:
        typer.echo(text, nl=False)
    else:
        sortie.write_text(text, encoding="utf-8")
        console.print(f"Rapport écrit dans {sortie}", highlight=False)


def main() -> None:
    app()
