"""Import des organismes absents des données officielles (CSV ou XLSX).

Tout le fichier est validé avant d'écrire quoi que ce soit : au moindre défaut,
rien n'est importé et chaque erreur nomme le fichier, la ligne (comme dans un
tableur : l'en-tête est la ligne 1) et la colonne.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from opsn.core import bounds
from opsn.core.bounds import Bound, BoundError
from opsn.referentiel.modeles import LIBELLES_TYPE_ORGANISME, TYPES_ORGANISME, Commune, Organisme
from opsn.referentiel.normalisation import est_insee, est_siren, normaliser, normaliser_code
from opsn.referentiel.referentiel import Referentiel
from opsn.referentiel.stockage import ReferentielError, ecrire_organismes, lire_organismes
from opsn.tabular import csv_error_fr

COLONNES_OBLIGATOIRES = ("identifiant", "nom", "type", "agents", "parent")
COLONNES_FACULTATIVES = ("population_desservie", "siren")
COLONNES = COLONNES_OBLIGATOIRES + COLONNES_FACULTATIVES

# Le nom devient celui de l'adhérent en base (Member.name, 200 caractères).
LONGUEUR_NOM = 200
_RE_IDENTIFIANT_LOCAL = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,49}$")
_TYPES_NORMALISES = {normaliser(t): t for t in TYPES_ORGANISME} | {
    normaliser(libelle): t for t, libelle in LIBELLES_TYPE_ORGANISME.items()
}
_ATTENDU_COLONNES = (
    f"colonnes attendues : {', '.join(COLONNES_OBLIGATOIRES)} ; "
    f"facultatives : {', '.join(COLONNES_FACULTATIVES)}"
)


class ImportRefuse(ReferentielError):
    """Fichier refusé : ``erreurs`` liste tous les défauts trouvés, rien n'a été écrit."""

    def __init__(self, fichier: Path, erreurs: list[str]) -> None:
        self.fichier = fichier
        self.erreurs = erreurs
        pluriel = "s" if len(erreurs) > 1 else ""
        super().__init__(
            f"{fichier.name} : import refusé, {len(erreurs)} erreur{pluriel}, "
            "aucun organisme importé.\n" + "\n".join(erreurs)
        )


@dataclass(frozen=True)
class BilanImport:
    """Résultat d'un import réussi."""

    fichier: Path
    destination: Path
    crees: tuple[str, ...] = ()
    mis_a_jour: tuple[str, ...] = ()
    inchanges: tuple[str, ...] = ()

    def resume(self) -> str:
        def compte(n: int, singulier: str, pluriel: str) -> str:
            return f"{n} {singulier if n <= 1 else pluriel}"

        return (
            f"{self.fichier.name} importé dans {self.destination} : "
            f"{compte(len(self.crees), 'organisme créé', 'organismes créés')}, "
            f"{compte(len(self.mis_a_jour), 'mis à jour', 'mis à jour')}, "
            f"{compte(len(self.inchanges), 'inchangé', 'inchangés')}."
        )


@dataclass
class _Ligne:
    numero: int
    valeurs: dict[str, str]


@dataclass
class _Lecture:
    lignes: list[_Ligne] = field(default_factory=list)
    erreurs: list[str] = field(default_factory=list)
    entete_valide: bool = True


# -- lecture des fichiers -------------------------------------------------------------


def _cellule_xlsx(valeur: object, colonne: str) -> str:
    if valeur is None:
        return ""
    if isinstance(valeur, bool):
        return str(valeur)
    if isinstance(valeur, float) and valeur.is_integer():
        valeur = int(valeur)
    if isinstance(valeur, int) and colonne in ("identifiant", "parent", "siren") and valeur >= 0:
        # Un tableur enlève les zéros de tête : 1001 → « 01001 », 12345678 → SIREN « 012345678 ».
        return str(valeur).zfill(5 if valeur < 100_000 else 9)
    return str(valeur).strip()


def _nom_colonne(entete: str) -> str:
    return normaliser(entete).replace(" ", "_")


def _lignes_csv(chemin: Path) -> Iterator[list[str]]:
    try:
        texte = chemin.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReferentielError(
            f"{chemin.name} : le fichier n'est pas encodé en UTF-8 "
            "(dans le tableur, enregistrez-le au format « CSV UTF-8 »)."
        ) from exc
    premiere = texte.split("\n", 1)[0]
    separateur = ";" if premiere.count(";") >= premiere.count(",") else ","
    lecteur = csv.reader(io.StringIO(texte, newline=""), delimiter=separateur)
    try:
        yield from lecteur
    except csv.Error as exc:  # cellule démesurée, guillemets non fermés…
        raise ReferentielError(
            f"{chemin.name}, ligne {lecteur.line_num} : {csv_error_fr(exc)}."
        ) from exc


def _lignes_xlsx(chemin: Path) -> Iterator[list[object]]:
    from openpyxl import load_workbook

    try:
        classeur = load_workbook(chemin, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl lève des exceptions variées sur un fichier abîmé
        raise ReferentielError(f"{chemin.name} : classeur XLSX illisible ({exc}).") from exc
    try:
        noms = {normaliser(n): n for n in classeur.sheetnames}
        feuille = classeur[noms["organismes"]] if "organismes" in noms else classeur.worksheets[0]
        for ligne in feuille.iter_rows(values_only=True):
            yield list(ligne)
    finally:
        classeur.close()


def _lire(chemin: Path) -> _Lecture:
    nom = chemin.name
    if chemin.is_dir():
        raise ReferentielError(f"{nom} : c'est un dossier, pas un fichier ({chemin}).")
    if not chemin.is_file():
        raise ReferentielError(f"{nom} : fichier introuvable ({chemin}).")
    extension = chemin.suffix.lower()
    if extension == ".csv":
        brutes: Iterator[list] = _lignes_csv(chemin)
        xlsx = False
    elif extension == ".xlsx":
        brutes = _lignes_xlsx(chemin)
        xlsx = True
    else:
        raise ReferentielError(
            f"{nom} : format non pris en charge (« {chemin.suffix or 'sans extension'} ») ; "
            "fichier .csv (UTF-8, séparateur « ; » ou « , ») ou .xlsx attendu."
        )

    lecture = _Lecture()
    entetes: list[str] | None = None
    for numero, cellules in enumerate(brutes, start=1):
        if entetes is None:
            entetes = [_nom_colonne(str(c)) if c is not None else "" for c in cellules]
            if not any(entetes):
                raise ReferentielError(
                    f"{nom}, ligne 1 : ligne d'en-tête vide ({_ATTENDU_COLONNES})."
                )
            vus: set[str] = set()
            for entete in entetes:
                if entete and entete in vus:
                    lecture.entete_valide = False
                    lecture.erreurs.append(
                        f"{nom}, ligne 1, colonne « {entete} » : colonne en double."
                    )
                vus.add(entete)
            for colonne in COLONNES_OBLIGATOIRES:
                if colonne not in vus:
                    lecture.entete_valide = False
                    lecture.erreurs.append(
                        f"{nom}, ligne 1, colonne « {colonne} » : colonne obligatoire absente "
                        f"({_ATTENDU_COLONNES})."
                    )
            continue
        textes = [
            _cellule_xlsx(c, entetes[i] if i < len(entetes) else "") if xlsx else str(c).strip()
            for i, c in enumerate(cellules)
        ]
        if not any(textes):
            continue
        if len(textes) > len(entetes) and any(textes[len(entetes) :]):
            lecture.erreurs.append(
                f"{nom}, ligne {numero} : {len(textes)} valeurs pour {len(entetes)} colonnes "
                "(vérifiez le séparateur et les guillemets)."
            )
            continue
        valeurs = {
            entete: textes[i] if i < len(textes) else ""
            for i, entete in enumerate(entetes)
            if entete in COLONNES
        }
        lecture.lignes.append(_Ligne(numero, valeurs))
    if entetes is None:
        raise ReferentielError(f"{nom} : fichier vide ({_ATTENDU_COLONNES}).")
    if not lecture.lignes and not lecture.erreurs:
        lecture.erreurs.append(f"{nom} : aucune ligne d'organisme après l'en-tête.")
    return lecture


# -- validation ----------------------------------------------------------------------


def _entier_positif(texte: str) -> int | None:
    valeur = texte.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    return int(valeur) if re.fullmatch(r"\+?\d{1,100}", valeur) else None


def _hors_domaine(valeur: int, domaine: Bound) -> str | None:
    """Message si l'entier sort de son domaine (opsn.core.bounds), sinon None."""
    try:
        domaine.check(valeur)
    except BoundError as exc:
        return str(exc)
    return None


def _decrire(entite: object) -> str:
    if isinstance(entite, Commune):
        return f"la commune {entite.nom} ({entite.insee})"
    if isinstance(entite, Organisme):
        return f"l'organisme {entite.nom} ({entite.identifiant})"
    return f"l'EPCI {entite.nom} ({entite.code})"  # type: ignore[attr-defined]


def valider(chemin: Path, referentiel: Referentiel) -> tuple[list[Organisme], list[str]]:
    """Lit et valide tout le fichier ; renvoie (organismes, erreurs).

    Les organismes ne sont utilisables que si la liste d'erreurs est vide.
    """
    nom = chemin.name
    lecture = _lire(chemin)
    erreurs = list(lecture.erreurs)
    if not lecture.entete_valide or not lecture.lignes:
        # En-tête faux : chaque ligne répéterait la même erreur, on s'arrête là.
        return [], erreurs

    localisees: list[tuple[int, int, str]] = []

    def erreur(ligne: _Ligne, colonne: str, message: str) -> None:
        localisees.append(
            (
                ligne.numero,
                COLONNES.index(colonne),
                f"{nom}, ligne {ligne.numero}, colonne « {colonne} » : {message}",
            )
        )

    identifiants: dict[str, int] = {}
    sirens: dict[str, int] = {}
    brouillons: list[tuple[_Ligne, dict[str, object]]] = []

    for ligne in lecture.lignes:
        v = ligne.valeurs
        donnees: dict[str, object] = {}

        identifiant = v.get("identifiant", "")
        if est_siren(normaliser_code(identifiant)):
            identifiant = normaliser_code(identifiant)
        if not identifiant:
            erreur(ligne, "identifiant", "valeur manquante (SIREN à 9 chiffres ou code local).")
        elif not _RE_IDENTIFIANT_LOCAL.match(identifiant):
            erreur(
                ligne,
                "identifiant",
                f"« {identifiant} » n'est pas un identifiant valide (SIREN à 9 chiffres, ou code "
                "local de 50 caractères au plus : lettres, chiffres, « - », « _ », « . »).",
            )
        elif identifiant in identifiants:
            erreur(
                ligne,
                "identifiant",
                f"« {identifiant} » figure déjà ligne {identifiants[identifiant]} : "
                "chaque identifiant doit être unique dans le fichier.",
            )
        else:
            identifiants[identifiant] = ligne.numero
            existant = referentiel.par_code(identifiant)
            if existant is not None and not isinstance(existant, Organisme):
                erreur(
                    ligne,
                    "identifiant",
                    f"« {identifiant} » désigne déjà {_decrire(existant)} dans le référentiel : "
                    "choisissez un autre identifiant.",
                )
            else:
                donnees["identifiant"] = identifiant

        libelle = v.get("nom", "")
        if not libelle:
            erreur(ligne, "nom", "valeur manquante (nom de l'organisme).")
        else:
            try:
                donnees["nom"] = bounds.check_text(libelle, LONGUEUR_NOM)
            except BoundError as exc:
                erreur(ligne, "nom", str(exc))

        brut_type = v.get("type", "")
        type_ = _TYPES_NORMALISES.get(normaliser(brut_type))
        if not brut_type:
            erreur(ligne, "type", f"valeur manquante ({', '.join(TYPES_ORGANISME)}).")
        elif type_ is None:
            erreur(
                ligne,
                "type",
                f"« {brut_type} » n'est pas un type d'organisme reconnu (valeurs possibles : "
                f"{', '.join(TYPES_ORGANISME)}).",
            )
        else:
            donnees["type"] = type_

        brut_agents = v.get("agents", "")
        agents = _entier_positif(brut_agents)
        if not brut_agents:
            erreur(ligne, "agents", "valeur manquante (nombre d'agents, entier positif ou nul).")
        elif agents is None:
            erreur(
                ligne,
                "agents",
                f"« {brut_agents} » n'est pas un nombre d'agents valide "
                "(entier positif ou nul attendu).",
            )
        elif probleme := _hors_domaine(agents, bounds.AGENTS):
            erreur(ligne, "agents", probleme)
        else:
            donnees["agents"] = agents

        brut_population = v.get("population_desservie", "")
        population = _entier_positif(brut_population)
        if brut_population and population is None:
            erreur(
                ligne,
                "population_desservie",
                f"« {brut_population} » n'est pas une population valide "
                "(entier positif ou nul attendu, ou case vide).",
            )
        elif population is not None and (probleme := _hors_domaine(population, bounds.POPULATION)):
            erreur(ligne, "population_desservie", probleme)
            population = None
        donnees["population_desservie"] = population

        siren = normaliser_code(v.get("siren", ""))
        if siren and not est_siren(siren):
            erreur(
                ligne,
                "siren",
                f"« {v['siren']} » n'est pas un SIREN valide (9 chiffres attendus, ou case vide).",
            )
        elif siren and est_siren(identifiant) and siren != identifiant:
            erreur(
                ligne,
                "siren",
                f"« {siren} » diffère de l'identifiant « {identifiant} », qui est déjà un SIREN.",
            )
        else:
            identifiant_siren = "identifiant" in donnees and est_siren(identifiant)
            siren = siren or (identifiant if identifiant_siren else "")
            if siren:
                autre = referentiel.par_code(siren)
                if siren in sirens:
                    erreur(ligne, "siren", f"« {siren} » figure déjà ligne {sirens[siren]}.")
                elif autre is not None and (
                    not isinstance(autre, Organisme) or autre.identifiant != identifiant
                ):
                    erreur(
                        ligne,
                        "siren",
                        f"« {siren} » est déjà le SIREN de {_decrire(autre)}.",
                    )
                else:
                    sirens[siren] = ligne.numero
        donnees["siren"] = siren or None
        brouillons.append((ligne, donnees))

    # Les parents se vérifient une fois tous les identifiants du fichier connus.
    organismes: list[Organisme] = []
    for ligne, donnees in brouillons:
        brut_parent = ligne.valeurs.get("parent", "")
        parent: str | None = None
        if brut_parent:
            code = normaliser_code(brut_parent)
            if not (est_insee(code) or est_siren(code)):
                code = brut_parent
            if code == donnees.get("identifiant"):
                erreur(ligne, "parent", "un organisme ne peut pas être son propre parent.")
            elif code in identifiants or code in sirens or referentiel.par_code(code) is not None:
                parent = code
            else:
                erreur(
                    ligne,
                    "parent",
                    f"« {brut_parent} » ne correspond à aucune commune, aucun EPCI ni aucun "
                    "organisme connu (code INSEE, SIREN ou identifiant d'un organisme attendu).",
                )
        if not erreurs and not localisees:
            organismes.append(
                Organisme(
                    identifiant=str(donnees["identifiant"]),
                    nom=str(donnees["nom"]),
                    type=str(donnees["type"]),
                    agents=int(donnees["agents"]),  # type: ignore[call-overload]
                    parent=parent,
                    population_desservie=donnees["population_desservie"],  # type: ignore[arg-type]
                    siren=donnees["siren"],  # type: ignore[arg-type]
                )
            )
    # Erreurs dans l'ordre du fichier : par ligne, puis par colonne.
    erreurs += [message for _, _, message in sorted(localisees)]
    return (organismes if not erreurs else []), erreurs


def importer_organismes(fichier: Path, repertoire_donnees: Path | None = None) -> BilanImport:
    """Valide ``fichier`` puis ajoute ou met à jour ses organismes (clé : identifiant).

    Lève :class:`ImportRefuse` (avec toutes les erreurs) sans rien écrire si une
    seule ligne est fausse. Réimporter le même fichier ne crée pas de doublon.
    """
    referentiel = Referentiel.charger(repertoire_donnees)
    dossier = referentiel.repertoire_donnees
    organismes, erreurs = valider(Path(fichier), referentiel)
    if erreurs:
        raise ImportRefuse(Path(fichier), erreurs)

    existants = lire_organismes(dossier)
    crees: list[str] = []
    mis_a_jour: list[str] = []
    inchanges: list[str] = []
    for organisme in organismes:
        ancien = existants.get(organisme.identifiant)
        if ancien is None:
            crees.append(organisme.identifiant)
        elif ancien == organisme:
            inchanges.append(organisme.identifiant)
        else:
            mis_a_jour.append(organisme.identifiant)
        existants[organisme.identifiant] = organisme

    destination = dossier / "organismes.json"
    if crees or mis_a_jour or not destination.exists():
        destination = ecrire_organismes(dossier, existants)
    return BilanImport(
        fichier=Path(fichier),
        destination=destination,
        crees=tuple(crees),
        mis_a_jour=tuple(mis_a_jour),
        inchanges=tuple(inchanges),
    )
