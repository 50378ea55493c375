"""Back-office dans un vrai Chromium (paquet Debian, piloté par Playwright), issue 10 :
chaque page du personnel tient dans un téléphone (390 et 320 px, sans défilement
horizontal, axe-core sans violation grave), le graphique du tableau de bord a ses barres,
un adhérent s'ajoute en tapant une partie de son nom (propositions au clavier), un catalogue
se dépose (erreur avec sa ligne) et sa version de l'année suivante se publie."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from opsn.core.catalogue import CATALOGUE_DIR
from opsn.facturation.billing import billing_run
from opsn.gestion.models import CatalogueVersion, Intervention, Member, UsageRecord
from opsn.gestion.permissions import SYSTEM

from .test_portail import with_identities
from .test_portail_navigateur import (  # fixtures et aides du portail dans Chromium
    axe_source,
    browser,
    login,
    new_page,
    no_horizontal_scroll,
    serious_violations,
)

__all__ = ["axe_source", "browser"]  # fixtures importées (pytest les trouve par leur nom)

pytestmark = [pytest.mark.navigateur, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 700}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def year_billed(world):
    """Deux années facturées (graphique, factures), un relevé et une intervention."""
    with_identities(world)
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date(2021, 1, 15))
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2021, issued_on=dt.date(2022, 1, 15))
    UsageRecord.objects.create(member=world["a"], year=2023, counter="donnees_go", quantity=4)
    Intervention.objects.create(
        member=world["a"], day=dt.date(2023, 5, 2), days=Decimal(1), label="Poste du maire"
    )
    return world


@pytest.mark.parametrize("viewport", [PHONE, NARROW], ids=["390px", "320px"])
def test_every_staff_page_fits_a_phone(year_billed, live_server, browser, axe_source, viewport):
    world = year_billed
    invoice = world["a"].invoices.order_by("pk").first()
    cat = world["cat82"]
    pages = [
        "/",
        "/adherents/",
        "/adherents/?q=commune",
        f"/adherents/{world['a'].pk}/",
        f"/conventions/{world['conv_a'].pk}/",
        f"/conventions/{world['conv_a'].pk}/modifier/",
        f"/conventions/{world['conv_b'].pk}/montants/",
        "/facturation/?annee=2022",
        "/factures/?annee=2020",
        f"/factures/{invoice.pk}/",
        "/rapports/evolution/?annee=2021",
        "/adherents/nouveau/?q=saint+magne",
        "/adherents/nouveau/?code=33436",
        "/adherents/nouveau/organisme/",
        f"/releves/{world['a'].usage_records.get().pk}/supprimer/",
        "/catalogues/",
        "/catalogues/deposer/",
        f"/catalogues/{cat.pk}/",
        f"/catalogues/{cat.pk}/nouvelle-version/",
        f"/catalogues/{cat.pk}/differences/",
        f"/catalogues/{cat.pk}/nouvelle-version/?mode=prix",
        "/?annee=2026",  # bloc « À compléter avant de facturer » (indices manquants)
        "/conventions/importer/",
        "/taches/",
        "/operateur/identite/",
        f"/adherents/{world['a'].pk}/identite/",
    ]
    page = new_page(browser, viewport)
    login(page, live_server.url, "facturation")
    for path in pages:
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        no_horizontal_scroll(page)
        if viewport is PHONE:
            assert serious_violations(page, axe_source) == [], path
    # le graphique du tableau de bord a des barres visibles, légendées par familles
    page.goto(live_server.url + "/")
    bars = page.locator("figure.graphique svg rect")
    assert bars.count() >= 4
    heights = [bars.nth(i).bounding_box()["height"] for i in range(bars.count())]
    assert sum(heights) > 50
    legend = page.locator("figure.graphique figcaption").inner_text()
    assert "Assistance « Systèmes, Réseaux et Bureautique »" in legend and "srb" not in legend


def test_member_added_by_typing_part_of_its_name(world, live_server, browser) -> None:
    page = new_page(browser, PHONE)
    login(page, live_server.url, "facturation")
    page.get_by_role("link", name="Adhérents", exact=True).click()
    page.get_by_role("link", name="Ajouter une commune ou un EPCI").click()
    box = page.get_by_role("combobox", name="Nom, code INSEE ou SIREN")
    box.press_sequentially("saint magne", delay=40)
    options = page.get_by_role("option")
    options.first.wait_for()
    assert options.first.inner_text().startswith("Saint-Magne – Commune, 33436")
    assert "CC du Val de l'Eyre" in options.first.inner_text()
    assert "proposition" in page.locator("#suggestions-etat").inner_text()
    box.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == "suggestion-0"
    assert options.first.get_attribute("aria-selected") == "true"
    box.press("Enter")
    page.get_by_role("heading", name="Saint-Magne", exact=True).wait_for()
    no_horizontal_scroll(page)
    assert "213304363" in page.content() and "33125 Saint-Magne" in page.content()
    page.get_by_role("button", name="Ajouter Saint-Magne aux adhérents").click()
    page.get_by_text("Saint-Magne ajouté aux adhérents").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == "Saint-Magne"
    assert "1248" in page.content()
    member = Member.objects.get(operator=world["cdg82"], insee="33436")
    assert member.population_totale == 1248 and member.siren == "213304363"
    # la recherche des adhérents ignore accents et tirets
    page.goto(live_server.url + "/adherents/")
    page.get_by_label("Nom, code INSEE ou SIREN").fill("SAINT MAGNE")
    page.get_by_role("button", name="Rechercher").click()
    assert page.get_by_role("status").inner_text() == "1 adhérent."
    # au clavier encore : « beliet » propose Belin-Béliet ; Échap ferme la liste
    page.goto(live_server.url + "/adherents/nouveau/")
    box = page.get_by_role("combobox", name="Nom, code INSEE ou SIREN")
    box.press_sequentially("beliet", delay=40)
    page.get_by_role("option", name="Belin-Béliet").wait_for()
    box.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"


def test_member_is_found_without_javascript(world, live_server, browser) -> None:
    context = browser.new_context(locale="fr-FR", viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    login(page, live_server.url, "facturation")
    page.goto(live_server.url + "/adherents/nouveau/")
    page.get_by_label("Nom, code INSEE ou SIREN").fill("beliet")
    page.get_by_role("button", name="Chercher").click()
    page.get_by_role("link", name="Belin-Béliet").click()
    page.get_by_role("button", name="Ajouter Belin-Béliet aux adhérents").click()
    page.get_by_text("Belin-Béliet ajouté aux adhérents").wait_for()
    assert Member.objects.filter(operator=world["cdg82"], insee="33042").exists()


def test_officer_uploads_a_catalogue_then_publishes_next_year(
    world, live_server, browser, tmp_path
):
    source = (CATALOGUE_DIR / "cdg82" / "2020.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "casse.yaml"
    broken.write_text(source.replace("\n  mois: 11\n", "\n  mois: 13\n"), encoding="utf-8")
    good = tmp_path / "cdg82-2020-bis.yaml"
    good.write_text(source.replace('version: "2020"', 'version: "2020-bis"'), encoding="utf-8")
    page = new_page(browser, DESKTOP)
    login(page, live_server.url, "admin")
    page.get_by_role("link", name="Catalogues").click()
    page.get_by_role("link", name="Déposer un fichier de catalogue").click()
    page.get_by_label("Fichier du catalogue (.yaml) (obligatoire)").set_input_files(str(broken))
    page.get_by_role("button", name="Vérifier et enregistrer").click()
    alert = page.get_by_role("alert").first
    line = source.splitlines().index("  mois: 11") + 1
    assert f"ligne {line}" in alert.inner_text() and "mois 13 invalide" in alert.inner_text()
    assert "Rien n'a été enregistré" in alert.inner_text()
    assert not CatalogueVersion.objects.filter(version="2020-bis").exists()
    page.get_by_label("Fichier du catalogue (.yaml) (obligatoire)").set_input_files(str(good))
    page.get_by_role("button", name="Vérifier et enregistrer").click()
    page.get_by_text("Version « 2020-bis » enregistrée").wait_for()
    # version de l'année suivante, révisée par l'indice, relue puis publiée
    page.get_by_role("link", name="Créer la version de l'année suivante").click()
    page.get_by_label("Année des nouveaux prix (obligatoire)").fill("2021")
    page.get_by_role("button", name="Recalculer les propositions").click()
    field = page.get_by_label(
        "Assistance « Systèmes, Réseaux et Bureautique » – Niveau 1", exact=False
    )
    assert field.input_value() != "40,00"  # 40 € de 2020 révisés pour 2021
    page.get_by_label("Nom de la nouvelle version (clé « version ») (obligatoire)").fill("2021")
    page.get_by_role("button", name="Publier la nouvelle version").click()
    page.get_by_text("Version « 2021 » publiée.").wait_for()
    assert "2021" in page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name="Différences avec une autre version").click()
    bis = CatalogueVersion.objects.get(version="2020-bis")
    page.get_by_label("Comparer « 2021 » avec").select_option(str(bis.pk))
    page.get_by_role("button", name="Comparer").click()
    assert "40,00 € (prix 2020)" in page.content() and "(prix 2021)" in page.content()
    no_horizontal_scroll(page)
