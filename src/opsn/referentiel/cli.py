"""Commandes ``opsn referentiel`` : chercher, afficher, importer."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from opsn.referentiel.importation import ImportRefuse, importer_organismes
from opsn.referentiel.modeles import LIBELLES_TYPE_ORGANISME, Commune, Entite, Epci, Organisme
from opsn.referentiel.referentiel import Referentiel
from opsn.referentiel.stockage import ReferentielError

app = typer.Typer(
    help="Référentiel des collectivités (communes, EPCI, organismes).", no_args_is_help=True
)


# Au-delà, ce n'est plus un nom de collectivité (le plus long fait moins de 100 caractères).
LONGUEUR_RECHERCHE = 200


class Format(StrEnum):
    table = "table"
    json = "json"


OptionFormat = Annotated[
    Format, typer.Option("--format", "-f", help="Sortie : table (lisible) ou json.")
]


# -- mise en forme -------------------------------------------------------------------


def _nombre(valeur: int | None) -> str:
    return "—" if valeur is None else f"{valeur:,}".replace(",", " ")


def _agents(nombre: int) -> str:
    return f"{_nombre(nombre)} agent{'s' if nombre > 1 else ''}"


def _categorie(entite: Entite) -> str:
    if isinstance(entite, Commune):
        return "commune"
    if isinstance(entite, Epci):
        return "epci"
    return "organisme"


def _libelle_categorie(entite: Entite) -> str:
    if isinstance(entite, Commune):
        return "Commune"
    if isinstance(entite, Epci):
        return f"EPCI ({entite.nature})"
    libelle = LIBELLES_TYPE_ORGANISME.get(entite.type, entite.type)
    return libelle[:1].upper() + libelle[1:]


def _annee(entite: Commune | Epci) -> str:
    return f"RP {entite.annee_population}" if entite.annee_population else "année inconnue"


def _tableau(entetes: list[str], lignes: list[list[str]], droite: set[int] | None = None) -> str:
    droite = droite or set()
    largeurs = [len(e) for e in entetes]
    for ligne in lignes:
        largeurs = [max(lg, len(c)) for lg, c in zip(largeurs, ligne, strict=True)]

    def rendre(cellules: list[str]) -> str:
        morceaux = [
            c.rjust(largeurs[i]) if i in droite else c.ljust(largeurs[i])
            for i, c in enumerate(cellules)
        ]
        return "  ".join(morceaux).rstrip()

    separateur = "  ".join("-" * lg for lg in largeurs)
    return "\n".join([rendre(entetes), separateur, *(rendre(lg) for lg in lignes)])


def _json(entite: Entite, referentiel: Referentiel, detail: bool) -> dict[str, Any]:
    donnees: dict[str, Any] = {"categorie": _categorie(entite), **asdict(entite)}
    for cle in ("codes_postaux", "membres"):
        if cle in donnees:
            donnees[cle] = list(donnees[cle])
    if isinstance(entite, Commune):
        epci = referentiel.epci_de(entite.insee)
        donnees["epci"] = {"siren": epci.siren, "nom": epci.nom} if epci else None
    if isinstance(entite, Epci):
        donnees["departements"] = sorted(referentiel.departements(entite))
    if isinstance(entite, Organisme) and entite.parent:
        parent = referentiel.par_code(entite.parent)
        donnees["parent_nom"] = parent.nom if parent else None
    if detail:
        if isinstance(entite, Epci):
            donnees["communes"] = [
                _json(c, referentiel, detail=False) for c in referentiel.membres(entite.siren)
            ]
        donnees["organismes_rattaches"] = [
            asdict(o) for o in referentiel.organismes_rattaches(entite.code)
        ]
    return donnees


def _sortie_json(donnees: Any) -> None:
    typer.echo(json.dumps(donnees, ensure_ascii=False, indent=2))


def _echouer(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code=1)


def _charger() -> Referentiel:
    try:
        return Referentiel.charger()
    except ReferentielError as exc:
        raise _echouer(str(exc)) from exc


def _ligne_resultat(entite: Entite, referentiel: Referentiel) -> list[str]:
    if isinstance(entite, Commune):
        epci = referentiel.epci_de(entite.insee)
        return [
            _libelle_categorie(entite),
            entite.insee,
            entite.nom,
            entite.departement,
            _nombre(entite.population_totale),
            _nombre(entite.population_municipale),
            _annee(entite),
            f"{epci.nom} ({epci.siren})" if epci else "aucun (commune isolée)",
        ]
    if isinstance(entite, Epci):
        return [
            _libelle_categorie(entite),
            entite.siren,
            entite.nom,
            ", ".join(sorted(referentiel.departements(entite))),
            _nombre(entite.population_totale),
            _nombre(entite.population_municipale),
            _annee(entite),
            f"{len(entite.membres)} communes",
        ]
    parent = referentiel.par_code(entite.parent) if entite.parent else None
    details = [_agents(entite.agents)]
    if entite.population_desservie is not None:
        details.append(f"population desservie {_nombre(entite.population_desservie)}")
    if parent is not None:
        details.append(f"rattaché à {parent.nom} ({entite.parent})")
    return [
        _libelle_categorie(entite),
        entite.identifiant,
        entite.nom,
        ", ".join(sorted(referentiel.departements(entite))),
        "",
        "",
        "",
        ", ".join(details),
    ]


# -- commandes -----------------------------------------------------------------------


@app.command()
def chercher(
    mots: Annotated[
        list[str],
        typer.Argument(
            help="Nom (ou code) à chercher ; accents, majuscules et tirets facultatifs.",
            metavar="TEXTE",
        ),
    ],
    departement: Annotated[
        str | None,
        typer.Option("--departement", "-d", help="Ne garder que ce département (ex. 33, 2A)."),
    ] = None,
    limite: Annotated[int, typer.Option("--limite", "-n", min=1, help="Nombre maximal.")] = 20,
    format: OptionFormat = Format.table,
) -> None:
    """Cherche une commune, un EPCI ou un organisme par son nom."""
    texte = " ".join(mots)
    if len(texte) > LONGUEUR_RECHERCHE:
        raise _echouer(f"Texte de recherche trop long : {LONGUEUR_RECHERCHE} caractères au plus.")
    if departement is not None and not re.fullmatch(r"\d{2,3}|2[ABab]", departement.strip()):
        raise _echouer(
            f"Département « {departement[:20]} » invalide : code à 2 ou 3 caractères attendu "
            "(33, 2A, 974)."
        )
    referentiel = _charger()
    resultats = referentiel.chercher(texte, departement=departement, limite=limite)
    if format is Format.json:
        _sortie_json([_json(r, referentiel, detail=False) for r in resultats])
        return
    if not resultats:
        filtre = f" dans le département {departement}" if departement else ""
        typer.echo(f"Aucun résultat pour « {texte} »{filtre}.")
        return
    typer.echo(
        _tableau(
            [
                "Catégorie",
                "Code",
                "Nom",
                "Dép.",
                "Pop. totale",
                "Pop. municipale",
                "Année",
                "EPCI ou rattachement",
            ],
            [_ligne_resultat(r, referentiel) for r in resultats],
            droite={4, 5},
        )
    )
    typer.echo(
        f"\n{len(resultats)} résultat(s). Populations : {referentiel.source.libelle} ; "
        "RP = année du recensement."
    )


def _afficher_commune(commune: Commune, referentiel: Referentiel) -> list[str]:
    epci = referentiel.epci_de(commune.insee)
    return [
        f"Commune {commune.nom}",
        f"  Code INSEE             : {commune.insee}",
        f"  SIREN                  : {commune.siren or '—'}",
        f"  Département            : {commune.departement}",
        f"  Codes postaux          : {', '.join(commune.codes_postaux) or '—'}",
        f"  Population totale      : {_nombre(commune.population_totale)}",
        f"  Population municipale  : {_nombre(commune.population_municipale)}",
        f"  Année du recensement   : {commune.annee_population or 'inconnue'}"
        f" (référentiel {commune.millesime})",
        "  EPCI                   : "
        + (f"{epci.nom} ({epci.nature}, SIREN {epci.siren})" if epci else "aucun (commune isolée)"),
    ]


def _afficher_epci(epci: Epci, referentiel: Referentiel) -> list[str]:
    lignes = [
        f"EPCI {epci.nom}",
        f"  SIREN                  : {epci.siren}",
        f"  Nature                 : {epci.nature}",
        f"  Départements           : {', '.join(sorted(referentiel.departements(epci)))}",
        f"  Population totale      : {_nombre(epci.population_totale)}",
        f"  Population municipale  : {_nombre(epci.population_municipale)}",
        f"  Année du recensement   : {epci.annee_population or 'inconnue'}"
        f" (référentiel {epci.millesime})",
        f"  Communes membres       : {len(epci.membres)}",
        "",
    ]
    membres = referentiel.membres(epci.siren)
    tableau = _tableau(
        ["INSEE", "Commune", "SIREN", "Pop. totale", "Pop. municipale"],
        [
            [
                c.insee,
                c.nom,
                c.siren or "—",
                _nombre(c.population_totale),
                _nombre(c.population_municipale),
            ]
            for c in membres
        ],
        droite={3, 4},
    )
    return lignes + ["  " + ligne for ligne in tableau.splitlines()]


def _afficher_organisme(organisme: Organisme, referentiel: Referentiel) -> list[str]:
    parent = referentiel.par_code(organisme.parent) if organisme.parent else None
    if organisme.parent is None:
        libelle_parent = "aucun"
    elif parent is None:
        libelle_parent = f"{organisme.parent} (introuvable dans le référentiel)"
    else:
        libelle_parent = f"{parent.nom} ({organisme.parent})"
    return [
        f"Organisme {organisme.nom}",
        f"  Identifiant            : {organisme.identifiant}",
        f"  Type                   : {LIBELLES_TYPE_ORGANISME.get(organisme.type, organisme.type)}",
        f"  SIREN                  : {organisme.siren or '—'}",
        f"  Agents                 : {_nombre(organisme.agents)}",
        f"  Population desservie   : {_nombre(organisme.population_desservie)}",
        f"  Rattaché à             : {libelle_parent}",
    ]


@app.command()
def afficher(
    code: Annotated[
        str, typer.Argument(help="Code INSEE, SIREN ou identifiant d'un organisme importé.")
    ],
    format: OptionFormat = Format.table,
) -> None:
    """Affiche le détail d'une commune, d'un EPCI (avec ses communes) ou d'un organisme."""
    referentiel = _charger()
    entite = referentiel.par_code(code)
    if entite is None:
        raise _echouer(
            f"Code « {code} » inconnu : ni code INSEE de commune, ni SIREN de commune, d'EPCI "
            "ou d'organisme, ni identifiant d'organisme importé "
            f"({referentiel.source.libelle}). Essayez « opsn referentiel chercher NOM »."
        )
    if format is Format.json:
        _sortie_json(_json(entite, referentiel, detail=True))
        return
    if isinstance(entite, Commune):
        lignes = _afficher_commune(entite, referentiel)
    elif isinstance(entite, Epci):
        lignes = _afficher_epci(entite, referentiel)
    else:
        lignes = _afficher_organisme(entite, referentiel)
    rattaches = referentiel.organismes_rattaches(entite.code)
    if rattaches:
        lignes += ["", "  Organismes rattachés :"]
        lignes += [
            f"    - {o.nom} ({o.identifiant}, "
            f"{LIBELLES_TYPE_ORGANISME.get(o.type, o.type)}, {_agents(o.agents)})"
            for o in rattaches
        ]
    lignes += ["", f"Source : {referentiel.source.libelle}."]
    typer.echo("\n".join(lignes))


@app.command()
def importer(
    fichier: Annotated[
        Path,
        typer.Argument(
            help="Fichier .csv (UTF-8, « ; » ou « , ») ou .xlsx ; "
            "modèle : docs/modeles/organismes.csv."
        ),
    ],
) -> None:
    """Importe des organismes (syndicats, CCAS, établissements publics, budgets annexes).

    Tout le fichier est vérifié d'abord : à la moindre erreur, rien n'est importé.
    Les données vont dans $OPSN_DONNEES (ou ./var/) ; réimporter met à jour sans doublon.
    """
    try:
        bilan = importer_organismes(fichier)
    except ImportRefuse as exc:
        for erreur in exc.erreurs:
            typer.echo(erreur, err=True)
        pluriel = "s" if len(exc.erreurs) > 1 else ""
        raise _echouer(
            f"Import refusé : {len(exc.erreurs)} erreur{pluriel}, aucun organisme importé."
        ) from exc
    except ReferentielError as exc:
        raise _echouer(str(exc)) from exc
    except OSError as exc:  # dossier de données absent, interdit en écriture, disque plein…
        raise _echouer(
            f"Import impossible : {exc.strerror or exc} ({exc.filename or fichier})."
        ) from exc
    typer.echo(bilan.resume())


@app.command()
def millesimes(
    annee: Annotated[
        int | None,
        typer.Option(
            "--annee", help="Montrer aussi les chiffres en vigueur cette année (avec --code)."
        ),
    ] = None,
    code: Annotated[
        str | None, typer.Option("--code", help="Code INSEE ou SIREN à montrer (avec --annee).")
    ] = None,
) -> None:
    """Charge en base les populations et EPCI en vigueur par année de facturation (R4, R6).

    Tout ou rien, et relançable : la table est remplacée dans une seule transaction.
    """
    from opsn.cli.base import _django, _migrate, _year

    # options vérifiées avant le chargement (≈ 20 s) : une erreur de saisie sort tout de suite
    if annee is not None:
        annee = _year(annee)
    if (annee is None) != (not code):
        raise _echouer("--annee et --code vont ensemble : donnez les deux, ou aucun.")
    if code is not None and len(code.strip()) not in (5, 9):
        raise _echouer(f"--code : « {code[:40]} » n'est ni un code INSEE (5) ni un SIREN (9).")
    _django()
    _migrate()
    from opsn.referentiel.chargement import importer_millesimes
    from opsn.referentiel.millesimes import millesimes_livres

    try:
        bilan = importer_millesimes()
    except ReferentielError as exc:
        raise _echouer(str(exc)) from exc
    typer.echo(bilan.resume())
    if annee is not None and code:
        chiffre = millesimes_livres().en_vigueur(code.strip(), annee)
        if chiffre is None:
            raise _echouer(f"code « {code} » absent des millésimes du référentiel.")
        typer.echo(
            f"{code} en {annee} : population totale {_nombre(chiffre.population_totale)}, "
            f"municipale {_nombre(chiffre.population_municipale)}"
            + (f", EPCI {chiffre.epci_siren}" if chiffre.epci_siren else "")
            + f" ({chiffre.source})."
        )
