"""Règles relues après l'audit (issue 10, point 5) : un scénario par règle corrigée.

Chaque fichier tests/regles/<règle>.yaml cite la clause de la source (seed et mots imprimés)
et détaille en commentaire le calcul fait à la main ; il passe par le même chemin que les cas
d'acceptation : `opsn simuler --format json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from opsn.cli import app

HERE = Path(__file__).resolve().parent


def run(name: str, year: int | None = None) -> tuple[int, str]:
    args = ["simuler", str(HERE / f"{name}.yaml"), "--format", "json"]
    if year is not None:
        args += ["--annee", str(year)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def simulate(name: str, year: int | None = None) -> dict[str, Any]:
    code, output = run(name, year)
    assert code == 0, output
    return json.loads(output)


def member(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return data["membres"][index]


def amounts(subject: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    return {(line["service"], line["composante"]): line["montant"] for line in subject["lignes"]}


def refused(name: str, year: int | None = None) -> str:
    """Le scénario est refusé : message en français, aucun montant (jamais un 0,00 muet)."""
    code, output = run(name, year)
    assert code != 0, f"scénario accepté alors qu'il devait être refusé :\n{output}"
    assert '"total_ttc"' not in output
    return " ".join(output.split())


# -- R16 : quotas et dépassements -------------------------------------------------------


def test_r16_forfait_heberge_usage_above_zero_quota_is_billed_7_euros_per_gb() -> None:
    subject = member(simulate("R16-heberge"))
    assert amounts(subject)[("forfait_heberge", "sauvegarde_supplementaire")] == "84.00"
    line = next(x for x in subject["lignes"] if x["composante"] == "sauvegarde_supplementaire")
    assert (line["quantite"], line["prix_unitaire"]) == ("12", "7.00")
    assert subject["total_ttc"] == "84.00"
    assert len(subject["prix_manquants"]) == 1  # prix du Forfait Hébergé (R15)


def test_r16_extra_gb_bought_raise_the_quota_and_are_not_billed_twice() -> None:
    subject = member(simulate("R16-achats"))
    lines = amounts(subject)
    assert lines[("sauvegarde_go_supplementaires", "go")] == "28.00"  # E = 4 Go × 7,00
    assert lines[("forfait_technologie", "sauvegarde_supplementaire")] == "21.00"  # 12 − 5 − 4
    assert subject["total_ttc"] == "49.00"
