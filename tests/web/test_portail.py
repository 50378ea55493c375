"""Portail des membres : simulateur public et devis, API, prospects, espace du référent,
demandes acceptées en avenant ou refusées, avis et courriels (client de test Django)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from opsn.core.money import fmt
from opsn.facturation.billing import billing_run
from opsn.gestion.models import (
    ChangeRequest,
    ChangeRequestStatus,
    Convention,
    Lead,
    Notification,
    Operator,
    Quote,
)
from opsn.gestion.permissions import SYSTEM
from opsn.portail import estimation, selectors
from opsn.portail import simulation as sim

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh(world):
    selectors.reset_caches()
    cache.clear()
    for code, deps in (("cdg82", ["82"]), ("gironde-numerique", ["33"]), ("cdg47", ["47"])):
        Operator.objects.filter(code=code).update(territory=deps)
    yield
    cache.clear()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


# -- simulateur public --------------------------------------------------------------------------


def test_visitor_finds_saint_emilion_and_its_operator_without_login() -> None:
    c = Client()
    found = text(c.get("/simulateur/?q=saint emilion"))
    assert "Saint-Émilion" in found and "?code=33394" in found
    page = text(c.get("/simulateur/?code=33394"))
    assert "1\u202f736 habitants" in page and "recensement 2022" in page  # population et millésime
    near = page.split("Opérateurs dont le territoire couvre")[1].split("</ul>")[0]
    assert "Gironde Numérique" in near and "CDG82" not in near
    offers = text(c.get("/simulateur/?code=33394&operateur=gironde-numerique"))
    assert "Tarifs 20" in offers
    assert "Non proposé : réservé : EPCI" in offers  # adhésion mutualisée
    assert "Sur devis" in offers
    assert "Indiquez le budget" in offers  # RGPD : budget inconnu, dit


def test_selection_totals_are_the_api_totals_and_a_quote_reopens_by_reference() -> None:
    c = Client()
    query = (
        "/simulateur/?code=33394&operateur=gironde-numerique&choix=nas_50go"
        "&choix=certificat_rgs&qte-certificat_rgs-certificats=2"
    )
    page = text(c.get(query))
    api = c.post(
        "/api/simulateur/simulation",
        json.dumps(
            {
                "operateur": "gironde-numerique",
                "collectivite": {"code": "33394"},
                "services": [
                    {"service": "nas_50go"},
                    {"service": "certificat_rgs", "quantites": {"certificats": "2"}},
                ],
            }
        ),
        content_type="application/json",
    ).json()
    assert api["texte"]["total_ttc"] in page  # « 2 940,00 € » : même total
    assert api["total"]["total_ttc"] == "2940.00"  # 1 800 + 2 × 360 + 2 × 210 (certificats)
    created = c.post(
        "/devis/nouveau/",
        {
            "code": "33394",
            "operateur": "gironde-numerique",
            "choix": ["nas_50go", "certificat_rgs"],
            "qte-certificat_rgs-certificats": "2",
        },
    )
    assert created.status_code == 302
    quote = Quote.objects.get()
    assert created["Location"] == f"/devis/{quote.reference}/"
    assert re.fullmatch(r"D\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", quote.reference)
    assert quote.valid_until > quote.issued_on
    assert quote.result["total"]["total_ttc"] == "2940.00"
    shown = text(c.get(f"/devis/{quote.reference}/"))
    assert quote.reference in shown and "Saint-Émilion" in shown and "2 940,00 €" in shown
    lookup = c.get(f"/devis/?reference={quote.reference.lower()}")
    assert lookup.status_code == 302 and lookup["Location"] == f"/devis/{quote.reference}/"
    assert c.get("/devis/?reference=D2026-XXXX-XXXX").status_code == 404
    assert c.get("/devis/D2026-XXXX-XXXX/").status_code == 404


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler) absent")
def test_quote_pdf_carries_reference_validity_lines_and_totals(tmp_path) -> None:
    c = Client()
    c.post(
        "/devis/nouveau/",
        {"code": "82121", "operateur": "cdg82", "choix": ["assistance_srb", "rgpd_dpd"]},
    )
    quote = Quote.objects.get()
    response = c.get(f"/devis/{quote.reference}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    path = tmp_path / "devis.pdf"
    path.write_bytes(response.content)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
    content = " ".join(out.stdout.split())
    assert f"Devis n° {quote.reference}" in content
    assert f"valable jusqu'au {quote.valid_until:%d/%m/%Y}" in content
    assert "révisé SYNTEC" in content  # explication de la ligne : prix de base et révision
    assert "strate/palier" in content  # RGPD : tranche de population
    total = sim.fmt_fr(Decimal(quote.result["total"]["total_ttc"])).replace("\u202f", " ")
    assert total in content
    # le même devis donne les mêmes octets (date de création = date du devis)
    assert c.get(f"/devis/{quote.reference}/pdf/").content == response.content


def test_quote_needs_a_service_and_is_rate_limited(settings) -> None:
    c = Client()
    empty = c.post("/devis/nouveau/", {"code": "33394", "operateur": "gironde-numerique"})
    assert empty.status_code == 400
    assert "Choisissez au moins un service" in text(empty)
    assert not Quote.objects.exists()
    settings.OPSN_DEVIS_DEBIT = "2/h"
    data = {"code": "33394", "operateur": "gironde-numerique", "choix": "nas_50go"}
    assert c.post("/devis/nouveau/", data).status_code == 302
    refused = c.post("/devis/nouveau/", data)
    assert refused.status_code == 429
    assert "Trop de requêtes" in text(refused) and int(refused["Retry-After"]) > 0
    assert Quote.objects.count() == 1


def test_contact_request_becomes_a_lead_for_that_operator_only(world) -> None:
    c = Client()
    c.post(
        "/devis/nouveau/", {"code": "33394", "operateur": "gironde-numerique", "choix": "nas_50go"}
    )
    quote = Quote.objects.get()
    bad = c.post(f"/devis/{quote.reference}/contact/", {"nom": "Mme Durand", "courriel": "x"})
    assert bad.status_code == 400 and "Adresse électronique invalide" in text(bad)
    ok = c.post(
        f"/devis/{quote.reference}/contact/",
        {"nom": "Mme Durand", "fonction": "Secrétaire de mairie", "courriel": "durand@mairie.fr"},
    )
    assert ok.status_code == 302
    lead = Lead.objects.get()
    assert lead.operator.code == "gironde-numerique"
    staff_gn = text(client_for(world["users"]["facturation_gn"]).get("/prospects/"))
    assert "Mme Durand" in staff_gn and quote.reference in staff_gn
    staff_82 = text(client_for(world["users"]["facturation"]).get("/prospects/"))
    assert "Mme Durand" not in staff_82
    assert client_for(world["users"]["referent_a"]).get("/prospects/").status_code == 403
    client_for(world["users"]["facturation"]).post("/prospects/", {"traiter": lead.pk})
    lead.refresh_from_db()
    assert lead.handled_at is None  # l'autre opérateur ne traite pas ce prospect
    client_for(world["users"]["facturation_gn"]).post("/prospects/", {"traiter": lead.pk})
    lead.refresh_from_db()
    assert lead.handled_by == world["users"]["facturation_gn"]


# -- API ------------------------------------------------------------------------------------------


def test_api_schema_is_served_and_search_ignores_accents() -> None:
    c = Client()
    schema = c.get("/api/simulateur/openapi.json").json()
    assert schema["info"]["title"] == "Simulateur opsn"
    assert {
        "/api/simulateur/collectivites",
        "/api/simulateur/operateurs",
        "/api/simulateur/offres",
        "/api/simulateur/simulation",
    } <= set(schema["paths"])
    found = c.get("/api/simulateur/collectivites", {"q": "SAINT EMILION"}).json()
    assert found[0]["nom"] == "Saint-Émilion" and found[0]["code"] == "33394"
    operators = c.get("/api/simulateur/operateurs", {"code": "33394"}).json()
    covering = {o["code"]: o["couvre"] for o in operators}
    assert covering["gironde-numerique"] is True and covering["cdg82"] is False
    offers = c.get("/api/simulateur/offres", {"operateur": "cdg82", "code": "82121"}).json()
    assert offers["annee_tarifs"] <= dt.date.today().year
    assert {o["service"] for o in offers["offres"]} >= {"assistance_srb", "rgpd_dpd"}


def test_api_errors_are_french_and_the_rate_is_limited(settings) -> None:
    c = Client()
    missing = c.get("/api/simulateur/collectivites")
    assert missing.status_code == 422 and "champ obligatoire" in missing.json()["detail"]
    unknown = c.post(
        "/api/simulateur/simulation",
        json.dumps({"operateur": "inconnu", "collectivite": {"code": "33394"}}),
        content_type="application/json",
    )
    assert (
        unknown.status_code == 400 and "opérateur « inconnu » inconnu" in unknown.json()["detail"]
    )
    settings.OPSN_API_DEBIT = "3/m"
    cache.clear()
    codes = [c.get("/api/simulateur/collectivites", {"q": "agen"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = c.get("/api/simulateur/collectivites", {"q": "agen"})
    assert "Trop de requêtes" in refused.json()["detail"] and int(refused["Retry-After"]) >= 1
    other = Client(REMOTE_ADDR="192.0.2.7")  # une autre adresse a son propre compteur
    assert other.get("/api/simulateur/collectivites", {"q": "agen"}).status_code == 200


def test_api_simulation_equals_the_core_for_an_epci() -> None:
    body = {
        "operateur": "gironde-numerique",
        "annee": 2021,
        "collectivite": {"code": "243301405"},
        "services": [{"service": "adhesion_mutualisee"}, {"service": "participation_individuelle"}],
        "usages": {"donnees_go": "1700"},
        "annees": 1,
    }
    result = Client().post(
        "/api/simulateur/simulation", json.dumps(body), content_type="application/json"
    )
    assert result.status_code == 200, result.content
    year = result.json()["annees"][0]
    assert year["total_ttc"] == "33461.00" and year["total_tva"] == "0.00"  # cas P11
    assert year["lignes"][0]["explication"]  # chaque ligne s'explique


# -- espace du référent ----------------------------------------------------------------------


def with_identities(world) -> None:
    """Identités complètes (SIREN/SIRET, adresses) : sans elles aucune pièce ne s'émet."""
    from opsn.gestion.identites_demo import fill_member, fill_operator
    from opsn.referentiel import Referentiel

    fill_operator(world["cdg82"])
    ref = Referentiel.charger()
    for key in ("a", "b"):
        member = world[key]
        member.siren = ref.par_code(member.insee).siren
        fill_member(member, ref)


def test_referent_lands_on_her_portal_and_sees_only_her_member(
    world, django_capture_on_commit_callbacks
) -> None:
    with_identities(world)
    user = world["users"]["referent_a"]
    user.email = "referente@commune-a.fr"
    user.save()
    with django_capture_on_commit_callbacks(execute=True):
        billing_run(
            actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date(2021, 1, 15)
        )
    assert [m.to for m in mail.outbox] == [["referente@commune-a.fr"]]  # un courriel, pour a
    assert "Nouvelle facture" in mail.outbox[0].subject
    referent = client_for(world["users"]["referent_a"])
    home = referent.get("/")
    assert home.status_code == 302 and home["Location"] == "/portail/"
    page = text(referent.get("/portail/"))
    assert "Commune A" in page and "A-2018" in page
    assert "Commune B" not in page and "B-2020" not in page
    assert "Postes au niveau 2" in page  # libellés, pas postes_n2
    assert "état des prestations" in page
    invoice = world["a"].invoices.get()
    assert f"/factures/{invoice.pk}/pdf/" in page
    assert referent.get(f"/factures/{invoice.pk}/pdf/").status_code == 200
    other = world["b"].invoices.get()
    assert referent.get(f"/factures/{other.pk}/pdf/").status_code == 404
    # avis de la facture émise (b n'a pas de référent : pas d'avis)
    assert Notification.objects.filter(member=world["a"], kind="facture_emise").count() == 1
    assert not Notification.objects.filter(member=world["b"]).exists()
    assert f"n° {invoice.number}" in page
    # staff : pas d'espace référent
    assert client_for(world["users"]["facturation"]).get("/portail/").status_code == 302


def test_labels_not_codes_in_the_referent_history(world) -> None:
    from opsn.gestion import services

    services.convention_amend(
        actor=world["users"]["facturation"],
        convention=world["conv_a"],
        effective_on=dt.date(2021, 1, 1),
        changes=[
            services.SubscriptionChange(
                "modification",
                "assistance_srb",
                {"postes_n1": Decimal(2), "postes_n2": Decimal(4)},
                subscription_id=world["conv_a"].subscriptions.get(service_code="assistance_srb").pk,
            )
        ],
        reason="Un poste de plus",
    )
    Convention.objects.filter(pk=world["conv_a"].pk).update(tacit_renewal=False)
    conv = Convention.objects.get(pk=world["conv_a"].pk)
    conv.tacit_renewal = True
    conv.save()
    page = text(client_for(world["users"]["referent_a"]).get("/portail/"))
    history = page.split('id="journal"')[1]
    assert "Reconduction tacite : non → oui" in history
    assert "Postes au niveau 2 (assistance systèmes, réseaux et bureautique) : 4" in history
    assert (
        "Modification – Assistance « Systèmes, Réseaux et Bureautique » : Postes au niveau 2 "
        "(assistance systèmes, réseaux et bureautique) : 3 → 4"
    ) in page
    for code in (
        "tacit_renewal",
        "postes_n2",
        "{'",
        "service_code",
        "True",
        "assistance_srb",
        ": 3 ",
    ):
        assert code not in history, code


def test_request_is_estimated_then_accepted_into_a_prefilled_amendment(
    world, django_capture_on_commit_callbacks
) -> None:
    referent_user = world["users"]["referent_a"]
    referent_user.email = "referente@commune-a.fr"
    referent_user.save()
    referent = client_for(referent_user)
    conv = world["conv_a"]
    data = {
        "nature": "ajout",
        "convention": conv.pk,
        "service": "dematerialisation",
        "qte_utilisateurs": "3",
        "message": "Pour le secrétariat",
    }
    preview = text(referent.post("/portail/demande/", {**data, "estimer": "1"}))
    assert "Estimation" in preview and "la première année" in preview
    assert not ChangeRequest.objects.exists()  # estimer n'envoie rien
    sent = referent.post("/portail/demande/", data)
    assert sent.status_code == 302
    item = ChangeRequest.objects.get()
    assert item.kind == "ajout" and item.quantities == {"utilisateurs": "3"}
    assert item.estimate["premiere_annee"]
    staff = client_for(world["users"]["facturation"])
    member_page = text(staff.get(f"/adherents/{world['a'].pk}/"))
    assert "Accepter (avenant pré-rempli)" in member_page
    opened = staff.get(f"/demandes/{item.pk}/accepter/")
    assert opened["Location"] == f"/conventions/{conv.pk}/modifier/?demande={item.pk}"
    form = text(staff.get(opened["Location"]))
    assert 'value="dematerialisation" selected' in form
    assert 'name="nouveau_dematerialisation_utilisateurs"' in form
    assert re.search(r'name="nouveau_dematerialisation_utilisateurs"[^>]*value="3"', form)
    with django_capture_on_commit_callbacks(execute=True):
        saved = staff.post(
            f"/conventions/{conv.pk}/modifier/",
            {
                "demande": item.pk,
                "date_effet": "2021-01-01",
                "nouveau_service": "dematerialisation",
                "nouveau_dematerialisation_utilisateurs": "3",
                "motif": "Demande du référent",
            },
        )
    assert saved.status_code == 302, text(saved)[:3000]
    item.refresh_from_db()
    assert item.status == ChangeRequestStatus.ACCEPTED and item.amendment.number == 1
    assert conv.subscriptions.filter(service_code="dematerialisation").exists()
    notice = Notification.objects.get(member=world["a"], kind="demande_acceptee")
    assert "avenant n° 1" in notice.message
    assert [m.to for m in mail.outbox] == [["referente@commune-a.fr"]]
    assert "acceptée" in mail.outbox[0].subject
    page = text(referent.get("/portail/"))
    assert "Acceptée (avenant enregistré)" in page and "avenant n° 1" in page


def test_refusal_reason_reaches_the_referent(world) -> None:
    referent = client_for(world["users"]["referent_a"])
    referent.post(
        "/portail/demande/",
        {"nature": "autre", "convention": world["conv_a"].pk, "message": "Un écran de plus"},
    )
    item = ChangeRequest.objects.get()
    # le référent ne répond pas à sa propre demande ; l'autre opérateur ne la voit pas
    assert referent.post(f"/demandes/{item.pk}/refuser/", {"motif": "x"}).status_code == 403
    gn = client_for(world["users"]["facturation_gn"])
    assert gn.post(f"/demandes/{item.pk}/refuser/", {"motif": "x"}).status_code == 404
    staff = client_for(world["users"]["facturation"])
    staff.post(f"/demandes/{item.pk}/refuser/", {"motif": ""})
    item.refresh_from_db()
    assert item.status == ChangeRequestStatus.PENDING  # motif obligatoire
    staff.post(f"/demandes/{item.pk}/refuser/", {"motif": "Matériel hors convention"})
    item.refresh_from_db()
    assert item.status == ChangeRequestStatus.REFUSED
    page = text(referent.get("/portail/"))
    assert "Refusée" in page and "motif : Matériel hors convention" in page
    assert "Matériel hors convention" in Notification.objects.get(kind="demande_refusee").message
    unread = Notification.objects.filter(member=world["a"], read_at__isnull=True)
    referent.post("/portail/avis/", {"lues": [n.pk for n in unread]})
    assert not Notification.objects.filter(member=world["a"], read_at__isnull=True).exists()


def test_notice_estimate_gives_the_r22_dates(world) -> None:
    conv = Convention.objects.create(
        operator=world["cdg82"],
        member=world["a"],
        reference="A-2019",
        catalogue=world["cat82"],
        signed_on=dt.date(2019, 6, 15),
    )
    early = estimation.change_estimate(conv, kind="preavis", today=dt.date(2021, 3, 1))
    assert early["fin"] == "2021-06-15" and early["derniere_annee"] == 2021
    late = estimation.change_estimate(conv, kind="preavis", today=dt.date(2021, 4, 1))
    assert late["fin"] == "2022-06-15" and late["derniere_annee"] == 2022
    assert "15/06/2022" in late["texte"][0]


def test_quantity_change_estimate_matches_the_billing_core(world) -> None:
    sub = world["conv_a"].subscriptions.get(service_code="assistance_srb")
    result = estimation.change_estimate(
        world["conv_a"],
        kind="quantite",
        subscription=sub,
        quantities={"postes_n2": Decimal(4)},
        today=dt.date(2020, 6, 1),
    )
    assert result["annee"] == 2020
    assert result["avant"] == "979.54"  # cas P01
    assert Decimal(result["apres"]) > Decimal(result["avant"])
    assert fmt(Decimal(result["apres"]) - Decimal(result["avant"])) == result["difference"]


def test_demo_referents_see_invoices_quotas_and_usage(db, django_capture_on_commit_callbacks):
    """Depuis la démonstration (`opsn demo`) : le référent du CDG82 voit ses factures, celui
    du CDG47 les quotas de sa strate et sa consommation de sauvegarde."""
    from opsn.gestion.demo import build_demo

    selectors.reset_caches()
    with django_capture_on_commit_callbacks(execute=True):
        accounts = build_demo(today=dt.date(2026, 11, 30))
    names = {a.username for a in accounts}
    assert {"referent-cdg82", "referent-gironde", "referent-cdg47"} <= names
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    cdg82 = text(client_for(users.get(username="referent-cdg82")).get("/portail/"))
    assert "Facture n° " in cdg82 and "émise le 15/01/2021 (2020)" in cdg82
    cdg47 = text(client_for(users.get(username="referent-cdg47")).get("/portail/?annee=2026"))
    assert "Quotas de votre strate" in cdg47
    assert 'role="img" aria-label="Sauvegarde externalisée (volume en Go) : ' in cdg47
    assert "consommé(s)" in cdg47
    assert len(mail.outbox) >= 1  # avis de facture aux référents qui ont une adresse
