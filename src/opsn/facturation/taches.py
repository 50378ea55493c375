"""Tâches de fond de la facturation : campagne annuelle, archive des PDF, titres de
recettes (CSV). Lancées depuis les pages (`opsn.facturation.views`), exécutées par
`opsn travailleur` au nom de l'utilisateur qui les a lancées (`opsn.plateforme.taches`)."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from opsn.facturation import billing, exports
from opsn.gestion.models import Invoice
from opsn.plateforme.taches import Outcome, Run, execute, write_atomically


def _invoices_link(run: Run, year: int) -> str:
    return f"{reverse('factures')}?{urlencode({'operateur': run.operator.code, 'annee': year})}"


@task(takes_context=True)
def billing_run_task(
    context: Any,
    *,
    user_id: int,
    operator_id: int,
    year: int,
    issued_on: str | None = None,
    documents: bool = False,
) -> dict[str, Any]:
    """Campagne annuelle d'un opérateur : tout ou rien (une transaction), relançable.
    Sans `issued_on`, les factures sont datées du jour où la tâche s'exécute. Avec
    `documents`, le rendu des PDF des pièces émises est mis en file à la suite, par lots
    que les travailleurs se partagent (`repartition`)."""

    def body(run: Run) -> Outcome:
        issued = dt.date.fromisoformat(issued_on) if issued_on else timezone.localdate()
        run.step("Calcul des adhérents")
        report = billing.billing_run(
            actor=run.user,
            operator=run.operator,
            year=year,
            issued_on=issued,
            progress=run.progress,
        )
        numbers = sorted(
            Invoice.objects.filter(run=report.run, number__isnull=False).values_list(
                "number", flat=True
            )
        )
        if documents and numbers:
            from opsn.facturation.repartition import start_documents

            start_documents(operator=run.operator, user=run.user, ids=report.created.ids)
        blocked = len(report.blocked)
        if report.created:
            summary = f"{len(report.created)} facture(s) émise(s) pour {year}"
            if numbers:
                summary += f" (n° {numbers[0]} à {numbers[-1]}, datées du {issued:%d/%m/%Y})"
        else:
            summary = f"Aucune facture à émettre pour {year} (déjà facturé ou rien de dû)"
        summary += f" ; {blocked} adhérent(s) bloqué(s)." if blocked else "."
        return Outcome(
            summary,
            link=_invoices_link(run, year),
            data={"factures": len(report.created), "numeros": numbers, "bloques": blocked},
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)


@task(takes_context=True, queue_name="documents")
def pdf_archive_task(context: Any, *, user_id: int, operator_id: int, year: int) -> dict[str, Any]:
    """Archive ZIP des PDF Factur-X des pièces émises de l'année. Les PDF déjà rendus par
    une tentative interrompue sont repris (dossier de travail partagé par les relances)."""

    def body(run: Run) -> Outcome:
        folder = run.work_dir
        run.step("Rendu des PDF")
        paths = exports.render_pdfs(
            run.operator, year, folder / "pdf", workers=1, progress=run.progress
        )
        if not paths:
            return Outcome(f"Aucune pièce émise en {year} : pas d'archive.")
        run.step("Constitution de l'archive ZIP")
        archive = exports.pdf_zip(paths, folder / f"factures-{run.operator.code}-{year}.zip")
        shutil.rmtree(folder / "pdf", ignore_errors=True)  # ils sont dans l'archive
        return Outcome(
            f"Archive de {len(paths)} PDF prête.",
            link=_invoices_link(run, year),
            output=archive,
            data={"pdf": len(paths)},
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)


@task(takes_context=True)
def titres_export_task(
    context: Any, *, user_id: int, operator_id: int, year: int
) -> dict[str, Any]:
    """CSV des titres de recettes de l'année (une ligne par pièce et par imputation)."""

    def body(run: Run) -> Outcome:
        run.step("Titres de recettes")
        text = exports.titres_csv(run.operator, year)
        rows = max(text.count("\n") - 1, 0)
        path = write_atomically(
            run.work_dir / f"titres-{run.operator.code}-{year}.csv", text.encode("utf-8")
        )
        return Outcome(
            f"{rows} ligne(s) de titres de recettes pour {year}.",
            link=_invoices_link(run, year),
            output=path,
            data={"lignes": rows},
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)


@task(takes_context=True, queue_name="documents")
def pes_export_task(
    context: Any, *, user_id: int, operator_id: int, year: int, only_new: bool = False
) -> dict[str, Any]:
    """Flux PES V2 Recette de l'année facturée : numérotation des pièces nouvelles (tout ou
    rien, relançable sans trou ni doublon), PDF joints, flux validé contre le XSD."""
    from opsn.facturation import pes

    def body(run: Run) -> Outcome:
        run.step("Numérotation des titres et construction du flux PES")
        flow = pes.pes_export(
            actor=run.user,
            operator=run.operator,
            year=year,
            day=timezone.localdate(),
            only_new=only_new,
            progress=run.progress,
        )
        path = write_atomically(run.work_dir / flow.filename, flow.xml)
        return Outcome(
            f"Flux PES V2 Recette {year} prêt ({flow.filename}).",
            link=_invoices_link(run, year),
            output=path,
            data={"fichier": flow.filename},
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)


@task(takes_context=True)
def drafts_issue_task(context: Any, *, user_id: int, operator_id: int, year: int) -> dict[str, Any]:
    """Émet les brouillons de l'année (numéros suivants, datés du jour de l'exécution)."""

    def body(run: Run) -> Outcome:
        run.step("Émission des brouillons")
        issued = billing.invoices_issue_drafts(
            actor=run.user, operator=run.operator, year=year, issued_on=timezone.localdate()
        )
        numbers = [i.number for i in issued]
        span = f" (n° {numbers[0]} à {numbers[-1]})" if numbers else ""
        return Outcome(
            f"{len(issued)} brouillon(s) émis{span}.",
            link=_invoices_link(run, year),
            data={"factures": len(issued), "numeros": numbers},
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)
