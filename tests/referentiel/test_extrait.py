"""L'extrait livré : volume, cohérence communes/EPCI, provenance."""

from __future__ import annotations

import csv
import json

from opsn.referentiel import NATURES_EPCI, Referentiel
from opsn.referentiel.stockage import repertoire_extrait

NOMBRE_COMMUNES = 34_969  # communes actuelles, @etalab/decoupage-administratif 6.0.0
NOMBRE_EPCI = 1_255


def test_nombre_de_communes_actuelles(referentiel: Referentiel) -> None:
    communes = referentiel.communes()
    assert len(communes) == NOMBRE_COMMUNES
    assert 34_000 <= len(communes) <= 35_500


def test_nombre_et_natures_des_epci(referentiel: Referentiel) -> None:
    epcis = referentiel.epcis()
    assert len(epcis) == NOMBRE_EPCI
    assert {e.nature for e in epcis} == set(NATURES_EPCI)
    assert [e.nom for e in epcis if e.nature == "MET69"] == ["Métropole de Lyon"]


def test_provenance_et_millesime(referentiel: Referentiel) -> None:
    source = referentiel.source
    assert (source.paquet, source.version, source.millesime) == (
        "@etalab/decoupage-administratif",
        "6.0.0",
        "2026",
    )
    meta = json.loads((repertoire_extrait() / "millesime.json").read_text(encoding="utf-8"))
    assert meta["communes"] == NOMBRE_COMMUNES
    assert "Licence Ouverte" in (repertoire_extrait() / "SOURCE.md").read_text(encoding="utf-8")


def test_chaque_commune_membre_pointe_vers_son_epci(referentiel: Referentiel) -> None:
    membres = {}
    for epci in referentiel.epcis():
        assert epci.population_totale == sum(
            c.population_totale or 0 for c in referentiel.membres(epci.siren)
        )
        for insee in epci.membres:
            assert insee not in membres, f"{insee} est dans deux EPCI"
            membres[insee] = epci.siren
    for commune in referentiel.communes():
        assert commune.epci_siren == membres.get(commune.insee)


def test_populations_gardent_leur_millesime(referentiel: Referentiel) -> None:
    for commune in referentiel.communes():
        assert commune.millesime == "2026"
        if commune.epci_siren is not None:
            assert commune.annee_population == 2022
            assert commune.population_totale is not None
            assert commune.population_municipale is not None
            assert commune.population_totale >= commune.population_municipale
        else:
            assert commune.population_totale is None


def test_fichiers_tries_et_texte() -> None:
    dossier = repertoire_extrait()
    with (dossier / "communes.csv").open(encoding="utf-8", newline="") as flux:
        codes = [ligne["insee"] for ligne in csv.DictReader(flux, delimiter=";")]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    tailles = {f.name: f.stat().st_size for f in dossier.iterdir()}
    assert tailles["communes.csv"] < 3_000_000
    assert tailles["epci.csv"] < 500_000
