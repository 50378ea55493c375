"""Processus de rendu des PDF : ce module n'importe Django qu'après l'avoir initialisé,
pour pouvoir être chargé par un processus « spawn »."""

from __future__ import annotations

from pathlib import Path


def init() -> None:
    from opsn.web.bootstrap import setup

    setup()


def render_batch(ids: list[int], directory: str) -> list[str]:
    from opsn.facturation.documents import invoice_pdf
    from opsn.gestion.models import Invoice

    written = []
    for invoice in (
        Invoice.objects.filter(pk__in=ids)
        .prefetch_related("lines")
        .select_related("credited_invoice", "catalogue")
    ):
        path = Path(directory) / f"{invoice.number}.pdf"
        if not path.exists():
            tmp = path.with_suffix(".pdf.tmp")
            tmp.write_bytes(invoice_pdf(invoice))
            tmp.replace(path)
        written.append(str(path))
    return written
