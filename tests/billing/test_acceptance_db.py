"""Cas d'acceptance facturés À TRAVERS LA BASE : scénario chargé en base, campagne
`billing_run`, factures émises comparées aux chiffres de shared/acceptance/cases.yaml
(R14 sur devis, R15 prix manquants, R21/R22 années successives)."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from opsn.facturation import motifs
from opsn.facturation.billing import billing_preview, billing_run
from opsn.facturation.conformite import fatal
from opsn.gestion.models import BillingRun, Invoice, InvoiceStatus, Subscription
from opsn.gestion.permissions import SYSTEM

SHARED = Path(os.environ.get("OPSN_SHARED", Path(__file__).resolve().parents[3] / "shared"))
CASES = yaml.safe_load((SHARED / "acceptance" / "cases.yaml").read_text(encoding="utf-8"))

# Cas à une seule facture attendue (ni sur devis, ni prix manquant, ni plusieurs années).
SIMPLE = sorted(
    case_id
    for case_id, spec in CASES.items()
    if isinstance(spec, dict) and "sur_devis" not in spec and "prix_manquant" not in spec
)
HANDLED = {*SIMPLE, "P07", "P08", "P09", "P10", "P14"}


def _run(loaded, year: int):
    return billing_run(
        actor=SYSTEM, operator=loaded.operator, year=year, issued_on=dt.date(year, 3, 1)
    )


def _invoice(loaded, ident: str, year: int) -> Invoice | None:
    return Invoice.objects.filter(
        member=loaded.members[ident], year=year, kind="facture", status=InvoiceStatus.ISSUED
    ).first()


def _bill(report, member):
    (bill,) = [b for b in report.bills if b.member.pk == member.pk]
    return bill


def _check_totals(invoice: Invoice, expected: dict, label: str) -> None:
    problems = fatal(invoice.xml.encode("utf-8"))
    assert problems == [], f"{label} : rejetée par les règles : {[str(p) for p in problems]}"
    for key in ("total_ht", "total_tva", "total_ttc"):
        if key in expected:
            got = getattr(invoice, key)
            assert got == Decimal(expected[key]), f"{label} : {key} {got} ≠ {expected[key]}"
    lines = list(invoice.lines.all())
    assert lines, f"{label} : facture sans ligne"
    assert sum(line.amount for line in lines) == invoice.total_ht, (
        f"{label} : la somme des lignes ne fait pas le total HT"
    )
    assert invoice.total_ht + invoice.total_tva == invoice.total_ttc


def test_every_case_is_billed_through_the_database() -> None:
    """Garde-fou : un cas ajouté à cases.yaml doit être couvert ici aussi."""
    assert set(CASES) == HANDLED, f"cas non couverts : {sorted(set(CASES) - HANDLED)}"


@pytest.mark.parametrize("case_id", SIMPLE)
def test_simple_case_gives_expected_invoice(load, case_id: str) -> None:
    expected = CASES[case_id]
    loaded = load(case_id)
    year = expected.get("annee", loaded.year)
    report = _run(loaded, year)
    assert not report.blocked, f"{case_id} bloqué : {[b.blocking for b in report.blocked]}"
    assert len(report.created) == 1, f"{case_id} : une facture attendue"
    (ident,) = loaded.members
    invoice = _invoice(loaded, ident, year)
    assert invoice is not None, f"{case_id} : aucune facture émise"
    assert invoice.number == f"{year}-000001"
    assert invoice.catalogue.version == loaded.catalogue.version
    if "catalogue" in expected:
        assert invoice.operator.code == expected["catalogue"]
    _check_totals(invoice, expected, case_id)


def test_p11_epci_billed_for_its_communes_exempt_with_mention(load) -> None:
    loaded = load("P11")
    _run(loaded, 2021)
    (ident,) = loaded.members
    invoice = _invoice(loaded, ident, 2021)
    assert invoice.member.kind == "epci" and invoice.member.siren == "243301405"
    assert invoice.member.attached.count() == 5, "les 5 communes sont rattachées à l'EPCI"
    participations = {
        line.label.split(" – ")[-1]: line.amount
        for line in invoice.lines.all()
        if line.service_code == "participation_individuelle"
    }
    assert participations == {
        "Lugos": Decimal("1500.00"),
        "Saint-Magne": Decimal("1500.00"),
        "Le Barp": Decimal("4000.00"),
        "Belin-Béliet": Decimal("4000.00"),
        "Salles": Decimal("4000.00"),
    }, participations
    (vat,) = invoice.vat_breakdown
    assert vat["mention"] == "Exonération de TVA – article 261 B du CGI"
    assert Invoice.objects.filter(year=2021).count() == 1, "les communes ne sont pas facturées"


def test_p07_sur_devis_blocks_until_the_quote_amount_is_entered(load) -> None:
    loaded = load("P07")
    (ident,) = loaded.members
    member = loaded.members[ident]
    report = _run(loaded, 2020)
    bill = _bill(report, member)
    assert bill.totals.gross == Decimal(CASES["P07"]["total_ttc"])
    assert len(bill.blocking) == CASES["P07"]["sur_devis"]
    assert "sur devis" in bill.blocking[0] and "R14" in bill.blocking[0], bill.blocking
    assert {reason.kind for reason in bill.blocking} == {motifs.QUOTE}
    assert report.created == [] and not Invoice.objects.exists(), "R14 : aucune facture"
    run = BillingRun.objects.get()
    assert run.invoices_created == 0
    assert run.blocked == [{"adherent": member.name, "motifs": bill.blocking}]

    # Le devis accepté est saisi : la facture part, avec son montant.
    Subscription.objects.filter(convention__member=member, service_code="rgpd_dpd").update(
        amounts={"mise_en_place": "2600.00", "accompagnement": "1650.00"}
    )
    report = _run(loaded, 2020)
    assert not report.blocked, [b.blocking for b in report.blocked]
    invoice = _invoice(loaded, ident, 2020)
    assert invoice is not None, "le devis saisi débloque la facture"
    assert invoice.total_ttc == Decimal("500.00") + Decimal("2600.00")
    rgpd = invoice.lines.get(service_code="rgpd_dpd")
    assert rgpd.amount == Decimal("2600.00"), "1re année : phase de mise en place"


def test_p09_missing_forfait_price_blocks_billing(load) -> None:
    loaded = load("P09")
    (ident,) = loaded.members
    report = _run(loaded, loaded.year)
    bill = _bill(report, loaded.members[ident])
    assert bill.totals.gross == Decimal(CASES["P09"]["total_ttc"]), "la ligne chiffrée reste"
    assert len(bill.blocking) == CASES["P09"]["prix_manquant"], bill.blocking
    assert "prix manquant" in bill.blocking[0] and "R15" in bill.blocking[0]
    assert {reason.kind for reason in bill.blocking} == {motifs.PRICE}
    assert not bill.billable
    assert not Invoice.objects.exists(), "R15 : aucune facture tant que le prix manque"


def test_p10_entitlements_only_every_member_is_blocked(load) -> None:
    loaded = load("P10")
    report = _run(loaded, loaded.year)
    assert len(report.bills) == len(CASES["P10"]) == len(loaded.members)
    for bill in report.bills:
        assert bill.blocking, f"{bill.member.name} : forfait sans prix mais non bloqué"
        assert any("prix manquant" in reason for reason in bill.blocking), bill.blocking
    assert not Invoice.objects.exists()
    assert {b["adherent"] for b in BillingRun.objects.get().blocked} == {
        m.name for m in loaded.members.values()
    }


def test_p08_successive_years_and_notice(load) -> None:
    loaded = load("P08", years=[2021, 2022])
    for year in (2021, 2022):
        _run(loaded, year)
    for entry in CASES["P08"]:
        ident, year = entry["variant"], entry["annee"]
        invoice = _invoice(loaded, ident, year)
        label = f"P08 {ident} {year}"
        if Decimal(entry["total_ttc"]) == 0:
            assert invoice is None, f"{label} : aucune facture attendue (préavis à temps)"
        else:
            assert invoice is not None, f"{label} : facture attendue"
            _check_totals(invoice, entry, label)
    # La variante « trop tard » est aussi facturée en 2021, en entier (R21).
    late = _invoice(loaded, "notice-2021-04-01", 2021)
    assert late is not None and late.total_ttc == Decimal("128.56")
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [
        "2021-000001",
        "2021-000002",
        "2022-000001",
    ]


def test_p14_certificate_billed_when_issued_and_renewed(load) -> None:
    years = [e["annee"] for e in CASES["P14"]]
    loaded = load("P14", years=years)
    (ident,) = loaded.members
    for year in years:
        report = _run(loaded, year)
        assert not report.blocked, [b.blocking for b in report.blocked]
    for entry in CASES["P14"]:
        year = entry["annee"]
        invoice = _invoice(loaded, ident, year)
        if Decimal(entry["total_ttc"]) == 0:
            assert invoice is None, f"P14 {year} : rien n'est dû, aucune facture"
        else:
            assert invoice is not None, f"P14 {year} : facture attendue"
            _check_totals(invoice, entry, f"P14 {year}")
            assert invoice.total_ht == Decimal("175.00")
    renewal = _invoice(loaded, ident, 2024).lines.get()
    assert renewal.component == "renouvellement"


def test_preview_matches_run_for_every_simple_case(load) -> None:
    """La simulation (billing_preview) annonce exactement ce que la campagne émet."""
    loaded = [load(case_id) for case_id in ("P01", "P04", "P06")]
    operator = loaded[0].operator
    preview = {b.member.pk: b.totals.gross for b in billing_preview(operator=operator, year=2020)}
    report = billing_run(actor=SYSTEM, operator=operator, year=2020, issued_on=dt.date(2020, 3, 1))
    assert {i.member_id: i.total_ttc for i in report.created} == preview
    assert sorted(i.number for i in report.created) == [
        "2020-000001",
        "2020-000002",
        "2020-000003",
    ]
