"""Chronologie d'un émetteur, pièces émises protégées par la base, journal chaîné,
avoirs partiels, nouvelle facture après avoir total, vie des brouillons."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import zlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from opsn.facturation.billing import (
    billing_run,
    drafts_cancel,
    invoice_credit,
    invoices_issue_drafts,
)
from opsn.facturation.conformite import fatal
from opsn.facturation.journal import kept_pdf, verify_chain
from opsn.gestion.integrity import drop_triggers, install_triggers
from opsn.gestion.models import (
    Invoice,
    InvoiceDocument,
    InvoiceLine,
    InvoiceSequence,
    JournalEntry,
    Operator,
)
from opsn.gestion.permissions import SYSTEM

from .scenarios import build_gironde_documents

D = Decimal
ISSUED = dt.date(2022, 1, 15)


@pytest.fixture
def gironde(db):
    members = build_gironde_documents()
    operator = Operator.objects.get(code="gironde-numerique")
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=ISSUED)
    assert len(report.created) == 3 and not report.blocked
    invoices = {k: Invoice.objects.get(member=m, kind="facture") for k, m in members.items()}
    return {"operator": operator, "members": members, **invoices}


# -- chronologie ------------------------------------------------------------------------


def test_backdated_run_is_refused_and_consumes_nothing(gironde) -> None:
    operator = gironde["operator"]
    with pytest.raises(ValidationError, match="15/01/2022"):
        billing_run(actor=SYSTEM, operator=operator, year=2022, issued_on=dt.date(2020, 1, 1))
    assert not InvoiceSequence.objects.filter(operator=operator, prefix="2020").exists()
    assert not Invoice.objects.filter(operator=operator, year=2022).exists()


@pytest.mark.parametrize("year", [2024, 1999, 2099])
def test_billing_beyond_next_year_or_before_2000_is_refused(gironde, year: int) -> None:
    with pytest.raises(ValidationError, match="Année facturée"):
        billing_run(
            actor=SYSTEM, operator=gironde["operator"], year=year, issued_on=dt.date(2022, 2, 1)
        )


def test_next_year_may_be_billed_in_advance(gironde) -> None:
    """L'année suivante peut être facturée d'avance (émetteur neuf : aucune pièce avant)."""
    from .scenarios import load_case

    p01 = load_case("P01")  # CDG82, aucune pièce émise
    report = billing_run(
        actor=SYSTEM, operator=p01.operator, year=2022, issued_on=dt.date(2021, 12, 20)
    )
    assert not report.blocked, [b.blocking for b in report.blocked]
    assert report.created and report.created[0].number.startswith("2021-")


def test_credit_note_dated_before_the_last_document_is_refused(gironde) -> None:
    with pytest.raises(ValidationError, match="Ordre chronologique"):
        invoice_credit(
            actor=SYSTEM, invoice=gironde["vat"], reason="Erreur", issued_on=dt.date(2000, 1, 1)
        )
    with pytest.raises(ValidationError, match="2000 à 2099"):
        invoice_credit(
            actor=SYSTEM, invoice=gironde["vat"], reason="Erreur", issued_on=dt.date(1999, 1, 1)
        )


# -- la base protège les pièces émises ------------------------------------------------------


def _raw(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE gestion_invoice SET total_ttc = 1 WHERE id = %s",
        "UPDATE gestion_invoice SET status = 'brouillon', number = NULL WHERE id = %s",
        "DELETE FROM gestion_invoice WHERE id = %s",
        "UPDATE gestion_invoiceline SET amount = 1 WHERE invoice_id = %s",
        "DELETE FROM gestion_invoiceline WHERE invoice_id = %s",
        "UPDATE gestion_journalentry SET chain_hash = 'x' WHERE invoice_id = %s",
        "DELETE FROM gestion_journalentry WHERE invoice_id = %s",
    ],
)
def test_raw_sql_cannot_change_an_issued_document(gironde, sql: str) -> None:
    invoice = gironde["epci"]
    before = (invoice.total_ttc, invoice.lines.count(), invoice.xml)
    with pytest.raises(DatabaseError, match=r"(?i)pièce émise"):
        _raw(sql, [invoice.pk])
    invoice.refresh_from_db()
    assert (invoice.total_ttc, invoice.lines.count(), invoice.xml) == before


def test_raw_sql_cannot_change_a_kept_pdf(gironde) -> None:
    kept_pdf(gironde["vat"])
    with pytest.raises(DatabaseError):
        _raw(
            "UPDATE gestion_invoicedocument SET sha256 = 'x' WHERE invoice_id = %s",
            [gironde["vat"].pk],
        )
    with pytest.raises(DatabaseError):
        _raw("DELETE FROM gestion_invoicedocument WHERE invoice_id = %s", [gironde["vat"].pk])


def test_drafts_stay_editable_by_sql(gironde) -> None:
    from .scenarios import load_case

    p01 = load_case("P01")
    report = billing_run(
        actor=SYSTEM, operator=p01.operator, year=p01.year, issued_on=ISSUED, issue=False
    )
    draft = report.created[0]
    _raw("UPDATE gestion_invoiceline SET label = 'corrigé' WHERE invoice_id = %s", [draft.pk])
    assert set(InvoiceLine.objects.filter(invoice=draft).values_list("label", flat=True)) == {
        "corrigé"
    }


def test_triggers_survive_a_table_rebuild(gironde) -> None:
    """Sous SQLite, reconstruire une table (migration) perd ses déclencheurs : ils sont
    réinstallés après chaque migrate ; `install_triggers` est idempotent."""
    install_triggers(connection)
    install_triggers(connection)
    with pytest.raises(DatabaseError):
        _raw("DELETE FROM gestion_invoice WHERE id = %s", [gironde["mixed"].pk])


# -- journal chaîné -------------------------------------------------------------------------


def test_journal_chains_every_issued_document_and_names_a_tampered_one(gironde) -> None:
    operator = gironde["operator"]
    credit = invoice_credit(
        actor=SYSTEM, invoice=gironde["vat"], reason="Erreur", issued_on=dt.date(2022, 2, 1)
    )
    entries = list(JournalEntry.objects.filter(operator=operator).order_by("position"))
    assert [e.position for e in entries] == [1, 2, 3, 4]
    assert entries[-1].invoice == credit
    assert entries[0].previous_hash == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after.previous_hash == before.chain_hash
    assert entries[1].document_sha256 == hashlib.sha256(entries[1].invoice.xml.encode()).hexdigest()
    report = verify_chain(operator)
    assert report.ok and report.entries == 4, report.first_break

    tampered = entries[1].invoice
    drop_triggers(connection)
    try:
        forged = tampered.xml.replace(str(tampered.total_ttc), "1.00")
        assert forged != tampered.xml
        _raw(
            "UPDATE gestion_invoice SET xml_compressed = %s WHERE id = %s",
            [zlib.compress(forged.encode()), tampered.pk],
        )
    finally:
        install_triggers(connection)
    report = verify_chain(operator)
    assert not report.ok
    assert tampered.number in report.first_break and "rang 2" in report.first_break


def test_kept_pdf_is_served_byte_for_byte_and_checked(gironde) -> None:
    invoice = gironde["mixed"]
    first = kept_pdf(invoice)
    second = kept_pdf(invoice)
    assert first == second
    kept = InvoiceDocument.objects.get(invoice=invoice)
    assert kept.sha256 == hashlib.sha256(first).hexdigest()
    report = verify_chain(gironde["operator"])
    assert report.ok and report.documents == 1
    drop_triggers(connection)
    try:
        _raw(
            "UPDATE gestion_invoicedocument SET pdf = %s WHERE invoice_id = %s",
            [first[:-10] + b"altere%%EOF", invoice.pk],
        )
    finally:
        install_triggers(connection)
    report = verify_chain(gironde["operator"])
    assert not report.ok and invoice.number in report.first_break and "PDF" in report.first_break


# -- avoirs partiels et nouvelle facture ----------------------------------------------------


def test_partial_credit_note_by_lines_never_credits_a_line_twice(gironde) -> None:
    invoice = gironde["mixed"]
    lines = list(invoice.lines.order_by("position"))
    assert len(lines) >= 2
    day = dt.date(2022, 2, 1)
    first = invoice_credit(
        actor=SYSTEM, invoice=invoice, reason="Ligne 1 erronée", issued_on=day, positions=[1]
    )
    assert first.total_ht == -lines[0].amount
    assert [line.origin_position for line in first.lines.all()] == [1]
    assert fatal(first.xml.encode()) == []
    with pytest.raises(ValidationError, match="déjà annulée"):
        invoice_credit(actor=SYSTEM, invoice=invoice, reason="x", issued_on=day, positions=[1])
    rest = invoice_credit(actor=SYSTEM, invoice=invoice, reason="Le reste", issued_on=day)
    assert {line.origin_position for line in rest.lines.all()} == {
        line.position for line in lines[1:]
    }
    assert first.total_ttc + rest.total_ttc == -invoice.total_ttc
    with pytest.raises(ValidationError, match="entièrement annulée"):
        invoice_credit(actor=SYSTEM, invoice=invoice, reason="x", issued_on=day)


def test_partial_credit_note_by_amount(gironde) -> None:
    invoice = gironde["epci"]  # un seul régime : exonéré
    day = dt.date(2022, 2, 1)
    credit = invoice_credit(
        actor=SYSTEM, invoice=invoice, reason="Geste", issued_on=day, amount=D("1000.00")
    )
    assert (credit.total_ht, credit.total_tva, credit.total_ttc) == (
        D("-1000.00"),
        D("0.00"),
        D("-1000.00"),
    )
    assert fatal(credit.xml.encode()) == []
    with pytest.raises(ValidationError, match="dépasse"):
        invoice_credit(
            actor=SYSTEM, invoice=invoice, reason="Trop", issued_on=day, amount=invoice.total_ht
        )
    with pytest.raises(ValidationError, match="plusieurs régimes"):
        invoice_credit(
            actor=SYSTEM, invoice=gironde["mixed"], reason="x", issued_on=day, amount=D("10.00")
        )


def test_vat_of_a_partial_credit_note_is_computed_per_rate(gironde) -> None:
    invoice = gironde["vat"]  # TVA 20 %
    credit = invoice_credit(
        actor=SYSTEM,
        invoice=invoice,
        reason="Geste",
        issued_on=dt.date(2022, 2, 1),
        amount=D("100.05"),
    )
    assert credit.total_tva == D("-20.01")  # 100,05 × 20 % = 20,01 (demi supérieur)


def test_new_invoice_for_the_same_year_after_a_full_credit_note(gironde) -> None:
    operator, invoice = gironde["operator"], gironde["vat"]
    day = dt.date(2022, 2, 1)
    credit = invoice_credit(actor=SYSTEM, invoice=invoice, reason="Mauvais tiers", issued_on=day)
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=day)
    (again,) = report.created
    assert again.member == invoice.member and again.generation == 2
    assert again.total_ttc == invoice.total_ttc
    assert again.sequence_number == credit.sequence_number + 1, "même séquence, sans trou"
    assert billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=day).created == []


# -- brouillons --------------------------------------------------------------------------


def test_drafts_life_issue_in_order_or_cancel(db) -> None:
    from .scenarios import load_case

    p11 = load_case("P11")
    p12 = load_case("P12")
    operator = p11.operator
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=ISSUED, issue=False)
    assert len(report.created) == 2 and all(i.number is None for i in report.created)
    assert not JournalEntry.objects.filter(operator=operator).exists()
    issued = invoices_issue_drafts(actor=SYSTEM, operator=operator, year=2021, issued_on=ISSUED)
    assert [i.number for i in issued] == ["2022-000001", "2022-000002"]
    assert JournalEntry.objects.filter(operator=operator).count() == 2
    assert verify_chain(operator).ok
    del p12
    assert drafts_cancel(actor=SYSTEM, operator=operator, year=2021) == 0
