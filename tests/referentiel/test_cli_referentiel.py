"""Commandes `opsn referentiel …` par le CliRunner de Typer."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opsn.cli import app

runner = CliRunner()


def test_chercher_table(donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "chercher", "saint", "emilion"])
    assert resultat.exit_code == 0, resultat.output
    premiere = resultat.stdout.splitlines()[2]
    for attendu in ("33394", "Saint-Émilion", "33", "1 736", "1 689", "RP 2022", "200035533"):
        assert attendu in premiere
    assert "référentiel 2026" in resultat.stdout


def test_chercher_departement_json(donnees: Path) -> None:
    resultat = runner.invoke(
        app,
        ["referentiel", "chercher", "Sainte-Colombe", "--departement", "33", "--format", "json"],
    )
    assert resultat.exit_code == 0, resultat.output
    donnees_json = json.loads(resultat.stdout)
    assert [(d["insee"], d["categorie"]) for d in donnees_json] == [("33390", "commune")]
    assert donnees_json[0]["epci"]["siren"] == donnees_json[0]["epci_siren"]
    assert donnees_json[0]["millesime"] == "2026"


def test_chercher_sans_resultat(donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "chercher", "zzzz"])
    assert resultat.exit_code == 0
    assert "Aucun résultat pour « zzzz »." in resultat.stdout


def test_afficher_epci_liste_ses_communes(donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "afficher", "243301405"])
    assert resultat.exit_code == 0, resultat.output
    sortie = resultat.stdout
    assert "CC du Val de l'Eyre" in sortie
    for nom, population in [
        ("Belin-Béliet", "6 314"),
        ("Le Barp", "5 796"),
        ("Lugos", "1 155"),
        ("Saint-Magne", "1 248"),
        ("Salles", "8 254"),
    ]:
        ligne = next(lg for lg in sortie.splitlines() if nom in lg)
        assert population in ligne


def test_afficher_commune_json(donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "afficher", "213300635", "--format", "json"])
    assert resultat.exit_code == 0, resultat.output
    bordeaux = json.loads(resultat.stdout)
    assert (bordeaux["insee"], bordeaux["epci"]["nom"]) == ("33063", "Bordeaux Métropole")
    assert bordeaux["annee_population"] == 2022


def test_afficher_commune_isolee(donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "afficher", "29083"])
    assert resultat.exit_code == 0
    assert "aucun (commune isolée)" in resultat.stdout


def test_afficher_code_inconnu(donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "afficher", "99999"])
    assert resultat.exit_code == 1
    assert "Code « 99999 » inconnu" in resultat.stderr


def test_importer_puis_afficher(tmp_path: Path, donnees: Path) -> None:
    fichier = tmp_path / "organismes.csv"
    fichier.write_text(
        "identifiant;nom;type;agents;parent\nCCAS-33498;CCAS de Salles;ccas;6;33498\n",
        encoding="utf-8",
    )
    resultat = runner.invoke(app, ["referentiel", "importer", str(fichier)])
    assert resultat.exit_code == 0, resultat.output
    assert "1 organisme créé, 0 mis à jour, 0 inchangé" in resultat.stdout
    resultat = runner.invoke(app, ["referentiel", "importer", str(fichier)])
    assert "0 organisme créé, 0 mis à jour, 1 inchangé" in resultat.stdout

    resultat = runner.invoke(app, ["referentiel", "afficher", "CCAS-33498"])
    assert resultat.exit_code == 0
    assert "Rattaché à             : Salles (33498)" in resultat.stdout
    resultat = runner.invoke(app, ["referentiel", "afficher", "33498"])
    assert "CCAS de Salles (CCAS-33498, CCAS, 6 agents)" in resultat.stdout


def test_importer_fichier_faux(tmp_path: Path, donnees: Path) -> None:
    fichier = tmp_path / "organismes.csv"
    fichier.write_text(
        "identifiant;nom;type;agents;parent\n"
        "A;A;ccas;1;33063\n"
        "B;B;ccas;1;33063\n"
        "C;C;ccas;-3;33063\n",
        encoding="utf-8",
    )
    resultat = runner.invoke(app, ["referentiel", "importer", str(fichier)])
    assert resultat.exit_code == 1
    assert resultat.stderr.splitlines() == [
        "organismes.csv, ligne 4, colonne « agents » : « -3 » n'est pas un nombre d'agents "
        "valide (entier positif ou nul attendu).",
        "Import refusé : 1 erreur, aucun organisme importé.",
    ]
    assert not donnees.exists()


def test_importer_fichier_introuvable(tmp_path: Path, donnees: Path) -> None:
    resultat = runner.invoke(app, ["referentiel", "importer", str(tmp_path / "absent.xlsx")])
    assert resultat.exit_code == 1
    assert "absent.xlsx : fichier introuvable" in resultat.stderr
