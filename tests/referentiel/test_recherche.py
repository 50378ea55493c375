"""Recherches sur le vrai extrait : communes connues, homonymes, communes isolées."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsn.referentiel import Commune, Epci, Referentiel
from opsn.referentiel.stockage import extrait_livre

VAL_DE_L_EYRE = "243301405"


def test_saint_emilion(referentiel: Referentiel) -> None:
    commune = referentiel.commune("33394")
    assert commune == Commune(
        insee="33394",
        nom="Saint-Émilion",
        departement="33",
        siren="213303944",
        codes_postaux=("33330",),
        population_totale=1736,
        population_municipale=1689,
        millesime="2026",
        epci_siren="200035533",
        annee_population=2022,
    )
    assert referentiel.epci_de("33394").nom == "CC du Grand Saint Emilionnais"


def test_bordeaux_par_insee_et_par_siren(referentiel: Referentiel) -> None:
    bordeaux = referentiel.commune("33063")
    assert bordeaux is not None
    assert (bordeaux.nom, bordeaux.siren) == ("Bordeaux", "213300635")
    assert (bordeaux.population_totale, bordeaux.population_municipale) == (268_822, 265_328)
    assert "33000" in bordeaux.codes_postaux
    assert referentiel.par_code("213300635") == bordeaux
    assert referentiel.par_code("33063") == bordeaux
    metropole = referentiel.epci_de("33063")
    assert (metropole.siren, metropole.nature) == ("243300316", "METRO")


def test_cc_du_val_de_l_eyre(referentiel: Referentiel) -> None:
    epci = referentiel.par_code(VAL_DE_L_EYRE)
    assert isinstance(epci, Epci)
    assert (epci.nom, epci.nature) == ("CC du Val de l'Eyre", "CC")
    membres = referentiel.membres(VAL_DE_L_EYRE)
    assert [(c.nom, c.population_totale) for c in membres] == [
        ("Belin-Béliet", 6314),
        ("Le Barp", 5796),
        ("Lugos", 1155),
        ("Saint-Magne", 1248),
        ("Salles", 8254),
    ]
    assert sorted(epci.membres) == sorted(c.insee for c in membres)
    assert all(referentiel.epci_de(c.insee) == epci for c in membres)


def test_tranches_de_participation_p11(referentiel: Referentiel) -> None:
    """Cas P11 : Lugos et Saint-Magne dans [1000, 2500), les trois autres dans [5000, 10000)."""
    for commune in referentiel.membres(VAL_DE_L_EYRE):
        for population in (commune.population_totale, commune.population_municipale):
            if commune.nom in ("Lugos", "Saint-Magne"):
                assert 1000 <= population < 2500
            else:
                assert 5000 <= population < 10000


def test_corse_2a_2b(referentiel: Referentiel) -> None:
    assert referentiel.commune("2A004").nom == "Ajaccio"
    assert referentiel.par_code("2a004").nom == "Ajaccio"
    assert referentiel.commune("2B033").nom == "Bastia"


@pytest.mark.parametrize(
    ("insee", "nom", "population_municipale"),
    [("29083", "Île-de-Sein", 263), ("29155", "Ouessant", 860), ("22016", "Île-de-Bréhat", 429)],
)
def test_commune_hors_epci(
    referentiel: Referentiel, insee: str, nom: str, population_municipale: int
) -> None:
    commune = referentiel.commune(insee)
    assert commune.nom == nom
    assert commune.epci_siren is None
    assert referentiel.epci_de(insee) is None
    assert commune.population_totale is None  # la source ne la donne pas hors EPCI
    assert commune.population_municipale == population_municipale
    assert commune.annee_population == 2023


def test_codes_inconnus(referentiel: Referentiel) -> None:
    assert referentiel.commune("33999") is None
    assert referentiel.par_code("33999") is None
    assert referentiel.par_code("999999999") is None
    assert referentiel.par_code("nimporte") is None
    assert referentiel.epci("213300635") is None  # SIREN de commune, pas d'EPCI
    assert referentiel.membres("999999999") == []
    assert referentiel.epci_de("99999") is None


@pytest.mark.parametrize(
    "texte",
    [
        "saint emilion",
        "Saint-Émilion",
        "SAINT-EMILION",
        "saint-émilion",
        "st emilion",
        "  Saint  Emilion ",
    ],
)
def test_recherche_insensible_aux_accents_casse_tirets(
    referentiel: Referentiel, texte: str
) -> None:
    premier = referentiel.chercher(texte)[0]
    assert isinstance(premier, Commune)
    assert premier.insee == "33394"


def test_recherche_apostrophes(referentiel: Referentiel) -> None:
    assert referentiel.chercher("l ile d yeu")[0].insee == "85113"
    assert referentiel.chercher("L’Île-d’Yeu")[0].insee == "85113"
    assert referentiel.chercher("cc du val de l eyre")[0].code == VAL_DE_L_EYRE


def test_recherche_ordre_exact_prefixe_contient(referentiel: Referentiel) -> None:
    noms = [r.nom for r in referentiel.chercher("salles", limite=50)]
    exacts = [i for i, n in enumerate(noms) if n == "Salles"]
    prefixes = [i for i, n in enumerate(noms) if n.startswith("Salles") and n != "Salles"]
    contient = [i for i, n in enumerate(noms) if not n.startswith("Salles")]
    assert len(exacts) >= 5 and prefixes and contient
    assert max(exacts) < min(prefixes)
    assert max(prefixes) < min(contient)
    assert "Les Salles-de-Castillon" in noms
    gironde = referentiel.chercher("salles", departement="33")
    assert [c.nom for c in gironde] == ["Salles", "Les Salles-de-Castillon"]


def test_homonymes_saint_martin(referentiel: Referentiel) -> None:
    exacts = [
        c for c in referentiel.chercher("saint martin", limite=100) if c.nom == "Saint-Martin"
    ]
    assert len(exacts) >= 4
    assert len({c.departement for c in exacts}) == len(exacts)
    gers = referentiel.chercher("saint-martin", departement="32")
    assert gers[0].insee == "32389"
    assert all("32" in referentiel.departements(r) for r in gers)


def test_homonymes_sainte_colombe_filtre_departement(referentiel: Referentiel) -> None:
    toutes = [
        c for c in referentiel.chercher("Sainte-Colombe", limite=100) if c.nom == "Sainte-Colombe"
    ]
    assert len(toutes) >= 10
    gironde = referentiel.chercher("sainte colombe", departement="33")
    assert [c.insee for c in gironde] == ["33390"]
    assert referentiel.chercher("sainte colombe", departement=33)[0].insee == "33390"


def test_recherche_par_code_et_limite(referentiel: Referentiel) -> None:
    assert referentiel.chercher("33394")[0].nom == "Saint-Émilion"
    assert len(referentiel.chercher("saint", limite=5)) == 5
    assert referentiel.chercher("") == []
    assert referentiel.chercher("zzzzzz") == []


def test_recherche_epci(referentiel: Referentiel) -> None:
    resultats = referentiel.chercher("bordeaux metropole")
    assert isinstance(resultats[0], Epci)
    assert resultats[0].siren == "243300316"


def test_chargement_a_froid_puis_recherche(donnees: Path) -> None:
    # la durée se mesure au banc (benchmarks/referentiel.py), jamais par une assertion
    extrait_livre.cache_clear()
    referentiel = Referentiel.charger()
    assert len(referentiel.communes()) > 34_000
    resultats = referentiel.chercher("bordeaux")  # construit l'index des noms
    assert resultats and resultats[0].nom.startswith("Bordeaux")
