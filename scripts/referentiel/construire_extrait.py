"""Construit l'extrait compact du référentiel des collectivités livré avec opsn.

Source : le paquet npm ``@etalab/decoupage-administratif`` (données sous Licence
Ouverte, code MIT). Le script télécharge le paquet avec ``npm pack``, lit
``data/communes.json`` et ``data/epci.json`` et écrit dans
``src/opsn/data/referentiel/`` :

- ``communes.csv`` : communes actuelles (type ``commune-actuelle`` seulement) ;
- ``epci.csv`` : EPCI à fiscalité propre et leurs communes membres ;
- ``millesime.json`` : paquet, version, millésime, années de recensement ;
- ``SOURCE.md`` : provenance, licence, mode de mise à jour ;
- ``populations.csv``, ``epci_appartenance.csv``, ``epci_populations.csv`` : populations
  légales et périmètres des EPCI de chaque année de facturation (R4, R6), tirés de
  plusieurs versions du paquet (voir ``millesimes.py``).

Le résultat est déterministe (lignes triées, pas de date de génération) : relancer
le script sur la même version donne des fichiers identiques octet pour octet.

Usage ::

    python3 -m uv run python scripts/referentiel/construire_extrait.py [--version 6.0.0]

Les versions des millésimes (``millesimes.RECENSEMENTS`` et ``PERIMETRES``) sont
téléchargées aussi ; ``--sans-millesimes`` ne refait que l'extrait d'une version.

Pour un nouveau millésime, ajouter une entrée à ``MILLESIMES`` (ou passer
``--millesime``, ``--recensement-epci`` et ``--recensement-communes``) après avoir
vérifié les années de recensement dans le README du paquet et les sources DGCL/INSEE.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import millesimes  # module voisin : le dossier scripts n'est pas un paquet

PAQUET = "@etalab/decoupage-administratif"
RACINE = Path(__file__).resolve().parents[2]
SORTIE = RACINE / "src" / "opsn" / "data" / "referentiel"
FORMAT = 1


@dataclass(frozen=True)
class Millesime:
    annee: str
    recensement_epci: int
    recensement_communes: int


# Années déduites pour chaque version connue (voir SOURCE.md pour le raisonnement).
MILLESIMES: dict[str, Millesime] = {
    "6.0.0": Millesime(annee="2026", recensement_epci=2022, recensement_communes=2023),
}

COLONNES_COMMUNES = [
    "insee",
    "nom",
    "departement",
    "siren",
    "codes_postaux",
    "population_totale",
    "population_municipale",
    "annee_population",
    "epci_siren",
]
COLONNES_EPCI = [
    "siren",
    "nom",
    "nature",
    "population_totale",
    "population_municipale",
    "membres",
]


def telecharger(version: str, dossier: Path) -> Path:
    """Télécharge et décompresse le paquet npm ; renvoie le dossier ``package``."""
    return telecharger_avec_empreinte(version, dossier)[0]


def telecharger_avec_empreinte(version: str, dossier: Path) -> tuple[Path, dict[str, str]]:
    """Comme :func:`telecharger`, avec les empreintes de l'archive données par le registre
    (``shasum`` : SHA-1, ``integrity`` : SHA-512)."""
    dossier.mkdir(parents=True, exist_ok=True)
    resultat = subprocess.run(
        ["npm", "pack", f"{PAQUET}@{version}", "--json"],
        cwd=dossier,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(resultat.stdout)[0]
    with tarfile.open(dossier / info["filename"]) as archive:
        archive.extractall(dossier, filter="data")
    return dossier / "package", {"shasum": info["shasum"], "integrity": info["integrity"]}


def _texte(valeur: object) -> str:
    return "" if valeur is None else str(valeur)


def construire(paquet: Path, millesime: Millesime) -> tuple[str, str, dict]:
    """Renvoie le contenu de communes.csv, epci.csv et les statistiques de l'extrait."""
    communes = json.loads((paquet / "data" / "communes.json").read_text(encoding="utf-8"))
    epcis = json.loads((paquet / "data" / "epci.json").read_text(encoding="utf-8"))

    actuelles = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
    membres_epci: dict[str, tuple[str, dict]] = {}
    for epci in epcis:
        for membre in epci["membres"]:
            if membre["code"] in membres_epci:
                raise SystemExit(f"commune {membre['code']} membre de deux EPCI")
            if membre["code"] not in actuelles:
                raise SystemExit(f"membre {membre['code']} absent des communes actuelles")
            membres_epci[membre["code"]] = (epci["code"], membre)

    sortie_communes = io.StringIO()
    ecrivain = csv.writer(sortie_communes, delimiter=";", lineterminator="\n")
    ecrivain.writerow(COLONNES_COMMUNES)
    hors_epci = 0
    sans_population = 0
    for code in sorted(actuelles):
        commune = actuelles[code]
        if code in membres_epci:
            epci_siren, membre = membres_epci[code]
            # Totale et municipale viennent du même fichier (DGCL) : même recensement.
            totale = membre["populationTotale"]
            municipale = membre["populationMunicipale"]
            annee = millesime.recensement_epci
        else:
            hors_epci += 1
            epci_siren = ""
            totale = None
            municipale = commune.get("population")
            # Les collectivités d'outre-mer (zone « com ») ont des recensements propres.
            annee = millesime.recensement_communes if commune["zone"] != "com" else None
            if municipale is None:
                annee = None
                sans_population += 1
        ecrivain.writerow(
            [
                code,
                commune["nom"],
                commune["departement"],
                _texte(commune.get("siren")),
                "|".join(sorted(commune.get("codesPostaux", []))),
                _texte(totale),
                _texte(municipale),
                _texte(annee),
                epci_siren,
            ]
        )

    sortie_epci = io.StringIO()
    ecrivain = csv.writer(sortie_epci, delimiter=";", lineterminator="\n")
    ecrivain.writerow(COLONNES_EPCI)
    natures: dict[str, int] = {}
    for epci in sorted(epcis, key=lambda e: e["code"]):
        natures[epci["type"]] = natures.get(epci["type"], 0) + 1
        ecrivain.writerow(
            [
                epci["code"],
                epci["nom"],
                epci["type"],
                epci["populationTotale"],
                epci["populationMunicipale"],
                "|".join(sorted(m["code"] for m in epci["membres"])),
            ]
        )

    stats = {
        "communes": len(actuelles),
        "communes_hors_epci": hors_epci,
        "communes_sans_population": sans_population,
        "epci": len(epcis),
        "natures_epci": dict(sorted(natures.items())),
    }
    return sortie_communes.getvalue(), sortie_epci.getvalue(), stats


SOURCE_MD = """\
# Référentiel des collectivités : provenance

Fichiers générés par `scripts/referentiel/construire_extrait.py` : ne pas les
modifier à la main.

- **Source** : paquet npm `{paquet}` version **{version}**
  (millésime **{annee}** selon le README du paquet),
  <https://github.com/datagouv/decoupage-administratif>.
- **Licence** : données sous [Licence Ouverte](https://www.etalab.gouv.fr/licence-ouverte-open-licence)
  (Etalab) ; code du paquet sous licence MIT. Sources amont : Code officiel
  géographique (INSEE), liste et composition des EPCI à fiscalité propre (DGCL),
  populations légales (INSEE), base officielle des codes postaux (La Poste).
- **Contenu** : {communes} communes actuelles (`communes.csv`, type
  `commune-actuelle` seulement : arrondissements municipaux, communes déléguées
  et associées exclus) et {epci} EPCI à fiscalité propre (`epci.csv`).
  Natures : {natures} ; `MET69` est la Métropole de Lyon, gardée telle que
  la source l'écrit.

## Populations et années

- `epci.json` (fichier DGCL) donne pour chaque commune membre la population
  **totale** et la population **municipale** ; `communes.csv` reprend ces deux
  chiffres, qui viennent du même recensement. Année retenue : **{rec_epci}**
  (populations légales millésime {rec_epci}, en vigueur au 1er janvier {vig_epci}).
- `communes.json` ne donne que la population **municipale**, d'un recensement
  plus récent : **{rec_com}** (en vigueur au 1er janvier {vig_com}). Elle n'est
  utilisée que pour les {hors_epci} communes hors EPCI, dont la population
  totale reste **vide** (la source ne la donne pas). Pour les collectivités
  d'outre-mer (départements 975 à 989) l'année de recensement n'est pas connue :
  `annee_population` est vide. {sans_pop} communes n'ont aucune population
  (Terres australes et antarctiques, Clipperton).
- Les fichiers JSON ne portent pas l'année : elle est **déduite**. Les chiffres
  municipaux de `epci.json` ({version}) sont identiques à ceux de
  `communes.json` de la version 4.1.0, dont le README renvoie à la page INSEE
  des populations légales publiées fin 2024 (millésime 2022, page 8290591) ; le
  README de la version {version} renvoie à celle de fin 2025 (millésime 2023,
  page 8680726). Déduction faite sans accès aux pages INSEE : à vérifier, et à
  refaire à chaque nouveau millésime.
- Chaque chiffre chargé par `opsn.referentiel` garde le millésime du
  référentiel (`millesime`) et l'année de recensement (`annee_population`).

## Mettre à jour (nouveau millésime)

1. Lire le tableau « Millésimes et versions de package » du README du paquet
   et ses liens vers les sources INSEE/DGCL pour fixer les années.
2. Ajouter la version dans `MILLESIMES` du script (ou passer `--millesime`,
   `--recensement-epci`, `--recensement-communes`).
3. Lancer `python3 -m uv run python scripts/referentiel/construire_extrait.py --version X.Y.Z`
   (il faut `npm` et l'accès au registre npm), puis
   `python3 -m uv run pytest tests/referentiel` et adapter les chiffres attendus.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="6.0.0", help="version du paquet npm")
    parser.add_argument("--millesime", help="millésime (année) du référentiel")
    parser.add_argument("--recensement-epci", type=int, help="année de recensement (EPCI)")
    parser.add_argument("--recensement-communes", type=int, help="année de recensement (communes)")
    parser.add_argument("--sortie", type=Path, default=SORTIE, help="dossier de sortie")
    parser.add_argument(
        "--sans-millesimes",
        action="store_true",
        help="ne pas refaire les millésimes par année (populations.csv…)",
    )
    args = parser.parse_args(argv)

    millesime = MILLESIMES.get(args.version)
    if args.millesime or args.recensement_epci or args.recensement_communes:
        if not (args.millesime and args.recensement_epci and args.recensement_communes):
            parser.error("--millesime, --recensement-epci et --recensement-communes vont ensemble")
        millesime = Millesime(args.millesime, args.recensement_epci, args.recensement_communes)
    if millesime is None:
        parser.error(
            f"version {args.version} inconnue : indiquez --millesime, --recensement-epci "
            "et --recensement-communes"
        )

    fichiers_millesimes: dict[str, str] = {}
    description: dict | None = None
    paquets: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as temporaire:
        paquet, empreinte = telecharger_avec_empreinte(args.version, Path(temporaire) / "principal")
        version_lue = json.loads((paquet / "package.json").read_text(encoding="utf-8"))["version"]
        communes_csv, epci_csv, stats = construire(paquet, millesime)
        if not args.sans_millesimes:
            dossiers: dict[str, Path] = {}
            for version in millesimes.versions_utiles():
                if version == version_lue:
                    dossiers[version], paquets[version] = paquet, empreinte
                    continue
                dossiers[version], paquets[version] = telecharger_avec_empreinte(
                    version, Path(temporaire) / version
                )
            fichiers_millesimes, description = millesimes.construire_millesimes(
                millesimes.lecteur_dossiers(dossiers)
            )
        elif (args.sortie / "millesime.json").exists():
            # Garder la description des millésimes déjà livrés.
            ancien = json.loads((args.sortie / "millesime.json").read_text(encoding="utf-8"))
            description = ancien.get("millesimes")
            paquets = ancien.get("paquets_millesimes", {})

    args.sortie.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "paquet": PAQUET,
        "version": version_lue,
        "millesime": millesime.annee,
        "recensement_epci": millesime.recensement_epci,
        "recensement_communes": millesime.recensement_communes,
        "licence": "Licence Ouverte (Etalab) pour les données ; MIT pour le code du paquet",
        **empreinte,
        **stats,
    }
    if description is not None:
        meta["millesimes"] = description
        meta["paquets_millesimes"] = dict(sorted(paquets.items()))
    for nom, contenu in fichiers_millesimes.items():
        (args.sortie / nom).write_text(contenu, encoding="utf-8", newline="")
    (args.sortie / "communes.csv").write_text(communes_csv, encoding="utf-8", newline="")
    (args.sortie / "epci.csv").write_text(epci_csv, encoding="utf-8", newline="")
    (args.sortie / "millesime.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    natures = ", ".join(f"{n} {k}" for k, n in stats["natures_epci"].items())
    (args.sortie / "SOURCE.md").write_text(
        SOURCE_MD.format(
            paquet=PAQUET,
            version=version_lue,
            annee=millesime.annee,
            communes=stats["communes"],
            epci=stats["epci"],
            natures=natures,
            rec_epci=millesime.recensement_epci,
            vig_epci=millesime.recensement_epci + 3,
            rec_com=millesime.recensement_communes,
            vig_com=millesime.recensement_communes + 3,
            hors_epci=stats["communes_hors_epci"],
            sans_pop=stats["communes_sans_population"],
        )
        + (millesimes.source_md(description, paquets) if description is not None else ""),
        encoding="utf-8",
    )
    print(
        f"Extrait écrit dans {args.sortie} : {stats['communes']} communes, "
        f"{stats['epci']} EPCI ({PAQUET}@{version_lue}, millésime {millesime.annee})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
