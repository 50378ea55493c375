"""Travail réparti sur plusieurs travailleurs (`opsn travailleur`), sur une ou plusieurs
machines, devant une seule base PostgreSQL (docs/exploitation.md, « Plusieurs machines »).

- Campagnes : une tâche par opérateur (`taches.billing_run_task`). Chacune est une seule
  transaction sous le verrou de la séquence de son opérateur (ligne verrouillée et verrou
  consultatif) : deux opérateurs se facturent en même temps sur deux travailleurs, deux
  campagnes d'un même opérateur se suivent. Sous SQLite, un seul écrivain à la fois : les
  campagnes se suivent, quel que soit le nombre de travailleurs.
- Documents : les PDF des pièces émises, par lots de `DOCUMENTS_BATCH` pièces
  (`documents_task`, file « documents ») que les travailleurs se partagent. Chaque PDF
  est conservé en base avec son empreinte (`journal.keep_pdfs`) : un travailleur n'a pas
  d'état à lui, n'importe lequel peut reprendre un lot interrompu (les PDF déjà conservés
  ne sont pas refaits).

`start_campaigns` met en file les campagnes de plusieurs opérateurs, avec, si demandé, le
rendu de leurs documents à la suite (`documents=True` : chaque campagne réussie met en file
les lots de ses pièces).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django_tasks import task

from opsn.facturation.journal import keep_pdfs
from opsn.gestion.models import BackgroundTask, Invoice, InvoiceDocument, InvoiceStatus, Operator
from opsn.plateforme.taches import Outcome, Run, execute, start

DOCUMENTS_BATCH = 250


@task(takes_context=True, queue_name="documents")
def documents_task(
    context: Any, *, user_id: int, operator_id: int, ids: list[int]
) -> dict[str, Any]:
    """PDF Factur-X d'un lot de pièces émises, rendus et conservés en base."""

    def body(run: Run) -> Outcome:
        mine = list(
            Invoice.objects.filter(
                pk__in=ids, operator_id=operator_id, status=InvoiceStatus.ISSUED
            ).values_list("pk", flat=True)
        )
        run.step("Rendu des PDF", total=len(mine))
        count = keep_pdfs(mine, progress=run.progress)
        return Outcome(
            f"{count} PDF rendu(s) et conservé(s) sur {len(mine)} pièce(s) du lot.",
            data={"pdf": count, "pieces": len(mine)},
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)


def start_documents(
    *, operator: Operator, user: Any, ids: Iterable[int] | None = None, year: int | None = None
) -> list[BackgroundTask]:
    """Met en file le rendu des PDF des pièces `ids` (par défaut : toutes les pièces
    émises de l'année `year` qui n'ont pas encore de PDF conservé), par lots."""
    if ids is None:
        ids = (
            Invoice.objects.filter(operator=operator, year=year, status=InvoiceStatus.ISSUED)
            .exclude(pk__in=InvoiceDocument.objects.values("invoice_id"))
            .order_by("sequence_number")
            .values_list("pk", flat=True)
        )
    todo = list(ids)
    records = []
    for start_at in range(0, len(todo), DOCUMENTS_BATCH):
        batch = todo[start_at : start_at + DOCUMENTS_BATCH]
        records.append(
            start(
                documents_task,
                kind="documents",
                label=f"PDF de {len(batch)} pièce(s) – {operator.name}",
                operator=operator,
                user=user,
                action="facturer",
                params={"ids": batch},
            )
        )
    return records


def start_campaigns(
    *,
    operators: Iterable[Operator],
    year: int,
    user: Any,
    issued_on: dt.date | None = None,
    documents: bool = False,
) -> list[BackgroundTask]:
    """Met en file la campagne de chaque opérateur (une tâche chacun), et, si `documents`,
    le rendu des PDF de ses pièces dès qu'elle a réussi."""
    from opsn.facturation import taches

    params: dict[str, Any] = {"year": year, "documents": documents}
    if issued_on is not None:
        params["issued_on"] = issued_on.isoformat()
    return [
        start(
            taches.billing_run_task,
            kind="facturation",
            label=f"Campagne de facturation {year} – {operator.name}",
            operator=operator,
            user=user,
            action="facturer",
            params=params,
        )
        for operator in operators
    ]
