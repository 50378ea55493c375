"""Identités de facturation dans le back-office, avoirs partiels et brouillons depuis les
pages, PDF conservé."""

from __future__ import annotations

import html

from django.test import Client

from opsn.facturation.billing import billing_run
from opsn.gestion.models import Invoice, InvoiceDocument, InvoiceStatus
from opsn.gestion.permissions import SYSTEM

from .test_billing_pages import with_sirets
from .travailleur import run_tasks


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(response) -> str:
    return html.unescape(response.content.decode())


def test_operator_identity_form_checks_keys_and_keeps_typed_values(world) -> None:
    client = client_for(world["users"]["facturation"])
    page = _page(client.get("/operateur/identite/"))
    assert "Identité de facturation de" in page and "À compléter avant d'émettre" in page
    data = {
        "operateur": "cdg82",
        "name": "CDG82",
        "siren": "288200017",
        "siret": "28820001700012",  # clé fausse
        "iban": "FR7630001008040000082000113",  # clé fausse
        "postcode": "8200",
        "electronic_address_scheme": "0225",
        "electronic_address": "abc",
    }
    response = client.post("/operateur/identite/", data)
    assert response.status_code == 400
    page = _page(response)
    for message in (
        "SIRET invalide",
        "IBAN invalide",
        "Code postal invalide",
        "Pour le schéma 0225",
    ):
        assert message in page, message
    assert 'value="28820001700012"' in page, "la valeur saisie reste dans le champ"
    assert 'aria-invalid="true"' in page
    world["cdg82"].refresh_from_db()
    assert world["cdg82"].siret == "", "rien n'est enregistré"
    data.update(
        siret="28820001700011",
        iban="FR76 3000 1008 0400 0008 2000 112",
        postcode="82000",
        electronic_address="288200017",
    )
    assert client.post("/operateur/identite/", data).status_code == 302
    world["cdg82"].refresh_from_db()
    assert (world["cdg82"].siret, world["cdg82"].iban) == (
        "28820001700011",
        "FR7630001008040000082000112",
    )


def test_operator_identity_is_only_the_users_own_operator(world) -> None:
    client = client_for(world["users"]["facturation"])  # CDG82
    client.post(
        "/operateur/identite/?operateur=gironde-numerique",
        {"operateur": "gironde-numerique", "name": "Piraté", "electronic_address_scheme": "0225"},
    )
    world["gn"].refresh_from_db()
    assert world["gn"].name != "Piraté"
    technician = client_for(world["users"]["technicien"])
    assert technician.get("/operateur/identite/").status_code == 403


def test_member_identity_form(world) -> None:
    member = world["a"]
    client = client_for(world["users"]["facturation"])
    url = f"/adherents/{member.pk}/identite/"
    response = client.post(
        url, {"siren": "218200011", "siret": "21820001100019", "electronic_address_scheme": "0225"}
    )
    assert response.status_code == 400
    assert "SIREN invalide" in _page(response) or "SIRET invalide" in _page(response)
    ok = client.post(
        url,
        {
            "siren": "218200012",
            "siret": "21820001200017",
            "address": "Mairie",
            "postcode": "82340",
            "city": "Angeville",
            "electronic_address_scheme": "0225",
            "service_code": "SERV-1",
            "engagement_required": "on",
        },
    )
    assert ok.status_code in (302, 400)
    assert client_for(world["users"]["technicien"]).get(url).status_code == 403
    assert client_for(world["users"]["facturation_gn"]).get(url).status_code == 404


def test_partial_credit_note_and_kept_pdf_from_the_pages(world) -> None:
    with_sirets(world)
    import datetime as dt

    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date.today())
    invoice = Invoice.objects.get(member=world["a"], kind="facture")
    client = client_for(world["users"]["facturation"])
    first = client.get(f"/factures/{invoice.pk}/pdf/").content
    assert first == client.get(f"/factures/{invoice.pk}/pdf/").content
    assert InvoiceDocument.objects.filter(invoice=invoice).count() == 1
    response = client.post(
        f"/factures/{invoice.pk}/", {"etendue": "lignes", "lignes": ["1"], "motif": "Poste en trop"}
    )
    assert response.status_code == 302
    credit = Invoice.objects.get(credited_invoice=invoice)
    assert [line.origin_position for line in credit.lines.all()] == [1]
    page = _page(client.get(f"/factures/{invoice.pk}/"))
    assert 'value="1"' not in page.split("Avoir sur les lignes cochées")[1].split("</ul>")[0]


def test_drafts_are_issued_or_cancelled_from_the_billing_page(world) -> None:
    with_sirets(world)
    import datetime as dt

    billing_run(
        actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date.today(), issue=False
    )
    client = client_for(world["users"]["facturation"])
    page = _page(client.get("/facturation/?annee=2020&operateur=cdg82"))
    assert "2 brouillon(s) 2020" in page
    response = client.post(
        "/facturation/brouillons/", {"operateur": "cdg82", "annee": "2020", "action": "emettre"}
    )
    assert response.status_code == 302 and "/taches/" in response["Location"]
    assert not Invoice.objects.filter(status=InvoiceStatus.ISSUED).exists(), "en tâche de fond"
    assert run_tasks() == 1
    assert "2 brouillon(s) émis" in _page(client.get(response["Location"]))
    assert Invoice.objects.filter(status=InvoiceStatus.ISSUED).count() == 2
    assert not Invoice.objects.filter(status=InvoiceStatus.DRAFT).exists()
