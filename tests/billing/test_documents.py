"""Documents des factures : XML CII EN 16931 (XSD), PDF/A-3b Factur-X, état des prestations,
titres de recettes CSV, rendu parallèle et archive ZIP."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import facturx
import pytest
from lxml import etree
from PIL import Image
from pypdf import PdfReader

from opsn.core.money import fmt_fr
from opsn.facturation import pdf_typst
from opsn.facturation.billing import billing_run, invoice_credit
from opsn.facturation.documents import NS, check_xml, invoice_pdf, invoice_xml, statement_pdf
from opsn.facturation.exports import TITRES_COLUMNS, titres_csv
from opsn.gestion.models import Invoice, Operator
from opsn.gestion.permissions import SYSTEM

from .scenarios import ENGAGEMENT, SECOND_ACCOUNT, SERVICE_CODE, build_gironde_documents

D = Decimal
HERE = Path(__file__).resolve().parent
EXEMPTION = "Exonération de TVA – article 261 B du CGI"
ISSUED = dt.date(2022, 1, 15)


@pytest.fixture
def gironde(db):
    members = build_gironde_documents()
    operator = Operator.objects.get(code="gironde-numerique")
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=ISSUED)
    assert not report.blocked, [b.blocking for b in report.blocked]
    invoices = {key: Invoice.objects.get(member=m, kind="facture") for key, m in members.items()}
    return {"operator": operator, **invoices}


def _xml(invoice: Invoice) -> etree._Element:
    return etree.fromstring(invoice.xml.encode())


def _text(root: etree._Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def _pdftotext(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return " ".join(out.stdout.decode().split())


def _flat(text: str) -> str:
    return " ".join(text.split())


def _xmp(pdf: bytes) -> etree._Element:
    """Métadonnées XMP du catalogue, lues comme du XML (elles doivent en être)."""
    data = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data()
    start, end = data.index(b"<x:xmpmeta"), data.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    return etree.fromstring(data[start:end])


FX = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"
XMP_NS = {
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "pdfuaid": "http://www.aiim.org/pdfua/ns/id/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}


def test_totals_and_mixed_vat(gironde) -> None:
    epci, mixed, vat = gironde["epci"], gironde["mixed"], gironde["vat"]
    assert (epci.total_ht, epci.total_tva, epci.total_ttc) == (
        D("33461.00"),
        D("0.00"),
        D("33461.00"),
    )
    # 810,00 HT à 20 % (P13) + informaticien mutualisé 1 j/mois exonéré (2 500,00).
    assert (mixed.total_ht, mixed.total_tva, mixed.total_ttc) == (
        D("3310.00"),
        D("162.00"),
        D("3472.00"),
    )
    assert {(v["type"], v["base_ht"], v["tva"]) for v in mixed.vat_breakdown} == {
        ("exonere", "2500.00", "0.00"),
        ("ht", "810.00", "162.00"),
    }
    assert vat.total_ttc == D("5859.49")


@pytest.mark.parametrize("key", ["epci", "mixed", "vat"])
def test_xml_is_valid_en16931_with_parties_and_totals(gironde, key: str) -> None:
    invoice = gironde[key]
    xml = invoice.xml.encode()
    check_xml(xml)
    assert invoice_xml(invoice) == xml, "le XML stocké est celui que l'on régénère"
    root = _xml(invoice)
    agreement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
    seller = root.find(
        f"{agreement}/ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID", NS
    )
    assert (seller.text, seller.get("schemeID")) == ("200010049", "0002"), "SIREN du vendeur"
    buyer = root.find(f"{agreement}/ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID", NS)
    assert (buyer.text, buyer.get("schemeID")) == (invoice.member.siren, "0002"), "SIREN"
    buyer_id = root.find(f"{agreement}/ram:BuyerTradeParty/ram:GlobalID", NS)
    assert (buyer_id.text, buyer_id.get("schemeID")) == (invoice.member.siret, "0009"), "SIRET"
    assert len(invoice.member.siret) == 14
    if key == "epci":
        assert _text(root, f"{agreement}/ram:BuyerReference") == SERVICE_CODE
        assert (
            _text(root, f"{agreement}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID")
            == ENGAGEMENT
        )
        assert (
            _text(root, f"{agreement}/ram:BuyerTradeParty/ram:PostalTradeAddress/ram:PostcodeCode")
            == "33830"
        )
    else:
        assert root.find(f"{agreement}/ram:BuyerReference", NS) is None
        assert root.find(f"{agreement}/ram:BuyerOrderReferencedDocument", NS) is None
    assert _text(root, "rsm:ExchangedDocument/ram:ID") == invoice.number
    assert _text(root, "rsm:ExchangedDocument/ram:TypeCode") == "380"
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    summation = f"{settlement}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    assert D(_text(root, f"{summation}/ram:TaxBasisTotalAmount")) == invoice.total_ht
    assert D(_text(root, f"{summation}/ram:TaxTotalAmount")) == invoice.total_tva
    assert D(_text(root, f"{summation}/ram:GrandTotalAmount")) == invoice.total_ttc
    assert D(_text(root, f"{summation}/ram:DuePayableAmount")) == invoice.total_ttc
    line_totals = [
        D(x.text)
        for x in root.iterfind(
            ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", NS
        )
    ]
    assert len(line_totals) == invoice.lines.count()
    assert sum(line_totals) == invoice.total_ht
    taxes = {
        _text(t, "ram:CategoryCode"): (
            D(_text(t, "ram:BasisAmount")),
            D(_text(t, "ram:CalculatedAmount")),
        )
        for t in root.iterfind(f"{settlement}/ram:ApplicableTradeTax", NS)
    }
    assert sum(v[0] for v in taxes.values()) == invoice.total_ht
    assert sum(v[1] for v in taxes.values()) == invoice.total_tva
    expected = {"epci": {"E"}, "mixed": {"E", "S"}, "vat": {"S"}}[key]
    assert set(taxes) == expected
    if "E" in taxes:
        reason = root.find(f"{settlement}/ram:ApplicableTradeTax/ram:ExemptionReason", NS)
        assert reason is not None and reason.text == EXEMPTION
        notes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)]
        assert EXEMPTION in notes
    if "S" in taxes:
        assert taxes["S"][1] == (taxes["S"][0] * D("0.20")).quantize(D("0.01"))


@pytest.mark.parametrize("key", ["epci", "mixed"])
def test_invoice_pdf_is_pdfa3_facturx_and_readable(gironde, key: str, tmp_path) -> None:
    invoice = gironde[key]
    pdf = invoice_pdf(invoice)
    assert pdf.startswith(b"%PDF-")
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml == invoice.xml.encode(), "le XML embarqué est celui de la facture"

    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert "factur-x.xml" in reader.attachments
    catalog = reader.trailer["/Root"]
    (filespec,) = [f.get_object() for f in catalog["/AF"]]
    assert (filespec["/F"], filespec["/UF"], filespec["/AFRelationship"]) == (
        "factur-x.xml",
        "factur-x.xml",
        "/Data",
    ), "fichier associé Factur-X (PDF/A-3)"
    assert filespec["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
    xmp = catalog["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part(>|=\")3", xmp), "PDF/A-3 déclaré dans les métadonnées XMP"
    assert re.search(r"pdfaid:conformance(>|=\")B", xmp), "conformité PDF/A-3b"
    assert "EN 16931" in xmp, "profil Factur-X déclaré"
    meta = _xmp(pdf)
    assert meta.findtext(f".//{FX}DocumentType") == "INVOICE"
    assert meta.findtext(f".//{FX}DocumentFileName") == "factur-x.xml"
    assert meta.findtext(f".//{FX}Version") == "1.0"
    assert meta.findtext(f".//{FX}ConformanceLevel") == "EN 16931"
    schemas = [e.text for e in meta.iterfind(".//pdfaSchema:namespaceURI", XMP_NS)]
    assert FX.strip("{}") in schemas, "schéma d'extension PDF/A du préfixe fx déclaré"
    assert meta.findtext(".//pdfuaid:part", namespaces=XMP_NS) == "1", "PDF/UA-1"
    assert invoice.number in meta.findtext(".//dc:title//{*}li", namespaces=XMP_NS)
    # Accessibilité : PDF balisé (arbre de structure), langue, titre affiché.
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in catalog
    assert catalog["/Lang"] == "fr-FR"
    assert bool(catalog["/ViewerPreferences"]["/DisplayDocTitle"])
    info = subprocess.run(
        [
            "pdfinfo",
            "-",
        ],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert invoice.number in info, info

    path = tmp_path / "facture.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
        check=True,
    )
    (png,) = tmp_path.glob("p*.png")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 400
        lo, hi = image.convert("L").getextrema()
        assert lo < 100 and hi > 200, "la page rendue n'est pas vide"

    text = _pdftotext(pdf, tmp_path, key)
    for expected in (
        invoice.number,
        invoice.member.name,
        f"SIRET {invoice.member.siret}",
        "Total TTC",
        _flat(fmt_fr(invoice.total_ttc)),
        EXEMPTION,
        "Paiement",
        f"au plus tard le {invoice.due_on:%d/%m/%Y}",
    ):
        assert expected in text, f"« {expected} » absent du PDF"
    for line in invoice.lines.all():
        assert _flat(line.label) in text, f"libellé « {line.label} » absent du PDF"
    if key == "epci":
        assert SERVICE_CODE in text and ENGAGEMENT in text


def test_statement_pdf(gironde, tmp_path) -> None:
    invoice = gironde["mixed"]
    pdf = statement_pdf(invoice)
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part(>|=\")3", xmp)
    assert reader.trailer["/Root"]["/Lang"] == "fr-FR"
    assert "/StructTreeRoot" in reader.trailer["/Root"], "PDF balisé"
    assert not reader.attachments, "l'état n'embarque pas de XML"
    assert statement_pdf(invoice) == pdf, "rendu déterministe"
    text = _pdftotext(pdf, tmp_path, "etat")
    for expected in (
        "État des prestations souscrites",
        invoice.number,
        invoice.member.name,
        invoice.member.siret,
        _flat(fmt_fr(invoice.total_ttc)),
    ):
        assert expected in text, f"« {expected} » absent de l'état"
    for line in invoice.lines.all():
        assert _flat(line.label) in text, f"libellé « {line.label} » absent de l'état"


def test_pdf_is_deterministic(gironde) -> None:
    """Même pièce, mêmes octets : date de création = date d'émission, aucun identifiant
    tiré au hasard ; un PDF perdu se refait à l'identique (même empreinte SHA-256)."""
    invoice = gironde["mixed"]
    pdf = invoice_pdf(invoice)
    assert invoice_pdf(invoice) == pdf
    pdf_typst._compiler.cache_clear()  # compilateur neuf : rien ne vient d'un cache
    assert invoice_pdf(invoice) == pdf
    assert invoice_pdf(gironde["vat"]) != pdf
    info = subprocess.run(
        ["pdfinfo", "-isodates", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert re.search(r"CreationDate:\s+2022-01-15T00:00:00", info), info
    assert _xmp(pdf).findtext(".//xmp:CreateDate", namespaces=XMP_NS).startswith("2022-01-15")


HOSTILE = '=HYPERLINK("x";"y") #set *b* _i_ $y$ \\ <l> @r & é'


def test_hostile_text_renders_literally(gironde, tmp_path) -> None:
    """Les chaînes de l'utilisateur ne sont jamais du balisage Typst : `#`, `*`, `_`, `$`,
    `\\`, `<`, `@` et une formule de tableur s'affichent tels quels, dans la page comme dans
    les métadonnées (XMP toujours du XML valide)."""
    invoice = gironde["mixed"]
    invoice.debtor = {**invoice.debtor, "nom": HOSTILE}
    lines = list(invoice.lines.all())
    lines[0].label = f"Prestation {HOSTILE}"
    pdf = invoice_pdf(invoice, lines)
    text = _pdftotext(pdf, tmp_path, "hostile")
    assert HOSTILE in text
    assert f"Prestation {HOSTILE}" in text
    assert text.count("HYPERLINK") == 2, "nom et libellé, rien d'autre"
    assert HOSTILE in _xmp(pdf).findtext(".//dc:description//{*}li", namespaces=XMP_NS)
    _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert xml == invoice.xml.encode()
    statement = _pdftotext(statement_pdf(invoice), tmp_path, "etat-hostile")
    assert HOSTILE in statement


def test_titres_csv(gironde) -> None:
    operator = gironde["operator"]
    credit = invoice_credit(
        actor=SYSTEM, invoice=gironde["vat"], reason="Erreur de classe", issued_on=ISSUED
    )
    text = titres_csv(operator, 2021)
    assert text.startswith(";".join(TITRES_COLUMNS) + "\r\n")
    assert TITRES_COLUMNS == (
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
    ), "colonnes documentées dans exports.py"
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    by_piece: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        assert D(row["montant_ht"]) + D(row["montant_tva"]) == D(row["montant_ttc"]), row
        by_piece[row["numero_piece"]].append(row)
    invoices = Invoice.objects.filter(operator=operator, year=2021)
    assert set(by_piece) == {i.number for i in invoices}
    for invoice in invoices:
        pieces = by_piece[invoice.number]
        accounts = [r["imputation"] for r in pieces]
        assert len(accounts) == len(set(accounts)), "une ligne par pièce et par imputation"
        assert accounts == sorted({line.revenue_account or "706" for line in invoice.lines.all()})
        for col, total in (
            ("montant_ht", invoice.total_ht),
            ("montant_tva", invoice.total_tva),
            ("montant_ttc", invoice.total_ttc),
        ):
            assert sum(D(r[col]) for r in pieces) == total, f"{invoice.number} {col}"
    for row in rows:  # exercice = année d'émission ; l'année facturée est à part
        assert (row["exercice"], row["annee_facturee"]) == ("2022", "2021"), row
    mixed = {r["imputation"]: r for r in by_piece[gironde["mixed"].number]}
    assert set(mixed) == {"706", SECOND_ACCOUNT}
    # SMS : 2 500 × 0,06 = 150,00 HT, TVA 30,00 sur l'imputation dédiée.
    assert (mixed[SECOND_ACCOUNT]["montant_ht"], mixed[SECOND_ACCOUNT]["montant_tva"]) == (
        "150.00",
        "30.00",
    )
    assert (mixed["706"]["montant_ht"], mixed["706"]["montant_tva"]) == ("3160.00", "132.00")
    (epci_row,) = by_piece[gironde["epci"].number]
    assert (epci_row["code_service"], epci_row["numero_engagement"]) == (SERVICE_CODE, ENGAGEMENT)
    assert epci_row["siret"] == gironde["epci"].member.siret
    (credit_row,) = by_piece[credit.number]
    assert credit_row["nature"] == "Avoir"
    assert credit_row["piece_origine"] == gironde["vat"].number
    assert D(credit_row["montant_ttc"]) == -gironde["vat"].total_ttc < 0
    assert D(credit_row["montant_tva"]) < 0


def test_render_pdfs_in_parallel_and_zip(file_db_env, tmp_path) -> None:
    """`render_pdfs(workers=2)` rend chaque pièce émise dans des processus « spawn » : il lui
    faut une base partagée, d'où un sous-processus sur une base dédiée."""
    out = subprocess.run(
        [sys.executable, str(HERE / "taches.py"), "rendu", str(tmp_path)],
        env=file_db_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    numbers = result["numeros"]
    assert numbers == ["2022-000001", "2022-000002", "2022-000003", "2022-000004"]
    paths = [Path(p) for p in result["chemins"]]
    assert sorted(p.name for p in paths) == [f"{n}.pdf" for n in numbers]
    assert sorted(result["relance"]) == sorted(result["chemins"]), "relance : mêmes fichiers"
    for path in paths:
        _, xml = facturx.get_xml_from_pdf(path.read_bytes(), check_xsd=True)
        assert xml.decode() == result["xml"][path.stem], f"{path.name} : XML embarqué"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == result["empreintes"][path.stem], f"{path.name} : mêmes octets partout"
    with zipfile.ZipFile(result["archive"]) as archive:
        assert sorted(archive.namelist()) == [f"{n}.pdf" for n in numbers]
        for path in paths:
            assert archive.read(path.name) == path.read_bytes()
    assert not list(tmp_path.rglob("*.tmp")), "aucun fichier temporaire laissé"


def test_pdf_worker_does_not_load_django() -> None:
    """Les processus de rendu ne chargent que Typst : démarrage court, aucune connexion."""
    code = (
        "import sys\n"
        "from opsn.facturation import pdf_worker\n"
        "pdf_worker.init()\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
