"""Journal chaîné des pièces émises et PDF conservés.

Chaque pièce émise (facture ou avoir) reçoit, dans la transaction qui l'émet, une entrée du
journal de son opérateur : l'empreinte SHA-256 de son XML Factur-X (qui porte numéro, date,
parties, lignes et totaux), enchaînée à l'entrée précédente
(`maillon = SHA-256(maillon précédent | rang | numéro | empreinte)`). Le journal et les
pièces émises sont protégés par des déclencheurs ; `verify_chain` recalcule tout et nomme la
première rupture. Le PDF d'une pièce est conservé à son premier rendu avec son empreinte,
et resservi tel quel ensuite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from opsn.gestion.models import (
    Invoice,
    InvoiceDocument,
    InvoiceStatus,
    JournalEntry,
    Operator,
)

GENESIS = "0" * 64


def document_hash(invoice: Invoice) -> str:
    return hashlib.sha256(invoice.xml.encode("utf-8")).hexdigest()


def chain_hash(previous: str, position: int, number: str, document: str) -> str:
    return hashlib.sha256(f"{previous}|{position}|{number}|{document}".encode()).hexdigest()


class JournalChain:
    """Fin de la chaîne du journal d'un opérateur, lue une fois sous le verrou de la
    séquence, puis prolongée pièce par pièce (`link`) : une campagne écrit ses entrées par
    lots, au fil de l'eau, sans relire le journal."""

    def __init__(self, operator: Operator) -> None:
        last = (
            JournalEntry.objects.filter(operator=operator)
            .order_by("-position")
            .values_list("chain_hash", "position")
            .first()
        )
        self.previous, self.position = last if last else (GENESIS, 0)

    def link(self, number: str, document: str) -> tuple[int, str, str]:
        """Rang, maillon précédent et maillon de la pièce suivante de la chaîne."""
        self.position += 1
        previous = self.previous
        self.previous = chain_hash(previous, self.position, number, document)
        return self.position, previous, self.previous


def journal_append(operator: Operator, invoices: Iterable[Invoice]) -> list[JournalEntry]:
    """Ajoute les pièces (déjà émises et enregistrées) au journal, dans l'ordre de leur rang
    dans la séquence. À appeler dans la transaction d'émission, sous le verrou."""
    chain = JournalChain(operator)
    entries = []
    ordered = sorted(invoices, key=lambda i: (i.issued_on, i.number))
    for invoice in ordered:
        document = document_hash(invoice)
        position, previous, link = chain.link(invoice.number, document)
        entries.append(
            JournalEntry(
                operator=operator,
                position=position,
                invoice=invoice,
                document_sha256=document,
                previous_hash=previous,
                chain_hash=link,
            )
        )
    JournalEntry.objects.bulk_create(entries, batch_size=1000)
    return entries


@dataclass(frozen=True)
class ChainReport:
    operator: str
    entries: int
    documents: int
    first_break: str | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify_chain(operator: Operator) -> ChainReport:
    """Recalcule la chaîne de l'opérateur ; la première rupture est nommée (rang, pièce,
    nature du problème)."""
    previous = GENESIS
    count = 0
    seen: set[int] = set()
    entries = (
        JournalEntry.objects.filter(operator=operator)
        .select_related("invoice")
        .order_by("position")
        .iterator(chunk_size=2000)
    )
    for expected_position, entry in enumerate(entries, start=1):
        count = expected_position
        invoice = entry.invoice
        where = f"rang {entry.position}, pièce {invoice.number}"
        if entry.position != expected_position:
            return ChainReport(operator.code, count, 0, f"{where} : rang manquant avant lui.")
        if entry.previous_hash != previous:
            return ChainReport(operator.code, count, 0, f"{where} : maillon précédent altéré.")
        if invoice.status != InvoiceStatus.ISSUED:
            return ChainReport(operator.code, count, 0, f"{where} : la pièce n'est plus émise.")
        document = document_hash(invoice)
        if document != entry.document_sha256:
            return ChainReport(
                operator.code,
                count,
                0,
                f"{where} : le contenu de la pièce (XML Factur-X) ne correspond plus à son "
                "empreinte au journal.",
            )
        if entry.chain_hash != chain_hash(previous, entry.position, invoice.number, document):
            return ChainReport(operator.code, count, 0, f"{where} : maillon altéré.")
        previous = entry.chain_hash
        seen.add(invoice.pk)
    missing = (
        Invoice.objects.filter(operator=operator, status=InvoiceStatus.ISSUED)
        .exclude(pk__in=seen)
        .order_by("sequence_number")
        .values_list("number", flat=True)
        .first()
    )
    if missing:
        return ChainReport(
            operator.code, count, 0, f"pièce {missing} : émise mais absente du journal."
        )
    documents = 0
    for kept in InvoiceDocument.objects.filter(invoice__operator=operator).select_related(
        "invoice"
    ):
        documents += 1
        pdf = bytes(kept.pdf)
        if hashlib.sha256(pdf).hexdigest() != kept.sha256:
            return ChainReport(
                operator.code,
                count,
                documents,
                f"pièce {kept.invoice.number} : le PDF conservé ne correspond plus à son "
                "empreinte.",
            )
        import facturx

        _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
        if xml != kept.invoice.xml.encode("utf-8"):
            return ChainReport(
                operator.code,
                count,
                documents,
                f"pièce {kept.invoice.number} : le XML embarqué dans le PDF conservé diffère "
                "de celui de la pièce.",
            )
    return ChainReport(operator.code, count, documents, None)


def kept_pdf(invoice: Invoice) -> bytes:
    """PDF Factur-X de la pièce émise : celui conservé au premier rendu, sinon rendu et
    conservé maintenant (avec son empreinte)."""
    kept = InvoiceDocument.objects.filter(invoice=invoice).first()
    if kept is not None:
        return bytes(kept.pdf)
    from opsn.facturation.documents import invoice_pdf

    pdf = invoice_pdf(invoice)
    try:
        with transaction.atomic():
            InvoiceDocument.objects.create(
                invoice=invoice, pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest()
            )
    except IntegrityError:  # rendu en même temps ailleurs : le premier conservé fait foi
        return bytes(InvoiceDocument.objects.get(invoice=invoice).pdf)
    return pdf


def keep_pdfs(ids: Sequence[int], *, progress: Callable[[int, int], None] | None = None) -> int:
    """Rend et conserve (avec leur empreinte) les PDF des pièces émises `ids` qui n'en ont
    pas encore ; rend le nombre de PDF rendus par cet appel. Sans état hors de la base :
    plusieurs travailleurs, sur plusieurs machines, peuvent s'y partager les pièces ; deux
    rendus simultanés d'une même pièce donnent les mêmes octets (rendu déterministe) et le
    premier conservé fait foi."""
    from opsn.facturation.documents import invoice_pdf

    kept = set(
        InvoiceDocument.objects.filter(invoice_id__in=ids).values_list("invoice_id", flat=True)
    )
    todo = [pk for pk in ids if pk not in kept]
    count = 0
    for start in range(0, len(todo), 100):
        invoices = (
            Invoice.objects.filter(pk__in=todo[start : start + 100], status=InvoiceStatus.ISSUED)
            .prefetch_related("lines")
            .select_related("credited_invoice", "catalogue__operator")
        )
        documents = []
        for invoice in invoices:
            pdf = invoice_pdf(invoice)
            documents.append(
                InvoiceDocument(invoice=invoice, pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest())
            )
        with transaction.atomic():
            created = InvoiceDocument.objects.bulk_create(documents, ignore_conflicts=True)
        count += len(created)
        if progress:
            progress(min(start + 100, len(todo)), len(todo))
    return count
