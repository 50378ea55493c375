"""Catalogues dans le navigateur (issue 10) : versions d'un opérateur, dépôt validé par le
chargeur de la ligne de commande (erreurs avec leur ligne, rien d'enregistré), tableaux des
annexes, version de l'année suivante révisée par l'indice, prix manquants renseignés,
différences entre deux versions. Vraie base, vrais catalogues, vraies pages."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from opsn.catalogues import edition
from opsn.core.catalogue import CATALOGUE_DIR
from opsn.facturation.billing import billing_preview
from opsn.gestion import bridge
from opsn.gestion.models import (
    AuditEntry,
    CatalogueVersion,
    Convention,
    Member,
    Operator,
    Role,
    StaffMembership,
    Subscription,
)

CDG82_2020 = (CATALOGUE_DIR / "cdg82" / "2020.yaml").read_text(encoding="utf-8")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


def form_values(page: str) -> dict[str, str]:
    """Valeurs des champs texte d'une page (proposition de prix, en-tête)."""
    values = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page):
        values[name] = html.unescape(value)
    for name in re.findall(r'<input type="text" name="(p_\d+)"(?![^>]*value=)', page):
        values.setdefault(name, "")
    return values


@pytest.fixture
def cdg47(world, django_user_model):
    """Le CDG47 (nouvelle annexe, forfaits « à renseigner »), un chargé de facturation et
    une commune au Forfait Métiers."""
    operator = Operator.objects.get(code="cdg47")
    version = CatalogueVersion.objects.get(operator=operator, version="nouvelle-annexe")
    user = django_user_model.objects.create_user("facturation47", password="x")
    StaffMembership.objects.create(user=user, operator=operator, role=Role.BILLING)
    agen = Member.objects.create(
        operator=operator, kind="commune", name="Agen", insee="47001", population_totale=32_000
    )
    convention = Convention.objects.create(
        operator=operator,
        member=agen,
        reference="AGEN-1",
        catalogue=version,
        signed_on=dt.date(2024, 1, 1),
    )
    Subscription.objects.create(
        convention=convention, service_code="forfait_metiers", started_on=dt.date(2024, 1, 1)
    )
    return {"operator": operator, "version": version, "user": user, "convention": convention}


# -- liste et cloisonnement ------------------------------------------------------------------


def test_versions_are_listed_for_their_operator_only(world) -> None:
    staff = client_for(world["users"]["facturation"])
    page = text(staff.get("/catalogues/"))
    assert f"/catalogues/{world['cat82'].pk}/" in page and "du 01/01/2020" in page
    gironde = CatalogueVersion.objects.get(operator=world["gn"])
    assert f"/catalogues/{gironde.pk}/" not in page
    for suffix in ("", "yaml/", "nouvelle-version/", "differences/"):
        assert staff.get(f"/catalogues/{gironde.pk}/{suffix}").status_code == 404
    for role in ("technicien", "referent_a"):
        client = client_for(world["users"][role])
        assert client.get("/catalogues/").status_code == 403
        assert client.get(f"/catalogues/{world['cat82'].pk}/").status_code == 404
    # le menu ne montre « Catalogues » qu'à qui peut l'ouvrir
    assert 'href="/catalogues/"' in text(staff.get("/"))
    assert 'href="/catalogues/"' not in text(client_for(world["users"]["technicien"]).get("/"))


# -- dépôt -------------------------------------------------------------------------------------


def test_upload_shows_the_loader_message_with_its_line_and_saves_nothing(world) -> None:
    staff = client_for(world["users"]["facturation"])
    before = CatalogueVersion.objects.count()
    broken = CDG82_2020.replace('prix: {montant: "40.00", annee: 2020}', "prix:")
    line = broken.splitlines().index("        prix:") + 1
    response = staff.post(
        "/catalogues/deposer/", {"fichier": SimpleUploadedFile("cdg82-2021.yaml", broken.encode())}
    )
    assert response.status_code == 400
    page = text(response)
    assert f"ligne {line}" in page and "prix absent" in page and "a_renseigner" in page
    assert f"{line:4d} ▶" in page  # extrait du fichier, ligne en erreur marquée
    assert 'aria-invalid="true"' in page
    # autres refus : pas du YAML, un autre opérateur, une version qui existe déjà
    for name, content, message in (
        ("x.yaml", b"\xff\xfe\x00", "UTF-8"),
        ("x.yaml", b"a: [1, 2", "ligne"),
        ("gn.yaml", (CATALOGUE_DIR / "gironde-numerique" / "2021.yaml").read_bytes(), "vous le"),
        ("2020.yaml", CDG82_2020.encode(), "existe déjà"),
    ):
        upload = SimpleUploadedFile(name, content)
        response = staff.post("/catalogues/deposer/", {"fichier": upload})
        assert response.status_code == 400 and message in text(response), name
    assert staff.post("/catalogues/deposer/", {}).status_code == 400
    assert CatalogueVersion.objects.count() == before
    # un fichier valide devient une nouvelle version (jamais une version existante modifiée)
    good = CDG82_2020.replace('version: "2020"', 'version: "2020-bis"')
    upload = SimpleUploadedFile("../../mon fichier.yaml", good.encode())
    response = staff.post("/catalogues/deposer/", {"fichier": upload})
    assert response.status_code == 302
    created = CatalogueVersion.objects.get(operator=world["cdg82"], version="2020-bis")
    assert response["Location"] == f"/catalogues/{created.pk}/"
    assert created.content == good and created.source_file == "televerse/cdg82/mon_fichier.yaml"
    entry = AuditEntry.objects.get(object_type="catalogueversion", object_id=str(created.pk))
    assert entry.action == "création" and entry.actor == world["users"]["facturation"]
    assert entry.reason == "fichier déposé"
    download = staff.get(f"/catalogues/{created.pk}/yaml/")
    assert download.content.decode() == good
    # l'opérateur d'un autre compte ne change rien : le dépôt est pour le sien
    other = CDG82_2020.replace('version: "2020"', 'version: "2020-ter"')
    staff.post(
        "/catalogues/deposer/",
        {"operateur": "gironde-numerique", "fichier": SimpleUploadedFile("a.yaml", other.encode())},
    )
    assert not CatalogueVersion.objects.filter(operator=world["gn"], version="2020-ter").exists()


# -- tableaux des annexes -------------------------------------------------------------------


def test_annex_tables_as_the_seed_prints_them(world, cdg47) -> None:
    staff = client_for(cdg47["user"])
    version = cdg47["version"]
    page = text(staff.get(f"/catalogues/{version.pk}/"))
    assert "Comparatif des forfaits" in page and "Forfait Technologie Plus" in page
    assert "Selon strate" in page and "à renseigner (absent de l'annexe)" in page
    # quotas d'une commune de 850 habitants : 3 Go de sauvegarde, 2 logiciels de sécurité
    page = text(staff.get(f"/catalogues/{version.pk}/", {"population": "850"}))
    assert "commune de 850 habitants" in page
    assert "Communes de 500 à 999 habitants" in page
    assert "3 (selon strate)" in page and "2 (selon strate)" in page
    # une valeur invalide est ignorée, avec un message, jamais une erreur
    bad = staff.get(f"/catalogues/{version.pk}/", {"population": "1e400", "agents": "x"})
    assert bad.status_code == 200 and "Valeur ignorée" in text(bad)
    both = staff.get(f"/catalogues/{version.pk}/", {"population": "10", "agents": "3"})
    assert "s'excluent" in text(both)
    # table des strates et tarifs
    assert "Sauvegarde externalisée (volume en Go)" in page and "7,00 €" in page
    assert "7,00 € (prix 2020)" not in page, "aucune année de base inventée (R28)"
    # grilles de Gironde Numérique et table RGPD du CDG82
    gn = client_for(world["users"]["facturation_gn"])
    gironde = CatalogueVersion.objects.get(operator=world["gn"])
    page = text(gn.get(f"/catalogues/{gironde.pk}/"))
    assert "Grilles tarifaires" in page and "CDC + 3 EP" in page and "5 802,00 €" in page
    cdg82 = text(client_for(world["users"]["facturation"]).get(f"/catalogues/{world['cat82'].pk}/"))
    assert "Grille tarifaire RGPD/DPD mutualisé" in cdg82 and "1 040,00 €" in cdg82
    assert "126,40 € (prix 2019)" in cdg82


# -- version de l'année suivante --------------------------------------------------------------


def test_next_year_version_revised_by_the_index_bills_the_same_amounts(world) -> None:
    old = world["cat82"]
    old.locked = True  # une facture émise l'utilise : elle ne change jamais
    old.save()
    content, sha = old.content, old.sha256
    staff = client_for(world["users"]["facturation"])
    url = f"/catalogues/{old.pk}/nouvelle-version/"
    page = text(staff.post(url, {"mode": "annee", "etape": "reviser", "annee": "2022"}))
    assert "Prix de la nouvelle version" in page and "126,40 € (prix 2019)" in page
    values = form_values(page)
    assert values["annee"] == "2022" and values["version"] == "2022"
    # la proposition est la révision SYNTEC pas à pas (R10) : celle du calcul des factures
    found = edition.anatomy(old.content)
    revised, _ = edition.revised_prices(found, bridge.index_table(), 2022)
    editable = [s for s in found.prices if s.editable]
    t2 = next(i for i, s in enumerate(editable) if "Niveau 2" in s.label)
    assert values[f"p_{t2}"] == str(revised["service:assistance_srb:T2"]).replace(".", ",")
    # erreur de saisie : message à côté du champ, rien de publié
    bad = dict(values, etape="publier", mode="annee", methode="indice")
    bad[f"p_{t2}"] = "-3"
    response = staff.post(url, bad)
    assert response.status_code == 400 and "hors limites" in text(response)
    assert not CatalogueVersion.objects.filter(version="2022").exists()
    # publication, conventions rattachées à la nouvelle version
    response = staff.post(
        url, dict(values, etape="publier", mode="annee", methode="indice", deplacer="on")
    )
    assert response.status_code == 302
    new = CatalogueVersion.objects.get(operator=world["cdg82"], version="2022")
    assert new.valid_from == dt.date(2022, 1, 1) and "2022" in new.label
    assert "écrite dans le navigateur" in new.content and "par facturation" in new.content
    old.refresh_from_db()
    assert (old.content, old.sha256) == (content, sha)
    conv_a = world["conv_a"]
    conv_a.refresh_from_db()
    assert conv_a.catalogue == new
    trail = AuditEntry.objects.filter(object_type="convention", object_id=str(conv_a.pk))
    moved = trail.latest("pk")
    assert moved.reason == "catalogue remplacé par la version « 2022 »"
    # mêmes montants 2022 : prix rebasés en 2022 = prix 2020 révisés jusqu'en 2022
    core_new = bridge.catalogue_of(new)
    t2_new = next(c for c in core_new.services["assistance_srb"].components if c.code == "T2")
    assert (t2_new.price.amount, t2_new.price.year) == (revised["service:assistance_srb:T2"], 2022)
    assert core_new.tables["rgpd_tranches"].year == 2022
    quote_new = bridge.quote(conv_a, 2022)
    conv_a.catalogue = old
    quote_old = bridge.quote(conv_a, 2022)
    assert quote_new.totals.gross == quote_old.totals.gross > 0
    # la version figée ne se modifie pas, même par erreur
    old.content = old.content.replace("126.40", "999.99")
    with pytest.raises(ValidationError, match="figée"):
        old.save()
    # différences : les prix, appariés, puis le texte
    diff = text(staff.get(f"/catalogues/{new.pk}/differences/", {"avec": old.pk}))
    assert "126,40 € (prix 2019)" in diff and "Niveau 2" in diff and "%" in diff
    assert "En vigueur à partir du" in diff and "01/01/2022" in diff
    assert 'class="retrait">-        prix: {montant: "126.40", annee: 2019}' in diff
    # un identifiant d'une autre version de l'opérateur seulement
    gironde = CatalogueVersion.objects.get(operator=world["gn"])
    ignored = text(staff.get(f"/catalogues/{new.pk}/differences/", {"avec": gironde.pk}))
    assert "Version à comparer inconnue" in ignored and "Gironde" not in ignored


def test_missing_index_value_is_said_and_prices_can_be_typed(world) -> None:
    staff = client_for(world["users"]["facturation"])
    url = f"/catalogues/{world['cat82'].pk}/nouvelle-version/"
    year = dt.date.today().year + 1
    page = text(staff.get(url))
    assert f'value="{year}"' in page
    # la valeur SYNTEC de novembre de l'an dernier n'est pas encore publiée : dit, avec un
    # lien vers les indices, et les prix actuels proposés
    if "Révision impossible" in page:
        assert "valeur de l'indice SYNTEC" in page and 'href="/indices/"' in page
    manual = text(
        staff.post(url, {"mode": "annee", "etape": "reviser", "annee": "2021", "methode": "main"})
    )
    assert form_values(manual)["p_0"] == "40,00"


# -- prix « à renseigner » -------------------------------------------------------------------


def test_missing_prices_are_filled_as_a_new_version_that_unblocks_billing(world, cdg47) -> None:
    version = cdg47["version"]
    bills = billing_preview(operator=cdg47["operator"], year=2025)
    assert any("prix manquant" in m for m in bills[0].blocking)
    staff = client_for(cdg47["user"])
    url = f"/catalogues/{version.pk}/nouvelle-version/?mode=prix"
    page = text(staff.get(url))
    assert "Renseigner les prix manquants" in page and "Forfait Métiers" in page
    values = form_values(page)
    assert values["version"] == "nouvelle-annexe-prix"
    sites = edition.anatomy(version.content).missing
    data = {
        "mode": "prix",
        "etape": "publier",
        "annee": "2025",
        "version": "2025-demo",
        "libelle": "CDG47 – nouvelle annexe, prix de démonstration",
        "deplacer": "on",
    }
    for i, site in enumerate(sites):
        if site.label.startswith("Forfait") and "Prix annuel" in site.label:
            data[f"p_{i}"] = "1 200"
    response = staff.post(f"/catalogues/{version.pk}/nouvelle-version/", data)
    assert response.status_code == 302
    new = CatalogueVersion.objects.get(operator=cdg47["operator"], version="2025-demo")
    assert new.valid_from == version.valid_from
    core = bridge.catalogue_of(new)
    price = core.services["forfait_metiers"].components[0].price
    # R28 : catalogue sans clause de révision, prix renseigné sans année inventée
    assert (price.kind, price.amount, price.year) == ("montant", Decimal("1200.00"), None)
    assert "sans année : pas de clause de révision, R28" in new.content
    assert "Prix du Forfait Métiers" in (price.text or "")  # le texte de l'annexe est gardé
    cdg47["convention"].refresh_from_db()
    assert cdg47["convention"].catalogue == new
    bills = billing_preview(operator=cdg47["operator"], year=2025)
    assert not any("Forfait Métiers" in m for m in bills[0].blocking)
    line = next(x for x in bills[0].lines if x.service == "forfait_metiers")
    assert line.amount == Decimal("1200.00")
    assert "tel qu'imprimé, sans clause de révision (R28)" in line.detail
    # une seconde publication du même nom est refusée, rien d'écrit
    again = staff.post(f"/catalogues/{version.pk}/nouvelle-version/", data)
    assert again.status_code == 400 and "existe déjà" in text(again)


# -- écriture du texte ------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CATALOGUE_DIR.rglob("*.yaml")), ids=lambda p: p.stem)
def test_rewriting_changes_only_the_prices_asked(path: Path) -> None:
    content = path.read_text(encoding="utf-8")
    found = edition.anatomy(content, str(path))
    editable = [s for s in found.prices if s.editable]
    prices = {s.key: (Decimal("12.34"), 2030) for s in editable}
    years = dict.fromkeys(found.years, 2030)
    header = edition.Header("2030", "Essai", dt.date(2030, 1, 1), "essai")
    new = edition.rewrite(found, header=header, prices=prices, years=years, path=str(path))
    again = edition.anatomy(new, str(path))
    assert {s.key for s in again.prices} == {s.key for s in found.prices}
    for site in again.prices:
        if site.key in prices:
            assert site.amount == Decimal("12.34")
        else:
            assert site.kind == found.site(site.key).kind  # sur devis, bon de commande gardés
    assert again.catalogue.services.keys() == found.catalogue.services.keys()
    assert len(new.splitlines()) == len(content.splitlines()) + 1 + ("valide_du" not in content)
    changed = edition.price_changes(found, again)
    assert {c.key for c in changed} == set(prices)


def test_a_version_the_loader_no_longer_reads_is_said_not_crashed(world) -> None:
    broken = CatalogueVersion.objects.create(
        operator=world["cdg82"],
        version="ancienne",
        label="Version d'un format ancien",
        source_file="televerse/cdg82/ancienne.yaml",
        content=CDG82_2020.replace("schema: 1", "schema: 0").replace('"2020"', '"ancienne"'),
    )
    staff = client_for(world["users"]["facturation"])
    for suffix in ("", "nouvelle-version/", "differences/"):
        response = staff.get(f"/catalogues/{broken.pk}/{suffix}")
        assert response.status_code == 409 and "version de schéma 0" in text(response)
    assert staff.get(f"/catalogues/{broken.pk}/yaml/").status_code == 200
