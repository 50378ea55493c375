"""Recherches dans le référentiel : communes, EPCI et organismes importés."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from opsn.referentiel.modeles import Commune, Entite, Epci, Organisme
from opsn.referentiel.normalisation import (
    est_insee,
    est_siren,
    normaliser,
    normaliser_code,
    normaliser_departement,
)
from opsn.referentiel.stockage import (
    Extrait,
    Source,
    extrait_livre,
    lire_organismes,
    repertoire_donnees,
)

_ORDRE_CATEGORIE = {Commune: 0, Epci: 1, Organisme: 2}


@cache
def _index_communes_par_siren(extrait: Extrait) -> dict[str, Commune]:
    return {c.siren: c for c in extrait.communes.values() if c.siren}


@cache
def _index_noms(extrait: Extrait) -> tuple[tuple[str, Commune | Epci, frozenset[str]], ...]:
    """(nom normalisé, objet, départements) pour chaque commune et EPCI, construit une fois."""
    entrees: list[tuple[str, Commune | Epci, frozenset[str]]] = [
        (normaliser(c.nom), c, frozenset((c.departement,))) for c in extrait.communes.values()
    ]
    for epci in extrait.epcis.values():
        departements = frozenset(
            extrait.communes[m].departement for m in epci.membres if m in extrait.communes
        )
        entrees.append((normaliser(epci.nom), epci, departements))
    return tuple(entrees)


class Referentiel:
    """Communes et EPCI de l'extrait livré, plus les organismes importés.

    Construire avec :meth:`charger`. L'extrait livré est lu une fois par processus ;
    les organismes sont relus depuis le dossier de données à chaque ``charger``.
    """

    def __init__(
        self,
        extrait: Extrait,
        organismes: dict[str, Organisme],
        repertoire_donnees: Path,
    ) -> None:
        self._extrait = extrait
        self._organismes = dict(organismes)
        self._organismes_par_siren = {o.siren: o for o in organismes.values() if o.siren}
        self.repertoire_donnees = repertoire_donnees

    @classmethod
    def charger(cls, repertoire_donnees: Path | None = None) -> Referentiel:
        """Charge l'extrait livré (mis en cache) et les organismes de ``repertoire_donnees``.

        Par défaut, le dossier de données est ``$OPSN_DONNEES`` ou ``./var/``.
        """
        dossier = repertoire_donnees if repertoire_donnees is not None else _defaut()
        return cls(extrait_livre(), lire_organismes(dossier), dossier)

    # -- provenance -------------------------------------------------------------
    @property
    def source(self) -> Source:
        """Paquet, version et millésime de l'extrait livré."""
        return self._extrait.source

    @property
    def millesime(self) -> str:
        return self._extrait.source.millesime

    # -- accès direct -----------------------------------------------------------
    def communes(self) -> list[Commune]:
        """Toutes les communes actuelles, triées par code INSEE."""
        return [self._extrait.communes[c] for c in sorted(self._extrait.communes)]

    def epcis(self) -> list[Epci]:
        """Tous les EPCI, triés par SIREN."""
        return [self._extrait.epcis[s] for s in sorted(self._extrait.epcis)]

    def organismes(self) -> list[Organisme]:
        """Tous les organismes importés, triés par identifiant."""
        return [self._organismes[i] for i in sorted(self._organismes)]

    def commune(self, insee: str) -> Commune | None:
        return self._extrait.communes.get(normaliser_code(insee))

    def commune_par_siren(self, siren: str) -> Commune | None:
        return _index_communes_par_siren(self._extrait).get(normaliser_code(siren))

    def epci(self, siren: str) -> Epci | None:
        return self._extrait.epcis.get(normaliser_code(siren))

    def organisme(self, identifiant: str) -> Organisme | None:
        return self._organismes.get(identifiant.strip())

    def par_code(self, code: str) -> Entite | None:
        """Code INSEE (5 caractères, 2A/2B compris) → commune ; SIREN (9 chiffres) →
        commune, EPCI ou organisme ; autre code → organisme par identifiant."""
        brut = code.strip()
        valeur = normaliser_code(brut)
        if est_insee(valeur):
            trouve = self.commune(valeur)
            if trouve is not None:
                return trouve
        elif est_siren(valeur):
            trouve = self.commune_par_siren(valeur) or self.epci(valeur)
            if trouve is not None:
                return trouve
            trouve = self._organismes.get(valeur) or self._organismes_par_siren.get(valeur)
            if trouve is not None:
                return trouve
        return self._organismes.get(brut)

    # -- liens ------------------------------------------------------------------
    def membres(self, siren_epci: str) -> list[Commune]:
        """Communes membres d'un EPCI, triées par nom (liste vide si l'EPCI est inconnu)."""
        epci = self.epci(siren_epci)
        if epci is None:
            return []
        communes = [self._extrait.communes[c] for c in epci.membres]
        return sorted(communes, key=lambda c: (normaliser(c.nom), c.insee))

    def epci_de(self, insee: str) -> Epci | None:
        """EPCI à fiscalité propre de la commune (``None`` pour une commune isolée)."""
        commune = self.commune(insee)
        if commune is None or commune.epci_siren is None:
            return None
        return self._extrait.epcis.get(commune.epci_siren)

    def organismes_rattaches(self, code_parent: str) -> list[Organisme]:
        """Organismes dont le parent est ``code_parent`` (INSEE et SIREN d'une commune
        sont équivalents), triés par nom."""
        codes = {code_parent.strip(), normaliser_code(code_parent)}
        parent = self.par_code(code_parent)
        if isinstance(parent, Commune):
            codes |= {parent.insee, parent.siren} - {None}
        elif isinstance(parent, Organisme):
            codes |= {parent.identifiant, parent.siren} - {None}
        trouves = [o for o in self._organismes.values() if o.parent in codes]
        return sorted(trouves, key=lambda o: (normaliser(o.nom), o.identifiant))

    def departements(self, entite: Entite) -> frozenset[str]:
        """Départements d'une commune, des communes d'un EPCI, ou du parent d'un organisme."""
        if isinstance(entite, Commune):
            return frozenset((entite.departement,))
        if isinstance(entite, Epci):
            return frozenset(
                self._extrait.communes[m].departement
                for m in entite.membres
                if m in self._extrait.communes
            )
        vus: set[str] = set()
        courant: Entite | None = entite
        while isinstance(courant, Organisme) and courant.parent and courant.identifiant not in vus:
            vus.add(courant.identifiant)
            courant = self.par_code(courant.parent)
        return (
            frozenset()
            if courant is None or isinstance(courant, Organisme)
            else (self.departements(courant))
        )

    # -- recherche --------------------------------------------------------------
    def chercher(
        self, texte: str, departement: str | int | None = None, limite: int = 20
    ) -> list[Entite]:
        """Recherche par nom, insensible aux accents, à la casse, aux tirets et apostrophes.

        Ordre : nom identique, puis nom commençant par le texte, puis nom le contenant
        (à nom égal : communes, EPCI puis organismes, par département). Un code INSEE,
        SIREN ou identifiant exact est renvoyé en tête.
        """
        if limite <= 0:
            return []
        dep = normaliser_departement(departement) if departement not in (None, "") else None
        cible = normaliser(texte)
        resultats: list[tuple[tuple, Entite]] = []
        vus: set[int] = set()

        exact = self.par_code(texte) if texte.strip() else None
        if exact is not None and (dep is None or dep in self.departements(exact)):
            resultats.append(((-1,), exact))
            vus.add(id(exact))

        if cible:
            entrees = list(_index_noms(self._extrait))
            entrees += [
                (normaliser(o.nom), o, self.departements(o)) for o in self._organismes.values()
            ]
            for nom, entite, departements in entrees:
                if dep is not None and dep not in departements:
                    continue
                if nom == cible:
                    rang = 0
                elif nom.startswith(cible):
                    rang = 1
                elif cible in nom:
                    rang = 2
                else:
                    continue
                if id(entite) in vus:
                    continue
                cle = (rang, _ORDRE_CATEGORIE[type(entite)], nom, min(departements, default=""))
                resultats.append(((*cle, entite.code), entite))
        resultats.sort(key=lambda paire: paire[0])
        return [entite for _, entite in resultats[:limite]]


def _defaut() -> Path:
    return repertoire_donnees()
