"""Import des organismes : tout ou rien, messages localisés, réimport sans doublon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from opsn.referentiel import (
    ImportRefuse,
    Organisme,
    Referentiel,
    ReferentielError,
    importer_organismes,
)

RACINE = Path(__file__).resolve().parents[2]
ENTETE = "identifiant;nom;type;agents;parent;population_desservie;siren"
BON = [
    ENTETE,
    "CCAS-33498;CCAS de Salles;ccas;6;33498;;",
    "SIAEP-VDE;Syndicat des eaux du Val de l'Eyre;syndicat;12;243301405;22767;",
    "BA-EAU-SALLES;Budget annexe de l'eau de Salles;budget_annexe;2;213304983;;",
    "EP-CCAS-ANNEXE;Résidence autonomie du CCAS;etablissement_public;9;CCAS-33498;;",
]


def ecrire(dossier: Path, lignes: list[str], nom: str = "organismes.csv") -> Path:
    chemin = dossier / nom
    chemin.write_text("\n".join(lignes) + "\n", encoding="utf-8")
    return chemin


def erreurs_de(chemin: Path) -> list[str]:
    with pytest.raises(ImportRefuse) as exc:
        importer_organismes(chemin)
    return exc.value.erreurs


def test_import_reussi_puis_reimport_idempotent(tmp_path: Path, donnees: Path) -> None:
    fichier = ecrire(tmp_path, BON)
    bilan = importer_organismes(fichier)
    assert len(bilan.crees) == 4
    assert (bilan.mis_a_jour, bilan.inchanges) == ((), ())
    assert bilan.destination == donnees / "organismes.json"
    assert "4 organismes créés, 0 mis à jour, 0 inchangé" in bilan.resume()

    contenu = (donnees / "organismes.json").read_text(encoding="utf-8")
    bilan = importer_organismes(fichier)
    assert (bilan.crees, bilan.mis_a_jour, len(bilan.inchanges)) == ((), (), 4)
    assert (donnees / "organismes.json").read_text(encoding="utf-8") == contenu
    assert len(json.loads(contenu)["organismes"]) == 4

    referentiel = Referentiel.charger()
    assert referentiel.organisme("CCAS-33498") == Organisme(
        identifiant="CCAS-33498",
        nom="CCAS de Salles",
        type="ccas",
        agents=6,
        parent="33498",
        population_desservie=None,
        siren=None,
    )
    assert referentiel.par_code("SIAEP-VDE").population_desservie == 22767
    # INSEE et SIREN de Salles désignent la même commune.
    assert [o.identifiant for o in referentiel.organismes_rattaches("33498")] == [
        "BA-EAU-SALLES",
        "CCAS-33498",
    ]
    assert [o.identifiant for o in referentiel.organismes_rattaches("213304983")] == [
        "BA-EAU-SALLES",
        "CCAS-33498",
    ]
    assert [o.identifiant for o in referentiel.organismes_rattaches("CCAS-33498")] == [
        "EP-CCAS-ANNEXE"
    ]
    assert referentiel.departements(referentiel.organisme("EP-CCAS-ANNEXE")) == {"33"}
    assert referentiel.chercher("ccas de salles")[0].identifiant == "CCAS-33498"


def test_reimport_modifie_met_a_jour_sans_doublon(tmp_path: Path, donnees: Path) -> None:
    importer_organismes(ecrire(tmp_path, BON))
    modifie = [ENTETE, "CCAS-33498;CCAS de Salles;ccas;8;33498;;", "NOUVEAU;SIVU;syndicat;0;;;"]
    bilan = importer_organismes(ecrire(tmp_path, modifie, "suite.csv"))
    assert (bilan.crees, bilan.mis_a_jour) == (("NOUVEAU",), ("CCAS-33498",))
    referentiel = Referentiel.charger()
    assert len(referentiel.organismes()) == 5
    assert referentiel.organisme("CCAS-33498").agents == 8
    assert referentiel.organisme("NOUVEAU").parent is None


def test_separateur_virgule_bom_et_siren(tmp_path: Path, donnees: Path) -> None:
    chemin = tmp_path / "virgules.csv"
    chemin.write_text(
        "\ufeffIdentifiant,Nom,Type,Agents,Parent,Population desservie,SIREN\n"
        '253300000,"Syndicat mixte, test",Syndicat,15,33063,,\n'
        "LOCAL-1,Établissement public local,établissement public,3,253300000,,\n",
        encoding="utf-8",
    )
    bilan = importer_organismes(chemin)
    assert len(bilan.crees) == 2
    referentiel = Referentiel.charger()
    syndicat = referentiel.par_code("253300000")
    assert (syndicat.nom, syndicat.type, syndicat.siren) == (
        "Syndicat mixte, test",
        "syndicat",
        "253300000",
    )
    assert referentiel.organisme("LOCAL-1").type == "etablissement_public"


def test_modele_livre_s_importe(donnees: Path) -> None:
    bilan = importer_organismes(RACINE / "docs" / "modeles" / "organismes.csv")
    assert len(bilan.crees) >= 3


def test_fichier_faux_refuse_en_entier(tmp_path: Path, donnees: Path) -> None:
    lignes = [
        ENTETE,
        "CCAS-33498;CCAS de Salles;ccas;6;33498;;",
        "SYND-1;Syndicat 1;syndicat;4;33999;;",
        "EP-1;Établissement 1;etablissement_public;-3;33063;;",
        "CCAS-33498;Doublon;ccas;1;33498;;",
        "BA-1;Budget 1;mairie;2;33063;;",
        "BA-2;Budget 2;budget_annexe;2,5;33063;;",
        "BA-3;Budget 3;budget_annexe;;33063;abc;123",
    ]
    assert erreurs_de(ecrire(tmp_path, lignes)) == [
        "organismes.csv, ligne 3, colonne « parent » : « 33999 » ne correspond à aucune commune, "
        "aucun EPCI ni aucun organisme connu (code INSEE, SIREN ou identifiant d'un organisme "
        "attendu).",
        "organismes.csv, ligne 4, colonne « agents » : « -3 » n'est pas un nombre d'agents valide "
        "(entier positif ou nul attendu).",
        "organismes.csv, ligne 5, colonne « identifiant » : « CCAS-33498 » figure déjà ligne 2 : "
        "chaque identifiant doit être unique dans le fichier.",
        "organismes.csv, ligne 6, colonne « type » : « mairie » n'est pas un type d'organisme "
        "reconnu (valeurs possibles : syndicat, ccas, etablissement_public, budget_annexe).",
        "organismes.csv, ligne 7, colonne « agents » : « 2,5 » n'est pas un nombre d'agents valide "
        "(entier positif ou nul attendu).",
        "organismes.csv, ligne 8, colonne « agents » : valeur manquante (nombre d'agents, entier "
        "positif ou nul).",
        "organismes.csv, ligne 8, colonne « population_desservie » : « abc » n'est pas une "
        "population valide (entier positif ou nul attendu, ou case vide).",
        "organismes.csv, ligne 8, colonne « siren » : « 123 » n'est pas un SIREN valide "
        "(9 chiffres attendus, ou case vide).",
    ]
    assert not donnees.exists()


def test_parent_inconnu_seul(tmp_path: Path, donnees: Path) -> None:
    lignes = [ENTETE, "CCAS-X;CCAS;ccas;1;33063;;", "SYND-X;Syndicat;syndicat;1;INCONNU;;"]
    assert erreurs_de(ecrire(tmp_path, lignes)) == [
        "organismes.csv, ligne 3, colonne « parent » : « INCONNU » ne correspond à aucune "
        "commune, aucun EPCI ni aucun organisme connu (code INSEE, SIREN ou identifiant d'un "
        "organisme attendu).",
    ]
    assert not (donnees / "organismes.json").exists()


def test_refus_ne_touche_pas_un_import_precedent(tmp_path: Path, donnees: Path) -> None:
    importer_organismes(ecrire(tmp_path, BON))
    avant = (donnees / "organismes.json").read_bytes()
    faux = [ENTETE, "CCAS-33498;CCAS de Salles;ccas;99;33498;;", "X;X;ccas;-1;33498;;"]
    erreurs_de(ecrire(tmp_path, faux, "faux.csv"))
    assert (donnees / "organismes.json").read_bytes() == avant
    assert [p.name for p in donnees.iterdir()] == ["organismes.json"]


def test_colonne_obligatoire_absente(tmp_path: Path, donnees: Path) -> None:
    lignes = ["identifiant;nom;type;parent", "CCAS-1;CCAS;ccas;33063"]
    assert erreurs_de(ecrire(tmp_path, lignes)) == [
        "organismes.csv, ligne 1, colonne « agents » : colonne obligatoire absente (colonnes "
        "attendues : identifiant, nom, type, agents, parent ; facultatives : "
        "population_desservie, siren).",
    ]
    assert not donnees.exists()


def test_identifiant_deja_pris_par_une_collectivite(tmp_path: Path, donnees: Path) -> None:
    lignes = [ENTETE, "33063;Faux;ccas;1;33063;;", "243301405;Faux EPCI;syndicat;1;;;"]
    assert erreurs_de(ecrire(tmp_path, lignes)) == [
        "organismes.csv, ligne 2, colonne « identifiant » : « 33063 » désigne déjà la commune "
        "Bordeaux (33063) dans le référentiel : choisissez un autre identifiant.",
        "organismes.csv, ligne 3, colonne « identifiant » : « 243301405 » désigne déjà l'EPCI "
        "CC du Val de l'Eyre (243301405) dans le référentiel : choisissez un autre identifiant.",
    ]


def test_lignes_vides_ignorees_mais_comptees(tmp_path: Path, donnees: Path) -> None:
    lignes = [ENTETE, "", "CCAS-1;CCAS;ccas;-1;33063;;"]
    assert erreurs_de(ecrire(tmp_path, lignes)) == [
        "organismes.csv, ligne 3, colonne « agents » : « -1 » n'est pas un nombre d'agents valide "
        "(entier positif ou nul attendu).",
    ]


@pytest.mark.parametrize(
    ("nom", "contenu", "message"),
    [
        ("vide.csv", b"", "vide.csv : fichier vide"),
        ("entete.csv", ENTETE.encode() + b"\n", "entete.csv : aucune ligne d'organisme"),
        ("latin1.csv", (ENTETE + "\nX;Crèche;ccas;1;33063;;\n").encode("latin-1"), "UTF-8"),
        ("organismes.ods", b"x", "format non pris en charge"),
    ],
)
def test_fichiers_illisibles(
    tmp_path: Path, donnees: Path, nom: str, contenu: bytes, message: str
) -> None:
    chemin = tmp_path / nom
    chemin.write_bytes(contenu)
    with pytest.raises(ReferentielError, match=message):
        importer_organismes(chemin)
    assert not donnees.exists()


def test_fichier_introuvable(tmp_path: Path, donnees: Path) -> None:
    with pytest.raises(ReferentielError, match=r"absent\.csv : fichier introuvable"):
        importer_organismes(tmp_path / "absent.csv")


def _xlsx(chemin: Path, lignes: list[list[object]]) -> Path:
    classeur = Workbook()
    feuille = classeur.active
    feuille.title = "Organismes"
    for ligne in lignes:
        feuille.append(ligne)
    classeur.save(chemin)
    return chemin


COLONNES_XLSX = ["identifiant", "nom", "type", "agents", "parent", "population_desservie", "siren"]


def test_xlsx_valide(tmp_path: Path, donnees: Path) -> None:
    chemin = _xlsx(
        tmp_path / "organismes.xlsx",
        [
            COLONNES_XLSX,
            ["CCAS-01001", "CCAS de L'Abergement", "ccas", 2, 1001, None, None],
            ["SIVOM-1", "SIVOM", "syndicat", 5.0, "243301405", 1200, None],
        ],
    )
    bilan = importer_organismes(chemin)
    assert len(bilan.crees) == 2
    referentiel = Referentiel.charger()
    assert referentiel.organisme("CCAS-01001").parent == "01001"  # zéro de tête rétabli
    assert referentiel.organisme("SIVOM-1").agents == 5


def test_xlsx_faux_refuse(tmp_path: Path, donnees: Path) -> None:
    chemin = _xlsx(
        tmp_path / "organismes.xlsx",
        [
            COLONNES_XLSX,
            ["CCAS-1", "CCAS", "ccas", 2, "33063", None, None],
            ["CCAS-2", "CCAS bis", "ccas", -3, "33063", None, None],
            ["CCAS-1", "CCAS ter", "ccas", 1.5, "33999", None, None],
        ],
    )
    assert erreurs_de(chemin) == [
        "organismes.xlsx, ligne 3, colonne « agents » : « -3 » n'est pas un nombre d'agents "
        "valide (entier positif ou nul attendu).",
        "organismes.xlsx, ligne 4, colonne « identifiant » : « CCAS-1 » figure déjà ligne 2 : "
        "chaque identifiant doit être unique dans le fichier.",
        "organismes.xlsx, ligne 4, colonne « agents » : « 1.5 » n'est pas un nombre d'agents "
        "valide (entier positif ou nul attendu).",
        "organismes.xlsx, ligne 4, colonne « parent » : « 33999 » ne correspond à aucune "
        "commune, aucun EPCI ni aucun organisme connu (code INSEE, SIREN ou identifiant d'un "
        "organisme attendu).",
    ]
    assert not donnees.exists()


def test_dossier_par_defaut_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSN_DONNEES", raising=False)
    monkeypatch.chdir(tmp_path)
    bilan = importer_organismes(ecrire(tmp_path, BON))
    assert bilan.destination == tmp_path / "var" / "organismes.json"
    assert len(Referentiel.charger().organismes()) == 4
