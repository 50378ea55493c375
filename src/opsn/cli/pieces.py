"""Commandes `opsn factures emettre|abandonner|verifier|controler` : vie des brouillons,
journal chaîné des pièces émises et contrôle de conformité."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opsn.cli.base import (
    _actor,
    _date_option,
    _django,
    _fail,
    _migrate,
    _operators,
    _year,
    console,
    err,
)
from opsn.cli.facturation import factures_app


def _messages(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", [str(exc)]))


@factures_app.command("emettre")
def factures_emettre(
    annee: Annotated[int, typer.Option("--annee", help="Année facturée des brouillons.")],
    operateur: Annotated[str, typer.Option("--operateur")],
    date_emission: Annotated[
        str | None, typer.Option("--date-emission", help="AAAA-MM-JJ ; par défaut aujourd'hui.")
    ] = None,
    utilisateur: Annotated[str | None, typer.Option("--utilisateur")] = None,
) -> None:
    """Émet les brouillons de l'année (créés par « opsn facturer --apply --brouillons »)."""
    issued_on = _date_option(date_emission, "--date-emission")
    annee = _year(annee, issued_on)
    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    from opsn.facturation.billing import invoices_issue_drafts

    (operator,) = _operators(operateur)
    try:
        issued = invoices_issue_drafts(
            actor=_actor(utilisateur), operator=operator, year=annee, issued_on=issued_on
        )
    except (PermissionDenied, ValidationError) as exc:
        _fail(_messages(exc))
        return
    if not issued:
        console.print(f"Aucun brouillon {annee} à émettre chez {operator.code}.")
        return
    console.print(
        f"[green]{len(issued)} pièce(s) émise(s)[/] ({issued[0].number} à {issued[-1].number}).",
        highlight=False,
    )


@factures_app.command("abandonner")
def factures_abandonner(
    annee: Annotated[int, typer.Option("--annee", help="Année facturée des brouillons.")],
    operateur: Annotated[str, typer.Option("--operateur")],
    utilisateur: Annotated[str | None, typer.Option("--utilisateur")] = None,
) -> None:
    """Abandonne les brouillons de l'année : aucun numéro n'est consommé."""
    annee = _year(annee)
    _django()
    _migrate()
    from django.core.exceptions import PermissionDenied, ValidationError

    from opsn.facturation.billing import drafts_cancel

    (operator,) = _operators(operateur)
    try:
        count = drafts_cancel(actor=_actor(utilisateur), operator=operator, year=annee)
    except (PermissionDenied, ValidationError) as exc:
        _fail(_messages(exc))
        return
    console.print(f"{count} brouillon(s) {annee} abandonné(s) chez {operator.code}.")


@factures_app.command("verifier")
def factures_verifier(
    operateur: Annotated[str | None, typer.Option("--operateur")] = None,
) -> None:
    """Recalcule le journal chaîné des pièces émises et des PDF conservés ; nomme la rupture."""
    _django()
    _migrate()
    from opsn.facturation.journal import verify_chain

    broken = 0
    for operator in _operators(operateur):
        report = verify_chain(operator)
        if report.ok:
            console.print(
                f"[green]✓[/] {operator.code} : {report.entries} pièce(s) au journal, chaîne "
                f"intacte ; {report.documents} PDF conservé(s) conforme(s).",
                highlight=False,
            )
        else:
            broken += 1
            err.print(
                f"[red]✗[/] {operator.code} : première rupture – {report.first_break}",
                highlight=False,
            )
    if broken:
        raise typer.Exit(code=1)


@factures_app.command("controler")
def factures_controler(
    annee: Annotated[int, typer.Option("--annee")],
    operateur: Annotated[str, typer.Option("--operateur")],
    rapport: Annotated[
        Path | None, typer.Option("--rapport", help="Écrire aussi les constats dans ce fichier.")
    ] = None,
) -> None:
    """Contrôle les pièces émises de l'année sous EN 16931, Factur-X et BR-FR."""
    annee = _year(annee)
    _django()
    _migrate()
    from opsn.facturation.conformite import check
    from opsn.gestion.models import Invoice, InvoiceStatus

    (operator,) = _operators(operateur)
    invoices = Invoice.objects.filter(
        operator=operator, year=annee, status=InvoiceStatus.ISSUED
    ).order_by("sequence_number")
    lines: list[str] = []
    fatal_count = 0
    total = 0
    for invoice in invoices.iterator():
        total += 1
        for finding in check(invoice.xml.encode("utf-8")):
            fatal_count += finding.fatal
            lines.append(f"{invoice.number} {finding}")
    for line in lines:
        (err if "(fatal)" in line else console).print(line, highlight=False)
    if rapport is not None:
        from opsn.cli.base import _write_text

        _write_text(rapport, "\n".join(lines) + "\n")
    console.print(
        f"{total} pièce(s) contrôlée(s) : {fatal_count} erreur(s) bloquante(s), "
        f"{len(lines) - fatal_count} avertissement(s).",
        highlight=False,
    )
    if fatal_count:
        raise typer.Exit(code=1)
