"""Import des conventions en trois temps (issue 10) : modèle téléchargé, aperçu sans
écriture (erreurs par ligne et colonne), confirmation qui met l'import en file ; relance
sans effet ; dépôt invisible du personnel d'un autre opérateur."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.test import Client
from openpyxl import load_workbook

from opsn.gestion.imports import REQUIRED, conventions_import
from opsn.gestion.models import BackgroundTask, Convention, Member, Subscription
from opsn.tabular import read_rows
from web.travailleur import run_tasks

from .test_portail_navigateur import browser, login, new_page, no_horizontal_scroll

__all__ = ["browser"]  # fixture de Chromium (pytest la trouve par son nom)

HEADER = "adherent;reference;signature;service;quantites;debut\n"
GOOD = (
    HEADER
    + "82121;IMP-1;2019-06-15;assistance_srb;postes_n1=2 | postes_n2=3;\n"
    + "82121;IMP-1;2019-06-15;dematerialisation;3;2020-01-01\n"
    + "243301405;IMP-2;01/01/2021;rgpd_dpd;;\n"
)


def _client(world, name: str = "facturation") -> Client:
    client = Client()
    client.force_login(world["users"][name])
    return client


def _counts() -> tuple[int, int, int]:
    return Convention.objects.count(), Subscription.objects.count(), Member.objects.count()


def _upload(client: Client, text: str | bytes, name: str = "conventions.csv", operator="cdg82"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(
        "/conventions/importer/", {"operateur": operator, "fichier": upload}, follow=False
    )


def _preview(client: Client, text: str | bytes, name: str = "conventions.csv"):
    response = _upload(client, text, name)
    assert response.status_code == 302, response.content[:500]
    url = response["Location"]
    assert url.startswith("/conventions/importer/")
    return url, client.get(url)


def test_templates_parse_back_and_list_the_catalogue_services(world, tmp_path) -> None:
    client = _client(world)
    page = client.get("/conventions/importer/?operateur=cdg82").content.decode()
    assert "Télécharger le modèle (XLSX)" in page and "Télécharger le modèle (CSV)" in page
    assert "assistance_srb" in page  # codes des services du catalogue en cours
    for kind in ("csv", "xlsx"):
        response = client.get(f"/conventions/importer/modele.{kind}?operateur=cdg82")
        assert response.status_code == 200
        assert f"modele-conventions-cdg82.{kind}" in response["Content-Disposition"]
        path = tmp_path / f"modele.{kind}"
        path.write_bytes(response.content)
        headers, rows = read_rows(path, REQUIRED)
        assert set(REQUIRED) <= set(headers)
        assert len(rows) == 1 and rows[0].values["adherent"].startswith("#")
        # sans la marque d'exemple, la ligne du modèle est une ligne valide
        example = {**rows[0].values, "adherent": rows[0].values["adherent"].lstrip("# ")}
        clean = tmp_path / f"exemple-{kind}.csv"
        clean.write_text(
            ";".join(headers) + "\n" + ";".join(example.get(h, "") for h in headers) + "\n",
            encoding="utf-8",
        )
        report = conventions_import(
            actor=world["users"]["facturation"], operator=world["cdg82"], path=clean, dry_run=True
        )
        assert report.errors == [] and report.subscriptions_created == 1
    book = load_workbook(tmp_path / "modele.xlsx")
    assert book.sheetnames == ["conventions", "colonnes", "services"]
    codes = [row[0] for row in book["services"].iter_rows(min_row=2, values_only=True)]
    assert "assistance_srb" in codes and "rgpd_dpd" in codes
    assert client.get("/conventions/importer/modele.pdf").status_code == 404
    # l'opérateur d'un autre : ignoré, le modèle est celui de l'opérateur de l'utilisateur
    other = _client(world, "facturation_gn").get("/conventions/importer/modele.csv?operateur=cdg82")
    assert "modele-conventions-gironde-numerique.csv" in other["Content-Disposition"]


def test_preview_shows_row_errors_and_writes_nothing(world) -> None:
    client = _client(world)
    before = _counts()
    text = (
        HEADER
        + "82121;IMP-1;2019-06-15;assistance_srb;postes_n1=2;\n"
        + "99999;IMP-2;2019-06-15;assistance_srb;postes_n1=2;\n"
        + "82121;IMP-3;2019-06-15;inconnu;;\n"
    )
    url, response = _preview(client, text)
    page = response.content.decode()
    assert response.status_code == 200
    assert "2 erreurs : rien ne peut être importé" in page
    assert "Ligne 3, colonne « adherent » : « 99999 » n&#x27;est ni un code INSEE" in page
    assert "Ligne 4, colonne « service » : service « inconnu » absent" in page
    assert "Confirmer l'import" not in page
    assert _counts() == before
    confirm = client.post(url + "confirmer/")
    assert confirm.status_code == 302 and confirm["Location"] == url
    assert not BackgroundTask.objects.exists()
    assert _counts() == before


def test_clean_preview_then_confirm_imports_and_rerun_changes_nothing(world) -> None:
    client = _client(world)
    before = _counts()
    url, response = _preview(client, GOOD)
    page = response.content.decode()
    assert "Aucune erreur" in page and "Confirmer l'import" in page
    assert "2 adhérents ajoutés" in page and "2 conventions créées" in page
    assert "3 abonnements créés" in page
    assert "Assistance" in page and "nouvel adhérent" in page
    assert _counts() == before  # l'aperçu n'écrit rien
    confirm = client.post(url + "confirmer/")
    assert confirm.status_code == 302 and "/taches/" in confirm["Location"]
    assert client.post(url + "confirmer/")["Location"] == confirm["Location"]  # une seule fois
    assert run_tasks() == 1
    after = _counts()
    assert after == (before[0] + 2, before[1] + 3, before[2] + 2)
    assert Subscription.objects.get(
        convention__reference="IMP-1", service_code="assistance_srb"
    ).quantities == {"postes_n1": "2", "postes_n2": "3"}
    # même fichier déposé de nouveau : tout est « déjà importé », la relance ne change rien
    url2, again = _preview(client, GOOD)
    page = again.content.decode()
    assert "3 lignes déjà importées" in page and "0 abonnement créé" in page
    assert "déjà importé" in page and "existante" in page
    client.post(url2 + "confirmer/")
    assert run_tasks() == 1
    assert _counts() == after
    task = BackgroundTask.objects.order_by("-pk").first()
    assert "3 ligne(s) déjà importée(s)" in task.summary


def test_other_operator_cannot_see_or_confirm_a_deposit(world, settings) -> None:
    url, response = _preview(_client(world), GOOD)
    assert response.status_code == 200
    listing = _client(world).get("/conventions/importer/").content.decode()
    assert f'href="{url}"' in listing and "prêt à confirmer" in listing
    assert (
        url not in _client(world, "facturation_gn").get("/conventions/importer/").content.decode()
    )
    intruder = _client(world, "facturation_gn")
    assert intruder.get(url).status_code == 404
    assert intruder.post(url + "confirmer/").status_code == 404
    assert not BackgroundTask.objects.exists()
    # un technicien du même opérateur n'a pas le droit d'importer
    assert _client(world, "technicien").get(url).status_code in (403, 404)
    # un jeton inventé ou un chemin hors du dossier des imports : 404
    client = _client(world)
    assert (
        client.get("/conventions/importer/00000000-0000-0000-0000-000000000000/").status_code == 404
    )
    assert client.get("/conventions/importer/..%2F..%2Fetc/").status_code == 404
    # la fiche du dépôt ne peut pas désigner un fichier hors de son dossier
    token = url.rstrip("/").rsplit("/", 1)[1].replace("-", "")
    meta = Path(settings.DATA_DIR) / "imports" / token / "depot.json"
    meta.write_text(meta.read_text().replace(f'"{token}/', '"../'), encoding="utf-8")
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"", "vide.csv", "Le fichier est vide."),
        (b"adherent;reference\n82121;X\n", "entete.csv", "colonne(s) obligatoire(s)"),
        (b"adherent;reference;signature;service\n", "seul.csv", "aucune ligne"),
        (HEADER.encode("utf-16"), "utf16.csv", "encodé en UTF-8"),
        (b"PK\x03\x04 pas un classeur", "abime.xlsx", "classeur XLSX illisible"),
        (HEADER.replace(";", "\t").encode("latin-1"), "x.txt", "Format non pris en charge"),
    ],
)
def test_bad_files_never_give_a_server_error(world, content, name, expected) -> None:
    client = _client(world)
    response = _upload(client, content, name)
    if response.status_code == 302:
        response = client.get(response["Location"])
        assert "rien ne peut être importé" in response.content.decode()
    assert response.status_code in (200, 400)
    assert expected in response.content.decode()


def test_a_5000_row_file_previews_without_writing(world) -> None:
    """5 000 lignes (1 250 communes, 4 services chacune) : aperçu complet, sans écriture
    (sa durée se mesure au banc benchmarks/referentiel.py, pas ici)."""
    from opsn.referentiel import Referentiel

    communes = list(Referentiel.charger().communes())[:1250]
    assert len(communes) == 1250
    lines = [HEADER]
    for c in communes:
        ref = f"GROS-{c.insee}"
        lines += [
            f"{c.insee};{ref};2020-01-01;assistance_srb;postes_n1=1 | postes_n2=2;\n",
            f"{c.insee};{ref};2020-01-01;assistance_metiers;postes_n3=1;\n",
            f"{c.insee};{ref};2020-01-01;dematerialisation;2;\n",
            f"{c.insee};{ref};2020-01-01;rgpd_dpd;;\n",
        ]
    client = _client(world)
    before = _counts()
    _, response = _preview(client, "".join(lines))
    page = response.content.decode()
    assert "5\u00a0000 lignes lues" in page and "5\u00a0000 abonnements créés" in page, page[:3000]
    assert "Aucune erreur" in page
    assert _counts() == before


@pytest.mark.navigateur
@pytest.mark.django_db(transaction=True)
def test_preview_flow_in_chromium_at_320px(world, live_server, browser) -> None:
    """Dans Chromium, à 320 px sans défilement horizontal : fichier en erreur (erreur à côté
    de la ligne, pas de confirmation), puis fichier correct, confirmé, importé."""
    page = new_page(browser, {"width": 320, "height": 700})
    login(page, live_server.url, "facturation")
    page.goto(live_server.url + "/conventions/importer/")
    page.get_by_role("heading", name=re.compile("Import des conventions")).wait_for()
    no_horizontal_scroll(page)
    bad = (
        HEADER
        + "82121;IMP-1;2019-06-15;assistance_srb;postes_n1=2;\n82121;IMP-3;2019-06-15;inconnu;;\n"
    )
    page.set_input_files(
        "#fichier", files=[{"name": "erreurs.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.get_by_role("button", name="Vérifier le fichier (aperçu)").click()
    page.get_by_role("heading", name=re.compile("Aperçu de l'import")).wait_for()
    row = page.get_by_role("row").filter(has_text="IMP-3")
    assert "Ligne 3, colonne « service »" in row.inner_text()
    assert page.get_by_role("button", name="Confirmer l'import").count() == 0
    no_horizontal_scroll(page)
    page.get_by_role("link", name="déposez-le de nouveau").click()
    page.set_input_files(
        "#fichier", files=[{"name": "bon.csv", "mimeType": "text/csv", "buffer": GOOD.encode()}]
    )
    page.get_by_role("button", name="Vérifier le fichier (aperçu)").click()
    page.get_by_text("Aucune erreur : l'import peut être confirmé.").wait_for()
    assert "3 abonnements créés" in page.locator("main").inner_text()
    no_horizontal_scroll(page)
    assert Convention.objects.filter(reference__startswith="IMP-").count() == 0
    page.get_by_role("button", name="Confirmer l'import").click()
    page.get_by_text("Import mis en file").wait_for()
    assert run_tasks() == 1
    assert Convention.objects.filter(reference__startswith="IMP-").count() == 2
    page.reload()
    no_horizontal_scroll(page)
