"""Populations et EPCI en vigueur une année donnée (R4, R6).

Les populations légales du recensement M s'appliquent au 1er janvier M+3 ; le périmètre
des EPCI est celui du 1er janvier de l'année. L'extrait livré (``populations.csv``,
``epci_appartenance.csv``, ``epci_populations.csv``, voir SOURCE.md) donne les chiffres de
chaque recensement ; ce module choisit, pour un code (INSEE d'une commune ou SIREN d'un
EPCI) et une année de facturation, les chiffres en vigueur et rédige leur source.

Choix quand la source manque (écrits dans la source du chiffre) :

- année hors des millésimes : la plus proche (avant 2019 : 2019 ; après 2026 : 2026) ;
- recensement absent (2017) : le plus récent antérieur ;
- population totale absente du recensement en vigueur : celle du recensement précédent
  s'il la donne (2026 : recensement 2022), sinon la population municipale en tient lieu.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from opsn.referentiel.stockage import ReferentielError, repertoire_extrait

DECALAGE = 3
"""Populations légales du recensement M : en vigueur au 1er janvier M + DECALAGE."""


@dataclass(frozen=True, slots=True)
class PopulationEnVigueur:
    """Chiffres d'une commune ou d'un EPCI en vigueur l'année ``annee``."""

    code: str
    annee: int
    population_totale: int | None
    population_municipale: int | None
    recensement: int | None  # recensement de la population municipale
    recensement_totale: int | None  # None : totale absente, la municipale en tient lieu
    epci_siren: str  # EPCI de la commune cette année-là ("" : aucun, ou code d'EPCI)
    source: str


@dataclass(frozen=True, slots=True, eq=False)
class Millesimes:
    """Contenu des fichiers de millésimes de l'extrait."""

    annees: tuple[int, ...]  # années de facturation couvertes (périmètres d'EPCI)
    recensements: dict[int, dict[str, bool]]  # recensement → {"totale": …, "municipale": …}
    communes: dict[str, dict[str, int]]  # insee → colonne (totale_2018…) → valeur
    epcis: dict[str, dict[str, int]]  # siren → colonne → valeur
    appartenance: dict[str, tuple[tuple[int, str], ...]]  # insee → ((année, siren), …)

    def annee_couverte(self, annee: int) -> int:
        return min(max(annee, self.annees[0]), self.annees[-1])

    def _note_annee(self, annee: int) -> str:
        premiere, derniere = self.annees[0], self.annees[-1]
        if annee < premiere:
            return f" ; {annee} antérieure aux millésimes du référentiel : ceux de {premiere}"
        if annee > derniere:
            return f" ; {annee} postérieure aux millésimes du référentiel : ceux de {derniere}"
        return ""

    def epci_de(self, insee: str, annee: int) -> str:
        """SIREN de l'EPCI de la commune au 1er janvier ``annee`` ("" : hors EPCI)."""
        annee = self.annee_couverte(annee)
        siren = ""
        for debut, valeur in self.appartenance.get(insee, ()):
            if debut > annee:
                break
            siren = valeur
        return siren

    @staticmethod
    def _dernier(valeurs: dict[str, int], quoi: str, jusqu_a: int) -> tuple[int, int] | None:
        """(recensement, valeur) du plus récent recensement ≤ ``jusqu_a`` qui donne ``quoi``."""
        meilleur: tuple[int, int] | None = None
        for colonne, valeur in valeurs.items():
            nature, _, texte = colonne.partition("_")
            recensement = int(texte)
            if (
                nature == quoi
                and recensement <= jusqu_a
                and (meilleur is None or recensement > meilleur[0])
            ):
                meilleur = (recensement, valeur)
        return meilleur

    def en_vigueur(self, code: str, annee: int) -> PopulationEnVigueur | None:
        """Chiffres en vigueur l'année ``annee`` pour une commune (INSEE) ou un EPCI (SIREN) ;
        None si le code est inconnu des millésimes ou sans aucun chiffre."""
        couverte = self.annee_couverte(annee)
        cible = couverte - DECALAGE
        if code in self.communes:
            valeurs, epci, qui = self.communes[code], self.epci_de(code, annee), "INSEE"
        elif code in self.epcis:
            valeurs, epci, qui = self.epcis[code], "", "INSEE (DGCL, périmètre de l'EPCI)"
        else:
            return None
        municipale = self._dernier(valeurs, "municipale", cible)
        if municipale is None:
            return None
        totale = self._dernier(valeurs, "totale", cible)
        if totale is not None and totale[0] < municipale[0] - 1:
            totale = None  # trop ancienne : plus d'un recensement d'écart
        parties = [f"{qui}, populations légales {municipale[0]}, en vigueur en {couverte}"]
        if municipale[0] != cible:
            parties.append(f"celles de {cible} absentes du référentiel")
        if totale is None:
            parties.append("population municipale, faute de population totale")
        elif totale[0] != municipale[0]:
            parties.append(f"population totale des populations légales {totale[0]}")
        source = " ; ".join(parties) + self._note_annee(annee)
        return PopulationEnVigueur(
            code=code,
            annee=annee,
            population_totale=totale[1] if totale is not None else municipale[1],
            population_municipale=municipale[1],
            recensement=municipale[0],
            recensement_totale=totale[0] if totale is not None else None,
            epci_siren=epci,
            source=source,
        )

    def codes(self) -> Iterator[str]:
        yield from sorted(self.communes)
        yield from sorted(self.epcis)


def _lire_valeurs(chemin: Path, cle: str) -> dict[str, dict[str, int]]:
    resultat: dict[str, dict[str, int]] = {}
    with chemin.open(encoding="utf-8", newline="") as flux:
        for ligne in csv.DictReader(flux, delimiter=";"):
            code = ligne.pop(cle)
            resultat[code] = {k: int(v) for k, v in ligne.items() if v}
    return resultat


def lire_millesimes(dossier: Path) -> Millesimes:
    """Lit les fichiers de millésimes d'un dossier d'extrait."""
    try:
        meta = json.loads((dossier / "millesime.json").read_text(encoding="utf-8"))
        description = meta["millesimes"]
        annees = tuple(sorted(int(a) for a in description["perimetres_epci"]))
        recensements = {
            int(r["recensement"]): {
                "totale": bool(r["population_totale"]),
                "municipale": bool(r["communes"] or r["membres"]),
            }
            for r in description["recensements"]
        }
        communes = _lire_valeurs(dossier / "populations.csv", "insee")
        epcis = _lire_valeurs(dossier / "epci_populations.csv", "siren")
        appartenance: dict[str, list[tuple[int, str]]] = {}
        with (dossier / "epci_appartenance.csv").open(encoding="utf-8", newline="") as flux:
            for ligne in csv.DictReader(flux, delimiter=";"):
                appartenance.setdefault(ligne["insee"], []).append(
                    (int(ligne["annee_en_vigueur"]), ligne["epci_siren"])
                )
    except (OSError, KeyError, ValueError) as exc:
        raise ReferentielError(
            f"{dossier} : millésimes du référentiel illisibles ou incomplets ({exc}). "
            "Régénérez-les avec scripts/referentiel/construire_extrait.py."
        ) from exc
    return Millesimes(
        annees=annees,
        recensements=recensements,
        communes=communes,
        epcis=epcis,
        appartenance={k: tuple(sorted(v)) for k, v in appartenance.items()},
    )


@cache
def millesimes_livres() -> Millesimes:
    """Millésimes de l'extrait livré, lus une seule fois par processus."""
    return lire_millesimes(repertoire_extrait())
