"""Millésimes des populations légales et des périmètres d'EPCI, par année d'effet (R4, R6).

Lu par ``construire_extrait.py`` (qui télécharge les paquets) : ce module ne fait que
transformer les fichiers JSON de plusieurs versions de ``@etalab/decoupage-administratif``
en trois CSV compacts et déterministes.

- ``populations.csv`` : une ligne par commune (code INSEE), une colonne par recensement
  et par population (``totale_2018``, ``municipale_2018``…) ; case vide = chiffre absent
  de la source pour ce recensement.
- ``epci_appartenance.csv`` : ``insee;annee_en_vigueur;epci_siren``, une ligne pour la
  première année couverte puis une ligne à chaque changement d'EPCI (SIREN vide : hors
  EPCI cette année-là).
- ``epci_populations.csv`` : une ligne par EPCI (SIREN), ses populations totale et
  municipale par recensement, sur le périmètre de l'année où ce recensement s'applique.

Les populations légales du recensement (millésime) M s'appliquent au 1er janvier M+3.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT_MILLESIMES = 1


@dataclass(frozen=True)
class Recensement:
    """Populations légales d'un recensement et les versions du paquet qui les portent.

    ``communes`` : version dont ``communes.json`` donne la population municipale de ce
    recensement ; ``membres`` : version dont ``epci.json`` (DGCL) donne, pour chaque
    commune membre d'un EPCI, les populations totale et municipale de ce recensement ;
    ``epci`` : version dont ``epci.json`` donne les populations des EPCI de ce recensement.
    """

    annee: int
    communes: str | None
    membres: str | None
    epci: str | None

    @property
    def en_vigueur(self) -> int:
        return self.annee + 3


# Établi en comparant les chiffres des versions entre elles (voir SOURCE.md) : Paris,
# population municipale 2 190 327 (RP 2016), 2 165 423 (RP 2019), 2 145 906 (RP 2020),
# 2 133 111 (RP 2021), 2 113 705 (RP 2022), 2 103 778 (RP 2023).
RECENSEMENTS: tuple[Recensement, ...] = (
    Recensement(2016, communes="0.7.0", membres=None, epci="0.7.0"),
    Recensement(2017, communes=None, membres=None, epci="0.8.0"),
    Recensement(2018, communes=None, membres="1.1.1", epci="1.1.1"),
    Recensement(2019, communes="2.2.1", membres="2.3.1", epci="2.3.1"),
    Recensement(2020, communes="3.1.1", membres="3.1.1", epci="3.1.1"),
    Recensement(2021, communes="4.0.0", membres="4.1.0", epci="4.1.0"),
    Recensement(2022, communes="4.1.0", membres="5.3.0", epci="5.3.0"),
    Recensement(2023, communes="6.0.0", membres=None, epci=None),
)

# Périmètre des EPCI (liste DGCL) au 1er janvier de chaque année. 6.0.0 redonne le fichier
# de 5.3.0 octet pour octet : le périmètre 2026 est celui de 2025.
PERIMETRES: dict[int, str] = {
    2019: "0.7.0",
    2020: "0.8.0",
    2021: "1.1.1",
    2022: "2.3.1",
    2023: "3.1.1",
    2024: "4.1.0",
    2025: "5.3.0",
    2026: "6.0.0",
}


def versions_utiles() -> list[str]:
    """Versions du paquet à télécharger, triées (ordre des versions)."""
    noms = {v for r in RECENSEMENTS for v in (r.communes, r.membres, r.epci) if v}
    noms |= set(PERIMETRES.values())
    return sorted(noms, key=lambda v: tuple(int(p) for p in v.split(".")))


Lecteur = Callable[[str, str], Any]
"""``lire(version, "communes" | "epci")`` → contenu JSON décodé du fichier de données."""


def lecteur_dossiers(dossiers: dict[str, Path]) -> Lecteur:
    """Lecteur sur des paquets décompressés (``dossiers[version]/data/*.json``), mis en cache."""
    cache: dict[tuple[str, str], Any] = {}

    def lire(version: str, fichier: str) -> Any:
        cle = (version, fichier)
        if cle not in cache:
            chemin = dossiers[version] / "data" / f"{fichier}.json"
            cache[cle] = json.loads(chemin.read_text(encoding="utf-8"))
        return cache[cle]

    return lire


def _texte(valeur: object) -> str:
    return "" if valeur is None else str(valeur)


def _csv(entete: list[str], lignes: list[list[str]]) -> str:
    sortie = io.StringIO()
    ecrivain = csv.writer(sortie, delimiter=";", lineterminator="\n")
    ecrivain.writerow(entete)
    ecrivain.writerows(lignes)
    return sortie.getvalue()


def _communes_actuelles(donnees: list[dict]) -> dict[str, dict]:
    actuelle = "commune-actuelle"
    return {c["code"]: c for c in donnees if c.get("type", actuelle) == actuelle}


def _membres(epcis: list[dict]) -> dict[str, tuple[str, dict]]:
    """Commune → (SIREN de son EPCI, entrée membre)."""
    resultat: dict[str, tuple[str, dict]] = {}
    for epci in epcis:
        for membre in epci["membres"]:
            code = membre["code"] if isinstance(membre, dict) else str(membre)
            if code in resultat:
                raise SystemExit(f"commune {code} membre de deux EPCI ({epci['code']})")
            resultat[code] = (epci["code"], membre if isinstance(membre, dict) else {})
    return resultat


def colonnes_populations() -> list[tuple[str, int, str]]:
    """(nom de colonne, recensement, « totale » | « municipale »), dans l'ordre du fichier."""
    colonnes = []
    for r in RECENSEMENTS:
        if r.membres:
            colonnes.append((f"totale_{r.annee}", r.annee, "totale"))
        if r.membres or r.communes:
            colonnes.append((f"municipale_{r.annee}", r.annee, "municipale"))
    return colonnes


def construire_millesimes(lire: Lecteur) -> tuple[dict[str, str], dict[str, Any]]:
    """Contenu des trois CSV (nom → texte) et description des millésimes pour millesime.json."""
    valeurs: dict[str, dict[str, int]] = {}  # insee → colonne → valeur
    couverture: dict[str, dict[str, int]] = {}
    for r in RECENSEMENTS:
        totale, municipale = f"totale_{r.annee}", f"municipale_{r.annee}"
        vus = {"totale": 0, "municipale": 0}
        if r.membres:
            for code, (_, membre) in _membres(lire(r.membres, "epci")).items():
                ligne = valeurs.setdefault(code, {})
                if membre.get("populationTotale") is not None:
                    ligne[totale] = int(membre["populationTotale"])
                    vus["totale"] += 1
                if membre.get("populationMunicipale") is not None:
                    ligne[municipale] = int(membre["populationMunicipale"])
                    vus["municipale"] += 1
        if r.communes:
            for code, commune in _communes_actuelles(lire(r.communes, "communes")).items():
                ligne = valeurs.setdefault(code, {})
                # Les chiffres DGCL (totale et municipale du même fichier) priment.
                if municipale not in ligne and commune.get("population") is not None:
                    ligne[municipale] = int(commune["population"])
                    vus["municipale"] += 1
        couverture[str(r.annee)] = vus

    perimetres = {annee: _membres(lire(v, "epci")) for annee, v in PERIMETRES.items()}
    for annee, version in PERIMETRES.items():
        for code in _communes_actuelles(lire(version, "communes")):
            valeurs.setdefault(code, {})
        for code in perimetres[annee]:
            valeurs.setdefault(code, {})

    colonnes = colonnes_populations()
    lignes_pop = [
        [code] + [_texte(valeurs[code].get(nom)) for nom, _, _ in colonnes]
        for code in sorted(valeurs)
    ]
    populations = _csv(["insee"] + [nom for nom, _, _ in colonnes], lignes_pop)

    lignes_app: list[list[str]] = []
    changements = {str(a): 0 for a in PERIMETRES}
    for code in sorted(valeurs):
        precedent: str | None = None
        for annee in sorted(PERIMETRES):
            siren = perimetres[annee].get(code, ("", {}))[0]
            if siren != precedent:
                lignes_app.append([code, str(annee), siren])
                if precedent is not None:
                    changements[str(annee)] += 1
                precedent = siren
    appartenance = _csv(["insee", "annee_en_vigueur", "epci_siren"], lignes_app)

    epci_valeurs: dict[str, dict[str, int]] = {}
    colonnes_epci: list[str] = []
    for r in RECENSEMENTS:
        if not r.epci:
            continue
        colonnes_epci += [f"totale_{r.annee}", f"municipale_{r.annee}"]
        for epci in lire(r.epci, "epci"):
            ligne = epci_valeurs.setdefault(epci["code"], {})
            ligne[f"totale_{r.annee}"] = int(epci["populationTotale"])
            ligne[f"municipale_{r.annee}"] = int(epci["populationMunicipale"])
    epci_populations = _csv(
        ["siren", *colonnes_epci],
        [
            [siren] + [_texte(epci_valeurs[siren].get(c)) for c in colonnes_epci]
            for siren in sorted(epci_valeurs)
        ],
    )

    description = {
        "format": FORMAT_MILLESIMES,
        "fichiers": ["populations.csv", "epci_appartenance.csv", "epci_populations.csv"],
        "regle": "populations légales du recensement M en vigueur au 1er janvier M+3",
        "recensements": [
            {
                "recensement": r.annee,
                "en_vigueur": r.en_vigueur,
                "communes": r.communes,
                "membres": r.membres,
                "epci": r.epci,
                "population_totale": r.membres is not None,
                "communes_renseignees": couverture[str(r.annee)],
            }
            for r in RECENSEMENTS
        ],
        "perimetres_epci": {str(a): v for a, v in sorted(PERIMETRES.items())},
        "changements_epci": changements,
        "communes": len(valeurs),
        "epci": len(epci_valeurs),
    }
    fichiers = {
        "populations.csv": populations,
        "epci_appartenance.csv": appartenance,
        "epci_populations.csv": epci_populations,
    }
    return fichiers, description


SOURCE_MILLESIMES_MD = """\

## Millésimes par année de facturation (R4, R6)

Générés par le même script, à partir de {nb_versions} versions du paquet (une par
millésime utile). Les populations légales du recensement **M** (« millésime M »)
s'appliquent au **1er janvier M+3** : la facture de l'année N prend les chiffres du
recensement N−3 et le périmètre des EPCI au 1er janvier N.

| Recensement | En vigueur | Totale (par commune) | Municipale | Populations des EPCI |
|---|---|---|---|---|
{tableau_recensements}

| Année | Périmètre des EPCI (version) | Communes ayant changé d'EPCI |
|---|---|---|
{tableau_perimetres}

Paquets téléchargés (`npm pack`, empreintes du registre) :

| Version | shasum (SHA-1 de l'archive) | integrity |
|---|---|---|
{tableau_paquets}

- `populations.csv` : une ligne par commune (code INSEE, y compris les communes
  disparues depuis 2019 dans une commune nouvelle), une colonne par recensement et
  par population ; case vide = chiffre absent de la source. La population **totale**
  d'une commune ne se trouve que dans le fichier DGCL des EPCI (`epci.json`,
  communes membres d'un EPCI, versions 1.1.1 et suivantes) : elle manque pour les
  recensements 2016 et 2023 et pour les communes hors EPCI.
- `epci_appartenance.csv` : EPCI de chaque commune en {premiere} puis une ligne à
  chaque changement (SIREN vide : hors EPCI).
- `epci_populations.csv` : populations totale et municipale de chaque EPCI par
  recensement, sur le périmètre de l'année où ce recensement s'applique.

Trous et choix (appliqués par `opsn.referentiel.millesimes`) :

- **Recensement 2017 (en vigueur en 2020)** : aucune version ne le porte par commune
  (le README du paquet : « 2020 non disponible, sauf EPCI 2020 avec 0.8.0 ») ; la
  facturation 2020 prend le recensement 2016, le plus proche antérieur, et le dit.
  Les populations des EPCI 2020 (fichier DGCL 2020, 0.8.0) sont, elles, disponibles.
- **Recensement 2023 (en vigueur en 2026)** : seule la population municipale est
  publiée (`communes.json` de 6.0.0) ; le fichier EPCI de 6.0.0 est celui de 2025
  (mêmes octets que 5.3.0). Population totale 2026 : celle du recensement 2022, le
  plus récent qui la donne, et l'explication le dit.
- **Recensement 2016 (en vigueur en 2019, et en 2020 faute de 2017)** : pas de
  population totale par commune ; la population municipale en tient lieu et
  l'explication le dit (« population municipale, faute de population totale »).
- Avant 2019 : les chiffres de 2019 (les plus anciens), avec mention ; après 2026 :
  ceux de 2026 (les plus récents), avec mention.
- Les années sont **déduites** des chiffres (Paris, population municipale :
  2 190 327 au RP 2016, 2 165 423 au RP 2019, 2 145 906 au RP 2020, 2 133 111 au
  RP 2021, 2 113 705 au RP 2022, 2 103 778 au RP 2023) et des liens INSEE des
  README ; les populations municipales des membres dans `epci.json` ont été
  rapprochées de `communes.json` version par version (identiques à 99,9 % ou plus).
  Le fichier DGCL de 1.1.1 porte le recensement 2018, absent de `communes.json`
  (8,6 % de chiffres égaux au RP 2019, comme deux recensements successifs).
- Une commune nouvelle garde, pour les années antérieures à sa création, le chiffre
  publié sous son code (celui de la commune déléguée chef-lieu), pas la somme des
  communes fusionnées.
"""


def source_md(description: dict[str, Any], paquets: dict[str, dict[str, str]]) -> str:
    """Section de SOURCE.md décrivant les millésimes."""

    def ligne(r: dict[str, Any]) -> str:
        totale = f"epci.json {r['membres']}" if r["membres"] else "absente"
        municipale = [f"epci.json {r['membres']}"] if r["membres"] else []
        if r["communes"]:
            hors = " (hors EPCI)" if r["membres"] else ""
            municipale.append(f"communes.json {r['communes']}{hors}")
        epci = f"epci.json {r['epci']}" if r["epci"] else "absente"
        return (
            f"| {r['recensement']} | 1er janvier {r['en_vigueur']} | {totale} | "
            f"{' ; '.join(municipale) or 'absente'} | {epci} |"
        )

    recensements = "\n".join(ligne(r) for r in description["recensements"])
    perimetres = "\n".join(
        f"| {annee} | {version} | {description['changements_epci'][annee] or '—'} |"
        for annee, version in description["perimetres_epci"].items()
    )
    tableau_paquets = "\n".join(
        f"| {v} | `{p['shasum']}` | `{p['integrity']}` |" for v, p in sorted(paquets.items())
    )
    return SOURCE_MILLESIMES_MD.format(
        nb_versions=len(paquets),
        tableau_recensements=recensements,
        tableau_perimetres=perimetres,
        tableau_paquets=tableau_paquets,
        premiere=min(description["perimetres_epci"]),
    )
