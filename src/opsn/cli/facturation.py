"""Commandes `opsn facturer`, `opsn factures …` et `opsn evolution`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opsn.cli.base import (
    _actor,
    _bounded_int,
    _date_option,
    _django,
    _fail,
    _migrate,
    _operators,
    _writable_dir,
    _write_text,
    _year,
    app,
    console,
    err,
)
from opsn.core.money import fmt_fr


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
    en_file: Annotated[
        bool,
        typer.Option(
            "--en-file",
            help="Avec --apply : mettre en file une campagne par opérateur pour les "
            "travailleurs (opsn travailleur), au nom de --utilisateur, au lieu de les "
            "exécuter ici.",
        ),
    ] = False,
    documents: Annotated[
        bool,
        typer.Option(
            "--documents",
            help="Avec --en-file : rendre ensuite les PDF des pièces émises, par lots que "
            "les travailleurs se partagent.",
        ),
    ] = False,
) -> None:
    """Campagne annuelle : simulation par défaut, --apply pour créer et émettre les factures."""
    from rich.progress import Progress

    if format not in ("table", "json"):
        _fail(f"format « {format} » inconnu : table ou json.")
    if (en_file or documents) and not apply:
        _fail("--en-file et --documents vont avec --apply.")
    if documents and not en_file:
        _fail("--documents va avec --en-file.")
    if en_file and (brouillons or not utilisateur):
        _fail("--en-file : une campagne émise au nom d'un utilisateur (--utilisateur).")
    issued_on = _date_option(date_emission, "--date-emission")
    annee = _year(annee, issued_on)
    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    if en_file:
        from opsn.facturation.repartition import start_campaigns

        try:
            records = start_campaigns(
                operators=_operators(operateur),
                year=annee,
                user=_actor(utilisateur),
                issued_on=issued_on,
                documents=documents,
            )
        except PermissionDenied as exc:
            _fail(str(exc))
            return
        queued = [{"tache": str(r.task_id), "libelle": r.label} for r in records]
        if format == "json":
            typer.echo(json.dumps({"annee": annee, "taches": queued}, ensure_ascii=False, indent=2))
        else:
            for item in queued:
                console.print(f"En file : {item['libelle']} ({item['tache']})", highlight=False)
            console.print("Les travailleurs (opsn travailleur) les exécutent.")
        return

    from opsn.facturation.billing import billing_preview, billing_run

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
        int,
        typer.Option("--processus", help="Processus de rendu (un par cœur, de 1 à 64)."),
    ] = 2,
    zip_: Annotated[bool, typer.Option("--zip", help="Produire aussi l'archive ZIP.")] = False,
) -> None:
    """PDF/A-3b avec XML Factur-X de chaque pièce émise (et archive ZIP)."""
    from rich.progress import Progress

    annee = _year(annee)
    _bounded_int(processus, "--processus", 1, 64)
    _django()
    _migrate()
    from opsn.facturation.exports import pdf_zip, render_pdfs

    (operator,) = _operators(operateur)
    target = _writable_dir(dossier / operator.code / str(annee))
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
    annee = _year(annee)
    _django()
    _migrate()
    from opsn.facturation.exports import titres_csv

    (operator,) = _operators(operateur)
    text = titres_csv(operator, annee)
    if sortie is None:
        typer.echo(text, nl=False)
    else:
        _write_text(sortie, text)
        console.print(f"{text.count(chr(10)) - 1} titre(s) écrits dans {sortie}", highlight=False)


@factures_app.command("avoir")
def factures_avoir(
    numero: Annotated[str, typer.Argument(help="Numéro de la facture à corriger.")],
    operateur: Annotated[str, typer.Option("--operateur")],
    motif: Annotated[str, typer.Option("--motif")],
    date_emission: Annotated[str | None, typer.Option("--date-emission")] = None,
    utilisateur: Annotated[str | None, typer.Option("--utilisateur")] = None,
    lignes: Annotated[
        str | None,
        typer.Option("--lignes", help="Avoir partiel : rangs des lignes à annuler (1,3)."),
    ] = None,
    montant: Annotated[
        str | None,
        typer.Option("--montant", help="Avoir partiel : montant hors taxes (150.00)."),
    ] = None,
) -> None:
    """Émet un avoir sur une facture émise : total, ou partiel (--lignes ou --montant)."""
    from opsn.core import bounds

    issued_on = _date_option(date_emission, "--date-emission")
    positions = None
    if lignes is not None:
        try:
            positions = sorted({int(x) for x in lignes.split(",") if x.strip()})
        except ValueError:
            _fail(f"--lignes : « {lignes} » n'est pas une liste de rangs (ex. 1,3).")
        if not positions or any(p < 1 or p > 100_000 for p in positions):
            _fail(f"--lignes : « {lignes} » : donnez des rangs de ligne de 1 à 100 000.")
    amount = None
    if montant is not None:
        try:
            amount = bounds.AMOUNT.parse(montant)
        except bounds.BoundError as exc:
            _fail(f"--montant : {exc}")
    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    from opsn.facturation.billing import invoice_credit
    from opsn.gestion.models import Invoice

    (operator,) = _operators(operateur)
    invoice = Invoice.objects.filter(operator=operator, number=numero).first()
    if invoice is None:
        _fail(f"facture « {numero} » introuvable chez {operator.code}.")
    try:
        credit = invoice_credit(
            actor=_actor(utilisateur),
            invoice=invoice,
            reason=motif,
            issued_on=issued_on,
            positions=positions,
            amount=amount,
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
    annee = _year(annee)
    _django()
    _migrate()
    from opsn.facturation.evolution import evolution_csv, evolution_report

    (operator,) = _operators(operateur)
    text = evolution_csv(evolution_report(operator=operator, year=annee))
    if sortie is None:
        typer.echo(text, nl=False)
    else:
        _write_text(sortie, text)
        console.print(f"Rapport écrit dans {sortie}", highlight=False)


@factures_app.command("pes")
def factures_pes(
    annee: Annotated[int, typer.Option("--annee", help="Année facturée.")],
    operateur: Annotated[str, typer.Option("--operateur")],
    sortie: Annotated[
        Path | None,
        typer.Option("--sortie", help="Fichier XML (par défaut : NomFic.xml, dossier courant)."),
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Date du flux AAAA-MM-JJ ; par défaut aujourd'hui.")
    ] = None,
    nouveaux: Annotated[
        bool,
        typer.Option(
            "--nouveaux", help="Seulement les bordereaux créés par ce dernier export (à envoyer)."
        ),
    ] = False,
    utilisateur: Annotated[str | None, typer.Option("--utilisateur")] = None,
) -> None:
    """Flux PES V2 Recette (PES_Aller) des factures et avoirs émis de l'année : bordereaux,
    titres, PDF joints et ASAP des débiteurs publics, à transmettre au comptable."""
    day = _date_option(date, "--date")
    annee = _year(annee, day)
    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    from opsn.facturation.pes import pes_export

    (operator,) = _operators(operateur)
    try:
        flow = pes_export(
            actor=_actor(utilisateur), operator=operator, year=annee, day=day, only_new=nouveaux
        )
    except (PermissionDenied, ValidationError) as exc:
        messages = getattr(exc, "messages", [str(exc)])
        _fail("flux PES impossible :\n  - " + "\n  - ".join(messages))
        return
    target = sortie or Path(flow.filename)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_bytes(flow.xml)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail(f"impossible d'écrire {target} : {exc.strerror or exc}.")
    new = f", dont {len(flow.created)} nouveau(x)" if flow.created else ", aucun nouveau"
    console.print(
        f"Flux {flow.name} : {len(flow.titres)} titre(s){new}, "
        f"{len(flow.bordereaux)} bordereau(x) ; écrit dans {target}.",
        highlight=False,
    )
