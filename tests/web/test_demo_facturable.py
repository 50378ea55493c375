"""La démonstration (`opsn demo`) est facturable pour chaque opérateur (issue 10) : une
année par défaut où des adhérents sont facturables sans motif de blocage, avec de vraies
valeurs SYNTEC (aucune inventée) ; le tableau de bord demande ce qui manque, avec le lien
du formulaire qui le règle."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from opsn.facturation.billing import billing_preview
from opsn.gestion.demo import DEMO_PRICES_VERSION, build_demo
from opsn.gestion.models import CatalogueVersion, Convention, IndexValue, Operator
from opsn.gestion.views import default_billing_year

TODAY = dt.date(2026, 11, 30)
# années attendues : CDG82 révise par SYNTEC de novembre ; les valeurs publiées (shared/
# reference/syntec.csv) s'arrêtent en novembre 2021 avant la rupture de série d'août 2022 :
# 2022 (× nov. 2021 / nov. 2020) est la dernière année calculable. Gironde Numérique et le
# CDG47 n'ont pas de clause de révision : l'année en cours.
EXPECTED = {"cdg82": 2022, "gironde-numerique": 2026, "cdg47": 2026}


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        build_demo(today=TODAY)


def _client(username: str) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_each_operator_has_a_billable_default_year(demo) -> None:
    for code, expected in EXPECTED.items():
        operator = Operator.objects.get(code=code)
        year, bills = default_billing_year(operator, TODAY)
        assert year == expected, code
        assert sum(b.billable for b in bills) >= 1, code
        assert [b.blocking for b in bills if b.blocking] == [], code
        again = billing_preview(operator=operator, year=year)
        assert [b.member.pk for b in again if b.billable] == [
            b.member.pk for b in bills if b.billable
        ]
    # aucune valeur SYNTEC inventée : novembre 2022, 2024 et 2025 restent absents
    months = set(IndexValue.objects.values_list("month", flat=True))
    assert {"2022-11", "2024-11", "2025-11"}.isdisjoint(months)
    # CDG47 : prix des forfaits saisis dans une nouvelle version, marqués démonstration
    version = CatalogueVersion.objects.get(operator__code="cdg47", version=DEMO_PRICES_VERSION)
    assert "prix de démonstration" in version.label
    assert version.content.count("prix de démonstration") >= 4
    assert "PRIX DE DÉMONSTRATION, FICTIFS" in version.content
    assert not Convention.objects.filter(operator__code="cdg47").exclude(catalogue=version)
    original = CatalogueVersion.objects.get(operator__code="cdg47", version="nouvelle-annexe")
    assert "a_renseigner" in original.content  # la version d'origine ne change pas
    # R28 : pas de clause de révision, donc aucune année inventée pour les prix saisis
    from opsn.gestion import bridge

    forfaits = bridge.catalogue_of(version).forfaits()
    assert forfaits and {f.components[0].price.year for f in forfaits} == {None}


def test_dashboard_default_year_and_missing_syntec_value(demo) -> None:
    staff = _client("facturation-cdg82")
    page = _text(staff.get("/"))
    assert "À compléter avant de facturer 2022" in page
    assert "40 adhérents facturables sur 40 pour 2022" in page
    assert "Rien ne bloque la campagne 2022." in page
    assert 'href="/facturation/?operateur=cdg82&amp;annee=2022"' in staff.get("/").content.decode()
    # 2026 demande novembre 2022, 2024 et 2025 (novembre 2023 est publié)
    response = staff.get("/?operateur=cdg82&annee=2026")
    source, page = response.content.decode(), _text(response)
    assert "0 adhérent facturable sur 40 pour 2026" in page
    assert "Valeurs d'indice manquantes" in page
    for month in ("novembre 2022 (2022-11)", "novembre 2024 (2024-11)", "novembre 2025 (2025-11)"):
        assert f"Indice SYNTEC de {month} : valeur publiée à saisir." in page
    assert "novembre 2023 (2023-11)" not in page
    assert "seul son administrateur la saisit" in page  # le personnel ne saisit pas l'indice
    assert '<a href="/indices/">Voir les indices</a>' in source
    # l'administrateur de la plateforme, lui, saisit la valeur (formulaire de /indices/)
    platform = _client("plateforme")
    assert "Saisir ou corriger une valeur" in platform.get("/indices/").content.decode()
    # année invalide : signalée, année par défaut affichée, pas d'erreur serveur
    bad = staff.get("/?annee=abc")
    assert bad.status_code == 200 and "Année par défaut affichée" in bad.content.decode()


def test_dashboard_links_missing_prices_and_identities(demo) -> None:
    from opsn.gestion.models import Member

    # prix à renseigner : avant la version de démonstration, les conventions du CDG47
    # étaient sur « nouvelle-annexe » ; on les y remet pour voir le bloc
    original = CatalogueVersion.objects.get(operator__code="cdg47", version="nouvelle-annexe")
    Convention.objects.filter(operator__code="cdg47").update(catalogue=original)
    member = Member.objects.filter(operator__code="cdg47").order_by("name").first()
    Member.objects.filter(pk=member.pk).update(address="", postcode="")
    source = _client("admin-cdg47").get("/?annee=2026").content.decode()
    assert "Prix « à renseigner » dans le catalogue (R15)" in source
    assert f'href="/catalogues/{original.pk}/nouvelle-version/?mode=prix"' in source
    assert "Identités des débiteurs incomplètes" in source
    assert f'href="/adherents/{member.pk}/identite/"' in source


def test_dashboard_sends_issuer_gaps_to_the_operator_identity(demo) -> None:
    Operator.objects.filter(code="cdg82").update(iban="", accountant_name="")
    response = _client("facturation-cdg82").get("/?annee=2022")
    source, page = response.content.decode(), _text(response)
    assert "0 adhérent facturable sur 40 pour 2022, 40 bloqués" in page
    assert "Identité de l'opérateur (émetteur) incomplète" in page
    assert "Émetteur : IBAN du compte au Trésor manquant." in page
    assert "Émetteur : comptable public assignataire manquant." in page
    assert 'href="/operateur/identite/?operateur=cdg82"' in source
    assert "Autres motifs" not in page and "Identités des débiteurs" not in page


def test_evolution_report_has_a_labelled_bar_chart(demo) -> None:
    """Rapport d'évolution : histogramme SVG des recettes par année et par famille, familles
    nommées par leur libellé, coordonnées à point décimal, montants au format français."""
    response = _client("facturation-cdg82").get("/rapports/evolution/?operateur=cdg82&annee=2021")
    source = response.content.decode()
    assert response.status_code == 200
    svg = source[source.index("<svg") : source.index("</svg>")]
    assert "<rect" in svg
    for attribute in re.findall(r'\s(?:x|y|width|height)="([^"]*)"', svg):
        assert "," not in attribute and re.fullmatch(r"-?\d+(\.\d+)?", attribute), attribute
    assert "I – Assistance « Systèmes, Réseaux et Bureautique »" in html.unescape(source)
    assert ">srb<" not in source  # libellés, pas codes
    assert re.search(r"\d,\d{2}.€", _text(response))
