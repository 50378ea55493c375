"""Exports pour la comptabilité publique : titres de recettes (CSV) et archive des PDF.

Colonnes du CSV des titres (une ligne par facture et par imputation, docs/facturation.md) :
numero_piece, nature, date_emission, exercice (année de la date d'émission), annee_facturee,
debiteur, siren, siret, code_service,
numero_engagement, imputation, objet, montant_ht, montant_tva, montant_ttc, piece_origine.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
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


def render_pdfs(
    operator: Operator,
    year: int,
    directory: Path,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """PDF Factur-X de toutes les pièces émises de l'année, en parallèle ; un PDF déjà
    présent n'est pas refait (la pièce émise ne change plus)."""
    from django.db import connections

    directory.mkdir(parents=True, exist_ok=True)
    ids = list(
        Invoice.objects.filter(operator=operator, year=year, status=InvoiceStatus.ISSUED)
        .order_by("sequence_number")
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    size = max(1, min(200, -(-len(ids) // workers)))
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    connections.close_all()
    done: list[Path] = []
    if workers <= 1:
        for batch in batches:
            done.extend(Path(p) for p in pdf_worker.render_batch(batch, str(directory)))
            if progress:
                progress(len(done), len(ids))
        return done
    import multiprocessing

    with ProcessPoolExecutor(
        max_workers=workers,
        initializer=pdf_worker.init,
        mp_context=multiprocessing.get_context("spawn"),
    ) as pool:
        for paths in pool.map(pdf_worker.render_batch, batches, [str(directory)] * len(batches)):
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
