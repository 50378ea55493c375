"""Lecture de l'extrait livré et lecture/écriture des organismes importés."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from opsn.core.errors import OpsnError
from opsn.referentiel.modeles import TYPES_ORGANISME, Commune, Epci, Organisme

VARIABLE_DONNEES = "OPSN_DONNEES"
FICHIER_ORGANISMES = "organismes.json"
FORMAT_ORGANISMES = 1


class ReferentielError(OpsnError):
    """Erreur du référentiel destinée à l'utilisateur (message en français)."""


@dataclass(frozen=True, slots=True)
class Source:
    """Provenance de l'extrait livré (contenu de ``millesime.json``)."""

    paquet: str
    version: str
    millesime: str
    recensement_epci: int | None
    recensement_communes: int | None

    @property
    def libelle(self) -> str:
        return f"référentiel {self.millesime} ({self.paquet} {self.version})"


@dataclass(frozen=True, slots=True, eq=False)
class Extrait:
    """Contenu de l'extrait livré (comparé et haché par identité, pour les caches)."""

    source: Source
    communes: dict[str, Commune]
    epcis: dict[str, Epci]


def repertoire_extrait() -> Path:
    """Dossier de l'extrait livré avec le paquet (``opsn/data/referentiel``)."""
    return Path(str(resources.files("opsn").joinpath("data", "referentiel")))


def repertoire_donnees() -> Path:
    """Dossier des données de l'instance : ``$OPSN_DONNEES`` ou ``./var/``."""
    valeur = os.environ.get(VARIABLE_DONNEES)
    return Path(valeur) if valeur else Path.cwd() / "var"


def _entier(valeur: str) -> int | None:
    return int(valeur) if valeur else None


def lire_extrait(dossier: Path) -> Extrait:
    """Lit communes.csv, epci.csv et millesime.json d'un dossier d'extrait."""
    try:
        meta = json.loads((dossier / "millesime.json").read_text(encoding="utf-8"))
        source = Source(
            paquet=meta["paquet"],
            version=meta["version"],
            millesime=str(meta["millesime"]),
            recensement_epci=meta.get("recensement_epci"),
            recensement_communes=meta.get("recensement_communes"),
        )
        millesime = source.millesime
        communes: dict[str, Commune] = {}
        with (dossier / "communes.csv").open(encoding="utf-8", newline="") as flux:
            for ligne in csv.DictReader(flux, delimiter=";"):
                communes[ligne["insee"]] = Commune(
                    insee=ligne["insee"],
                    nom=ligne["nom"],
                    departement=ligne["departement"],
                    siren=ligne["siren"] or None,
                    codes_postaux=tuple(ligne["codes_postaux"].split("|"))
                    if ligne["codes_postaux"]
                    else (),
                    population_totale=_entier(ligne["population_totale"]),
                    population_municipale=_entier(ligne["population_municipale"]),
                    millesime=millesime,
                    epci_siren=ligne["epci_siren"] or None,
                    annee_population=_entier(ligne["annee_population"]),
                )
        epcis: dict[str, Epci] = {}
        with (dossier / "epci.csv").open(encoding="utf-8", newline="") as flux:
            for ligne in csv.DictReader(flux, delimiter=";"):
                epcis[ligne["siren"]] = Epci(
                    siren=ligne["siren"],
                    nom=ligne["nom"],
                    nature=ligne["nature"],
                    population_totale=int(ligne["population_totale"]),
                    population_municipale=int(ligne["population_municipale"]),
                    membres=tuple(ligne["membres"].split("|")) if ligne["membres"] else (),
                    millesime=millesime,
                    annee_population=source.recensement_epci,
                )
    except (OSError, KeyError, ValueError) as exc:
        raise ReferentielError(
            f"{dossier} : extrait du référentiel illisible ou incomplet ({exc}). "
            "Régénérez-le avec scripts/referentiel/construire_extrait.py."
        ) from exc
    return Extrait(source=source, communes=communes, epcis=epcis)


@cache
def extrait_livre() -> Extrait:
    """Extrait livré, lu une seule fois par processus."""
    return lire_extrait(repertoire_extrait())


def _organisme_depuis_json(donnee: dict[str, Any]) -> Organisme:
    organisme = Organisme(
        identifiant=str(donnee["identifiant"]),
        nom=str(donnee["nom"]),
        type=str(donnee["type"]),
        agents=int(donnee["agents"]),
        parent=donnee.get("parent") or None,
        population_desservie=donnee.get("population_desservie"),
        siren=donnee.get("siren") or None,
    )
    if organisme.type not in TYPES_ORGANISME:
        raise ValueError(f"type inconnu « {organisme.type} »")
    return organisme


def lire_organismes(dossier: Path) -> dict[str, Organisme]:
    """Organismes importés dans ``dossier/organismes.json`` (vide si le fichier n'existe pas)."""
    chemin = dossier / FICHIER_ORGANISMES
    if not chemin.exists():
        return {}
    try:
        contenu = json.loads(chemin.read_text(encoding="utf-8"))
        organismes = [_organisme_depuis_json(o) for o in contenu["organismes"]]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ReferentielError(
            f"{chemin} : fichier des organismes illisible ({exc}). "
            "Restaurez-le ou supprimez-le puis réimportez vos fichiers."
        ) from exc
    return {o.identifiant: o for o in organismes}


def ecrire_organismes(dossier: Path, organismes: dict[str, Organisme]) -> Path:
    """Écrit les organismes triés par identifiant, de façon atomique (fichier temporaire)."""
    dossier.mkdir(parents=True, exist_ok=True)
    chemin = dossier / FICHIER_ORGANISMES
    contenu = {
        "format": FORMAT_ORGANISMES,
        "organismes": [asdict(organismes[cle]) for cle in sorted(organismes)],
    }
    texte = json.dumps(contenu, ensure_ascii=False, indent=2) + "\n"
    descripteur, temporaire = tempfile.mkstemp(
        prefix=".organismes-", suffix=".json.tmp", dir=dossier
    )
    try:
        with os.fdopen(descripteur, "w", encoding="utf-8") as flux:
            flux.write(texte)
            flux.flush()
            os.fsync(flux.fileno())
        os.replace(temporaire, chemin)
    except BaseException:
        Path(temporaire).unlink(missing_ok=True)
        raise
    return chemin
