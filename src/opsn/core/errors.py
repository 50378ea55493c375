"""Erreurs du cœur, toutes en français et localisées (fichier, ligne, clé)."""

from __future__ import annotations

from pathlib import Path


class OpsnError(Exception):
    """Erreur destinée à l'utilisateur : le message se lit tel quel."""


class SourceError(OpsnError):
    """Erreur dans un fichier lu (catalogue, scénario, indices)."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.detail = message
        where = []
        if self.file:
            where.append(self.file)
        if line:
            where.append(f"ligne {line}")
        if key:
            where.append(f"clé « {key} »")
        super().__init__((", ".join(where) + " : " if where else "") + message)


class CatalogueError(SourceError):
    """Catalogue invalide : rien n'est chargé."""


class ScenarioError(SourceError):
    """Scénario invalide."""


class IndexMissingError(OpsnError):
    """Une révision a besoin d'une valeur d'indice absente de la table."""

    def __init__(self, index: str, month: str, needed_for: str) -> None:
        self.index = index
        self.month = month
        super().__init__(
            f"valeur de l'indice {index.upper()} de {month_fr(month)} ({month}) manquante : "
            f"elle est nécessaire pour {needed_for}. Ajoutez-la à la table des indices."
        )


class PricingError(OpsnError):
    """Calcul impossible (tarif antérieur à sa base, quantité invalide…)."""


class RefusedError(PricingError):
    """Souscription refusée par une règle de la source (plafond imprimé, service facturé à
    l'EPCI souscrit par une commune…) : le message dit pourquoi et cite la clause. La
    simulation s'arrête dessus ; la facturation bloque l'adhérent avec ce motif."""


MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def month_fr(month: str) -> str:
    """'2022-11' → 'novembre 2022'."""
    year, m = month.split("-")
    return f"{MONTHS_FR[int(m) - 1]} {year}"
