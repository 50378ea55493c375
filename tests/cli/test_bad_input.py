"""Chaque commande `opsn`, nourrie d'entrées invalides : un message français, un code de
sortie non nul, jamais de trace Python.

Les commandes sont découvertes dans l'application Typer : une commande ajoutée sans cas
d'entrée invalide fait échouer `test_every_command_has_bad_input_cases`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from opsn.cli import app

ROOT = Path(__file__).resolve().parents[2]
P01 = ROOT / "tests" / "acceptance" / "P01.yaml"
P06 = ROOT / "tests" / "acceptance" / "P06.yaml"
P07 = ROOT / "tests" / "acceptance" / "P07.yaml"


def command_paths() -> set[tuple[str, ...]]:
    """Toutes les commandes feuilles de `opsn` (groupes parcourus)."""
    found: set[tuple[str, ...]] = set()

    def walk(command: object, prefix: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):  # un groupe (Click est embarqué par Typer)
            for name, sub in command.commands.items():
                walk(sub, (*prefix, name))
        else:
            found.add(prefix)

    walk(typer.main.get_command(app), ())
    return found


# -- fichiers d'entrée invalides ------------------------------------------------------------


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def deep_yaml(folder: Path) -> str:
    return str(_write(folder, "profond.yaml", "catalogue: " + "[" * 5000 + "]" * 5000 + "\n"))


def scenario_with(old: str, new: str, source: Path = P01) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        text = source.read_text(encoding="utf-8")
        assert old in text, old
        return str(_write(folder, "scenario.yaml", text.replace(old, new, 1)))

    return make


def catalogue_with_huge_price(folder: Path) -> str:
    source = ROOT / "src" / "opsn" / "data" / "catalogues" / "cdg82" / "2020.yaml"
    text = source.read_text(encoding="utf-8")
    marker = 'montant: "'
    assert marker in text
    head, _, tail = text.partition(marker)
    tail = tail.split('"', 1)[1]
    target = folder / "cdg82"
    target.mkdir()
    return str(_write(target, "2020.yaml", f"{head}montant: 1e400{tail}"))


def conventions_csv(row: str) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        header = "adherent;reference;signature;service;quantites;debut;siret\n"
        return str(_write(folder, "conventions.csv", header + row + "\n"))

    return make


def organismes_csv(row: str) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        header = "identifiant;nom;type;agents;parent;population_desservie;siren\n"
        return str(_write(folder, "organismes.csv", header + row + "\n"))

    return make


def a_directory(folder: Path) -> str:
    return str(folder)


def under_a_file(name: str) -> Callable[[Path], str]:
    """Un chemin dont le « dossier » parent est un fichier : impossible à créer ou écrire,
    même pour root."""

    def make(folder: Path) -> str:
        blocker = _write(folder, "bloqueur", "")
        return str(blocker / name)

    return make


# -- les cas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Une invocation invalide : `{x}` dans un argument est remplacé par `files[x](tmp_path)`."""

    args: tuple[str, ...]
    expected: str
    files: dict[str, Callable[[Path], str]] = field(default_factory=dict)
    exit_code: int = 1
    db: bool = False
    env: dict[str, Callable[[Path], str]] = field(default_factory=dict)


YEARS = ("0", "-5", "99999")
CDG82 = ("--operateur", "cdg82")


def bad_years(*command: str) -> list[Case]:
    """Années 0, -5 et 99999 pour une commande qui prend --annee et --operateur."""
    return [Case((*command, "--annee", y, *CDG82), "hors limites") for y in YEARS]


IMPORT = ("conventions", "importer", "{f}", "--operateur", "cdg82", "--utilisateur", "admin")
AVOIR = ("factures", "avoir", "F-1", "--operateur", "cdg82", "--motif", "x")

CASES: dict[tuple[str, ...], list[Case]] = {
    ("simuler",): [
        Case(("simuler", "{d}"), "c'est un dossier", {"d": a_directory}),
        Case(("simuler", "{f}"), "YAML trop imbriqué", {"f": deep_yaml}),
        Case(("simuler", "inexistant.yaml"), "fichier introuvable"),
        Case(
            ("simuler", "{f}"),
            "hors limites",
            {"f": scenario_with("quantite: 3", "quantite: 1e400", P06)},
        ),
        Case(
            ("simuler", "{f}"),
            "n'est pas une date",
            {"f": scenario_with("signature: 2018-01-01", "signature: 2018-02-30")},
        ),
        Case(
            ("simuler", "{f}"),
            "hors limites",
            {"f": scenario_with("population: 850", "population: 10000000000000")},
        ),
        Case(
            ("simuler", "{f}"),
            "hors limites",
            {"f": scenario_with("jours: 2", "jours: 99999", P07)},
        ),
        *(Case(("simuler", str(P01), "--annee", y), "hors limites") for y in YEARS),
        Case(("simuler", str(P01), "--format", "xml"), "format « xml » inconnu"),
    ],
    ("catalogue", "lister"): [
        Case(("catalogue", "lister", "inattendu"), "en trop : inattendu", exit_code=2),
    ],
    ("catalogue", "verifier"): [
        Case(("catalogue", "verifier", "{d}"), "hors limites", {"d": catalogue_with_huge_price}),
        Case(("catalogue", "verifier", "{f}"), "YAML trop imbriqué", {"f": deep_yaml}),
        Case(("catalogue", "verifier", "inexistant"), "introuvable"),
    ],
    ("catalogue", "comparer"): [
        Case(("catalogue", "comparer", "cdg99"), "inconnu"),
        Case(("catalogue", "comparer", "cdg47", "--population", "99999999999"), "hors limites"),
        Case(("catalogue", "comparer", "cdg47", "--agents", str(10**40)), "hors limites"),
        Case(
            ("catalogue", "comparer", "cdg47", "--population", "1200", "--html", "{f}"),
            "impossible d'écrire",
            {"f": under_a_file("comparatif.html")},
        ),
    ],
    ("referentiel", "chercher"): [
        Case(("referentiel", "chercher", "bordeaux", "--departement", "zz"), "invalide"),
        Case(("referentiel", "chercher", "x" * 500), "trop long"),
    ],
    ("referentiel", "afficher"): [
        Case(("referentiel", "afficher", "99999"), "inconnu"),
        Case(("referentiel", "afficher", "'; DROP TABLE gestion_member; --"), "inconnu"),
    ],
    ("referentiel", "millesimes"): [
        Case(("referentiel", "millesimes", "--annee", "99999", "--code", "82023"), "--annee"),
        Case(("referentiel", "millesimes", "--annee", "2022"), "vont ensemble"),
        Case(("referentiel", "millesimes", "--annee", "2022", "--code", "x" * 300), "ni un code"),
    ],
    ("referentiel", "importer"): [
        Case(("referentiel", "importer", "{d}"), "c'est un dossier", {"d": a_directory}),
        Case(
            ("referentiel", "importer", "{f}"),
            "colonne « agents » : « 1E+40 » est hors limites",
            {"f": organismes_csv(f"SYN-1;Syndicat;syndicat;{10**40};;;")},
        ),
        Case(
            ("referentiel", "importer", "{f}"),
            "colonne « siren »",
            {"f": organismes_csv("SYN-1;Syndicat;syndicat;3;;;" + "1" * 58)},
        ),
        Case(
            ("referentiel", "importer", "{f}"),
            "cellule trop longue",
            {"f": organismes_csv("SYN-1;" + "x" * 200_000 + ";syndicat;3;;;")},
        ),
        Case(
            ("referentiel", "importer", "{f}"),
            "Import impossible",
            {"f": organismes_csv("SYN-1;Syndicat;syndicat;3;;;")},
            env={"OPSN_DONNEES": under_a_file("donnees")},
        ),
    ],
    ("conventions", "importer"): [
        Case(
            ("conventions", "importer", "{d}", "--operateur", "cdg82", "--utilisateur", "admin"),
            "c'est un dossier",
            {"d": a_directory},
            db=True,
        ),
        *(
            Case(
                (
                    "conventions",
                    "importer",
                    "{f}",
                    "--operateur",
                    "cdg82",
                    "--utilisateur",
                    "admin",
                ),
                expected,
                {"f": conventions_csv(row)},
                db=True,
            )
            for row, expected in (
                ("82121;I-1;2019-06-15;assistance_srb;postes_n1=1e400;;", "hors limites"),
                (f"82121;I-1;2019-06-15;assistance_srb;postes_n1={10**29};;", "hors limites"),
                ("82121;I-1;2019-02-30;assistance_srb;postes_n1=1;;", "n'est pas une date"),
                ("82121;I-1;9999-12-31;assistance_srb;postes_n1=1;;", "hors limites"),
                ("82121;I-1;2019-06-15;assistance_srb;postes_n1=1;;" + "1" * 58, "SIRET"),
                ("82121;" + "R" * 61 + ";2019-06-15;assistance_srb;postes_n1=1;;", "61 carac"),
            )
        ),
        Case(
            ("conventions", "importer", "x.csv", "--operateur", "cdg99", "--utilisateur", "admin"),
            "opérateur « cdg99 » inconnu",
            db=True,
        ),
    ],
    ("facturer",): [
        *(Case(("facturer", "--annee", y), "hors limites") for y in YEARS),
        Case(("facturer", "--annee", "2024", "--date-emission", "2023-02-30"), "pas une date"),
        Case(("facturer", "--annee", "2024", "--format", "xml"), "format « xml » inconnu"),
        Case(("facturer", "--annee", "2024", "--operateur", "cdg99"), "inconnu", db=True),
    ],
    ("factures", "pdf"): [
        *bad_years("factures", "pdf"),
        Case(
            ("factures", "pdf", "--annee", "2024", *CDG82, "--processus", "999"),
            "hors limites",
        ),
        Case(
            ("factures", "pdf", "--annee", "2024", *CDG82, "--dossier", "{f}"),
            "impossible de créer le dossier",
            {"f": under_a_file("factures")},
            db=True,
        ),
    ],
    ("factures", "titres"): [
        *bad_years("factures", "titres"),
        Case(
            ("factures", "titres", "--annee", "2024", *CDG82, "--sortie", "{f}"),
            "impossible d'écrire",
            {"f": under_a_file("titres.csv")},
            db=True,
        ),
    ],
    ("factures", "avoir"): [
        Case(
            (*AVOIR, "--date-emission", "2023-02-30"),
            "pas une date",
        ),
        Case(
            AVOIR,
            "introuvable",
            db=True,
        ),
    ],
    ("evolution",): [
        *bad_years("evolution"),
        Case(
            ("evolution", "--annee", "2024", *CDG82, "--sortie", "{f}"),
            "impossible d'écrire",
            {"f": under_a_file("evolution.csv")},
            db=True,
        ),
    ],
    ("factures", "emettre"): [
        *bad_years("factures", "emettre"),
        Case(
            (
                "factures",
                "emettre",
                "--annee",
                "2024",
                "--operateur",
                "cdg82",
                "--date-emission",
                "2024-13-01",
            ),
            "pas une date",
        ),
    ],
    ("factures", "abandonner"): [
        *bad_years("factures", "abandonner"),
    ],
    ("factures", "verifier"): [
        Case(("factures", "verifier", "--operateur", "cdg99"), "inconnu", db=True),
    ],
    ("factures", "controler"): [
        *bad_years("factures", "controler"),
        Case(
            (
                "factures",
                "controler",
                "--annee",
                "2024",
                "--operateur",
                "cdg82",
                "--rapport",
                "{f}",
            ),
            "impossible d'écrire",
            {"f": under_a_file("rapport.txt")},
            db=True,
        ),
    ],
    ("factures", "pes"): [
        *bad_years("factures", "pes"),
        Case(
            ("factures", "pes", "--annee", "2024", *CDG82, "--date", "2023-02-30"),
            "pas une date",
        ),
    ],
    ("travailleur",): [Case(("travailleur", "--file", "inconnue", "--une-fois"), "inconnue")],
    ("demo",): [Case(("demo", "--port", "0"), "valeur invalide pour « --port »", exit_code=2)],
    ("serveur",): [
        Case(("serveur", "--port", "70000"), "valeur invalide pour « --port »", exit_code=2)
    ],
    ("coeur", "compiler"): [
        Case(
            ("coeur", "compiler"),
            "Dossier de cache inutilisable",
            env={"OPSN_CACHE": under_a_file("cache")},
        )
    ],
    ("coeur", "etat"): [Case(("coeur", "etat", "en-trop"), "argument(s) en trop", exit_code=2)],
    ("plateforme", "administrateur"): [
        Case(("plateforme", "administrateur", "a\x00b"), "Identifiant", db=True),
        Case(
            ("plateforme", "administrateur", "compte", "--courriel", "pas un courriel"),
            "n'est pas valide",
            db=True,
        ),
    ],
    ("plateforme", "administrateurs"): [
        Case(("plateforme", "administrateurs", "inattendu"), "en trop", exit_code=2)
    ],
    ("gerer",): [Case(("gerer", "nimportequoi"), "inconnue")],
}


def _all_cases() -> list[tuple[str, Case]]:
    return [
        (f"{' '.join(path)}-{i}", case)
        for path, cases in sorted(CASES.items())
        for i, case in enumerate(cases)
    ]


def test_every_command_has_bad_input_cases() -> None:
    discovered = command_paths()
    assert {("simuler",), ("facturer",), ("referentiel", "importer")} <= discovered
    missing = sorted(" ".join(p) for p in discovered - set(CASES))
    assert not missing, f"commandes sans cas d'entrée invalide : {missing}"
    assert all(CASES[p] for p in discovered)


@pytest.fixture
def cli_world(db, monkeypatch):
    """Catalogues livrés et un administrateur du CDG82 ; la base de test est déjà migrée."""
    import opsn.cli as cli_package
    from opsn.cli import base

    for module in [base, *vars(cli_package).values()]:
        if hasattr(module, "_migrate"):
            monkeypatch.setattr(module, "_migrate", lambda: None)
    from django.contrib.auth import get_user_model

    from opsn.gestion import services
    from opsn.gestion.models import Operator, Role, StaffMembership

    services.catalogues_load_shipped()
    user = get_user_model().objects.create_user("admin", password="x")
    StaffMembership.objects.create(
        user=user, operator=Operator.objects.get(code="cdg82"), role=Role.ADMIN
    )


def _invoke(case: Case, tmp_path: Path, monkeypatch) -> tuple[object, str]:
    values = {key: make(tmp_path) for key, make in case.files.items()}
    for key, make in case.env.items():
        monkeypatch.setenv(key, make(tmp_path))
    args = [a.format(**values) if "{" in a and values else a for a in case.args]
    result = CliRunner().invoke(app, args)
    return result, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("name", "case"), [c for c in _all_cases() if not c[1].db], ids=lambda v: v
)
def test_bad_input_gives_a_french_message_and_an_error_code(
    name: str, case: Case, tmp_path: Path, monkeypatch
) -> None:
    result, output = _invoke(case, tmp_path, monkeypatch)
    _check(result, output, case)


@pytest.mark.parametrize(("name", "case"), [c for c in _all_cases() if c[1].db], ids=lambda v: v)
def test_bad_input_with_a_database(
    name: str, case: Case, tmp_path: Path, monkeypatch, cli_world
) -> None:
    result, output = _invoke(case, tmp_path, monkeypatch)
    _check(result, output, case)


def _check(result, output: str, case: Case) -> None:
    # une exception non rattrapée arrive ici comme `result.exception` (pas SystemExit)
    assert isinstance(result.exception, SystemExit), (result.exception, output)
    assert result.exit_code == case.exit_code, output
    assert "Traceback" not in output
    assert case.expected in output, output


@pytest.mark.parametrize(
    "args",
    [
        ["simuler", "/"],
        ["facturer", "--annee", "99999"],
        ["simuler", str(P01), "--annee", "-5"],
    ],
    ids=" ".join,
)
def test_a_real_process_prints_no_traceback(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "opsn", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "Erreur" in proc.stderr
