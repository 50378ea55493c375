"""Les exports CSV (titres de recettes, évolution) neutralisent les formules de tableur
saisies dans les données (nom d'adhérent, engagement) ; les montants restent des nombres."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client

from opsn.facturation.billing import billing_run, invoice_credit
from opsn.facturation.evolution import evolution_csv, evolution_report
from opsn.facturation.exports import titres_csv
from opsn.gestion.models import Invoice, Operator, Role
from opsn.gestion.permissions import SYSTEM

from .scenarios import build_gironde_documents, make_user

HYPERLINK = '=HYPERLINK("http://x","y")'
ISSUED = dt.date(2022, 1, 15)


@pytest.fixture
def booby_trapped(db):
    members = build_gironde_documents()
    epci = members["epci"]
    epci.name = HYPERLINK
    epci.engagement_number = "@SUM(1+1)"
    epci.save()
    operator = Operator.objects.get(code="gironde-numerique")
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=ISSUED)
    assert not report.blocked
    invoice = Invoice.objects.get(member=epci, kind="facture")
    credit = invoice_credit(actor=SYSTEM, invoice=invoice, reason="Erreur", issued_on=ISSUED)
    return {"operator": operator, "invoice": invoice, "credit": credit}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def _no_formula(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(("=", "@", "\t", "\r")), (column, value)
            if value.startswith(("-", "+")):
                Decimal(value.replace(",", ".").removesuffix(" %"))  # un nombre, sinon erreur


def test_titres_csv_neutralises_debtor_and_keeps_negative_amounts(booby_trapped) -> None:
    rows = _rows(titres_csv(booby_trapped["operator"], 2021))
    _no_formula(rows)
    mine = [r for r in rows if r["debiteur"] == "'" + HYPERLINK]
    assert {r["numero_piece"] for r in mine} == {
        booby_trapped["invoice"].number,
        booby_trapped["credit"].number,
    }
    assert all(r["numero_engagement"] == "'@SUM(1+1)" for r in mine)
    credit_rows = [r for r in mine if r["numero_piece"] == booby_trapped["credit"].number]
    total = sum(Decimal(r["montant_ttc"]) for r in credit_rows)
    assert total == -booby_trapped["invoice"].total_ttc < 0
    assert all(r["montant_ttc"].startswith("-") for r in credit_rows)


def test_evolution_csv_neutralises_member_names(booby_trapped) -> None:
    report = evolution_report(operator=booby_trapped["operator"], year=2021)
    rows = _rows(evolution_csv(report))
    _no_formula(rows)
    assert any(r["adherent"] == "'" + HYPERLINK for r in rows)
    assert not any(r["adherent"] == HYPERLINK for r in rows)


def test_downloaded_exports_are_neutralised(booby_trapped, settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    operator = booby_trapped["operator"]
    client = Client()
    client.force_login(make_user("fact-csv", operator, Role.BILLING))
    for url in (
        f"/factures/titres.csv?operateur={operator.code}&annee=2021",
        f"/rapports/evolution/?operateur={operator.code}&annee=2021&format=csv",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response) if response.streaming else response.content
        text = body.decode("utf-8-sig")
        assert "'" + HYPERLINK.replace('"', '""') in text, url
        _no_formula(_rows(text))
