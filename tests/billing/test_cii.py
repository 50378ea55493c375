"""XML CII écrit en texte (`opsn.facturation.cii`, chemin des campagnes) : octet pour octet
celui de l'arbre lxml (`documents.invoice_xml`), y compris pour des textes hostiles
(guillemets, chevrons, esperluettes, retours chariot, tabulations, caractères interdits)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsn.facturation import cii
from opsn.facturation.billing import billing_run, invoice_credit
from opsn.facturation.documents import invoice_xml
from opsn.gestion.models import Invoice, Operator
from opsn.gestion.permissions import SYSTEM

from .scenarios import build_gironde_documents


def _lines(invoice: Invoice) -> list[cii.CiiLine]:
    return [
        (
            line.position,
            line.label,
            line.unit_price,
            line.quantity,
            line.unit,
            line.vat_kind,
            line.vat_rate,
            line.amount,
        )
        for line in invoice.lines.order_by("position")
    ]


@pytest.mark.django_db
def test_campaign_documents_are_those_of_the_lxml_tree() -> None:
    build_gironde_documents()
    operator = Operator.objects.get(code="gironde-numerique")
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=dt.date(2022, 1, 15))
    assert len(report.created) >= 3
    first = Invoice.objects.filter(operator=operator).order_by("sequence_number").first()
    invoice_credit(
        actor=SYSTEM,
        invoice=first,
        reason="Erreur <de> « saisie » & co",
        issued_on=dt.date(2022, 2, 1),
    )
    fragments = cii.Fragments()
    invoices = list(Invoice.objects.filter(operator=operator).order_by("sequence_number"))
    assert any(i.kind == "avoir" for i in invoices)
    for invoice in invoices:
        expected = invoice_xml(invoice)
        assert invoice.xml.encode() == expected
        assert cii.document(invoice, _lines(invoice)).encode() == expected
        assert cii.document(invoice, _lines(invoice), fragments).encode() == expected


TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=("L", "N", "P", "S", "Zs"),
        include_characters="\"'<>&\r\n\t\x01\x0b",
    ),
    max_size=12,
)
AMOUNT = st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2)
QUANTITY = st.decimals(min_value=Decimal("-9999"), max_value=Decimal("9999"), places=3)
DAY = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


def _party(draw: st.DrawFn) -> dict:
    keys = (
        "nom",
        "siren",
        "siret",
        "tva",
        "adresse",
        "complement",
        "code_postal",
        "ville",
        "adresse_electronique",
        "schema_adresse_electronique",
        "code_service",
        "numero_engagement",
        "convention",
        "comptable",
        "iban",
        "bic",
        "mention_hors_champ",
    )
    return {key: draw(TEXT) for key in keys if draw(st.booleans())}


@st.composite
def documents(draw: st.DrawFn) -> tuple[SimpleNamespace, list]:
    vat_types = draw(st.lists(st.sampled_from(["ht", "exonere", "ttc"]), max_size=3))
    breakdown = [
        {
            "type": kind,
            "taux": str(draw(st.sampled_from([Decimal(0), Decimal("5.5"), Decimal(20)]))),
            "base_ht": str(draw(AMOUNT)),
            "tva": str(draw(AMOUNT)),
            "libelle": draw(TEXT),
            "mention": draw(TEXT),
        }
        for kind in vat_types
    ]
    credited = draw(st.booleans())
    invoice = SimpleNamespace(
        number=draw(TEXT) or "2022-000001",
        kind="avoir" if credited else "facture",
        issued_on=draw(DAY),
        reason=draw(TEXT) if credited else "",
        vat_breakdown=breakdown,
        issuer=_party(draw),
        debtor=_party(draw),
        period_start=draw(DAY),
        period_end=draw(DAY),
        due_on=draw(st.none() | DAY),
        total_ht=draw(AMOUNT),
        total_tva=draw(AMOUNT),
        total_ttc=draw(AMOUNT),
        credited_invoice_id=1 if credited else None,
        credited_invoice=SimpleNamespace(number=draw(TEXT), issued_on=draw(DAY)),
    )
    lines = [
        SimpleNamespace(
            position=position,
            label=draw(TEXT),
            unit_price=draw(AMOUNT),
            quantity=draw(QUANTITY),
            unit=draw(st.sampled_from(["jour", "Go", "SMS", "forfait", "an"])),
            vat_kind=draw(st.sampled_from(["ht", "exonere", "ttc"])),
            vat_rate=draw(st.sampled_from([Decimal(0), Decimal("5.50"), Decimal("20.00")])),
            amount=draw(AMOUNT),
        )
        for position in range(1, draw(st.integers(0, 4)) + 1)
    ]
    return invoice, lines


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_is_written_as_the_lxml_tree_writes_it(case) -> None:
    invoice, lines = case
    rows = [
        (x.position, x.label, x.unit_price, x.quantity, x.unit, x.vat_kind, x.vat_rate, x.amount)
        for x in lines
    ]
    try:
        expected = invoice_xml(invoice, lines=lines)
    except ValueError:
        with pytest.raises(ValueError):
            cii.document(invoice, rows)
        return
    assert cii.document(invoice, rows).encode() == expected
    assert cii.document(invoice, rows, cii.Fragments()).encode() == expected
