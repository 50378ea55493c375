"""Pages de facturation : simulation, émission, factures, documents, droits."""

from __future__ import annotations

import datetime as dt
import html

from django.test import Client

from opsn.gestion.models import IndexValue, Invoice, InvoiceStatus

from .travailleur import run_tasks


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_sirets(world) -> None:
    """Identités complètes (SIREN/SIRET valides, adresses) : sans elles rien ne s'émet."""
    from opsn.gestion.identites_demo import fill_member, fill_operator
    from opsn.referentiel import Referentiel

    fill_operator(world["cdg82"])
    ref = Referentiel.charger()
    for key in ("a", "b"):
        member = world[key]
        member.siren = ref.par_code(member.insee).siren
        fill_member(member, ref)


def test_billing_page_previews_then_issues(world) -> None:
    with_sirets(world)
    client = client_for(world["users"]["facturation"])
    page = html.unescape(client.get("/facturation/?annee=2020").content.decode())
    assert "2 adhérent(s) à facturer" in page and "979,54 €" in page
    assert not Invoice.objects.exists()  # la simulation n'écrit rien
    response = client.post("/facturation/", {"annee": "2020", "operateur": "cdg82"})
    assert response.status_code == 302
    assert not Invoice.objects.exists()  # la campagne part en tâche de fond
    assert run_tasks() == 1
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    year = dt.date.today().year
    assert numbers == [f"{year}-000001", f"{year}-000002"]
    listing = html.unescape(client.get(response["Location"]).content.decode())
    assert "2 facture(s) émise(s) pour 2020" in listing and f"{year}-000002" in listing
    again = client.post("/facturation/", {"annee": "2020", "operateur": "cdg82"})
    assert again.status_code == 302 and run_tasks() == 1
    assert Invoice.objects.count() == 2


def test_blocked_member_is_reported_and_not_invoiced(world) -> None:
    client = client_for(world["users"]["facturation"])  # pas de SIRET : bloqué
    page = html.unescape(client.get("/facturation/?annee=2020").content.decode())
    assert "Débiteur Commune A : SIRET manquant." in page
    assert "Émetteur : SIRET manquant." in page, "l'identité de l'émetteur bloque aussi"
    client.post("/facturation/", {"annee": "2020", "operateur": "cdg82"})
    run_tasks()
    assert not Invoice.objects.exists()


def test_invoice_documents_and_credit_note(world) -> None:
    with_sirets(world)
    client = client_for(world["users"]["facturation"])
    client.post("/facturation/", {"annee": "2020", "operateur": "cdg82"})
    run_tasks()
    invoice = Invoice.objects.get(member=world["a"])
    pdf = client.get(f"/factures/{invoice.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    xml = client.get(f"/factures/{invoice.pk}/xml/")
    assert b"urn:cen.eu:en16931:2017" in xml.content
    csv = client.get("/factures/titres.csv?annee=2020&operateur=cdg82").content.decode()
    assert csv.splitlines()[0].startswith("numero_piece;nature;date_emission")
    assert invoice.number in csv
    response = client.post(f"/factures/{invoice.pk}/", {"motif": "Erreur de quantité"})
    credit = Invoice.objects.get(credited_invoice=invoice)
    assert response.status_code == 302 and credit.status == InvoiceStatus.ISSUED
    assert credit.total_ttc == -invoice.total_ttc


def test_referent_sees_only_its_invoices_and_cannot_bill(world) -> None:
    with_sirets(world)
    client_for(world["users"]["facturation"]).post(
        "/facturation/", {"annee": "2020", "operateur": "cdg82"}
    )
    run_tasks()
    referent = client_for(world["users"]["referent_a"])
    listing = html.unescape(referent.get("/factures/?annee=2020").content.decode())
    assert "Commune A" in listing and "Commune B" not in listing
    other = Invoice.objects.get(member=world["b"])
    assert referent.get(f"/factures/{other.pk}/").status_code == 404
    assert referent.get(f"/factures/{other.pk}/pdf/").status_code == 404
    assert referent.get("/facturation/?annee=2020").status_code == 403
    technician = client_for(world["users"]["technicien"])
    assert technician.post("/facturation/", {"annee": "2020"}).status_code == 403


def test_evolution_page_explains_the_variation(world) -> None:
    client = client_for(world["users"]["facturation"])
    page = html.unescape(client.get("/rapports/evolution/?annee=2021").content.decode())
    assert "révision d'indice" in page
    csv = client.get("/rapports/evolution/?annee=2021&format=csv").content.decode()
    assert csv.splitlines()[0] == (
        "adherent;service;montant_annee_precedente;montant_annee;ecart;variation;causes"
    )
    assert "Commune B;Service RGPD – DPD mutualisé;770.00;450.16;-319.84" in csv


def test_technician_records_an_intervention_billed_at_the_day_rate(world) -> None:
    client = client_for(world["users"]["technicien"])
    response = client.post(
        f"/adherents/{world['a'].pk}/intervention/",
        {"date": "2020-05-04", "jours": "0,5", "objet": "Dépannage"},
    )
    assert response.status_code == 302
    intervention = world["a"].interventions.get()
    assert intervention.technician == world["users"]["technicien"]
    from opsn.gestion import bridge

    lines = bridge.quote(world["conv_a"], 2020).lines
    (line,) = [x for x in lines if x.service == "intervention_hors_convention"]
    assert str(line.amount) == "125.00"  # ½ journée à 250 € (2020)
    bad = client.post(
        f"/adherents/{world['a'].pk}/intervention/",
        {"date": "2020-05-04", "jours": "0,3", "objet": "x"},
        follow=True,
    )
    assert "demi-journées" in html.unescape(bad.content.decode())
    referent = client_for(world["users"]["referent_a"])
    referent.post(
        f"/adherents/{world['a'].pk}/intervention/",
        {"date": "2020-05-04", "jours": "1", "objet": "x"},
    )
    assert world["a"].interventions.count() == 1


def test_platform_admin_enters_a_missing_index_month_operators_cannot(world) -> None:
    from opsn.gestion.permissions import SYSTEM
    from opsn.plateforme.comptes import platform_admin_create

    platform, _ = platform_admin_create(actor=SYSTEM, username="plateforme")
    client = client_for(platform)
    response = client.post(
        "/indices/", {"mois": "2022-11", "valeur": "283,3", "serie": "revisee", "source": "Syntec"}
    )
    assert response.status_code == 302
    page = html.unescape(client.get("/indices/").content.decode())
    assert "2022-11" in page and "283,3" in page
    bad = client.post("/indices/", {"mois": "2022-13", "valeur": "1"})
    assert bad.status_code == 400
    assert "AAAA-MM attendu" in html.unescape(bad.content.decode())
    for name in ("admin", "facturation", "technicien", "referent_a", "facturation_gn"):
        refused = client_for(world["users"][name]).post(
            "/indices/", {"mois": "2023-10", "valeur": "300", "serie": "revisee", "source": "x"}
        )
        assert refused.status_code == 403, name
    assert not IndexValue.objects.filter(month="2023-10").exists()


def test_member_page_offers_the_forms_of_the_role(world) -> None:
    url = f"/adherents/{world['a'].pk}/"
    technician = html.unescape(client_for(world["users"]["technicien"]).get(url).content.decode())
    assert "Enregistrer une intervention" in technician
    assert "Enregistrer un relevé d'usage" in technician
    referent = html.unescape(client_for(world["users"]["referent_a"]).get(url).content.decode())
    assert "Enregistrer une intervention" not in referent
    assert "Demander une modification" in referent
