"""La ligne de commande telle qu'un utilisateur s'en sert : messages français, codes de sortie."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from opsn.cli import app
from opsn.core.catalogue import CATALOGUE_DIR

ROOT = Path(__file__).resolve().parents[2]
ACCEPTANCE = ROOT / "tests" / "acceptance"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_console_script_runs_a_simulation_in_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "opsn", "simuler", str(ACCEPTANCE / "P01.yaml"), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total_ttc"] == "979.54"


def test_table_output_shows_revision_explanation() -> None:
    result = run("simuler", str(ACCEPTANCE / "P01.yaml"))
    assert result.exit_code == 0
    assert "révisé SYNTEC" in result.stdout
    assert "979,54 €" in result.stdout


def test_unknown_service_names_file_line_and_key(tmp_path: Path) -> None:
    text = (ACCEPTANCE / "P04.yaml").read_text(encoding="utf-8").replace("rgpd_dpd", "rgpd")
    path = write(tmp_path, "faux.yaml", text)
    result = run("simuler", str(path))
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "service: rgpd" in s)
    assert f"faux.yaml, ligne {line}" in message
    assert "service « rgpd » absent du catalogue cdg82/2020" in message


def test_negative_quantity_is_refused(tmp_path: Path) -> None:
    text = (
        (ACCEPTANCE / "P06.yaml").read_text(encoding="utf-8").replace("quantite: 3", "quantite: -3")
    )
    result = run("simuler", str(write(tmp_path, "negatif.yaml", text)))
    assert result.exit_code == 1
    assert "quantité négative" in " ".join(result.stderr.split())


def test_half_day_granularity_for_interventions(tmp_path: Path) -> None:
    text = (ACCEPTANCE / "P07.yaml").read_text(encoding="utf-8").replace("jours: 2", "jours: 0.3")
    result = run("simuler", str(write(tmp_path, "jours.yaml", text)))
    assert result.exit_code == 1
    assert "demi-journées" in " ".join(result.stderr.split())


def test_missing_index_value_names_the_month(tmp_path: Path) -> None:
    result = run("simuler", str(ACCEPTANCE / "P01.yaml"), "--annee", "2023")
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "novembre 2022 (2022-11) manquante" in message


def test_index_value_added_in_scenario_unblocks_the_revision(tmp_path: Path) -> None:
    text = (ACCEPTANCE / "P01.yaml").read_text(encoding="utf-8")
    text += (
        'indices:\n  - {mois: 2022-11, valeur: "283.3", serie: revisee, source: saisie de test}\n'
    )
    result = run(
        "simuler", str(write(tmp_path, "indice.yaml", text)), "--annee", "2023", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (t1,) = [x for x in data["membres"][0]["lignes"] if x["composante"] == "T1"]
    # 2023 = 2022 × 283,3 / (276,9 × 0,97975) ; 2022 = 40 × 276,9 / 274,8 ;
    # 2021 = 40 × 274,8 / 274,7
    assert len(t1["revision"]) == 3
    assert "ancienne série × coefficient de raccordement" in t1["revision"][2]


def test_no_catalogue_version_in_force_before_its_start() -> None:
    result = run("simuler", str(ACCEPTANCE / "P01.yaml"), "--annee", "2019")
    assert result.exit_code == 1
    assert "aucune version du catalogue cdg82 n'est en vigueur en 2019" in " ".join(
        result.stderr.split()
    )


def test_year_before_the_price_base_is_refused(tmp_path: Path) -> None:
    text = (
        (ACCEPTANCE / "P01.yaml")
        .read_text(encoding="utf-8")
        .replace("catalogue: cdg82", "catalogue: cdg82/2020")
    )
    result = run("simuler", str(write(tmp_path, "base.yaml", text)), "--annee", "2019")
    assert result.exit_code == 1
    assert "le tarif est établi pour 2020" in " ".join(result.stderr.split())


def test_verifier_all_shipped_catalogues() -> None:
    result = run("catalogue", "verifier")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("✓") == len(list(CATALOGUE_DIR.glob("*/*.yaml")))


def test_verifier_rejects_a_gap_with_its_location(tmp_path: Path) -> None:
    text = (CATALOGUE_DIR / "cdg82" / "2020.yaml").read_text(encoding="utf-8")
    broken = write(tmp_path, "trou.yaml", text.replace("de: 301, a: 500", "de: 302, a: 500"))
    result = run("catalogue", "verifier", str(broken))
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "trou.yaml" in message and "trou non déclaré" in message
    assert "population = 301" in message


def test_comparer_shows_the_inclusion_matrix_and_html(tmp_path: Path) -> None:
    out = tmp_path / "packs.html"
    result = run("catalogue", "comparer", "cdg82", "--html", str(out))
    assert result.exit_code == 0, result.stderr
    assert "Pack Internet Confort" in result.stdout and "15 pages" in result.stdout
    html = out.read_text(encoding="utf-8")
    assert '<html lang="fr">' in html and '<th scope="col">Pack Internet Expert</th>' in html
    assert "636,12" in html


def test_comparer_rejects_population_and_agents_together() -> None:
    result = run("catalogue", "comparer", "cdg82", "--population", "10", "--agents", "3")
    assert result.exit_code == 1
    assert "s'excluent" in result.stderr


def test_unknown_catalogue_lists_the_known_ones(tmp_path: Path) -> None:
    text = (
        (ACCEPTANCE / "P01.yaml")
        .read_text(encoding="utf-8")
        .replace("catalogue: cdg82", "catalogue: cdg99")
    )
    result = run("simuler", str(write(tmp_path, "cat.yaml", text)))
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "catalogue « cdg99 » inconnu" in message and "gironde-numerique" in message


def test_demo_builds_the_database_without_server(tmp_path: Path) -> None:
    env = {**os.environ, "OPSN_DONNEES": str(tmp_path), "COLUMNS": "160"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "opsn", "demo", "--sans-serveur"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cdg82/2020" in proc.stdout
    assert "CC du Val de l'Eyre" in proc.stdout and "Total général" in proc.stdout
    assert "facturation-cdg82" in proc.stdout and "referent-gironde" in proc.stdout
    assert "plateforme" in proc.stdout  # administrateur de la plateforme (issue 9)
    assert (tmp_path / "opsn.sqlite3").exists()
    # cœur de tarification compilé là où la machine le peut, sinon Python pur et pourquoi
    from opsn.core import native

    reason = native.unavailable_reason()
    said = " ".join(proc.stdout.split())
    if reason is None:
        assert f"Cœur de tarification compilé ({native.build_dir()})." in said
    else:
        assert f"Cœur de tarification en Python pur : {reason}." in said
    # R4 : les millésimes du référentiel sont chargés avant les factures de démonstration,
    # dont les lignes tarifées sur la population nomment le recensement en vigueur en 2020
    assert "Millésimes : " in proc.stdout and "années 2019 à 2026" in proc.stdout
    with sqlite3.connect(tmp_path / "opsn.sqlite3") as db:
        years = db.execute("SELECT DISTINCT year FROM gestion_referentialpopulation").fetchall()
        explained = db.execute(
            "SELECT count(*) FROM gestion_invoiceline WHERE explanation LIKE ?",
            ("%population totale%en vigueur en 2020%",),
        ).fetchone()[0]
    assert sorted(y for (y,) in years) == list(range(2019, 2027))
    assert explained > 0
    again = subprocess.run(
        [sys.executable, "-m", "opsn", "demo", "--sans-serveur"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "Base déjà préparée" in again.stdout
