"""Documents d'une facture : XML CII EN 16931 (Factur-X), PDF/A-3b avec le XML embarqué,
état des prestations souscrites.

Le XML est construit bloc par bloc (un petit sérialiseur par bloc, comme lago-api) puis
vérifié contre le XSD Factur-X EN 16931 livré par le paquet `factur-x`.

Les PDF sont rendus par Typst (`pdf_typst`, qui dit pourquoi Typst et non plus WeasyPrint) ;
ce module met en forme leur contenu en français (montants `1 234,56 €`, dates, mentions) :
des chaînes seulement, que les gabarits affichent telles quelles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from lxml import etree

from opsn.core.money import fmt_fr
from opsn.facturation import pdf_typst
from opsn.gestion.models import Invoice, InvoiceKind, InvoiceLine
from opsn.gestion.templatetags.opsn_fr import nombre

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


# Mentions légales obligatoires (BR-FR-05), codes sujets UNTDID 4451.
LEGAL_NOTES = {
    "PMT": "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : "
    "40 € (articles L441-10 et D441-5 du code de commerce, L2192-13 du code de la commande "
    "publique).",
    "PMD": "Pénalités de retard : intérêts moratoires au taux légal applicable aux pouvoirs "
    "adjudicateurs (articles R2192-31 et suivants du code de la commande publique).",
    "AAB": "Pas d'escompte pour paiement anticipé.",
}
# Cadre de facturation (BT-23) : S1, dépôt d'une facture de prestation de services.
BILLING_FRAMEWORK = "S1"
# Moyen de paiement (BT-81, UNTDID 4461) : 30, virement.
PAYMENT_MEANS = "30"


def _party(parent: etree._Element, tag: str, data: dict, *, seller: bool, vat: bool) -> None:
    """Vendeur (BG-4) ou acheteur (BG-7) : SIRET (BT-29/BT-46, schéma 0009), SIREN
    (BT-30/BT-47, schéma 0002), adresse postale, adresse électronique (BT-34/BT-49), numéro
    de TVA du vendeur (BT-31) seulement s'il facture des prestations soumises ou exonérées."""
    party = _el(parent, tag)
    if data.get("siret"):
        _el(party, "ram:GlobalID", data["siret"], schemeID="0009")
    _el(party, "ram:Name", data.get("nom") or "—")
    if data.get("siren"):
        legal = _el(party, "ram:SpecifiedLegalOrganization")
        _el(legal, "ram:ID", data["siren"], schemeID="0002")
    address = _el(party, "ram:PostalTradeAddress")
    if data.get("code_postal"):
        _el(address, "ram:PostcodeCode", data["code_postal"])
    if data.get("adresse"):
        _el(address, "ram:LineOne", data["adresse"])
    if data.get("complement"):
        _el(address, "ram:LineTwo", data["complement"])
    if data.get("ville"):
        _el(address, "ram:CityName", data["ville"])
    _el(address, "ram:CountryID", "FR")
    if data.get("adresse_electronique"):
        uri = _el(party, "ram:URIUniversalCommunication")
        _el(
            uri,
            "ram:URIID",
            data["adresse_electronique"],
            schemeID=data.get("schema_adresse_electronique") or "0225",
        )
    if seller and vat and data.get("tva"):
        registration = _el(party, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", data["tva"], schemeID="VA")


def _header_document(root: etree._Element, invoice: Invoice) -> None:
    context = _el(root, "rsm:ExchangedDocumentContext")
    business = _el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter")
    _el(business, "ram:ID", BILLING_FRAMEWORK)
    guideline = _el(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _el(guideline, "ram:ID", "urn:cen.eu:en16931:2017")
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number)
    _el(document, "ram:TypeCode", "381" if invoice.kind == InvoiceKind.CREDIT_NOTE else "380")
    _date(document, "ram:IssueDateTime", invoice.issued_on)
    for mention in vat_mentions(invoice):
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", mention)
    if invoice.reason:
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", f"Motif de l'avoir : {invoice.reason}")
    for code, text in LEGAL_NOTES.items():
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", text)
        _el(note, "ram:SubjectCode", code)


def vat_mentions(invoice: Invoice) -> list[str]:
    """Mentions de TVA de la pièce (les mêmes sur le PDF et dans le XML) : celle du régime
    du catalogue, et pour les prestations hors champ le fondement propre à l'émetteur."""
    result: list[str] = []
    for vat in invoice.vat_breakdown:
        for text in (vat_reason(invoice, vat), vat.get("mention") or ""):
            if text and text not in result:
                result.append(text)
    return result


def vat_reason(invoice: Invoice, vat: dict) -> str:
    """Motif d'exonération (BT-120) : mention du régime exonéré (catalogue), ou fondement
    hors champ de l'émetteur (donnée de l'opérateur, par exemple article 256 B du CGI)."""
    if vat["type"] == "ttc":
        return invoice.issuer.get("mention_hors_champ") or ""
    if vat["type"] == "exonere":
        return vat.get("mention") or vat.get("libelle") or ""
    return ""


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
            _quantity(line.quantity),
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


def _quantity(value: Decimal) -> str:
    return f"{abs(value).quantize(Decimal('0.0001')).normalize():f}"


def _agreement(transaction: etree._Element, invoice: Invoice) -> None:
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.debtor.get("code_service"):
        _el(agreement, "ram:BuyerReference", invoice.debtor["code_service"])
    vat = any(v["type"] != "ttc" for v in invoice.vat_breakdown)
    _party(agreement, "ram:SellerTradeParty", invoice.issuer, seller=True, vat=vat)
    _party(agreement, "ram:BuyerTradeParty", invoice.debtor, seller=False, vat=vat)
    if invoice.debtor.get("numero_engagement"):
        order = _el(agreement, "ram:BuyerOrderReferencedDocument")
        _el(order, "ram:IssuerAssignedID", invoice.debtor["numero_engagement"])
    if invoice.debtor.get("convention"):
        contract = _el(agreement, "ram:ContractReferencedDocument")
        _el(contract, "ram:IssuerAssignedID", invoice.debtor["convention"])


def _settlement(transaction: etree._Element, invoice: Invoice) -> None:
    # Lieu de livraison (BG-13/BG-15) : les prestations sont rendues chez le débiteur.
    delivery = _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    ship_to = _el(delivery, "ram:ShipToTradeParty")
    _el(ship_to, "ram:Name", invoice.debtor.get("nom") or "—")
    place = _el(ship_to, "ram:PostalTradeAddress")
    if invoice.debtor.get("code_postal"):
        _el(place, "ram:PostcodeCode", invoice.debtor["code_postal"])
    if invoice.debtor.get("adresse"):
        _el(place, "ram:LineOne", invoice.debtor["adresse"])
    if invoice.debtor.get("ville"):
        _el(place, "ram:CityName", invoice.debtor["ville"])
    _el(place, "ram:CountryID", "FR")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:PaymentReference", invoice.number)
    _el(settlement, "ram:InvoiceCurrencyCode", "EUR")
    if invoice.issuer.get("iban"):
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", PAYMENT_MEANS)
        _el(means, "ram:Information", "Virement au comptable public assignataire")
        account = _el(means, "ram:PayeePartyCreditorFinancialAccount")
        _el(account, "ram:IBANID", invoice.issuer["iban"])
        if invoice.issuer.get("comptable"):
            _el(account, "ram:AccountName", invoice.issuer["comptable"][:70])
        if invoice.issuer.get("bic"):
            bank = _el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            _el(bank, "ram:BICID", invoice.issuer["bic"])
    for vat in invoice.vat_breakdown:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", _amount(Decimal(vat["tva"])))
        _el(tax, "ram:TypeCode", "VAT")
        if vat["type"] != "ht":
            _el(tax, "ram:ExemptionReason", vat_reason(invoice, vat) or vat.get("libelle", ""))
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
        original = invoice.credited_invoice
        ref = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(ref, "ram:IssuerAssignedID", original.number)
        holder = _el(ref, "ram:FormattedIssueDateTime")
        node = etree.SubElement(holder, f"{{{NS['qdt']}}}DateTimeString", format="102")
        node.text = original.issued_on.strftime("%Y%m%d")


def payment_terms(invoice: Invoice) -> str:
    due = f" au plus tard le {invoice.due_on:%d/%m/%Y}" if invoice.due_on else ""
    accountant = invoice.issuer.get("comptable") or "comptable public assignataire"
    return (
        f"Paiement à réception du titre de recettes{due}, par virement au comptable public "
        f"assignataire ({accountant})"
        f"{' (IBAN ' + invoice.issuer['iban'] + ')' if invoice.issuer.get('iban') else ''}. "
        "Pas d'escompte pour paiement anticipé."
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


# -- PDF (mise en forme ; rendu par Typst dans pdf_typst) -----------------------------------


def _day(value: dt.date | None) -> str:
    return f"{value:%d/%m/%Y}" if value else ""


def _creation_time(invoice: Invoice) -> dt.datetime:
    """Date de création du PDF : la date d'émission (à minuit UTC), jamais l'horloge, pour
    qu'un même document donne toujours les mêmes octets."""
    day = invoice.issued_on or invoice.period_end
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _party_lines(data: dict, *, debtor: bool, vat: bool) -> list[str]:
    lines = [data.get("adresse") or "", data.get("complement") or ""]
    lines.append(f"{data.get('code_postal') or ''} {data.get('ville') or ''}".strip())
    if debtor:
        if data.get("siren"):
            lines.append(f"SIREN {data['siren']}")
        if data.get("siret"):
            lines.append(f"SIRET {data['siret']}")
        if data.get("code_service"):
            lines.append(f"Code service : {data['code_service']}")
        if data.get("numero_engagement"):
            lines.append(f"N° d'engagement : {data['numero_engagement']}")
    else:
        if data.get("siret"):
            lines.append(f"SIRET {data['siret']}")
        elif data.get("siren"):
            lines.append(f"SIREN {data['siren']}")
        if data.get("tva") and vat:
            lines.append(f"N° TVA {data['tva']}")
        if data.get("adresse_electronique"):
            lines.append(f"Adresse de facturation électronique : {data['adresse_electronique']}")
    return [line for line in lines if line]


def invoice_document_data(invoice: Invoice, lines: list[InvoiceLine]) -> dict[str, Any]:
    """Contenu affiché par la facture (ou l'avoir), mis en forme en français : des chaînes
    seulement, que le gabarit Typst affiche telles quelles."""
    kind = invoice.get_kind_display()
    vat_applicable = any(v["type"] != "ttc" for v in invoice.vat_breakdown)
    dates = (
        f"Date d'émission : {_day(invoice.issued_on)} – Période facturée : du "
        f"{_day(invoice.period_start)} au {_day(invoice.period_end)}"
    )
    if invoice.credited_invoice_id:
        original = invoice.credited_invoice
        dates += f" – Avoir sur la facture n° {original.number} du {_day(original.issued_on)}"
    if invoice.debtor.get("convention"):
        dates += f" – Convention n° {invoice.debtor['convention']}"
    totals = [
        {
            "libelle": v.get("libelle", "")
            + (f" – base {fmt_fr(Decimal(v['base_ht']))}" if v["type"] == "ht" else ""),
            "montant": f"TVA {fmt_fr(Decimal(v['tva']))}",
            "fort": False,
        }
        for v in invoice.vat_breakdown
    ]
    totals += [
        {"libelle": "Total HT", "montant": fmt_fr(invoice.total_ht), "fort": False},
        {"libelle": "Total TVA", "montant": fmt_fr(invoice.total_tva), "fort": False},
        {"libelle": "Total TTC", "montant": fmt_fr(invoice.total_ttc), "fort": True},
    ]
    bic = f" BIC {invoice.issuer['bic']}." if invoice.issuer.get("bic") else ""
    mentions = [
        *vat_mentions(invoice),
        f"Conditions de paiement : {payment_terms(invoice)}{bic}",
        LEGAL_NOTES["PMT"],
        LEGAL_NOTES["PMD"],
    ]
    if invoice.reason:
        mentions.append(f"Motif : {invoice.reason}")
    mentions.append(
        f"Catalogue appliqué : {invoice.catalogue or '—'}. Chaque ligne indique la règle de la "
        "convention, la strate ou le palier, le prix de base et son année, et la révision "
        "appliquée."
    )
    number = invoice.number or ""
    return {
        "titre": f"{kind} {number}",
        "auteur": invoice.issuer.get("nom", ""),
        "sujet": f"{kind} {number} – {invoice.debtor.get('nom', '')}",
        "mots_cles": ["Factur-X", "facture"],
        "numero": number,
        "entete": f"{kind} n° {number}",
        "dates": dates,
        "emetteur": {
            "nom": invoice.issuer.get("nom") or "—",
            "lignes": _party_lines(invoice.issuer, debtor=False, vat=vat_applicable),
        },
        "debiteur": {
            "nom": invoice.debtor.get("nom") or "—",
            "lignes": _party_lines(invoice.debtor, debtor=True, vat=vat_applicable),
        },
        "lignes": [
            {
                "libelle": line.label,
                "explication": f"{line.rule} – {line.explanation}",
                "quantite": f"{nombre(line.quantity)} {line.unit}",
                "prix": fmt_fr(line.unit_price),
                "montant": fmt_fr(line.amount),
                "tva": f"{nombre(line.vat_rate)} %" if line.vat_kind == "ht" else line.vat_label,
            }
            for line in lines
        ],
        "totaux": totals,
        "mentions": mentions,
    }


def statement_document_data(invoice: Invoice, lines: list[InvoiceLine]) -> dict[str, Any]:
    """Contenu de l'état des prestations souscrites (chaînes mises en forme)."""
    number = invoice.number or ""
    rows = []
    for line in lines:
        rule = line.rule
        if line.stratum:
            rule += f" – strate/palier : {line.stratum}"
        if line.base_price is not None:
            rule += f" – prix de base {fmt_fr(line.base_price)} ({line.base_year})"
        if line.index_ratio:
            rule += f" – rapport d'indice {line.index_ratio}"
        rows.append(
            {
                "libelle": line.label,
                "quantite": f"{nombre(line.quantity)} {line.unit}",
                "regle": rule,
                "explication": line.explanation,
                "montant": fmt_fr(line.amount),
            }
        )
    debtor = invoice.debtor.get("nom", "")
    return {
        "titre": f"État des prestations souscrites {invoice.year}",
        "auteur": invoice.issuer.get("nom", ""),
        "sujet": f"État des prestations souscrites {invoice.year} – {debtor} – base de la "
        f"facture n° {number}",
        "mots_cles": ["état des prestations", "facture"],
        "numero": number,
        "entete": f"État des prestations souscrites – {invoice.year}",
        "introduction": f"{invoice.issuer.get('nom', '')} – {debtor} (SIRET "
        f"{invoice.debtor.get('siret', '')}) – base de la facture n° {number}",
        "lignes": rows,
        "conclusion": f"Total TTC : {fmt_fr(invoice.total_ttc)}. Aucune réduction au prorata "
        "temporis (001 art. 6.3).",
    }


def invoice_render_args(
    invoice: Invoice, lines: Iterable[InvoiceLine] | None = None
) -> tuple[dict[str, Any], dt.datetime, bytes]:
    """Ce qu'il faut au rendu d'une facture, sans Django : contenu mis en forme, date de
    création du PDF, XML Factur-X (celui enregistré à l'émission)."""
    xml = invoice.xml.encode("utf-8") if invoice.xml else invoice_xml(invoice)
    items = list(invoice.lines.all() if lines is None else lines)
    return invoice_document_data(invoice, items), _creation_time(invoice), xml


def invoice_pdf(invoice: Invoice, lines: Iterable[InvoiceLine] | None = None) -> bytes:
    """PDF/A-3b (et PDF/UA-1) de la facture avec son XML Factur-X EN 16931 embarqué
    (factur-x.xml, relation « Data ») et les métadonnées XMP Factur-X. Déterministe : une
    même pièce donne toujours les mêmes octets."""
    return pdf_typst.invoice_pdf_bytes(*invoice_render_args(invoice, lines))


def statement_pdf(invoice: Invoice) -> bytes:
    """État des prestations souscrites (001 art. 6.3), en PDF/A-3b (et PDF/UA-1)."""
    lines = list(invoice.lines.all())
    return pdf_typst.render(
        "etat", statement_document_data(invoice, lines), _creation_time(invoice)
    )
