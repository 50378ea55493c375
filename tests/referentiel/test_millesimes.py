"""Millésimes des populations légales et des périmètres d'EPCI (R4, R6) : extrait livré,
construction déterministe, choix du chiffre en vigueur, chargement en base."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from opsn.referentiel.millesimes import lire_millesimes, millesimes_livres
from opsn.referentiel.stockage import repertoire_extrait

RACINE = Path(__file__).resolve().parents[2]
FICHIERS = ("populations.csv", "epci_appartenance.csv", "epci_populations.csv")


def _module_script():
    chemin = RACINE / "scripts" / "referentiel" / "millesimes.py"
    spec = importlib.util.spec_from_file_location("millesimes_script", chemin)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _lignes(nom: str) -> list[list[str]]:
    with (repertoire_extrait() / nom).open(encoding="utf-8", newline="") as flux:
        return list(csv.reader(flux, delimiter=";"))


# -- extrait livré -----------------------------------------------------------------------


def test_fichiers_livres_compacts_et_tries() -> None:
    taille = sum((repertoire_extrait() / nom).stat().st_size for nom in FICHIERS)
    assert taille < 3_000_000
    populations = _lignes("populations.csv")
    script = _module_script()
    assert populations[0] == ["insee"] + [nom for nom, _, _ in script.colonnes_populations()]
    codes = [ligne[0] for ligne in populations[1:]]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    assert all(len(ligne) == len(populations[0]) for ligne in populations)
    appartenance = _lignes("epci_appartenance.csv")
    assert appartenance[0] == ["insee", "annee_en_vigueur", "epci_siren"]
    cles = [(ligne[0], int(ligne[1])) for ligne in appartenance[1:]]
    assert cles == sorted(cles)
    # Une ligne par commune au début, puis seulement les changements.
    assert {code for code, _ in cles} == set(codes)
    precedent: dict[str, str] = {}
    for code, _, siren in appartenance[1:]:
        assert precedent.get(code) != siren
        precedent[code] = siren


def test_provenance_de_chaque_millesime() -> None:
    meta = json.loads((repertoire_extrait() / "millesime.json").read_text(encoding="utf-8"))
    description = meta["millesimes"]
    recensements = {r["recensement"]: r for r in description["recensements"]}
    assert sorted(recensements) == list(range(2016, 2024))
    assert all(r["en_vigueur"] == annee + 3 for annee, r in recensements.items())
    assert [a for a, r in recensements.items() if r["population_totale"]] == [
        2018,
        2019,
        2020,
        2021,
        2022,
    ]
    assert recensements[2017]["communes"] is None and recensements[2017]["membres"] is None
    assert list(description["perimetres_epci"]) == [str(a) for a in range(2019, 2027)]
    source = (repertoire_extrait() / "SOURCE.md").read_text(encoding="utf-8")
    for version, empreintes in meta["paquets_millesimes"].items():
        assert f"| {version} | `{empreintes['shasum']}`" in source
    assert "Recensement 2017 (en vigueur en 2020)" in source


def test_paris_par_recensement() -> None:
    """Repères qui fixent les années : population municipale de Paris publiée par l'INSEE."""
    (ligne,) = [x for x in _lignes("populations.csv") if x[0] == "75056"]
    valeurs = dict(zip(_lignes("populations.csv")[0], ligne, strict=True))
    assert valeurs["municipale_2016"] == "2190327"
    assert valeurs["municipale_2019"] == "2165423"
    assert valeurs["municipale_2022"] == "2113705"
    assert valeurs["municipale_2023"] == "2103778"
    assert valeurs["totale_2022"] == "2129257"


# -- construction déterministe ---------------------------------------------------------


def _paquets_fictifs(script) -> dict[tuple[str, str], list[dict]]:
    """Données minimales pour chaque version utile : deux communes, un EPCI qui change."""
    donnees: dict[tuple[str, str], list[dict]] = {}
    for rang, version in enumerate(script.versions_utiles()):
        communes = [
            {"code": "99001", "type": "commune-actuelle", "population": 280 + rang},
            {"code": "99002", "type": "commune-actuelle", "population": 1000 - rang},
            {"code": "99003", "type": "commune-deleguee", "population": 5},
        ]
        membre = {"code": "99001", "populationTotale": 300 + rang}
        membre["populationMunicipale"] = 290 + rang
        epcis = [
            {
                "code": "200000001",
                "populationTotale": 1300 + rang,
                "populationMunicipale": 1290 + rang,
                "membres": [membre] + ([{"code": "99002"}] if rang > 3 else []),
            }
        ]
        donnees[(version, "communes")] = communes
        donnees[(version, "epci")] = epcis
    return donnees


def test_construction_deterministe() -> None:
    script = _module_script()
    donnees = _paquets_fictifs(script)
    premier, description = script.construire_millesimes(lambda v, f: donnees[(v, f)])
    second, description_bis = script.construire_millesimes(lambda v, f: donnees[(v, f)])
    assert premier == second and description == description_bis
    assert json.dumps(description, sort_keys=True) == json.dumps(description_bis, sort_keys=True)
    appartenance = premier["epci_appartenance.csv"].splitlines()
    assert appartenance[1:] == [
        "99001;2019;200000001",
        "99002;2019;",
        "99002;2022;200000001",
    ]
    populations = premier["populations.csv"].splitlines()
    assert [p.split(";")[0] for p in populations[1:]] == ["99001", "99002"]  # pas la déléguée


def test_relecture_de_l_extrait_construit(tmp_path: Path) -> None:
    script = _module_script()
    donnees = _paquets_fictifs(script)
    fichiers, description = script.construire_millesimes(lambda v, f: donnees[(v, f)])
    for nom, texte in fichiers.items():
        (tmp_path / nom).write_text(texte, encoding="utf-8")
    (tmp_path / "millesime.json").write_text(
        json.dumps({"millesimes": description}), encoding="utf-8"
    )
    millesimes = lire_millesimes(tmp_path)
    assert millesimes.annees == tuple(range(2019, 2027))
    assert millesimes.epci_de("99002", 2021) == ""
    assert millesimes.epci_de("99002", 2022) == "200000001"
    assert millesimes.en_vigueur("inconnu", 2022) is None


# -- chiffre en vigueur ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("annee", "totale", "municipale", "debut_source"),
    [
        (2019, 899, 899, "INSEE, populations légales 2016, en vigueur en 2019"),
        (2020, 899, 899, "INSEE, populations légales 2016, en vigueur en 2020 ; celles de 2017"),
        (2021, 949, 938, "INSEE, populations légales 2018, en vigueur en 2021"),
        (2022, 970, 959, "INSEE, populations légales 2019, en vigueur en 2022"),
        (2025, 993, 974, "INSEE, populations légales 2022, en vigueur en 2025"),
        (2026, 993, 971, "INSEE, populations légales 2023, en vigueur en 2026"),
        (2015, 899, 899, "INSEE, populations légales 2016, en vigueur en 2019"),
    ],
)
def test_chiffre_en_vigueur_par_annee(
    annee: int, totale: int, municipale: int, debut_source: str
) -> None:
    chiffre = millesimes_livres().en_vigueur("82023", annee)  # Bourret
    assert chiffre is not None
    assert (chiffre.population_totale, chiffre.population_municipale) == (totale, municipale)
    assert chiffre.source.startswith(debut_source)
    if annee < 2021:
        assert chiffre.recensement_totale is None
        assert "population municipale, faute de population totale" in chiffre.source
    if annee == 2015:
        assert chiffre.source.endswith(
            "2015 antérieure aux millésimes du référentiel : ceux de 2019"
        )


def test_epci_population_et_perimetre_par_annee() -> None:
    millesimes = millesimes_livres()
    assert millesimes.epci_de("33489", 2019) == "200023794"
    assert millesimes.epci_de("33489", 2020) == "243301181"
    epci_2020 = millesimes.en_vigueur("243301181", 2020)
    epci_2026 = millesimes.en_vigueur("243301181", 2026)
    assert epci_2020 is not None and epci_2026 is not None
    assert epci_2020.recensement == 2017  # fichier DGCL 2020
    assert epci_2026.recensement == 2022
    assert "celles de 2023 absentes du référentiel" in epci_2026.source


# -- chargement en base ----------------------------------------------------------------


@pytest.mark.django_db
def test_chargement_relancable_et_tout_ou_rien() -> None:
    from opsn.gestion.models import ReferentialPopulation
    from opsn.referentiel.chargement import importer_millesimes

    codes = ["82023", "33489", "243301181"]
    bilan = importer_millesimes(codes=codes)
    assert bilan.lignes == 3 * 8 == ReferentialPopulation.objects.count()
    avant = list(ReferentialPopulation.objects.order_by("code", "year").values())
    importer_millesimes(codes=codes)
    apres = list(ReferentialPopulation.objects.order_by("code", "year").values())
    assert [{k: v for k, v in x.items() if k != "id"} for x in avant] == [
        {k: v for k, v in x.items() if k != "id"} for x in apres
    ]

    class Cassee:
        annees = (2019, 2020)

        def en_vigueur(self, code: str, annee: int):
            raise RuntimeError("panne")

    with pytest.raises(RuntimeError):
        importer_millesimes(Cassee(), codes=["82023"])  # type: ignore[arg-type]
    assert ReferentialPopulation.objects.count() == 24  # rien n'a changé
    ligne = ReferentialPopulation.objects.get(code="82023", year=2020)
    assert (ligne.population_totale, ligne.census_year, ligne.census_year_totale) == (
        899,
        2016,
        None,
    )
