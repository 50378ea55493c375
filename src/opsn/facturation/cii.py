"""XML CII (profil EN 16931, Factur-X) d'une pièce, écrit directement en texte.

Le document est celui que construisait l'arbre lxml (un petit sérialiseur par bloc, comme
lago-api), octet pour octet : même déclaration, mêmes espaces de noms, indentation de deux
espaces, mêmes échappements (`&`, `<`, `>`, retour chariot ; guillemets, sauts de ligne et
tabulations en plus dans les attributs) et même refus des caractères interdits en XML.
`tests/billing/test_cii.py` le compare à la construction lxml de référence.

Pourquoi du texte : à l'échelle nationale (56 000 factures, 480 000 lignes), l'arbre lxml
coûtait à lui seul plus que la tarification. Une campagne prépare une fois les blocs qui ne
changent pas d'une pièce à l'autre (contexte, mentions légales, vendeur, moyens de
paiement : `Fragments`) et réutilise le texte des lignes identiques.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from opsn.facturation.documents import (
    BILLING_FRAMEWORK,
    LEGAL_NOTES,
    NS,
    PAYMENT_MEANS,
    UNIT_CODES,
    VAT_CATEGORY,
    payment_terms,
    vat_mentions,
    vat_reason,
)

# Une ligne de pièce : rang, libellé, prix unitaire, quantité, unité, type et taux de TVA,
# montant (valeurs des colonnes de `InvoiceLine`).
CiiLine = tuple[int, str, Decimal, Decimal, str, str, Decimal, Decimal]

DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_ROOT = (
    "<rsm:CrossIndustryInvoice"
    + "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
    + ">\n"
)
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_Q4 = Decimal("0.0001")


def _check(value: str) -> str:
    if _FORBIDDEN.search(value):  # message de lxml, qui refusait ces caractères
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control "
            "characters"
        )
    return value


def _t(value: str) -> str:
    """Texte d'élément échappé comme libxml2."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return _check(value)


def _a(value: str) -> str:
    """Valeur d'attribut échappée comme libxml2."""
    value = _t(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\n" in value:
        value = value.replace("\n", "&#10;")
    if "\t" in value:
        value = value.replace("\t", "&#9;")
    return value


def _amount(value: Decimal) -> str:
    return f"{abs(value):.2f}"


def _quantity(value: Decimal) -> str:
    return f"{abs(value).quantize(_Q4).normalize():f}"


def _day(value: dt.date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _date(indent: str, tag: str, value: dt.date) -> str:
    return (
        f"{indent}<{tag}>\n"
        f'{indent}  <udt:DateTimeString format="102">{_day(value)}</udt:DateTimeString>\n'
        f"{indent}</{tag}>\n"
    )


def _leaf(indent: str, tag: str, text: str, attrs: str = "") -> str:
    return f"{indent}<{tag}{attrs}>{_t(text)}</{tag}>\n"


def party(tag: str, data: dict, *, seller: bool, vat: bool, indent: str = "      ") -> str:
    """Vendeur (BG-4) ou acheteur (BG-7) : SIRET (BT-29/BT-46, schéma 0009), SIREN
    (BT-30/BT-47, schéma 0002), adresse postale, adresse électronique (BT-34/BT-49), numéro
    de TVA du vendeur (BT-31) seulement s'il facture des prestations soumises ou exonérées."""
    i1, i2 = indent + "  ", indent + "    "
    out = [f"{indent}<{tag}>\n"]
    if data.get("siret"):
        out.append(_leaf(i1, "ram:GlobalID", data["siret"], ' schemeID="0009"'))
    out.append(_leaf(i1, "ram:Name", data.get("nom") or "—"))
    if data.get("siren"):
        out.append(f"{i1}<ram:SpecifiedLegalOrganization>\n")
        out.append(_leaf(i2, "ram:ID", data["siren"], ' schemeID="0002"'))
        out.append(f"{i1}</ram:SpecifiedLegalOrganization>\n")
    out.append(f"{i1}<ram:PostalTradeAddress>\n")
    if data.get("code_postal"):
        out.append(_leaf(i2, "ram:PostcodeCode", data["code_postal"]))
    if data.get("adresse"):
        out.append(_leaf(i2, "ram:LineOne", data["adresse"]))
    if data.get("complement"):
        out.append(_leaf(i2, "ram:LineTwo", data["complement"]))
    if data.get("ville"):
        out.append(_leaf(i2, "ram:CityName", data["ville"]))
    out.append(f"{i2}<ram:CountryID>FR</ram:CountryID>\n")
    out.append(f"{i1}</ram:PostalTradeAddress>\n")
    if data.get("adresse_electronique"):
        scheme = _a(data.get("schema_adresse_electronique") or "0225")
        out.append(f"{i1}<ram:URIUniversalCommunication>\n")
        out.append(_leaf(i2, "ram:URIID", data["adresse_electronique"], f' schemeID="{scheme}"'))
        out.append(f"{i1}</ram:URIUniversalCommunication>\n")
    if seller and vat and data.get("tva"):
        out.append(f"{i1}<ram:SpecifiedTaxRegistration>\n")
        out.append(_leaf(i2, "ram:ID", data["tva"], ' schemeID="VA"'))
        out.append(f"{i1}</ram:SpecifiedTaxRegistration>\n")
    out.append(f"{indent}</{tag}>\n")
    return "".join(out)


_CONTEXT = (
    "  <rsm:ExchangedDocumentContext>\n"
    "    <ram:BusinessProcessSpecifiedDocumentContextParameter>\n"
    f"      <ram:ID>{BILLING_FRAMEWORK}</ram:ID>\n"
    "    </ram:BusinessProcessSpecifiedDocumentContextParameter>\n"
    "    <ram:GuidelineSpecifiedDocumentContextParameter>\n"
    "      <ram:ID>urn:cen.eu:en16931:2017</ram:ID>\n"
    "    </ram:GuidelineSpecifiedDocumentContextParameter>\n"
    "  </rsm:ExchangedDocumentContext>\n"
)


def _note(content: str, code: str | None = None) -> str:
    subject = f"      <ram:SubjectCode>{_t(code)}</ram:SubjectCode>\n" if code else ""
    return (
        "    <ram:IncludedNote>\n"
        f"      <ram:Content>{_t(content)}</ram:Content>\n"
        f"{subject}"
        "    </ram:IncludedNote>\n"
    )


_LEGAL = "".join(_note(text, code) for code, text in LEGAL_NOTES.items())


def line_item(line: CiiLine) -> str:
    """Une ligne (BG-25), sans son rang : voir `line_items`."""
    _, label, unit_price, quantity, unit, vat_kind, vat_rate, amount = line
    rate = (
        ""
        if vat_kind == "ttc"
        else f"          <ram:RateApplicablePercent>{vat_rate:.2f}</ram:RateApplicablePercent>\n"
    )
    return (
        "      </ram:AssociatedDocumentLineDocument>\n"
        "      <ram:SpecifiedTradeProduct>\n"
        f"        <ram:Name>{_t(label)}</ram:Name>\n"
        "      </ram:SpecifiedTradeProduct>\n"
        "      <ram:SpecifiedLineTradeAgreement>\n"
        "        <ram:NetPriceProductTradePrice>\n"
        f"          <ram:ChargeAmount>{_amount(unit_price)}</ram:ChargeAmount>\n"
        "        </ram:NetPriceProductTradePrice>\n"
        "      </ram:SpecifiedLineTradeAgreement>\n"
        "      <ram:SpecifiedLineTradeDelivery>\n"
        f'        <ram:BilledQuantity unitCode="{_a(UNIT_CODES.get(unit, "C62"))}">'
        f"{_quantity(quantity)}</ram:BilledQuantity>\n"
        "      </ram:SpecifiedLineTradeDelivery>\n"
        "      <ram:SpecifiedLineTradeSettlement>\n"
        "        <ram:ApplicableTradeTax>\n"
        "          <ram:TypeCode>VAT</ram:TypeCode>\n"
        f"          <ram:CategoryCode>{VAT_CATEGORY[vat_kind]}</ram:CategoryCode>\n"
        f"{rate}"
        "        </ram:ApplicableTradeTax>\n"
        "        <ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
        f"          <ram:LineTotalAmount>{_amount(amount)}</ram:LineTotalAmount>\n"
        "        </ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
        "      </ram:SpecifiedLineTradeSettlement>\n"
        "    </ram:IncludedSupplyChainTradeLineItem>\n"
    )


class Fragments:
    """Texte des blocs d'une campagne qui ne changent pas d'une pièce à l'autre (vendeur,
    moyens de paiement : l'émetteur est le même dictionnaire pour toute la campagne), et
    des lignes déjà écrites (les mêmes prestations reviennent d'un adhérent à l'autre)."""

    def __init__(self, limit: int = 200_000) -> None:
        self._blocks: dict[tuple, str] = {}
        self._kept: list[dict] = []  # garde en vie les émetteurs dont l'identifiant est une clé
        self.lines: dict[tuple, str] = {}
        self.limit = limit

    def _block(self, kind: str, issuer: dict, vat: bool = False) -> str:
        key = (kind, id(issuer), vat)
        found = self._blocks.get(key)
        if found is None:
            self._kept.append(issuer)
            if kind == "vendeur":
                found = party("ram:SellerTradeParty", issuer, seller=True, vat=vat)
            else:
                found = _payment_means(issuer)
            self._blocks[key] = found
        return found

    def seller(self, issuer: dict, vat: bool) -> str:
        return self._block("vendeur", issuer, vat)

    def means(self, issuer: dict) -> str:
        return self._block("moyens", issuer)

    def line(self, line: CiiLine) -> str:
        key = line[1:]
        found = self.lines.get(key)
        if found is None:
            if len(self.lines) >= self.limit:
                self.lines.clear()
            found = self.lines[key] = line_item(line)
        return found


def line_items(lines: Iterable[CiiLine], fragments: Fragments | None = None) -> str:
    render = fragments.line if fragments is not None else line_item
    return "".join(
        "    <ram:IncludedSupplyChainTradeLineItem>\n"
        "      <ram:AssociatedDocumentLineDocument>\n"
        f"        <ram:LineID>{line[0]}</ram:LineID>\n" + render(line)
        for line in lines
    )


def _payment_means(issuer: dict) -> str:
    if not issuer.get("iban"):
        return ""
    out = [
        "      <ram:SpecifiedTradeSettlementPaymentMeans>\n",
        f"        <ram:TypeCode>{PAYMENT_MEANS}</ram:TypeCode>\n",
        "        <ram:Information>Virement au comptable public assignataire</ram:Information>\n",
        "        <ram:PayeePartyCreditorFinancialAccount>\n",
        _leaf("          ", "ram:IBANID", issuer["iban"]),
    ]
    if issuer.get("comptable"):
        out.append(_leaf("          ", "ram:AccountName", issuer["comptable"][:70]))
    out.append("        </ram:PayeePartyCreditorFinancialAccount>\n")
    if issuer.get("bic"):
        out.append("        <ram:PayeeSpecifiedCreditorFinancialInstitution>\n")
        out.append(_leaf("          ", "ram:BICID", issuer["bic"]))
        out.append("        </ram:PayeeSpecifiedCreditorFinancialInstitution>\n")
    out.append("      </ram:SpecifiedTradeSettlementPaymentMeans>\n")
    return "".join(out)


def document(
    invoice: Any, lines: Sequence[CiiLine] | Iterable[CiiLine], fragments: Fragments | None = None
) -> str:
    """XML CII de la pièce `invoice` (une `Invoice`, ou tout objet qui en a les attributs
    lus ici) et de ses lignes."""
    issuer, debtor, breakdown = invoice.issuer, invoice.debtor, invoice.vat_breakdown
    out = [DECLARATION, _ROOT, _CONTEXT, "  <rsm:ExchangedDocument>\n"]
    out.append(_leaf("    ", "ram:ID", invoice.number))
    out.append(f"    <ram:TypeCode>{'381' if invoice.kind == 'avoir' else '380'}</ram:TypeCode>\n")
    out.append(_date("    ", "ram:IssueDateTime", invoice.issued_on))
    for mention in vat_mentions(invoice):
        out.append(_note(mention))
    if invoice.reason:
        out.append(_note(f"Motif de l'avoir : {invoice.reason}"))
    out.append(_LEGAL)
    out.append("  </rsm:ExchangedDocument>\n  <rsm:SupplyChainTradeTransaction>\n")
    out.append(line_items(lines, fragments))
    # accord (BG-4, BG-7, BT-10, BT-13, BT-12)
    out.append("    <ram:ApplicableHeaderTradeAgreement>\n")
    if debtor.get("code_service"):
        out.append(_leaf("      ", "ram:BuyerReference", debtor["code_service"]))
    vat = any(v["type"] != "ttc" for v in breakdown)
    out.append(
        fragments.seller(issuer, vat)
        if fragments is not None
        else party("ram:SellerTradeParty", issuer, seller=True, vat=vat)
    )
    out.append(party("ram:BuyerTradeParty", debtor, seller=False, vat=vat))
    if debtor.get("numero_engagement"):
        out.append("      <ram:BuyerOrderReferencedDocument>\n")
        out.append(_leaf("        ", "ram:IssuerAssignedID", debtor["numero_engagement"]))
        out.append("      </ram:BuyerOrderReferencedDocument>\n")
    if debtor.get("convention"):
        out.append("      <ram:ContractReferencedDocument>\n")
        out.append(_leaf("        ", "ram:IssuerAssignedID", debtor["convention"]))
        out.append("      </ram:ContractReferencedDocument>\n")
    out.append("    </ram:ApplicableHeaderTradeAgreement>\n")
    # lieu de livraison (BG-13/BG-15) : les prestations sont rendues chez le débiteur
    out.append("    <ram:ApplicableHeaderTradeDelivery>\n      <ram:ShipToTradeParty>\n")
    out.append(_leaf("        ", "ram:Name", debtor.get("nom") or "—"))
    out.append("        <ram:PostalTradeAddress>\n")
    if debtor.get("code_postal"):
        out.append(_leaf("          ", "ram:PostcodeCode", debtor["code_postal"]))
    if debtor.get("adresse"):
        out.append(_leaf("          ", "ram:LineOne", debtor["adresse"]))
    if debtor.get("ville"):
        out.append(_leaf("          ", "ram:CityName", debtor["ville"]))
    out.append(
        "          <ram:CountryID>FR</ram:CountryID>\n"
        "        </ram:PostalTradeAddress>\n"
        "      </ram:ShipToTradeParty>\n"
        "    </ram:ApplicableHeaderTradeDelivery>\n"
        "    <ram:ApplicableHeaderTradeSettlement>\n"
    )
    out.append(_leaf("      ", "ram:PaymentReference", invoice.number))
    out.append("      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>\n")
    out.append(fragments.means(issuer) if fragments is not None else _payment_means(issuer))
    for v in breakdown:
        out.append("      <ram:ApplicableTradeTax>\n")
        out.append(
            f"        <ram:CalculatedAmount>{_amount(Decimal(v['tva']))}</ram:CalculatedAmount>\n"
        )
        out.append("        <ram:TypeCode>VAT</ram:TypeCode>\n")
        if v["type"] != "ht":
            reason = vat_reason(invoice, v) or v.get("libelle", "")
            out.append(_leaf("        ", "ram:ExemptionReason", reason))
        out.append(f"        <ram:BasisAmount>{_amount(Decimal(v['base_ht']))}</ram:BasisAmount>\n")
        out.append(f"        <ram:CategoryCode>{VAT_CATEGORY[v['type']]}</ram:CategoryCode>\n")
        if v["type"] != "ttc":
            out.append(
                "        <ram:RateApplicablePercent>"
                f"{Decimal(v['taux']):.2f}</ram:RateApplicablePercent>\n"
            )
        out.append("      </ram:ApplicableTradeTax>\n")
    out.append("      <ram:BillingSpecifiedPeriod>\n")
    out.append(_date("        ", "ram:StartDateTime", invoice.period_start))
    out.append(_date("        ", "ram:EndDateTime", invoice.period_end))
    out.append("      </ram:BillingSpecifiedPeriod>\n      <ram:SpecifiedTradePaymentTerms>\n")
    out.append(_leaf("        ", "ram:Description", payment_terms(invoice)))
    if invoice.due_on:
        out.append(_date("        ", "ram:DueDateDateTime", invoice.due_on))
    out.append("      </ram:SpecifiedTradePaymentTerms>\n")
    ht, ttc = _amount(invoice.total_ht), _amount(invoice.total_ttc)
    out.append(
        "      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
        f"        <ram:LineTotalAmount>{ht}</ram:LineTotalAmount>\n"
        f"        <ram:TaxBasisTotalAmount>{ht}</ram:TaxBasisTotalAmount>\n"
        f'        <ram:TaxTotalAmount currencyID="EUR">{_amount(invoice.total_tva)}'
        "</ram:TaxTotalAmount>\n"
        f"        <ram:GrandTotalAmount>{ttc}</ram:GrandTotalAmount>\n"
        f"        <ram:DuePayableAmount>{ttc}</ram:DuePayableAmount>\n"
        "      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
    )
    if invoice.credited_invoice_id:
        original = invoice.credited_invoice
        out.append("      <ram:InvoiceReferencedDocument>\n")
        out.append(_leaf("        ", "ram:IssuerAssignedID", original.number))
        out.append("        <ram:FormattedIssueDateTime>\n")
        out.append(
            '          <qdt:DateTimeString format="102">'
            f"{_day(original.issued_on)}</qdt:DateTimeString>\n"
        )
        out.append("        </ram:FormattedIssueDateTime>\n")
        out.append("      </ram:InvoiceReferencedDocument>\n")
    out.append(
        "    </ram:ApplicableHeaderTradeSettlement>\n"
        "  </rsm:SupplyChainTradeTransaction>\n"
        "</rsm:CrossIndustryInvoice>\n"
    )
    return "".join(out)
