"""Exports pour la comptabilité publique : titres de recettes (CSV) et archive des PDF.

Colonnes du CSV des titres (une ligne par facture et par imputation, docs/facturation.md) :
numero_piece, nature, date_emission, exercice (année de la date d'émission), annee_facturee,
debiteur, siren, siret, code_service,
numero_engagement, imputation, objet, montant_ht, montant_tva, montant_ttc, piece_origine.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    as_completed,
    wait,
)
from decimal import Decimal
from pathlib import Path

from opsn.core.money import round_cents
from opsn.facturation import pdf_worker
from opsn.gestion.models import Invoice, InvoiceStatus, Operator
from opsn.plateforme.csv import csv_text

TITRES_COLUMNS = (
    "numero_piece",
    "nature",
    "date_emission",
    "exercice",
    "annee_facturee",
    "debiteur",
    "siren",
    "siret",
    "code_service",
    "numero_engagement",
    "imputation",
    "objet",
    "montant_ht",
    "montant_tva",
    "montant_ttc",
    "piece_origine",
)
TITRES_AMOUNTS = ("exercice", "annee_facturee", "montant_ht", "montant_tva", "montant_ttc")
# Factures par lot de rendu PDF : des lots courts gardent les processus également occupés
# jusqu'au bout (un lot coûte deux requêtes ; une facture, quelques millisecondes de Typst).
PDF_BATCH = 50


def issued_invoices(operator: Operator, year: int) -> Iterable[Invoice]:
    return (
        Invoice.objects.filter(operator=operator, year=year, status=InvoiceStatus.ISSUED)
        .select_related("credited_invoice")
        .prefetch_related("lines")
        .order_by("sequence_number", "issued_on")
    )


def titres_rows(operator: Operator, year: int) -> list[dict[str, str]]:
    """Une ligne par pièce et par imputation ; la TVA de la pièce est répartie au prorata
    des bases HT de chaque imputation pour chaque taux (arrondi au centime, reste sur la
    dernière imputation pour que les totaux tombent juste)."""
    rows = []
    for invoice in issued_invoices(operator, year):
        by_account: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for line in invoice.lines.all():
            by_account[line.revenue_account or "706"][f"{line.vat_kind}:{line.vat_rate}"] += (
                line.amount
            )
        vat_by_rate = {
            f"{v['type']}:{Decimal(v['taux']):.2f}": Decimal(v["tva"])
            for v in invoice.vat_breakdown
        }
        net_by_rate: dict[str, Decimal] = defaultdict(Decimal)
        for amounts in by_account.values():
            for rate, net in amounts.items():
                net_by_rate[rate] += net
        accounts = sorted(by_account)
        vat_left = dict(vat_by_rate)
        for i, account in enumerate(accounts):
            net = sum(by_account[account].values(), Decimal(0))
            vat = Decimal(0)
            for rate, base in by_account[account].items():
                key = rate
                total_vat = vat_by_rate.get(key, Decimal(0))
                if i == len(accounts) - 1:
                    share = vat_left.get(key, Decimal(0))
                else:
                    share = (
                        round_cents(total_vat * base / net_by_rate[key])
                        if net_by_rate[key]
                        else Decimal(0)
                    )
                vat_left[key] = vat_left.get(key, Decimal(0)) - share
                vat += share
            rows.append(
                {
                    "numero_piece": invoice.number,
                    "nature": invoice.get_kind_display(),
                    "date_emission": invoice.issued_on.isoformat(),
                    "exercice": str(invoice.issued_on.year),
                    "annee_facturee": str(invoice.year),
                    "debiteur": invoice.debtor.get("nom", ""),
                    "siren": invoice.debtor.get("siren", ""),
                    "siret": invoice.debtor.get("siret", ""),
                    "code_service": invoice.debtor.get("code_service", ""),
                    "numero_engagement": invoice.debtor.get("numero_engagement", ""),
                    "imputation": account,
                    "objet": (
                        f"{invoice.get_kind_display()} {invoice.number} – prestations "
                        f"numériques {invoice.year}"
                    ),
                    "montant_ht": f"{net:.2f}",
                    "montant_tva": f"{vat:.2f}",
                    "montant_ttc": f"{net + vat:.2f}",
                    "piece_origine": invoice.credited_invoice.number
                    if invoice.credited_invoice
                    else "",
                }
            )
    return rows


def titres_csv(operator: Operator, year: int) -> str:
    """CSV des titres ; les cellules de texte (nom du débiteur, engagement…) sont neutralisées
    contre les formules de tableur, les montants restent des nombres."""
    return csv_text(TITRES_COLUMNS, titres_rows(operator, year), numeric=TITRES_AMOUNTS)


def pdf_jobs(ids: list[int], directory: Path, size: int) -> Iterator[list[pdf_worker.Job]]:
    """Lots de travaux de rendu, lus et mis en forme dans ce processus (un lot : deux
    requêtes) ; un PDF déjà présent n'est pas refait (la pièce émise ne change plus)."""
    from opsn.facturation.documents import invoice_render_args

    for start in range(0, len(ids), size):
        invoices = (
            Invoice.objects.filter(pk__in=ids[start : start + size])
            .prefetch_related("lines")
            .select_related("credited_invoice", "catalogue__operator")
            .order_by("sequence_number", "pk")
        )
        batch: list[pdf_worker.Job] = []
        for invoice in invoices:
            path = directory / f"{invoice.number}.pdf"
            if path.exists():
                batch.append((str(path), None, None, None))
            else:
                batch.append((str(path), *invoice_render_args(invoice)))
        yield batch


def render_in_pool(
    pool: ProcessPoolExecutor, batches: Iterable[list[pdf_worker.Job]], workers: int
) -> Iterator[list[str]]:
    """Confie les lots au pool au fur et à mesure, au plus deux par processus en attente :
    les processus ne chôment pas et la mémoire reste bornée (56 000 factures d'une
    campagne nationale ne sont jamais toutes en mémoire)."""
    pending: set[Future[list[str]]] = set()
    for batch in batches:
        if len(pending) >= 2 * workers:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
        pending.add(pool.submit(pdf_worker.render_jobs, batch))
    for future in as_completed(pending):
        yield future.result()


def pdf_pool(workers: int) -> ProcessPoolExecutor:
    """Pool de processus « spawn » de rendu (sans Django : `pdf_worker`)."""
    import multiprocessing

    return ProcessPoolExecutor(
        max_workers=workers,
        initializer=pdf_worker.init,
        mp_context=multiprocessing.get_context("spawn"),
    )


def render_pdfs(
    operator: Operator,
    year: int,
    directory: Path,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """PDF Factur-X de toutes les pièces émises de l'année, en parallèle ; un PDF déjà
    présent n'est pas refait (la pièce émise ne change plus). Ce processus lit et met en
    forme les factures, les processus de rendu (Typst seul) rendent et écrivent."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = list(
        Invoice.objects.filter(operator=operator, year=year, status=InvoiceStatus.ISSUED)
        .order_by("sequence_number")
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    size = max(1, min(PDF_BATCH, -(-len(ids) // workers)))
    batches = pdf_jobs(ids, directory, size)
    done: list[Path] = []
    if workers <= 1:
        results: Iterable[list[str]] = (pdf_worker.render_jobs(batch) for batch in batches)
        for paths in results:
            done.extend(Path(p) for p in paths)
            if progress:
                progress(len(done), len(ids))
        return done
    with pdf_pool(workers) as pool:
        for paths in render_in_pool(pool, batches, workers):
            done.extend(Path(p) for p in paths)
            if progress:
                progress(len(done), len(ids))
    return done


def pdf_zip(paths: list[Path], target: Path) -> Path:
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(paths):
            archive.write(path, arcname=path.name)
    tmp.replace(target)
    return target
