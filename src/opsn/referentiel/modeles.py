"""Objets du référentiel : communes, EPCI et organismes importés (valeurs immuables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NATURES_EPCI: Final = ("CC", "CA", "CU", "METRO", "MET69")
"""Natures juridiques des EPCI telles que la source (DGCL) les écrit ; MET69 = Métropole de Lyon."""

TYPES_ORGANISME: Final = ("syndicat", "ccas", "etablissement_public", "budget_annexe")

LIBELLES_TYPE_ORGANISME: Final = {
    "syndicat": "syndicat",
    "ccas": "CCAS",
    "etablissement_public": "établissement public",
    "budget_annexe": "budget annexe",
}


@dataclass(frozen=True, slots=True)
class Commune:
    """Commune actuelle du Code officiel géographique.

    ``population_totale`` et ``population_municipale`` viennent du même recensement,
    dont l'année est ``annee_population`` ; ``millesime`` est le millésime du
    référentiel qui les a fournies (ex. « 2026 »).
    """

    insee: str
    nom: str
    departement: str
    siren: str | None
    codes_postaux: tuple[str, ...]
    population_totale: int | None
    population_municipale: int | None
    millesime: str
    epci_siren: str | None
    annee_population: int | None = None

    @property
    def code(self) -> str:
        return self.insee


@dataclass(frozen=True, slots=True)
class Epci:
    """EPCI à fiscalité propre (CC, CA, CU, métropole) et ses communes membres."""

    siren: str
    nom: str
    nature: str
    population_totale: int
    population_municipale: int
    membres: tuple[str, ...]
    millesime: str
    annee_population: int | None = None

    @property
    def code(self) -> str:
        return self.siren


@dataclass(frozen=True, slots=True)
class Organisme:
    """Organisme absent des données officielles, importé par l'utilisateur.

    ``parent`` : code INSEE ou SIREN de la collectivité de rattachement (ou identifiant
    d'un autre organisme), ``None`` s'il n'y en a pas.
    """

    identifiant: str
    nom: str
    type: str
    agents: int
    parent: str | None
    population_desservie: int | None = None
    siren: str | None = None

    @property
    def code(self) -> str:
        return self.identifiant


Entite = Commune | Epci | Organisme
