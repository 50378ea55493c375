"""Documents d'une facture : XML CII EN 16931 (Factur-X), PDF/A-3b (WeasyPrint) avec le
XML embarqué, état des prestations souscrites.

Le XML est construit bloc par bloc (un petit sérialiseur par bloc, comme lago-api) puis
vérifié contre le XSD Factur-X EN 16931 livré par le paquet `factur-x`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from lxml import etree

from opsn.core.money import fmt_fr
from opsn.gestion.models import Invoice, InvoiceKind, InvoiceLine

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
# Codes de catégorie de TVA (UNTDID 5305) par régime du catalogue.
VAT_CATEGORY = {"ht": "S", "exonere": "E", "ttc": "O"}
UNIT_CODES = {"jour": "DAY", "Go": "E34", "SMS": "C62"}


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    node = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", **attrs)
    if text is not None:
        node.text = text
    return node


def _amount(value: Decimal) -> str:
    return f"{abs(value):.2f}"


def _date(parent: etree._Element, tag: str, day: dt.date) -> None:
    holder = _el(parent, tag)
    _el(holder, "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _party(parent: etree._Element, tag: str, data: dict, *, buyer: bool) -> None:
    party = _el(parent, tag)
    _el(party, "ram:Name", data.get("nom") or "—")
    legal_id = data.get("siret") if buyer else data.get("siren")
    if legal_id:
        legal = _el(party, "ram:SpecifiedLegalOrganization")
        _el(legal, "ram:ID", legal_id, schemeID="0009" if buyer else "0002")
    address = _el(party, "ram:PostalTradeAddress")
    lines = [
        x.strip() for x in (data.get("adresse") or "").replace("\n", ",").split(",") if x.strip()
    ]
    postcode = next((w for x in lines for w in x.split() if w.isdigit() and len(w) == 5), None)
    if postcode:
        _el(address, "ram:PostcodeCode", postcode)
    if lines:
        _el(address, "ram:LineOne", lines[0])
    _el(address, "ram:CountryID", "FR")


def _header_document(root: etree._Element, invoice: Invoice) -> None:
    context = _el(root, "rsm:ExchangedDocumentContext")
    business = _el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter")
    _el(business, "ram:ID", "A1")  # cadre de facturation Chorus Pro : facture de prestation
    guideline = _el(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _el(guideline, "ram:ID", "urn:cen.eu:en16931:2017")
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number)
    _el(document, "ram:TypeCode", "381" if invoice.kind == InvoiceKind.CREDIT_NOTE else "380")
    _date(document, "ram:IssueDateTime", invoice.issued_on)
    for vat in invoice.vat_breakdown:
        if vat.get("mention"):
            note = _el(document, "ram:IncludedNote")
            _el(note, "ram:Content", vat["mention"])
    if invoice.reason:
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", f"Motif de l'avoir : {invoice.reason}")


def _line_items(transaction: etree._Element, lines: Iterable[InvoiceLine]) -> None:
    for line in lines:
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        doc = _el(item, "ram:AssociatedDocumentLineDocument")
        _el(doc, "ram:LineID", str(line.position))
        product = _el(item, "ram:SpecifiedTradeProduct")
        _el(product, "ram:Name", line.label)
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        price = _el(agreement, "ram:NetPriceProductTradePrice")
        _el(price, "ram:ChargeAmount", _amount(line.unit_price))
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(
            delivery,
            "ram:BilledQuantity",
            f"{abs(line.quantity).normalize():f}",
            unitCode=UNIT_CODES.get(line.unit, "C62"),
        )
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:CategoryCode", VAT_CATEGORY[line.vat_kind])
        if line.vat_kind != "ttc":
            _el(tax, "ram:RateApplicablePercent", f"{line.vat_rate:.2f}")
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", _amount(line.amount))


def _agreement(transaction: etree._Element, invoice: Invoice) -> None:
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.debtor.get("code_service"):
        _el(agreement, "ram:BuyerReference", invoice.debtor["code_service"])
    _party(agreement, "ram:SellerTradeParty", invoice.issuer, buyer=False)
    _party(agreement, "ram:BuyerTradeParty", invoice.debtor, buyer=True)
    if invoice.debtor.get("numero_engagement"):
        order = _el(agreement, "ram:BuyerOrderReferencedDocument")
        _el(order, "ram:IssuerAssignedID", invoice.debtor["numero_engagement"])


def _settlement(transaction: etree._Element, invoice: Invoice) -> None:
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", "EUR")
    for vat in invoice.vat_breakdown:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", _amount(Decimal(vat["tva"])))
        _el(tax, "ram:TypeCode", "VAT")
        if vat["type"] != "ht":
            _el(tax, "ram:ExemptionReason", vat.get("mention") or vat.get("libelle") or "")
        _el(tax, "ram:BasisAmount", _amount(Decimal(vat["base_ht"])))
        _el(tax, "ram:CategoryCode", VAT_CATEGORY[vat["type"]])
        if vat["type"] != "ttc":
            _el(tax, "ram:RateApplicablePercent", f"{Decimal(vat['taux']):.2f}")
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _date(period, "ram:StartDateTime", invoice.period_start)
    _date(period, "ram:EndDateTime", invoice.period_end)
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    _el(terms, "ram:Description", payment_terms(invoice))
    if invoice.due_on:
        _date(terms, "ram:DueDateDateTime", invoice.due_on)
    total = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(total, "ram:LineTotalAmount", _amount(invoice.total_ht))
    _el(total, "ram:TaxBasisTotalAmount", _amount(invoice.total_ht))
    _el(total, "ram:TaxTotalAmount", _amount(invoice.total_tva), currencyID="EUR")
    _el(total, "ram:GrandTotalAmount", _amount(invoice.total_ttc))
    _el(total, "ram:DuePayableAmount", _amount(invoice.total_ttc))
    if invoice.credited_invoice_id:
        ref = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(ref, "ram:IssuerAssignedID", invoice.credited_invoice.number)


def payment_terms(invoice: Invoice) -> str:
    due = f" au plus tard le {invoice.due_on:%d/%m/%Y}" if invoice.due_on else ""
    return (
        f"Paiement à réception du titre de recettes{due}, par virement au comptable "
        "public assignataire. Pas d'escompte pour paiement anticipé."
    )


def invoice_xml(invoice: Invoice, lines: Iterable[InvoiceLine] | None = None) -> bytes:
    """XML CII (profil EN 16931) de la facture émise (lignes en mémoire si fournies)."""
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    _header_document(root, invoice)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    _line_items(transaction, invoice.lines.all() if lines is None else lines)
    _agreement(transaction, invoice)
    _settlement(transaction, invoice)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_xml(xml: bytes) -> None:
    """Lève une erreur si le XML n'est pas valide contre le XSD Factur-X EN 16931."""
    import facturx

    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")


def _html(template: str, invoice: Invoice) -> str:
    lines = list(invoice.lines.all())
    return render_to_string(
        template,
        {
            "facture": invoice,
            "lignes": lines,
            "conditions": payment_terms(invoice),
            "euros": fmt_fr,
        },
    )


@functools.cache
def _font_config() -> Any:
    """Configuration des polices partagée par tous les PDF d'un processus (plus rapide)."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def invoice_pdf(invoice: Invoice) -> bytes:
    """PDF/A-3b de la facture avec son XML Factur-X EN 16931 embarqué (factur-x.xml)."""
    import facturx
    from weasyprint import HTML

    pdf = HTML(string=_html("gestion/documents/facture.html", invoice)).write_pdf(
        pdf_variant="pdf/a-3b",
        pdf_identifier=invoice.number.encode(),
        font_config=_font_config(),
    )
    xml = invoice.xml.encode("utf-8") if invoice.xml else invoice_xml(invoice)
    return facturx.generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        lang="fr-FR",
        pdf_metadata={
            "author": invoice.issuer.get("nom", ""),
            "keywords": "Factur-X, facture",
            "title": f"{invoice.get_kind_display()} {invoice.number}",
            "subject": f"{invoice.get_kind_display()} {invoice.number} – {invoice.debtor['nom']}",
        },
    )


def statement_pdf(invoice: Invoice) -> bytes:
    """État des prestations souscrites (001 art. 6.3), en PDF/A-3b."""
    from weasyprint import HTML

    return HTML(string=_html("gestion/documents/etat.html", invoice)).write_pdf(
        pdf_variant="pdf/a-3b", font_config=_font_config()
    )
