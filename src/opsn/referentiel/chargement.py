"""Chargement des millésimes du référentiel en base (``ReferentialPopulation``).

Une ligne par code (commune ou EPCI) et par année de facturation couverte, avec les
chiffres en vigueur cette année-là et leur source rédigée (`Millesimes.en_vigueur`).
Tout ou rien : l'ancien contenu est remplacé dans une seule transaction ; relancer le
chargement redonne la même table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction

from opsn.referentiel.millesimes import Millesimes, millesimes_livres

TAILLE_LOT = 5_000


@dataclass(frozen=True)
class BilanMillesimes:
    lignes: int
    codes: int
    annees: tuple[int, ...]

    def resume(self) -> str:
        return (
            f"{self.lignes} lignes chargées : {self.codes} communes et EPCI, années "
            f"{self.annees[0]} à {self.annees[-1]}."
        )


def _lignes(millesimes: Millesimes, codes: Iterable[str]) -> Iterator[object]:
    from opsn.gestion.models import ReferentialPopulation

    for code in codes:
        for annee in millesimes.annees:
            chiffre = millesimes.en_vigueur(code, annee)
            if chiffre is None:
                continue
            yield ReferentialPopulation(
                code=code,
                year=annee,
                population_totale=chiffre.population_totale,
                population_municipale=chiffre.population_municipale,
                census_year=chiffre.recensement,
                census_year_totale=chiffre.recensement_totale,
                epci_siren=chiffre.epci_siren,
                source=chiffre.source[:300],
            )


def importer_millesimes(
    millesimes: Millesimes | None = None, codes: Iterable[str] | None = None
) -> BilanMillesimes:
    """Remplace le contenu de la table par les millésimes (par défaut ceux de l'extrait
    livré ; ``codes`` restreint à quelques communes ou EPCI, pour les essais)."""
    from opsn.gestion.models import ReferentialPopulation

    source = millesimes or millesimes_livres()
    choisis = sorted(set(codes)) if codes is not None else list(source.codes())
    total = 0
    with transaction.atomic():
        ReferentialPopulation.objects.all().delete()
        lot: list[ReferentialPopulation] = []
        for ligne in _lignes(source, choisis):
            lot.append(ligne)  # type: ignore[arg-type]
            if len(lot) >= TAILLE_LOT:
                ReferentialPopulation.objects.bulk_create(lot)
                total += len(lot)
                lot = []
        if lot:
            ReferentialPopulation.objects.bulk_create(lot)
            total += len(lot)
    return BilanMillesimes(lignes=total, codes=len(choisis), annees=source.annees)
