"""Numérotation et immuabilité des factures (R25) : séquence sans trou et chronologique
par émetteur, relance sans effet, brouillons abandonnés sans trou, avoirs, factures émises
intouchables, catalogues figés, droits de facturer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from lxml import etree

from opsn.facturation.billing import (
    billing_preview,
    billing_run,
    invoice_cancel_draft,
    invoice_credit,
    invoices_issue_drafts,
)
from opsn.facturation.documents import NS, check_xml
from opsn.gestion.models import (
    BillingRun,
    CatalogueVersion,
    ImmutableInvoiceError,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    Role,
)
from opsn.gestion.permissions import SYSTEM

D = Decimal
JAN15 = dt.date(2021, 1, 15)


@pytest.fixture
def cdg82(load):
    """Trois adhérents du CDG82 facturables en 2020 et en 2021."""
    loaded = [load(case_id) for case_id in ("P01", "P04", "P06")]
    return loaded[0].operator


def _numbers(operator) -> list[str]:
    return list(
        Invoice.objects.filter(operator=operator)
        .exclude(number=None)
        .order_by("sequence_number")
        .values_list("number", flat=True)
    )


def _run(operator, year=2020, issued_on=JAN15, **kwargs):
    return billing_run(actor=SYSTEM, operator=operator, year=year, issued_on=issued_on, **kwargs)


def test_numbers_are_gapless_and_chronological(cdg82) -> None:
    first = _run(cdg82, 2020, dt.date(2021, 1, 15))
    second = _run(cdg82, 2021, dt.date(2021, 2, 1))
    assert len(first.created) == len(second.created) == 3
    invoices = list(Invoice.objects.filter(operator=cdg82).order_by("sequence_number"))
    assert [i.number for i in invoices] == [f"2021-{n:06d}" for n in range(1, 7)]
    assert [i.sequence_number for i in invoices] == list(range(1, 7))
    dates = [i.issued_on for i in invoices]
    assert dates == sorted(dates), "la numérotation suit l'ordre chronologique"
    seq = InvoiceSequence.objects.get(operator=cdg82, prefix="2021")
    assert (seq.last_number, seq.last_issued_on) == (6, dt.date(2021, 2, 1))
    assert all(i.due_on == i.issued_on + dt.timedelta(days=30) for i in invoices)


def test_rerun_after_success_creates_nothing(cdg82) -> None:
    _run(cdg82)
    before = _numbers(cdg82)
    again = _run(cdg82)
    assert again.created == [], "une relance après succès ne crée rien"
    assert _numbers(cdg82) == before == ["2021-000001", "2021-000002", "2021-000003"]
    assert Invoice.objects.count() == 3
    assert InvoiceSequence.objects.get(operator=cdg82).last_number == 3
    assert {b.already_invoiced for b in again.bills} == set(before)
    assert not any(b.billable for b in billing_preview(operator=cdg82, year=2020))


def test_cancelled_draft_leaves_no_gap(cdg82) -> None:
    report = _run(cdg82, issue=False)
    drafts = list(Invoice.objects.order_by("pk"))
    assert len(report.created) == len(drafts) == 3
    assert {(d.status, d.number) for d in drafts} == {(InvoiceStatus.DRAFT, None)}
    assert not CatalogueVersion.objects.filter(locked=True).exists(), "un brouillon ne fige rien"

    cancelled = invoice_cancel_draft(actor=SYSTEM, invoice=drafts[1])
    issued = invoices_issue_drafts(actor=SYSTEM, operator=cdg82, year=2020, issued_on=JAN15)
    assert [i.pk for i in issued] == [drafts[0].pk, drafts[2].pk]
    assert _numbers(cdg82) == ["2021-000001", "2021-000002"], "pas de trou après abandon"
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.number) == (InvoiceStatus.CANCELLED, None)
    assert CatalogueVersion.objects.filter(locked=True).count() == 1

    # L'adhérent dont le brouillon a été abandonné est refacturé au numéro suivant.
    rerun = _run(cdg82)
    assert [(i.member_id, i.number) for i in rerun.created] == [
        (cancelled.member_id, "2021-000003")
    ]
    with pytest.raises(ValidationError, match="Seul un brouillon"):
        invoice_cancel_draft(actor=SYSTEM, invoice=Invoice.objects.get(number="2021-000001"))


def test_issue_date_before_the_last_one_is_refused(cdg82, load) -> None:
    _run(cdg82, issued_on=dt.date(2021, 3, 1))
    load("P02")  # un nouvel adhérent à facturer
    count = Invoice.objects.count()
    with pytest.raises(ValidationError) as exc:
        _run(cdg82, issued_on=dt.date(2021, 2, 1))
    message = " ".join(exc.value.messages)
    assert "chronologique" in message and "01/03/2021" in message, message
    assert Invoice.objects.count() == count, "tout ou rien : la campagne refusée n'écrit rien"
    assert BillingRun.objects.count() == 1
    seq = InvoiceSequence.objects.get(operator=cdg82)
    assert (seq.last_number, seq.last_issued_on) == (3, dt.date(2021, 3, 1))
    with pytest.raises(ValidationError, match="chronologique"):
        invoice_credit(
            actor=SYSTEM,
            invoice=Invoice.objects.get(number="2021-000001"),
            reason="Erreur",
            issued_on=dt.date(2021, 2, 1),
        )
    # Le même jour reste permis.
    assert len(_run(cdg82, issued_on=dt.date(2021, 3, 1)).created) == 1
    assert _numbers(cdg82)[-1] == "2021-000004"


def test_credit_note(cdg82) -> None:
    _run(cdg82)
    invoice = Invoice.objects.get(number="2021-000002")
    credit = invoice_credit(
        actor=SYSTEM, invoice=invoice, reason="Quantités erronées", issued_on=dt.date(2021, 2, 1)
    )
    credit.refresh_from_db()
    assert credit.number == "2021-000004", "l'avoir prend le numéro suivant de la séquence"
    assert credit.kind == InvoiceKind.CREDIT_NOTE and credit.status == InvoiceStatus.ISSUED
    assert credit.credited_invoice_id == invoice.pk
    assert (credit.total_ht, credit.total_tva, credit.total_ttc) == (
        -invoice.total_ht,
        -invoice.total_tva,
        -invoice.total_ttc,
    )
    assert credit.total_ttc < 0
    lines = list(credit.lines.all())
    assert len(lines) == invoice.lines.count()
    assert sum(line.amount for line in lines) == credit.total_ht
    assert all(line.amount <= 0 for line in lines)

    xml = credit.xml.encode()
    check_xml(xml)
    root = etree.fromstring(xml)
    assert root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "381"
    ref = root.find(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", NS)
    assert ref is not None and ref.text == invoice.number
    notes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)]
    assert any("Quantités erronées" in n for n in notes), notes
    original = etree.fromstring(invoice.xml.encode())
    assert original.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "380"

    with pytest.raises(ValidationError, match="déjà entièrement annulée"):
        invoice_credit(
            actor=SYSTEM, invoice=invoice, reason="Encore", issued_on=dt.date(2021, 2, 1)
        )
    with pytest.raises(ValidationError, match="corrige une facture"):
        invoice_credit(
            actor=SYSTEM, invoice=credit, reason="Avoir d'avoir", issued_on=dt.date(2021, 2, 1)
        )
    other = Invoice.objects.get(number="2021-000001")
    with pytest.raises(ValidationError, match="motif"):
        invoice_credit(actor=SYSTEM, invoice=other, reason="  ", issued_on=dt.date(2021, 2, 1))
    assert _numbers(cdg82) == [f"2021-{n:06d}" for n in range(1, 5)], "refus sans trou"


def _refused(action) -> None:
    """L'action lève ImmutableInvoiceError (dans un point de sauvegarde, pour continuer)."""
    with pytest.raises(ImmutableInvoiceError), transaction.atomic():
        action()


def test_issued_invoice_is_immutable(cdg82) -> None:
    _run(cdg82)
    invoice = Invoice.objects.get(number="2021-000001")
    snapshot = (
        invoice.total_ttc,
        invoice.xml,
        list(invoice.lines.values_list("amount", flat=True)),
    )
    invoice.total_ttc = D("1.00")
    _refused(invoice.save)
    _refused(lambda: Invoice.objects.filter(pk=invoice.pk).update(total_ttc=D("1.00")))
    _refused(
        lambda: Invoice.objects.filter(operator=cdg82).update(
            status=InvoiceStatus.DRAFT, number=None
        )
    )
    _refused(lambda: Invoice.objects.bulk_update([invoice], ["total_ttc"]))
    _refused(Invoice.objects.get(pk=invoice.pk).delete)
    _refused(lambda: Invoice.objects.filter(pk=invoice.pk).delete())
    line = invoice.lines.first()
    line.amount = D("0.01")
    _refused(line.save)
    _refused(lambda: InvoiceLine.objects.filter(invoice=invoice).update(amount=D("0.01")))
    _refused(lambda: InvoiceLine.objects.bulk_update([line], ["amount"]))
    _refused(lambda: InvoiceLine.objects.filter(invoice=invoice).delete())
    extra = InvoiceLine(
        **{
            f.attname: getattr(line, f.attname)
            for f in InvoiceLine._meta.concrete_fields
            if f.attname != "id"
        }
    )
    extra.position = 99
    _refused(extra.save)
    invoice.refresh_from_db()
    assert (
        invoice.total_ttc,
        invoice.xml,
        list(invoice.lines.values_list("amount", flat=True)),
    ) == snapshot, "la facture émise n'a pas changé"


def test_issued_invoice_line_instance_delete_is_refused(cdg82) -> None:
    _run(cdg82)
    invoice = Invoice.objects.get(number="2021-000001")
    line = invoice.lines.first()
    try:
        _refused(line.delete)
    finally:
        assert sum(x.amount for x in invoice.lines.all()) == invoice.total_ht, (
            "une ligne de la facture émise a disparu"
        )


def test_stale_draft_instance_cannot_delete_the_issued_invoice(cdg82) -> None:
    _run(cdg82, issue=False)
    stale = Invoice.objects.order_by("pk").first()
    invoices_issue_drafts(actor=SYSTEM, operator=cdg82, year=2020, issued_on=JAN15)
    assert Invoice.objects.get(pk=stale.pk).status == InvoiceStatus.ISSUED
    try:
        _refused(stale.delete)
    finally:
        assert _numbers(cdg82) == ["2021-000001", "2021-000002", "2021-000003"], (
            "une facture émise a été supprimée"
        )


def test_catalogue_locked_by_issued_invoices(cdg82) -> None:
    catalogue = CatalogueVersion.objects.get(operator=cdg82, version="2020")
    assert not catalogue.locked
    _run(cdg82)
    catalogue.refresh_from_db()
    assert catalogue.locked, "le catalogue d'une facture émise est figé"
    others = CatalogueVersion.objects.exclude(pk=catalogue.pk)
    assert not others.filter(locked=True).exists(), "seul le catalogue utilisé est figé"
    catalogue.content += "\n# modification\n"
    with pytest.raises(ValidationError, match="figée"):
        catalogue.save()


def test_billing_permissions(cdg82, users, load) -> None:
    gn = load("P12").operator
    technicien = users("technicien", cdg82, Role.TECHNICIAN)
    referent = users("referent", cdg82, Role.REFERENT, member=cdg82.members.order_by("pk").first())
    facturation_gn = users("facturation_gn", gn, Role.BILLING)
    for actor in (technicien, referent, facturation_gn):
        with pytest.raises(PermissionDenied, match="facturer"):
            billing_run(actor=actor, operator=cdg82, year=2020, issued_on=JAN15)
    assert not Invoice.objects.exists() and not BillingRun.objects.exists()

    facturation = users("facturation", cdg82, Role.BILLING)
    report = billing_run(actor=facturation, operator=cdg82, year=2020, issued_on=JAN15)
    assert len(report.created) == 3
    assert report.run.created_by == facturation
    invoice = report.created[0]
    with pytest.raises(PermissionDenied):
        invoice_credit(actor=technicien, invoice=invoice, reason="x", issued_on=JAN15)
    admin = users("admin", cdg82, Role.ADMIN)
    credit = invoice_credit(actor=admin, invoice=invoice, reason="x", issued_on=JAN15)
    assert credit.number == "2021-000004"


def test_two_operators_have_independent_sequences(cdg82, load) -> None:
    gn = load("P12").operator
    load("P13")
    assert gn != cdg82
    _run(cdg82, 2021, dt.date(2022, 1, 15))
    _run(gn, 2021, dt.date(2022, 1, 10))  # plus tôt : l'autre émetteur n'y fait rien
    assert _numbers(cdg82) == ["2022-000001", "2022-000002", "2022-000003"]
    assert _numbers(gn) == ["2022-000001", "2022-000002"]
    assert InvoiceSequence.objects.get(operator=gn).last_number == 2
    assert InvoiceSequence.objects.get(operator=cdg82).last_number == 3
    assert {i.issuer["siren"] for i in Invoice.objects.filter(operator=gn)} == {"200010049"}
