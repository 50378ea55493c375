"""Domaines de saisie (issue 9) : les valeurs qui faisaient tomber des pages sont refusées
avec un message français à côté du champ, par les services et par la base elle-même."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from opsn.facturation.billing import billing_run
from opsn.facturation.views import revenue_chart
from opsn.gestion import services
from opsn.gestion.identites_demo import fill_member, fill_operator
from opsn.gestion.models import (
    Amendment,
    BillingRun,
    Intervention,
    Member,
    Operator,
    Subscription,
    UsageRecord,
)
from opsn.gestion.permissions import SYSTEM
from opsn.referentiel import Referentiel

STYLE = Path(__file__).resolve().parents[2] / "src/opsn/gestion/static/gestion/style.css"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(response) -> str:
    return html.unescape(response.content.decode())


# -- formulaires : message à côté du champ, style d'erreur, valeur gardée --------------------


def test_intervention_error_is_next_to_the_field_and_keeps_the_typed_value(world) -> None:
    client = client_for(world["users"]["technicien"])
    response = client.post(
        f"/adherents/{world['a'].pk}/intervention/",
        {"date": "2023-02-30", "jours": "99999", "objet": "Dépannage serveur"},
    )
    assert response.status_code == 400
    text = page(response)
    days = re.search(r"<input[^>]*name=\"jours\"[^>]*>", text).group(0)
    assert 'value="99999"' in days and 'aria-invalid="true"' in days
    assert "i_jours_error" in re.search(r'aria-describedby="([^"]*)"', days).group(1)
    error = re.search(r'<span class="erreur-champ" id="i_jours_error">([^<]*)</span>', text)
    assert error and "hors limites" in error.group(1) and "366" in error.group(1)
    assert re.search(r'id="i_date_error">[^<]*n\'est pas une date', text)
    assert 'value="Dépannage serveur"' in text  # les autres valeurs restent aussi
    assert not Intervention.objects.exists()


def test_errors_are_styled_as_errors_not_as_success() -> None:
    css = STYLE.read_text(encoding="utf-8")
    assert re.search(r"\.messages li\.erreurs \{[^}]*var\(--alerte\)", css)
    assert re.search(r"\.erreur-champ \{[^}]*color: var\(--alerte\)", css)
    assert re.search(r"\[aria-invalid=\"true\"\] \{[^}]*var\(--alerte\)", css)


def test_usage_of_a_thousand_billion_is_refused_and_not_stored(world) -> None:
    client = client_for(world["users"]["technicien"])
    url = f"/adherents/{world['a'].pk}/usage/"
    response = client.post(url, {"annee": "2024", "compteur": "sms", "quantite": "1e12"})
    assert response.status_code == 400
    assert re.search(r'id="u_quantite_error">[^<]*hors limites', page(response))
    response = client.post(url, {"annee": "99999", "compteur": "sms", "quantite": "10"})
    assert response.status_code == 400
    assert re.search(r'id="u_annee_error">année 99999 hors limites', page(response))
    assert not UsageRecord.objects.exists()
    ok = client.post(url, {"annee": "2024", "compteur": "donnees_go", "quantite": "1 700,5"})
    assert ok.status_code == 302
    assert UsageRecord.objects.get().quantity == Decimal("1700.5")


def test_amendment_quantity_1e400_is_refused_next_to_its_field(world) -> None:
    conv = world["conv_a"]
    srb = conv.subscriptions.get(service_code="assistance_srb")
    response = client_for(world["users"]["facturation"]).post(
        f"/conventions/{conv.pk}/modifier/",
        {"date_effet": "2021-01-01", f"q_{srb.pk}_postes_n1": "1e400", "motif": "essai"},
    )
    assert response.status_code == 400
    text = page(response)
    assert re.search(rf'id="q_{srb.pk}_postes_n1_error">[^<]*hors limites', text)
    assert f'name="q_{srb.pk}_postes_n1" value="1e400"' in text
    assert "essai" in text
    assert not Amendment.objects.exists()


def test_change_request_with_an_unknown_convention_or_request_gives_no_500(world) -> None:
    client = client_for(world["users"]["referent_a"])
    url = f"/adherents/{world['a'].pk}/demande/"
    response = client.post(url, {"convention": "abc", "message": "x"})
    assert response.status_code == 400
    staff = client_for(world["users"]["admin"])
    assert staff.post(url, {"cloturer": "abc"}).status_code == 302


# -- paramètres de requête ----------------------------------------------------------------------


def test_member_page_with_a_bad_year_shows_the_current_year_and_says_why(world) -> None:
    client = client_for(world["users"]["admin"])
    for bad in ("abc", "0", "-5", "99999", "1e400", "２０２４"):
        response = client.get(f"/adherents/{world['a'].pk}/", {"annee": bad})
        assert response.status_code == 200, bad
        assert "Année ignorée" in page(response)


def test_billing_pages_with_bad_parameters_answer_with_a_message(world) -> None:
    client = client_for(world["users"]["facturation"])
    response = client.get("/facturation/", {"annee": "0"})
    assert response.status_code == 200
    text = page(response)
    assert re.search(r'id="annee_error">année 0 hors limites', text)
    assert 'aria-describedby="annee_error"' in text
    year = dt.date.today().year
    for url in ("/factures/", "/rapports/evolution/"):
        response = client.get(url, {"annee": "abc", "operateur": "x'; DROP TABLE x; --"})
        assert response.status_code == 200
        assert f"Année {year} affichée" in page(response)
    # une action ne part jamais sur une autre année que celle demandée
    assert client.post("/facturation/", {"annee": "99999", "operateur": "cdg82"}).status_code == 400


def test_a_nul_character_anywhere_is_a_bad_request(world) -> None:
    """PostgreSQL ne compare pas un texte qui contient NUL : la requête est refusée avant
    toute vue (400, page française), quelle que soit la vue qui lirait le paramètre."""
    client = client_for(world["users"]["facturation"])
    for response in (
        client.get("/adherents/", {"q": "a\x00"}),
        client.post("/factures/pes.xml", {"annee": "2020", "operateur": "\x00"}),
        client.get("/factures/", {"operateur\x00": "cdg82"}),
    ):
        assert response.status_code == 400
        assert "Requête incorrecte" in page(response)


def test_member_list_ignores_a_filter_out_of_its_domain(world) -> None:
    client = client_for(world["users"]["admin"])
    response = client.get("/adherents/", {"q": "x" * 60_000, "type": "inconnu"})
    assert response.status_code == 200
    assert "Recherche ignoré" in page(response) and "Commune A" in page(response)


# -- le tableau de bord après une deuxième année facturée -----------------------------------------


def test_dashboard_after_a_second_billing_year(world) -> None:
    referentiel = Referentiel.charger()
    fill_operator(world["cdg82"])
    for key in ("a", "b"):
        world[key].siren = referentiel.par_code(world[key].insee).siren
        fill_member(world[key], referentiel)
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date.today())
    # une famille (dématérialisation) facturée seulement la deuxième année
    Subscription.objects.create(
        convention=world["conv_a"],
        service_code="dematerialisation",
        started_on=dt.date(2021, 1, 1),
        quantities={"certificats": "1"},
    )
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2021, issued_on=dt.date.today())
    chart = revenue_chart([world["cdg82"].pk])
    assert [bar["annee"] for bar in chart["barres"]] == [2020, 2021]
    amounts = [s["montant"] for bar in chart["barres"] for s in bar["segments"]]
    assert all(isinstance(a, Decimal) for a in amounts) and Decimal(0) in amounts
    response = client_for(world["users"]["facturation"]).get("/")
    assert response.status_code == 200
    assert "0,00 €" in page(response)


# -- services et base --------------------------------------------------------------------------


def test_services_refuse_values_out_of_their_domain(world) -> None:
    tech = world["users"]["technicien"]
    with pytest.raises(ValidationError, match="hors limites"):
        services.usage_record(
            actor=tech, member=world["a"], year=2024, counter="sms", quantity=Decimal("1e12")
        )
    with pytest.raises(ValidationError, match="hors limites"):
        services.intervention_record(
            actor=tech,
            member=world["a"],
            day=dt.date(2024, 1, 2),
            days=Decimal(99999),
            label="x",
        )
    with pytest.raises(ValidationError, match="hors limites"):
        services.convention_amend(
            actor=world["users"]["admin"],
            convention=world["conv_a"],
            effective_on=dt.date(2021, 1, 1),
            changes=[
                services.SubscriptionChange(
                    "ajout", "assistance_metiers", {"postes_n3": Decimal(10) ** 29}
                )
            ],
        )


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Member, "population_totale", 50_000_000),
        (Member, "agents", 600_000),
        (Member, "budget_keur", Decimal("200000000")),
        (Member, "siret", "1234"),
        (Member, "siren", "1234"),
        (Member, "insee", "123"),
        (Operator, "siren", "1234"),
        (Operator, "siret", "123"),
        (UsageRecord, "quantity", Decimal("20000000")),
        (UsageRecord, "year", 1999),
        (UsageRecord, "year", 2101),
        (Intervention, "days", Decimal("400")),
        (BillingRun, "year", 0),
    ],
)
def test_database_refuses_values_out_of_their_domain(world, model, field, value) -> None:
    a = world["a"]
    objects = {
        Member: a,
        Operator: world["cdg82"],
        UsageRecord: UsageRecord.objects.create(
            member=a, year=2024, counter="sms", quantity=Decimal(1)
        ),
        Intervention: Intervention.objects.create(
            member=a, day=dt.date(2024, 1, 2), days=Decimal("0.5"), label="x"
        ),
        BillingRun: BillingRun.objects.create(
            operator=world["cdg82"], year=2024, issued_on=dt.date(2024, 1, 2)
        ),
    }
    obj = objects[model]
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=obj.pk).update(**{field: value})
    setattr(obj, field, value)
    with pytest.raises(ValidationError) as info:
        obj.full_clean()  # validation des contraintes (formulaires de l'administration)
    assert "attendu" in str(info.value) or "hors limites" in str(info.value)


def test_login_with_a_very_long_username_is_a_failed_login(world) -> None:
    """Le formulaire de connexion n'arrête pas un identifiant trop long : axes le note, borné
    à la longueur de sa colonne (sous PostgreSQL, une erreur 500 avant)."""
    from axes.models import AccessAttempt

    for url in ("/connexion/", "/admin/login/"):
        response = Client().post(url, {"username": "é" * 300, "password": "x"})
        assert response.status_code == 200
    assert AccessAttempt.objects.get().username == "é" * 150
