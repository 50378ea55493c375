"""Adhérents dans le navigateur (issue 10) : recherche sans accents ni tirets, ajout d'une
commune ou d'un EPCI depuis le référentiel, organisme saisi avec ses agents, montant d'une
prestation sur devis, suppression d'un relevé ou d'une intervention (journal de l'adhérent),
graphique du tableau de bord. Vraie base, vraies pages."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from opsn.facturation.billing import billing_preview, billing_run
from opsn.gestion import bridge, selectors, services
from opsn.gestion.identites_demo import fill_member, fill_operator
from opsn.gestion.models import (
    AuditEntry,
    Intervention,
    Member,
    Subscription,
    UsageRecord,
)
from opsn.gestion.permissions import SYSTEM
from opsn.referentiel import Referentiel

VAL_DE_L_EYRE = "243301405"
SAINT_MAGNE = "33436"


def identities(world) -> None:
    """Identités complètes (SIREN, SIRET, adresses) : la campagne peut émettre."""
    referentiel = Referentiel.charger()
    fill_operator(world["cdg82"])
    for key in ("a", "b"):
        world[key].siren = referentiel.par_code(world[key].insee).siren
        fill_member(world[key], referentiel)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


# -- recherche du back-office ------------------------------------------------------------------


def test_member_search_ignores_accents_hyphens_and_case(world) -> None:
    cdg82 = world["cdg82"]
    Member.objects.create(operator=cdg82, kind="commune", name="Saint-Magne", insee=SAINT_MAGNE)
    Member.objects.create(operator=cdg82, kind="commune", name="Belin-Béliet", insee="33042")
    Member.objects.create(operator=cdg82, kind="commune", name="L'Île-d'Yeu", insee="85113")
    user = world["users"]["facturation"]
    for query, expected in (
        ("saint magne", "Saint-Magne"),
        ("SAINT-MAGNE", "Saint-Magne"),
        ("beliet", "Belin-Béliet"),
        ("Béliet", "Belin-Béliet"),
        ("belin beliet", "Belin-Béliet"),
        ("l ile d yeu", "L'Île-d'Yeu"),
        ("85113", "L'Île-d'Yeu"),
    ):
        names = [m.name for m in selectors.member_list(user=user, query=query)]
        assert names == [expected], (query, names)
    # la page : même recherche, et le nom normalisé suit un renommage
    page = text(client_for(user).get("/adherents/", {"q": "saint magne"}))
    assert "1 adhérent." in page and "Saint-Magne" in page
    member = Member.objects.get(name="Saint-Magne")
    member.name = "Saint-Magne (Gironde)"
    member.save(update_fields=["name"])
    member.refresh_from_db()
    assert member.search_name == "saint magne gironde"
    # une ligne insérée sans `save` (en masse) reste trouvée par son nom brut
    Member.objects.bulk_create([Member(operator=cdg82, kind="commune", name="Lugos")])
    assert [m.name for m in selectors.member_list(user=user, query="lugos")] == ["Lugos"]
    # rien d'un autre opérateur
    assert not selectors.member_list(user=user, query="commune c").exists()


# -- ajout depuis le référentiel ------------------------------------------------------------


def test_suggestions_ignore_accents_and_are_for_staff_who_add_members(world) -> None:
    staff = client_for(world["users"]["facturation"])
    response = staff.get("/adherents/nouveau/", {"q": "beliet", "format": "json"})
    assert response.status_code == 200
    found = json.loads(response.content)
    assert found[0]["nom"] == "Belin-Béliet" and found[0]["code"] == "33042"
    assert found[0]["type_libelle"] == "Commune" and found[0]["population"] > 5000
    assert found[0]["epci"] == "CC du Val de l'Eyre"
    saint = json.loads(staff.get("/adherents/nouveau/?format=json&q=saint+magne").content)
    assert saint[0]["nom"] == "Saint-Magne"
    by_code = json.loads(staff.get(f"/adherents/nouveau/?format=json&q={VAL_DE_L_EYRE}").content)
    assert by_code[0]["nom"] == "CC du Val de l'Eyre" and by_code[0]["type"] == "epci"
    assert json.loads(staff.get("/adherents/nouveau/?format=json&q=x").content) == []
    # sans JavaScript : la recherche se soumet et la page liste les résultats
    page = text(staff.get("/adherents/nouveau/", {"q": "saint magne"}))
    assert "Résultats pour « saint magne »" in page
    assert f"code={SAINT_MAGNE}" in page and "Saint-Magne-de-Castillon" in page
    for role in ("technicien", "referent_a"):
        client = client_for(world["users"][role])
        assert client.get("/adherents/nouveau/?format=json&q=beliet").status_code == 403
        assert client.get("/adherents/nouveau/").status_code == 403


def test_commune_and_epci_come_from_the_referential_with_membership(world) -> None:
    user = world["users"]["facturation"]
    staff = client_for(user)
    preview = text(staff.get("/adherents/nouveau/", {"code": SAINT_MAGNE}))
    assert "Saint-Magne" in preview and "213304363" in preview and "33125" in preview
    assert "CC du Val de l'Eyre" in preview and "pas adhérent" in preview
    response = staff.post("/adherents/nouveau/", {"operateur": "cdg82", "code": SAINT_MAGNE})
    assert response.status_code == 302
    commune = Member.objects.get(operator=world["cdg82"], insee=SAINT_MAGNE)
    assert response["Location"] == f"/adherents/{commune.pk}/"
    assert (commune.name, commune.kind, commune.siren) == ("Saint-Magne", "commune", "213304363")
    assert commune.population_totale == 1248 and commune.population_municipale == 1235
    assert "recensement 2022" in commune.population_source
    assert (commune.postcode, commune.city) == ("33125", "Saint-Magne")
    assert commune.parent is None  # l'EPCI n'est pas adhérent
    created = AuditEntry.objects.get(object_type="member", object_id=str(commune.pk))
    assert created.action == "création" and created.actor == user
    # doublon refusé, rien d'écrit
    again = staff.post("/adherents/nouveau/", {"operateur": "cdg82", "code": SAINT_MAGNE})
    assert again.status_code == 400 and "déjà adhérent" in text(again)
    assert Member.objects.filter(insee=SAINT_MAGNE).count() == 1
    # l'EPCI ajouté ensuite rattache ses communes déjà adhérentes
    response = staff.post(
        "/adherents/nouveau/", {"operateur": "cdg82", "code": VAL_DE_L_EYRE, "rattacher": "on"}
    )
    assert response.status_code == 302
    epci = Member.objects.get(operator=world["cdg82"], kind="epci")
    assert (epci.siren, epci.nature) == (VAL_DE_L_EYRE, "CC")
    commune.refresh_from_db()
    assert commune.parent == epci
    # une commune ajoutée après son EPCI lui est rattachée d'emblée
    staff.post("/adherents/nouveau/", {"operateur": "cdg82", "code": "33042"})
    assert Member.objects.get(insee="33042", operator=world["cdg82"]).parent == epci
    # code inconnu : message, rien d'écrit
    bad = staff.post("/adherents/nouveau/", {"operateur": "cdg82", "code": "99999"})
    assert bad.status_code == 400 and "ni code INSEE, ni SIREN" in text(bad)
    # l'opérateur d'un autre est ignoré : jamais d'écriture chez lui
    staff.post("/adherents/nouveau/", {"operateur": "gironde-numerique", "code": "33201"})
    assert not Member.objects.filter(operator=world["gn"], insee="33201").exists()


def test_a_body_is_entered_with_its_agents(world) -> None:
    staff = client_for(world["users"]["admin"])
    bad = staff.post(
        "/adherents/nouveau/organisme/",
        {"type": "ccas", "nom": "CCAS de la commune A", "agents": "-3", "siren": "12"},
    )
    assert bad.status_code == 400
    page = text(bad)
    assert 'aria-invalid="true"' in page and "CCAS de la commune A" in page  # valeur gardée
    assert "hors limites" in page and "SIREN" in page
    ok = staff.post(
        "/adherents/nouveau/organisme/",
        {
            "type": "ccas",
            "nom": "CCAS de la commune A",
            "agents": "12",
            "rattache_a": str(world["a"].pk),
        },
    )
    assert ok.status_code == 302
    ccas = Member.objects.get(name="CCAS de la commune A")
    assert (ccas.kind, ccas.agents, ccas.parent) == ("ccas", 12, world["a"])
    # rattachement à un adhérent d'un autre opérateur : refusé
    foreign = staff.post(
        "/adherents/nouveau/organisme/",
        {"type": "syndicat", "nom": "Syndicat X", "agents": "3", "rattache_a": world["c"].pk},
    )
    assert foreign.status_code == 400 and not Member.objects.filter(name="Syndicat X").exists()


# -- montant d'une prestation sur devis --------------------------------------------------------


def test_quoted_amount_unblocks_billing_and_is_audited(world) -> None:
    conv = world["conv_a"]
    sub = Subscription.objects.create(
        convention=conv,
        service_code="services_internet_a_la_carte",
        started_on=dt.date(2020, 1, 1),
    )
    bills = {b.member.pk: b for b in billing_preview(operator=world["cdg82"], year=2021)}
    assert any("sur devis" in m for m in bills[world["a"].pk].blocking)
    user = world["users"]["facturation"]
    staff = client_for(user)
    detail = text(staff.get(f"/conventions/{conv.pk}/"))
    assert f"/conventions/{conv.pk}/montants/" in detail
    # la page de campagne range le motif (R14) et mène au formulaire qui le règle
    campaign = staff.get("/facturation/?operateur=cdg82&annee=2021").content.decode()
    assert f'<a href="/conventions/{conv.pk}/montants/">saisir le montant</a>' in campaign
    form = text(staff.get(f"/conventions/{conv.pk}/montants/"))
    assert "Prestation à la carte (€)" in form and "Sur devis sur la base" in form
    field = f"m_{sub.pk}_devis"
    bad = staff.post(f"/conventions/{conv.pk}/montants/", {field: "1e400", "reference": "D-1"})
    assert bad.status_code == 400 and 'value="1e400"' in text(bad)
    sub.refresh_from_db()
    assert sub.amounts == {}
    ok = staff.post(f"/conventions/{conv.pk}/montants/", {field: "1 250,5", "reference": "D-42"})
    assert ok.status_code == 302
    sub.refresh_from_db()
    assert sub.amounts == {"devis": "1250.50"}
    bills = {b.member.pk: b for b in billing_preview(operator=world["cdg82"], year=2021)}
    assert not any("sur devis" in m for m in bills[world["a"].pk].blocking)
    lines = bills[world["a"].pk].lines
    line = next(x for x in lines if x.service == "services_internet_a_la_carte")
    assert line.amount == Decimal("1250.50") and "montant saisi" in line.detail
    entry = AuditEntry.objects.filter(object_type="subscription", object_id=str(sub.pk)).latest(
        "pk"
    )
    assert entry.actor == user and entry.reason == "Devis ou bon de commande : D-42"
    page = text(staff.get(f"/conventions/{conv.pk}/"))
    assert "Prestation à la carte : 1 250,50 € (montant saisi)" in page  # abonnements
    assert "Montants saisis : — → Prestation à la carte : 1 250,50 €" in page  # journal
    assert "Motif : Devis ou bon de commande : D-42" in page
    # vider le champ rend la prestation au catalogue (sur devis)
    staff.post(f"/conventions/{conv.pk}/montants/", {field: ""})
    sub.refresh_from_db()
    assert sub.amounts == {}
    # le technicien ne saisit pas de montant
    tech = client_for(world["users"]["technicien"])
    assert tech.post(f"/conventions/{conv.pk}/montants/", {field: "10"}).status_code == 403


# -- suppression d'un relevé ou d'une intervention ------------------------------------------


def test_deleting_a_wrong_usage_or_intervention_is_audited_and_refused_once_invoiced(world):
    a = world["a"]
    record = UsageRecord.objects.create(member=a, year=2024, counter="donnees_go", quantity=12)
    wrong = Intervention.objects.create(
        member=a, day=dt.date(2024, 3, 4), days=Decimal("0.5"), label="Saisie en double"
    )
    tech = client_for(world["users"]["technicien"])
    member_page = text(tech.get(f"/adherents/{a.pk}/"))
    assert f"/releves/{record.pk}/supprimer/" in member_page
    assert f"/interventions/{wrong.pk}/supprimer/" in member_page
    confirm = text(tech.get(f"/interventions/{wrong.pk}/supprimer/"))
    assert "Saisie en double" in confirm and "Confirmer la suppression" in confirm
    response = tech.post(f"/interventions/{wrong.pk}/supprimer/", {"motif": "doublon"})
    assert response.status_code == 302 and not Intervention.objects.filter(pk=wrong.pk).exists()
    response = tech.post(f"/releves/{record.pk}/supprimer/", {"motif": "mauvais compteur"})
    assert response.status_code == 302 and not UsageRecord.objects.filter(pk=record.pk).exists()
    # au journal de l'adhérent, en libellés
    trail = list(selectors.member_audit(a))
    deleted = [e for e in trail if e.action == "suppression"]
    assert {e.object_type for e in deleted} == {"usagerecord", "intervention"}
    assert {e.reason for e in deleted} == {"doublon", "mauvais compteur"}
    page = text(tech.get(f"/adherents/{a.pk}/"))
    journal = page[page.index("Journal des modifications") :]
    assert "Intervention du 04/03/2024 – Saisie en double" in journal
    assert "Relevé d'usage 2024" in journal and "Motif : mauvais compteur" in journal
    assert "Quantité : 12</li>" in journal and "Durée (jours) : 0,5" in journal
    assert "counter" not in journal and "quantity" not in journal
    # année facturée : refusé, rien de supprimé
    identities(world)
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date(2021, 2, 1))
    late = UsageRecord.objects.create(member=a, year=2020, counter="donnees_go", quantity=3)
    refused = tech.get(f"/releves/{late.pk}/supprimer/")
    assert "déjà facturée" in text(refused)
    response = tech.post(f"/releves/{late.pk}/supprimer/", {"motif": "x"})
    assert response.status_code == 400 and UsageRecord.objects.filter(pk=late.pk).exists()
    # ni corrigé : la nouvelle saisie du même relevé est refusée, la valeur reste
    with pytest.raises(ValidationError, match="déjà facturée"):
        services.usage_record(
            actor=world["users"]["technicien"],
            member=a,
            year=2020,
            counter="donnees_go",
            quantity=Decimal(7),
        )
    late.refresh_from_db()
    assert late.quantity == 3
    # le référent ne supprime rien ; un autre opérateur ne voit rien
    referent = client_for(world["users"]["referent_a"])
    assert referent.post(f"/releves/{late.pk}/supprimer/").status_code == 403
    other = client_for(world["users"]["facturation_gn"])
    assert other.get(f"/releves/{late.pk}/supprimer/").status_code == 404


# -- tableau de bord -----------------------------------------------------------------------------


def test_dashboard_chart_has_dot_decimals_and_family_labels(world) -> None:
    identities(world)
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date(2021, 2, 1))
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2021, issued_on=dt.date(2022, 2, 1))
    page = client_for(world["users"]["facturation"]).get("/").content.decode()
    svg = page[page.index("<svg") : page.index("</svg>")]
    coordinates = re.findall(r' (?:x|y|width|height)="([^"]*)"', svg)
    assert coordinates and all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", c) for c in coordinates), svg
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([^"]*)"', svg)]
    assert sum(heights) > 180  # des barres visibles (la plus haute fait 180)
    legend = html.unescape(page[page.index("<figcaption") : page.index("</figcaption>")])
    catalogue = bridge.catalogue_of(world["cat82"])
    labels = {f.code: f.label for f in catalogue.families}
    assert labels["srb"] in legend and labels["metiers"] in legend
    assert ">srb<" not in legend and "metiers</li>" not in legend
