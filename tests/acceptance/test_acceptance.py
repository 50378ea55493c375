"""Cas d'acceptation : chaque cas de shared/acceptance/cases.yaml a son scénario
tests/acceptance/<ID>.yaml, exécuté par `opsn simuler --format json`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opsn.cli import app

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("OPSN_SHARED", HERE.parents[2] / "shared"))
CASES_FILE = SHARED / "acceptance" / "cases.yaml"


def _cases() -> list[tuple[str, dict]]:
    if not CASES_FILE.exists():
        pytest.fail(
            f"{CASES_FILE} introuvable : shared/ doit être à côté du dépôt "
            "(ou OPSN_SHARED doit le désigner)."
        )
    data = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    result = []
    for case_id, spec in data.items():
        entries = spec if isinstance(spec, list) else [spec]
        for i, entry in enumerate(entries):
            result.append((f"{case_id}-{i + 1}" if len(entries) > 1 else case_id, entry))
    return result


CASES = _cases()


def simulate(case_id: str, year: int | None) -> dict:
    args = ["simuler", str(HERE / f"{case_id}.yaml"), "--format", "json"]
    if year is not None:
        args += ["--annee", str(year)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _select(data: dict, entry: dict) -> dict:
    key = entry.get("variant") or entry.get("member")
    if key is None:
        return data
    matches = [m for m in data["membres"] if key in (m["id"], m["nom"])]
    assert len(matches) == 1, f"adhérent « {key} » introuvable dans le scénario"
    return matches[0]


@pytest.mark.parametrize(("label", "entry"), CASES, ids=[c[0] for c in CASES])
def test_acceptance_case(label: str, entry: dict) -> None:
    case_id = label.split("-")[0]
    data = simulate(case_id, entry.get("annee"))
    if "catalogue" in entry:
        assert data["catalogue"].split("/")[0] == entry["catalogue"]
    if "annee" in entry:
        assert data["annee"] == entry["annee"]
    subject = _select(data, entry)
    for key in ("total_ht", "total_tva", "total_ttc"):
        if key in entry:
            assert subject[key] == entry[key], f"{key} : {subject[key]} ≠ {entry[key]}"
    if "sur_devis" in entry:
        assert len(subject["sur_devis"]) == entry["sur_devis"]
    if "prix_manquant" in entry:
        assert len(subject["prix_manquants"]) == entry["prix_manquant"]
    if "droits" in entry:
        if "membres" in subject:  # droits : par adhérent ; le cas n'en a qu'un
            (subject,) = subject["membres"]
        assert {k: subject["droits"].get(k) for k in entry["droits"]} == entry["droits"]


def test_every_case_has_a_scenario_file() -> None:
    ids = {label.split("-")[0] for label, _ in CASES}
    missing = sorted(i for i in ids if not (HERE / f"{i}.yaml").exists())
    assert not missing, f"scénarios manquants : {missing}"


def test_p07_reports_rgpd_as_sur_devis_without_amount() -> None:
    data = simulate("P07", 2020)
    (line,) = [x for x in data["membres"][0]["lignes"] if x["statut"] == "sur_devis"]
    assert line["service"] == "rgpd_dpd"
    assert line["montant"] is None


def test_p11_names_only_the_epci_siren_and_uses_referential_populations() -> None:
    text = (HERE / "P11.yaml").read_text(encoding="utf-8")
    assert "population" not in text.split("membres:")[1]
    data = simulate("P11", 2021)
    member = data["membres"][0]
    assert member["siren"] == "243301405"
    participations = {
        x["libelle"].split(" – ")[1]: x["montant"]
        for x in member["lignes"]
        if x["service"] == "participation_individuelle"
    }
    assert participations == {
        "Lugos": "1500.00",
        "Saint-Magne": "1500.00",
        "Le Barp": "4000.00",
        "Belin-Béliet": "4000.00",
        "Salles": "4000.00",
    }
    assert "recensement" in member["population"]["source"]
    (adhesion,) = [x for x in member["lignes"] if x["service"] == "adhesion_mutualisee"]
    assert "CDC + 5 EP" in adhesion["strate"] and "2 To" in adhesion["strate"]
    assert adhesion["montant"] == "18461.00"
    assert {x["tva"]["regime"] for x in member["lignes"]} == {"exonere"}
