"""Référentiel des collectivités : communes, EPCI et organismes rattachés.

Les communes et EPCI viennent d'un extrait livré avec le paquet
(``opsn/data/referentiel``, construit depuis ``@etalab/decoupage-administratif``) ;
les organismes absents des données officielles (syndicats, CCAS, établissements
publics, budgets annexes) sont importés dans le dossier de données
(``$OPSN_DONNEES`` ou ``./var/``).

Chaque population garde le millésime du référentiel (``millesime``) et l'année du
recensement (``annee_population``), pour dire quel chiffre a servi.
"""

from opsn.referentiel.importation import (
    COLONNES,
    COLONNES_FACULTATIVES,
    COLONNES_OBLIGATOIRES,
    BilanImport,
    ImportRefuse,
    importer_organismes,
    valider,
)
from opsn.referentiel.modeles import (
    NATURES_EPCI,
    TYPES_ORGANISME,
    Commune,
    Entite,
    Epci,
    Organisme,
)
from opsn.referentiel.normalisation import normaliser
from opsn.referentiel.referentiel import Referentiel
from opsn.referentiel.stockage import ReferentielError, Source, repertoire_donnees

__all__ = [
    "COLONNES",
    "COLONNES_FACULTATIVES",
    "COLONNES_OBLIGATOIRES",
    "NATURES_EPCI",
    "TYPES_ORGANISME",
    "BilanImport",
    "Commune",
    "Entite",
    "Epci",
    "ImportRefuse",
    "Organisme",
    "Referentiel",
    "ReferentielError",
    "Source",
    "importer_organismes",
    "normaliser",
    "repertoire_donnees",
    "valider",
]
