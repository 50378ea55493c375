"""Conformité des pièces émises sous les trois jeux de règles qui rejettent les factures :
schématron CEN EN 16931 (CII), schématron Factur-X EN16931 et règles françaises BR-FR.

Chaque sorte de pièce est couverte : facture CDG82 hors champ de TVA (tarifs TTC), facture
Gironde Numérique exonérée adressée à un EPCI, facture à 20 %, facture mixte, et un avoir de
chacune. Les règles tournent réellement (Saxon) : une pièce volontairement abîmée doit être
rejetée, preuve que le contrôle n'est pas vide.
"""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from opsn.facturation.billing import billing_run, invoice_credit
from opsn.facturation.conformite import RULE_SETS, check, fatal
from opsn.facturation.documents import NS
from opsn.gestion.models import Invoice, Operator
from opsn.gestion.permissions import SYSTEM

from .scenarios import build_gironde_documents, load_case

ISSUED = dt.date(2022, 1, 15)
CREDITED = dt.date(2022, 2, 1)


@pytest.fixture
def documents(db):
    members = build_gironde_documents()
    gironde = Operator.objects.get(code="gironde-numerique")
    report = billing_run(actor=SYSTEM, operator=gironde, year=2021, issued_on=ISSUED)
    assert not report.blocked, [b.blocking for b in report.blocked]
    p01 = load_case("P01")
    report = billing_run(actor=SYSTEM, operator=p01.operator, year=p01.year, issued_on=ISSUED)
    assert not report.blocked, [b.blocking for b in report.blocked]
    invoices = {key: Invoice.objects.get(member=m, kind="facture") for key, m in members.items()}
    invoices["cdg82"] = Invoice.objects.get(operator=p01.operator, kind="facture")
    for key in list(invoices):
        invoices[f"avoir-{key}"] = invoice_credit(
            actor=SYSTEM, invoice=invoices[key], reason="Erreur de quantité", issued_on=CREDITED
        )
    return invoices


KINDS = ["cdg82", "epci", "vat", "mixed"]


@pytest.mark.parametrize("key", KINDS + [f"avoir-{k}" for k in KINDS])
def test_no_fatal_error_under_the_three_rule_sets(documents, key: str) -> None:
    invoice = documents[key]
    problems = fatal(invoice.xml.encode())
    assert problems == [], "\n".join(str(p) for p in problems)


def test_credit_note_refers_to_the_corrected_invoice_with_its_date(documents) -> None:
    credit = documents["avoir-epci"]
    root = etree.fromstring(credit.xml.encode())
    ref = root.find(".//ram:InvoiceReferencedDocument", NS)
    assert ref.findtext("ram:IssuerAssignedID", namespaces=NS) == documents["epci"].number
    assert ref.findtext("ram:FormattedIssueDateTime/qdt:DateTimeString", namespaces=NS) == (
        documents["epci"].issued_on.strftime("%Y%m%d")
    )
    assert root.findtext(".//rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "381"


def test_french_mentions_and_identifiers(documents) -> None:
    invoice = documents["cdg82"]
    root = etree.fromstring(invoice.xml.encode())
    codes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:SubjectCode", NS)]
    assert sorted(codes) == ["AAB", "PMD", "PMT"]
    assert (
        root.findtext(
            ".//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID", namespaces=NS
        )
        == "S1"
    )
    seller = root.find(".//ram:SellerTradeParty", NS)
    assert seller.find("ram:SpecifiedTaxRegistration", NS) is None, "hors champ : pas de n° TVA"
    assert seller.findtext("ram:URIUniversalCommunication/ram:URIID", namespaces=NS) == (
        invoice.operator.siren
    )
    reason = root.findtext(
        ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:ExemptionReason",
        namespaces=NS,
    )
    assert "256 B" in reason, "fondement propre à l'opérateur public, pas la franchise en base"
    assert root.findtext(
        ".//ram:ContractReferencedDocument/ram:IssuerAssignedID", namespaces=NS
    ) == (invoice.convention.reference)
    assert root.findtext(".//ram:PayeePartyCreditorFinancialAccount/ram:IBANID", namespaces=NS) == (
        invoice.operator.iban
    )
    mixed = etree.fromstring(documents["mixed"].xml.encode())
    vat_id = mixed.find(".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID", NS)
    assert vat_id is not None and vat_id.get("schemeID") == "VA"


@pytest.mark.parametrize(
    ("mutation", "rule_set", "rule"),
    [
        ("seller_siren", "BR-FR", "BR-FR-10"),
        ("notes", "BR-FR", "BR-FR-05"),
        ("buyer_address", "BR-FR", "BR-FR-12"),
        ("vat_id", "EN16931", "BR-E-02"),
    ],
)
def test_a_damaged_document_is_rejected(documents, mutation: str, rule_set: str, rule: str) -> None:
    root = etree.fromstring(documents["epci"].xml.encode())
    if mutation == "seller_siren":
        node = root.find(".//ram:SellerTradeParty/ram:SpecifiedLegalOrganization", NS)
        node.getparent().remove(node)
    elif mutation == "notes":
        for note in root.findall(".//ram:IncludedNote", NS):
            if note.find("ram:SubjectCode", NS) is not None:
                note.getparent().remove(note)
    elif mutation == "buyer_address":
        node = root.find(".//ram:BuyerTradeParty/ram:URIUniversalCommunication", NS)
        node.getparent().remove(node)
    elif mutation == "vat_id":
        node = root.find(".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration", NS)
        node.getparent().remove(node)
    findings = check(etree.tostring(root), (rule_set,))
    assert any(f.rule.startswith(rule) and f.fatal for f in findings), [str(f) for f in findings]


def test_rule_sets_are_the_three_named() -> None:
    assert set(RULE_SETS) == {"EN16931", "FACTUR-X", "BR-FR"}
