"""L'année d'une chargée de facturation, dans le navigateur seul, depuis la démonstration
(issue 10, « Done when ») : elle dépose un catalogue, crée les tarifs de l'année suivante,
ajoute un adhérent en tapant une partie de son nom, importe un tableur (aperçu puis
confirmation), saisit le montant d'une prestation sur devis et facture. Aucune commande,
aucune écriture en base par le test : seules les tâches de fond sont exécutées par le
travailleur de test, comme le ferait `opsn travailleur`."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from opsn.core.catalogue import CATALOGUE_DIR
from opsn.gestion.demo import DEMO_PASSWORD, build_demo
from opsn.gestion.identites_demo import with_luhn_key
from opsn.gestion.models import CatalogueVersion, Convention, Invoice, InvoiceStatus, Member

from .test_portail_navigateur import browser, new_page, no_horizontal_scroll
from .travailleur import run_tasks

__all__ = ["browser"]  # fixture de Chromium (pytest la trouve par son nom)

pytestmark = [pytest.mark.navigateur, pytest.mark.django_db(transaction=True)]

TODAY = dt.date(2026, 11, 30)
DESKTOP = {"width": 1280, "height": 900}
LAFRANCAISE = "82087"  # absente des adhérents de démonstration du CDG82 (82001 à 82040)


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/connexion/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def test_officer_runs_the_year_in_the_browser_from_the_demo(live_server, browser, tmp_path):
    build_demo(today=TODAY)
    assert not Member.objects.filter(operator__code="cdg82", insee=LAFRANCAISE).exists()
    page = new_page(browser, DESKTOP)
    _login(page, live_server.url, "admin-cdg82")

    # 1. dépôt d'un fichier de catalogue (vérifié par le chargeur, enregistré en version)
    source = (CATALOGUE_DIR / "cdg82" / "2020.yaml").read_text(encoding="utf-8")
    upload = tmp_path / "cdg82-depot.yaml"
    upload.write_text(source.replace('version: "2020"', 'version: "2020-depot"'), "utf-8")
    page.get_by_role("link", name="Catalogues").click()
    page.get_by_role("link", name="Déposer un fichier de catalogue").click()
    page.get_by_label("Fichier du catalogue (.yaml) (obligatoire)").set_input_files(str(upload))
    page.get_by_role("button", name="Vérifier et enregistrer").click()
    page.get_by_text("Version « 2020-depot » enregistrée").wait_for()

    # 2. tarifs de l'année suivante : révisés par l'indice (clause 001 art. 6.3), publiés
    page.get_by_role("link", name="Créer la version de l'année suivante").click()
    page.get_by_label("Année des nouveaux prix (obligatoire)").fill("2021")
    page.get_by_role("button", name="Recalculer les propositions").click()
    page.get_by_label("Nom de la nouvelle version (clé « version ») (obligatoire)").fill(
        "2021-depot"
    )
    page.get_by_role("button", name="Publier la nouvelle version").click()
    page.get_by_text("Version « 2021-depot » publiée.").wait_for()
    published = CatalogueVersion.objects.get(operator__code="cdg82", version="2021-depot")
    assert "annee: 2021" in published.content

    # 3. un adhérent ajouté en tapant une partie de son nom, sans accent
    page.get_by_role("link", name="Adhérents", exact=True).click()
    page.get_by_role("link", name="Ajouter une commune ou un EPCI").click()
    box = page.get_by_role("combobox", name="Nom, code INSEE ou SIREN")
    box.press_sequentially("lafrancaise", delay=30)
    page.get_by_role("option", name=re.compile("^Lafrançaise")).first.wait_for()
    box.press("ArrowDown")
    box.press("Enter")
    page.get_by_role("button", name="Ajouter Lafrançaise aux adhérents").click()
    page.get_by_text("Lafrançaise ajouté aux adhérents").wait_for()
    member = Member.objects.get(operator__code="cdg82", insee=LAFRANCAISE)
    assert member.siren == "218200871" and member.population_totale

    # 4. le tableur des conventions : aperçu sans écriture, puis confirmation en tâche
    siret = with_luhn_key(member.siren + "0001")
    sheet = (
        "adherent;reference;signature;service;quantites;debut;siret\n"
        f"{LAFRANCAISE};LAF-2021;2021-01-04;assistance_srb;postes_n1=2 | postes_n2=1;;{siret}\n"
        f"{LAFRANCAISE};LAF-2021;2021-01-04;services_internet_a_la_carte;;;{siret}\n"
    )
    page.goto(live_server.url + "/conventions/importer/")
    page.set_input_files(
        "#fichier",
        files=[{"name": "conventions.csv", "mimeType": "text/csv", "buffer": sheet.encode()}],
    )
    page.get_by_role("button", name="Vérifier le fichier (aperçu)").click()
    page.get_by_text("Aucune erreur : l'import peut être confirmé.").wait_for()
    assert not Convention.objects.filter(reference="LAF-2021").exists()  # l'aperçu n'écrit rien
    page.get_by_role("button", name="Confirmer l'import").click()
    page.get_by_text("Import mis en file").wait_for()
    assert run_tasks() == 1
    convention = Convention.objects.get(operator__code="cdg82", reference="LAF-2021")
    assert convention.member == member
    assert sorted(convention.subscriptions.values_list("service_code", flat=True)) == [
        "assistance_srb",
        "services_internet_a_la_carte",
    ]

    # 5. le montant de la prestation sur devis (R14), avec la référence du devis
    page.goto(f"{live_server.url}/conventions/{convention.pk}/montants/")
    page.get_by_label(re.compile("Prestation à la carte")).fill("480,00")
    page.get_by_label(re.compile("[Rr]éférence")).first.fill("DEVIS-LAF-1")
    page.get_by_role("button", name=re.compile("Enregistrer")).click()
    page.get_by_text("Prestation à la carte : 480,00 € (montant saisi)").wait_for()

    # 6. la campagne : simulation, puis émission en tâche de fond
    # ce qui manque encore est demandé sur le tableau de bord, avec le lien du formulaire
    page.goto(live_server.url + "/?annee=2022")
    todo = page.locator("main").inner_text()
    assert "Lafrançaise : adresse (numéro et voie) manquante." in todo
    page.get_by_role("link", name="Compléter l'identité").first.click()
    page.get_by_label(re.compile("^Adresse \\(numéro et voie\\)")).fill("Place de la Mairie")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_text(re.compile("enregistrée")).first.wait_for()
    page.goto(live_server.url + "/facturation/?annee=2022")
    assert "Lafrançaise" in page.locator("main").inner_text()
    no_horizontal_scroll(page)
    page.get_by_role("button", name=re.compile(r"Émettre les \d+ facture\(s\) de 2022")).click()
    page.get_by_text("Campagne 2022 mise en file").wait_for()
    assert run_tasks() == 1
    invoice = Invoice.objects.get(member=member, year=2022, status=InvoiceStatus.ISSUED)
    amounts = dict(invoice.lines.values_list("service_code", "amount"))
    assert amounts["services_internet_a_la_carte"] == Decimal("480.00")
    assert invoice.lines.filter(service_code="assistance_srb").count() == 2
    page.goto(f"{live_server.url}/factures/{invoice.pk}/")
    assert invoice.number in page.locator("main").inner_text()
