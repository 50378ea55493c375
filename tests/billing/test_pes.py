"""Flux PES V2 Recette construits depuis de vraies factures émises en base : validité XSD
(flux et PES_Facture ASAP joint), contenu des titres, numérotation des bordereaux et des
titres (sans trou, stable à la relance, intacte après un arrêt), identités manquantes,
réductions, ligne de commande et téléchargement depuis le back-office."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from lxml import etree
from pypdf import PdfReader
from typer.testing import CliRunner

from opsn.cli import app
from opsn.facturation import pes
from opsn.facturation.billing import billing_run, invoice_credit
from opsn.gestion.models import Invoice, Operator, PesBordereau, PesTitre
from opsn.gestion.permissions import SYSTEM
from web.travailleur import run_tasks  # tests/web/travailleur.py (dossier tests/ sur le chemin)

from .scenarios import ENGAGEMENT, SECOND_ACCOUNT, SERVICE_CODE, build_gironde_documents

D = Decimal
ISSUED = dt.date(2022, 1, 15)
FLOW_DAY = dt.date(2022, 1, 20)
ACCOUNTS = {
    "706": {"nature": "7062", "produit": "PRES", "fonction": "020"},
    SECOND_ACCOUNT: {"nature": "70688", "produit": "SMS"},
}


def _ready(operator: Operator) -> Operator:
    """Réglages que le comptable donne pour l'ASAP (le reste vient des identités de la
    démonstration, clés de contrôle valides)."""
    operator.refresh_from_db()
    operator.pes_ref_bdf = "123456"
    operator.pes_signatory_last_name = "Dupont"
    operator.pes_signatory_first_name = "Claude"
    operator.pes_signatory_role = "Le Président"
    operator.pes_collection_centre = "TSA 12345, 35908 Rennes Cedex 9"
    operator.pes_accounts = ACCOUNTS
    operator.save()
    return operator


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """Le XSD livré, chargé indépendamment du module testé."""
    return etree.XMLSchema(etree.parse(str(pes.SCHEMA)))


def _validate(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    """Valide le flux et chaque PES_Facture (PJ 006) décodé ; renvoie la racine."""
    root = etree.fromstring(xml)
    assert schema.validate(root), [str(e) for e in schema.error_log]
    for pj in root.iterfind("PES_PJ/PJ"):
        if pj.find("TypePJ").get("V") == "006":
            inner = etree.fromstring(_unpack(pj))
            assert schema.validate(inner), [str(e) for e in schema.error_log]
    return root


def _unpack(pj: etree._Element) -> bytes:
    return gzip.decompress(base64.b64decode(pj.findtext("Contenu/Fichier")))


def _v(node: etree._Element, path: str) -> str | None:
    found = node.find(path)
    return None if found is None else found.get("V")


def _pieces(root: etree._Element) -> dict[str, etree._Element]:
    """Titres du flux par numéro de facture (NumeroFacture, ou la PJ du PDF)."""
    result = {}
    for piece in root.iterfind("PES_RecetteAller/Bordereau/Piece"):
        name = next(r for r in piece.iterfind("BlocPiece/PJRef") if _v(r, "NomPJ").endswith(".pdf"))
        result[_v(name, "NomPJ")[:-4]] = piece
    return result


def _without_pdf(xml: bytes) -> bytes:
    """Le flux sans le contenu des PDF (rendus à nouveau tant qu'ils ne sont pas conservés) ;
    tout le reste, PES_Facture compris, doit être identique."""
    root = etree.fromstring(xml)
    for fichier in root.iterfind("PES_PJ/PJ/Contenu/Fichier[@MIMEType='application/pdf']"):
        fichier.text = ""
    return etree.tostring(root)


def _pj(root: etree._Element, ident: str) -> etree._Element:
    (pj,) = [p for p in root.iterfind("PES_PJ/PJ") if _v(p, "IdUnique") == ident]
    return pj


@pytest.fixture
def gironde(db):
    members = build_gironde_documents()
    operator = _ready(Operator.objects.get(code="gironde-numerique"))
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=ISSUED)
    assert not report.blocked, [b.blocking for b in report.blocked]
    invoices = {key: Invoice.objects.get(member=m, kind="facture") for key, m in members.items()}
    return {"operator": operator, **invoices}


@pytest.fixture
def cdg82(db, load):
    loaded = load("P01")
    operator = _ready(loaded.operator)
    report = billing_run(actor=SYSTEM, operator=operator, year=2020, issued_on=dt.date(2021, 1, 15))
    assert not report.blocked, [b.blocking for b in report.blocked]
    (invoice,) = report.created
    return {"operator": operator, "invoice": Invoice.objects.get(pk=invoice.pk)}


def _export(operator: Operator, year: int = 2021, day: dt.date = FLOW_DAY, **kw) -> pes.PesFlow:
    return pes.pes_export(actor=SYSTEM, operator=operator, year=year, day=day, **kw)


def _expected_lines(invoice: Invoice) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(nature, taux) → (HT, TVA) attendus, calculés ici depuis les lignes et la TVA de la
    facture par taux."""
    net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in invoice.lines.all():
        nature = ACCOUNTS[line.revenue_account or "706"]["nature"]
        net[(nature, f"{line.vat_rate:.2f}")] += abs(line.amount)
    vat_by_rate = {f"{D(v['taux']):.2f}": abs(D(v["tva"])) for v in invoice.vat_breakdown}
    base_by_rate: dict[str, Decimal] = defaultdict(Decimal)
    for (_, rate), amount in net.items():
        base_by_rate[rate] += amount
    result = {}
    for key, amount in net.items():
        share = vat_by_rate.get(key[1], D(0)) * amount / base_by_rate[key[1]]
        result[key] = (amount, share.quantize(D("0.01")))
    return result


# -- contenu des flux -------------------------------------------------------------------


def test_cdg82_invoice_without_vat(cdg82, schema) -> None:
    operator, invoice = cdg82["operator"], cdg82["invoice"]
    assert invoice.total_tva == 0
    flow = _export(operator, year=2020, day=dt.date(2021, 2, 1))
    root = _validate(schema, flow.xml)
    assert root.tag == f"{{{pes.NS_ALLER}}}PES_Aller"
    assert _v(root, "Enveloppe/Parametres/TypFic") == "PESALR1"
    assert _v(root, "Enveloppe/Parametres/NomFic") == flow.name
    assert _v(root, "PES_RecetteAller/EnTeteRecette/InfoDematerialisee") == "0"
    assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is None
    head = root.find("EnTetePES")
    assert (_v(head, "IdPost"), _v(head, "CodCol"), _v(head, "CodBud")) == (
        operator.pes_id_post,
        operator.pes_cod_col,
        operator.pes_cod_bud,
    )
    assert _v(head, "IdColl") == operator.siret
    bord = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert [_v(bord, t) for t in ("Exer", "IdBord", "TypBord", "NbrPce", "DteBordEm")] == [
        "2021",
        "1",
        "01",
        "1",
        "2021-01-15",
    ]
    assert _v(bord, "MtBordHt") == f"{invoice.total_ttc:.2f}"
    assert bord.find("MtBordTVA") is None
    piece = _pieces(root)[invoice.number]
    bloc = piece.find("BlocPiece")
    assert [_v(bloc, t) for t in ("IdPce", "TypPce", "NatPce", "Edition", "NumeroFacture")] == [
        "1",
        "01",
        "01",
        "02",
        invoice.number,
    ]
    (line,) = piece.findall("LigneDePiece")
    info = line.find("BlocLignePiece/InfoLignePiece")
    assert _v(info, "MtHT") == f"{invoice.total_ttc:.2f}", "sans TVA : MtHT = TTC"
    assert info.find("MtTVA") is None and info.find("TxTva") is None
    assert (_v(info, "Nature"), _v(info, "CodProdLoc"), _v(info, "Fonction")) == (
        "7062",
        "PRES",
        "020",
    )
    tiers = line.find("Tiers/InfoTiers")
    assert (_v(tiers, "IdTiers"), _v(tiers, "NatIdTiers")) == (invoice.member.siret, "01")
    assert (_v(tiers, "CatTiers"), _v(tiers, "NatJur"), _v(tiers, "TypTiers")) == (
        "23",
        "09",
        "01",
    )
    assert len(_v(tiers, "Nom")) <= 38 and _v(tiers, "Nom").startswith("COMMUNE")
    address = line.find("Tiers/Adresse")
    assert _v(address, "CP") == invoice.member.postcode
    assert _v(address, "Adr2") and _v(address, "Ville")
    # PJ référencées par le titre : PES_Facture (006) et PDF Factur-X de la facture.
    refs = {_v(r, "TypePJ"): _v(r, "IdUnique") for r in bloc.iterfind("PJRef")}
    assert set(refs) == {"006", "008"}
    pdf = _unpack(_pj(root, refs["008"]))
    assert pdf.startswith(b"%PDF")
    attachments = PdfReader(io.BytesIO(pdf)).attachments
    assert "factur-x.xml" in attachments
    assert invoice.number.encode() in attachments["factur-x.xml"][0]
    asap = etree.fromstring(_unpack(_pj(root, refs["006"])))
    fac = asap.find("PES_Facture")
    assert (_v(fac, "TypeFact"), _v(fac, "Annee")) == ("09", "2021")
    indiv = fac.find("FactureIndiv")
    assert _v(indiv, "NumeroFacture") == invoice.number
    assert _v(indiv, "DateEmission") == "2021-01-15"
    assert [_v(indiv, f"RefTitre/{t}") for t in ("Exercice", "NumBordereau", "NumTitre")] == [
        "2021",
        "1",
        "1",
    ]
    assert _v(indiv, "TotalAPayer/MtTotalTTC") == f"{invoice.total_ttc:.2f}"
    assert sorted(_v(t, "InfoTiers/TypTiers") for t in fac.iterfind("Tiers")) == ["25", "26"]
    assert _v(fac, "Emetteur/InfoSuppl/RefBdf") == "123456"
    assert _v(fac, "Emetteur/Signataire/Personne/Nom") == "DUPONT"


def test_gironde_exempt_epci_vat_and_mixed_invoices(gironde, schema) -> None:
    operator = gironde["operator"]
    flow = _export(operator)
    root = _validate(schema, flow.xml)
    pieces = _pieces(root)
    assert set(pieces) == {gironde[k].number for k in ("epci", "mixed", "vat")}
    # EPCI exonéré : groupement, code service et engagement Chorus Pro, pas de TVA.
    epci = pieces[gironde["epci"].number]
    assert _v(epci, "BlocPiece/CodeService") == SERVICE_CODE
    assert _v(epci, "BlocPiece/NumeroEngagement") == ENGAGEMENT
    assert _v(epci, "LigneDePiece/Tiers/InfoTiers/CatTiers") == "24"
    assert epci.find(".//MtTVA") is None
    # Chaque pièce : une ligne par imputation et par taux, montants et TVA de la facture.
    for key in ("epci", "mixed", "vat"):
        invoice = gironde[key]
        got = {}
        for line in pieces[invoice.number].iterfind("LigneDePiece/BlocLignePiece/InfoLignePiece"):
            rate = _v(line, "TxTva") or f"{D(0):.2f}"
            got[(_v(line, "Nature"), rate)] = (D(_v(line, "MtHT")), D(_v(line, "MtTVA") or "0"))
            assert D(_v(line, "MtHT")) > 0
        expected = _expected_lines(invoice)
        assert {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in expected.items()}
        assert sum(v[1] for v in got.values()) == invoice.total_tva
        assert sum(v[0] for v in got.values()) == invoice.total_ht
    vat = pieces[gironde["vat"].number]
    assert {_v(x, "TxTva") for x in vat.iterfind(".//InfoLignePiece")} == {"20.00"}
    # La commune mixte : deux imputations (706 → 7062, alerte SMS → 70688) et deux taux.
    mixed = pieces[gironde["mixed"].number]
    natures = {_v(x, "Nature") for x in mixed.iterfind(".//InfoLignePiece")}
    assert natures == {"7062", "70688"}
    bord = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    total_vat = sum(gironde[k].total_tva for k in ("epci", "mixed", "vat"))
    assert _v(bord, "MtBordTVA") == f"{total_vat:.2f}"
    assert (
        _v(bord, "MtBordHt") == f"{sum(gironde[k].total_ht for k in ('epci', 'mixed', 'vat')):.2f}"
    )
    # Les PJ : une par IdUnique, chacune référencée par un titre.
    idents = [_v(p, "IdUnique") for p in root.iterfind("PES_PJ/PJ")]
    refs = [_v(r, "IdUnique") for r in root.iterfind(".//BlocPiece/PJRef")]
    assert len(idents) == len(set(idents)) == 6
    assert sorted(idents) == sorted(refs)


def test_credit_note_of_the_same_exercice_reduces_the_titre(gironde, schema) -> None:
    operator, original = gironde["operator"], gironde["vat"]
    first = _export(operator)
    original_titre = PesTitre.objects.get(invoice=original)
    credit = invoice_credit(
        actor=SYSTEM, invoice=original, reason="Erreur de quantité", issued_on=dt.date(2022, 3, 1)
    )
    flow = _export(operator, day=dt.date(2022, 3, 2))
    root = _validate(schema, flow.xml)
    assert flow.name != first.name
    assert [t.invoice_id for t in flow.created] == [credit.pk]
    bords = root.findall("PES_RecetteAller/Bordereau/BlocBordereau")
    assert [(_v(b, "TypBord"), _v(b, "IdBord")) for b in bords] == [("01", "1"), ("02", "1")]
    assert _v(bords[1], "DteBordEm") == "2022-03-01"
    reduction = _pieces(root)[credit.number]
    bloc = reduction.find("BlocPiece")
    assert [_v(bloc, t) for t in ("IdPce", "TypPce", "NatPce")] == ["4", "02", "06"]
    assert bloc.find("Edition") is None
    original_lines = {
        _v(x, "Nature"): _v(x, "IdLigne")
        for x in _pieces(root)[original.number].iterfind(".//InfoLignePiece")
    }
    total = D(0)
    for line in reduction.iterfind("LigneDePiece/BlocLignePiece"):
        rattach = line.find("RattachPiece")
        assert [_v(rattach, t) for t in ("NatPceOrig", "ExerRat", "IdPceOrig")] == [
            "01",
            "2022",
            str(original_titre.number),
        ]
        assert _v(rattach, "IdLigneOrig") == original_lines[_v(line, "InfoLignePiece/Nature")]
        assert D(_v(line, "InfoLignePiece/MtHT")) > 0
        total += D(_v(line, "InfoLignePiece/MtHT"))
    assert total == -credit.total_ht == original.total_ht
    assert _v(bords[1], "MtBordHt") == f"{original.total_ht:.2f}"
    (ref,) = bloc.findall("PJRef")
    assert _v(ref, "TypePJ") == "002"
    assert _unpack(_pj(root, _v(ref, "IdUnique"))).startswith(b"%PDF")
    # Seulement le bordereau nouveau : la réduction, sans les titres déjà transmis.
    new = _export(operator, day=dt.date(2022, 3, 2), only_new=True)
    only = _validate(schema, new.xml)
    assert new.name == f"{flow.name}_NOUVEAUX" and new.created == []
    assert [_v(b, "TypBord") for b in only.iterfind(".//BlocBordereau")] == ["02"]
    assert list(_pieces(only)) == [credit.number]
    assert len(only.findall("PES_PJ/PJ")) == 1
    assert _v(only, ".//RattachPiece/IdPceOrig") == str(original_titre.number)


def test_partial_credit_notes_reduce_the_right_lines(gironde, schema) -> None:
    operator, mixed, vat = gironde["operator"], gironde["mixed"], gironde["vat"]
    _export(operator)
    sms = [x.position for x in mixed.lines.all() if x.revenue_account == SECOND_ACCOUNT]
    assert sms, "la commune mixte a une ligne d'alerte SMS (imputation 70688)"
    by_lines = invoice_credit(
        actor=SYSTEM,
        invoice=mixed,
        reason="Alertes SMS non fournies",
        issued_on=dt.date(2022, 3, 1),
        positions=sms,
    )
    first = invoice_credit(
        actor=SYSTEM, invoice=vat, reason="Geste", issued_on=dt.date(2022, 3, 1), amount=D("100")
    )
    second = invoice_credit(
        actor=SYSTEM, invoice=vat, reason="Geste", issued_on=dt.date(2022, 3, 2), amount=D("200")
    )
    root = _validate(schema, _export(operator, day=dt.date(2022, 3, 3)).xml)
    pieces = _pieces(root)
    origin_lines = {
        _v(x, "Nature"): _v(x, "IdLigne")
        for x in pieces[mixed.number].iterfind(".//InfoLignePiece")
    }
    (line,) = pieces[by_lines.number].iterfind("LigneDePiece/BlocLignePiece")
    assert _v(line, "InfoLignePiece/Nature") == "70688"
    assert _v(line, "RattachPiece/IdLigneOrig") == origin_lines["70688"]
    assert D(_v(line, "InfoLignePiece/MtHT")) == -by_lines.total_ht
    assert D(_v(line, "InfoLignePiece/MtTVA")) == -by_lines.total_tva
    for credit in (first, second):
        (line,) = pieces[credit.number].iterfind("LigneDePiece/BlocLignePiece")
        assert _v(line, "RattachPiece/IdPceOrig") == str(PesTitre.objects.get(invoice=vat).number)
        assert D(_v(line, "InfoLignePiece/MtHT")) == -credit.total_ht
        assert _v(line, "InfoLignePiece/TxTva") == "20.00"
    # Trois réductions le même exercice : un bordereau 02 par date d'émission.
    kinds = [(_v(b, "TypBord"), _v(b, "IdBord")) for b in root.iterfind(".//BlocBordereau")]
    assert kinds == [("01", "1"), ("02", "1"), ("02", "2")]


def _line(number: int, nature: str, net: str, vat: str = "0", rate: str = "20.00"):
    return pes.TitreLine(
        number=number,
        account=nature,
        nature=nature,
        product="PRES",
        function="",
        vat_kind="ht",
        rate=D(rate),
        net=D(net),
        vat=D(vat),
        label=f"ligne {nature}",
    )


def test_a_reduction_spreads_over_the_original_lines_of_the_same_rate() -> None:
    originals = [_line(1, "7062", "100.00", "20.00"), _line(2, "70688", "50.00", "10.00")]
    left = {1: D("100.00"), 2: D("50.00")}
    (first,) = pes._allocate("Avoir", [_line(1, "7062", "80.00", "16.00")], originals, left)
    assert (first.origin, first.net, first.vat) == (1, D("80.00"), D("16.00"))
    parts = pes._allocate("Avoir", [_line(1, "7062", "60.00", "12.00")], originals, left)
    assert [(p.origin, p.nature, p.net, p.vat) for p in parts] == [
        (1, "7062", D("20.00"), D("4.00")),
        (2, "70688", D("40.00"), D("8.00")),
    ]
    assert left == {1: D("0.00"), 2: D("10.00")}
    with pytest.raises(ValidationError, match="dépasse ce qui reste"):
        pes._allocate("Avoir", [_line(1, "7062", "10.01", "2.00")], originals, left)


def test_credit_note_of_an_earlier_exercice_is_refused(gironde) -> None:
    operator, original = gironde["operator"], gironde["epci"]
    _export(operator)
    credit = invoice_credit(
        actor=SYSTEM, invoice=original, reason="Résiliation", issued_on=dt.date(2023, 1, 10)
    )
    with pytest.raises(ValidationError) as exc:
        _export(operator, day=dt.date(2023, 1, 11))
    (message,) = [m for m in exc.value.messages if credit.number in m]
    assert original.number in message and "mandat" in message and "2022" in message
    assert not PesTitre.objects.filter(invoice=credit).exists(), "rien de numéroté"


# -- numérotation -----------------------------------------------------------------------


def _numbers(operator: Operator) -> list[tuple[int, int, str, int, str]]:
    return list(
        PesTitre.objects.filter(operator=operator)
        .order_by("year", "number")
        .values_list("year", "number", "bordereau__kind", "bordereau__number", "invoice__number")
    )


def test_numbering_is_gapless_across_exports_and_stable_on_rerun(gironde, cdg82) -> None:
    operator = gironde["operator"]
    first = _export(operator)
    numbers = _numbers(operator)
    assert [n[1] for n in numbers] == [1, 2, 3]
    assert {(n[2], n[3]) for n in numbers} == {("01", 1)}
    invoices = Invoice.objects.filter(operator=operator, kind="facture").order_by("sequence_number")
    assert [n[4] for n in numbers] == [i.number for i in invoices], "ordre chronologique"
    again = _export(operator)
    assert again.created == [] and _numbers(operator) == numbers
    assert again.name == first.name
    assert again.xml == first.xml, "la relance réémet le même flux, PDF conservés compris"
    credit = invoice_credit(
        actor=SYSTEM, invoice=gironde["mixed"], reason="Doublon", issued_on=dt.date(2022, 2, 1)
    )
    _export(operator, day=dt.date(2022, 2, 2))
    after = _numbers(operator)
    assert after[:3] == numbers
    assert after[3] == (2022, 4, "02", 1, credit.number)
    assert PesBordereau.objects.filter(operator=operator).count() == 2
    # Chaque opérateur a sa propre numérotation ; le CDG82 commence à 1.
    _export(cdg82["operator"], year=2020, day=dt.date(2021, 2, 1))
    assert [n[:4] for n in _numbers(cdg82["operator"])] == [(2021, 1, "01", 1)]


def test_killed_export_leaves_no_gap_and_a_rerun_numbers_everything(gironde) -> None:
    operator = gironde["operator"]

    def killed(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt("arrêt brutal au milieu de la numérotation")

    with pytest.raises(KeyboardInterrupt):
        _export(operator, progress=killed)
    assert not PesTitre.objects.exists() and not PesBordereau.objects.exists()
    # Arrêt après la numérotation (le fichier n'a pas été écrit) : les numéros restent,
    # la relance les réémet sans en donner d'autres.
    pes.number_titres(operator=operator, year=2021)
    numbered = _numbers(operator)
    assert [n[1] for n in numbered] == [1, 2, 3]
    flow = _export(operator)
    assert flow.created == [] and _numbers(operator) == numbered
    assert len(flow.titres) == 3


# -- contrôles --------------------------------------------------------------------------


def test_missing_identities_are_listed_in_french(gironde) -> None:
    operator = gironde["operator"]
    Operator.objects.filter(pk=operator.pk).update(
        siret="12345678901234",
        pes_id_post="",
        pes_cod_col="",
        pes_cod_bud="1",
        pes_product_code="",
        pes_ref_bdf="",
        pes_signatory_first_name="",
        pes_collection_centre="Rennes",
        pes_accounts={},
    )
    operator.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        _export(operator)
    text = "\n".join(exc.value.messages)
    for expected in (
        "SIRET « 12345678901234 » invalide",
        "codique du poste comptable (IdPost) manquant",
        "code collectivité Hélios (CodCol) manquant",
        "code budget « 1 » invalide",
        "code produit local par défaut (CodProdLoc) manquant",
        "numéro émetteur (RefBdf) manquant",
        "signataire des titres incomplet (prénom)",
        "centre d'encaissement des finances publiques manquant ou incomplet",
        "imputation « 706 » sans code produit local valide",
    ):
        assert expected in text, text
    assert not PesTitre.objects.exists(), "rien n'est numéroté tant qu'il manque quelque chose"


def test_missing_debtor_identity_is_refused(gironde) -> None:
    invoice = gironde["vat"]
    invoice.debtor = {**invoice.debtor, "siret": "", "adresse": "", "code_postal": "3300"}
    problems = pes.pes_problems(gironde["operator"], [invoice])
    who = f"Débiteur {invoice.debtor['nom']}"
    assert f"{who} : SIRET manquant (obligatoire sur un titre ASAP)." in problems
    assert f"{who} : adresse (numéro et voie) manquante." in problems
    assert f"{who} : code postal manquant ou invalide (5 chiffres)." in problems
    assert pes.pes_problems(gironde["operator"], [gironde["epci"]]) == []


def test_an_xsd_invalid_flow_or_asap_is_detected(gironde) -> None:
    flow = _export(gironde["operator"])
    pes.check_pes(flow.xml)
    root = etree.fromstring(flow.xml)
    root.find(".//InfoLignePiece/MtHT").set("V", "-12.00")
    with pytest.raises(pes.PesSchemaError) as exc:
        pes.check_pes(etree.tostring(root))
    assert any("MtHT" in m for m in exc.value.messages)
    # Un PES_Facture joint sans ses conditions générales (obligatoires) : rejeté lui aussi.
    root = etree.fromstring(flow.xml)
    pj = next(p for p in root.iterfind("PES_PJ/PJ") if _v(p, "TypePJ") == "006")
    inner = etree.fromstring(_unpack(pj))
    ref = inner.find(".//ConditionsGen")
    ref.getparent().remove(ref)
    data = gzip.compress(etree.tostring(inner, xml_declaration=True, encoding="UTF-8"))
    pj.find("Contenu/Fichier").text = base64.b64encode(data).decode()
    with pytest.raises(pes.PesSchemaError) as exc:
        pes.check_pes(etree.tostring(root))
    assert any(m.startswith(f"PES_Facture {_v(pj, 'IdUnique')}") for m in exc.value.messages)


def test_postal_texts_and_addresses() -> None:
    assert pes.split_address("Cité administrative, 82000 Montauban") == (
        "Cité administrative",
        "82000",
        "Montauban",
    )
    assert pes.split_address("TSA 12345, 35908 RENNES CEDEX 9") == (
        "TSA 12345",
        "35908",
        "RENNES CEDEX 9",
    )
    assert pes.split_address("Montauban") is None
    name, rest = pes._split_name("Communauté de communes du Val de l'Eyre et des Landes girondines")
    assert len(name) <= 38 and len(rest) <= 38
    assert name.startswith("COMMUNAUTE DE COMMUNES DU VAL DE L")


# -- ligne de commande et back-office ---------------------------------------------------


def test_cli_writes_a_valid_flow_and_refuses_bad_input(gironde, schema, tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "flux.xml"
    result = runner.invoke(
        app,
        [
            "factures",
            "pes",
            "--annee",
            "2021",
            "--operateur",
            "gironde-numerique",
            "--sortie",
            str(target),
            "--date",
            "2022-01-20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 titre(s), dont 3 nouveau(x), 1 bordereau(x)" in " ".join(result.stdout.split())
    _validate(schema, target.read_bytes())
    bad = runner.invoke(app, ["factures", "pes", "--annee", "2021", "--operateur", "x"])
    assert bad.exit_code == 1 and "opérateur « x » inconnu" in bad.stderr
    bad = runner.invoke(
        app,
        [
            "factures",
            "pes",
            "--annee",
            "2021",
            "--operateur",
            "gironde-numerique",
            "--date",
            "hier",
        ],
    )
    assert bad.exit_code == 1 and "« hier » n'est pas une date" in bad.stderr
    assert "Traceback" not in bad.output
    Operator.objects.filter(code="gironde-numerique").update(pes_cod_col="")
    bad = runner.invoke(
        app, ["factures", "pes", "--annee", "2021", "--operateur", "gironde-numerique"]
    )
    assert bad.exit_code == 1
    assert "code collectivité Hélios (CodCol) manquant" in " ".join(bad.stderr.split())


def test_backoffice_download_for_billing_staff_of_the_operator_only(gironde, users, schema):
    from django.test import Client

    operator = gironde["operator"]
    other = Operator.objects.get(code="cdg82")
    billing = users("factu", operator, "facturation")
    tech = users("tech", operator, "technicien")
    outsider = users("autre", other, "facturation")
    client = Client()
    client.force_login(billing)
    page = client.get("/factures/", {"annee": 2021, "operateur": operator.code})
    assert b'action="/factures/pes.xml"' in page.content
    response = client.post("/factures/pes.xml", {"annee": 2021, "operateur": operator.code})
    assert response.status_code == 302, "le flux est produit en tâche de fond"
    task_page = response["Location"]
    assert run_tasks() == 1
    page = client.get(task_page).content.decode()
    assert "Flux PES V2 Recette 2021 prêt" in page
    download = client.get(task_page.rstrip("/") + "/fichier/")
    assert download.status_code == 200
    xml = b"".join(download.streaming_content) if download.streaming else download.content
    assert ".xml" in download["Content-Disposition"]
    _validate(schema, xml)
    assert client.get("/factures/pes.xml").status_code == 405
    for user in (tech, outsider):
        client.force_login(user)
        denied = client.post("/factures/pes.xml", {"annee": 2021, "operateur": operator.code})
        assert denied.status_code == 403
        assert client.get(task_page).status_code == 404, "la tâche d'un autre est invisible"
