"""Règles relues après l'audit (issue 10, point 5) : un scénario par règle corrigée.

Chaque fichier tests/regles/<règle>.yaml cite la clause de la source (seed et mots imprimés)
et détaille en commentaire le calcul fait à la main ; il passe par le même chemin que les cas
d'acceptation : `opsn simuler --format json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opsn.cli import app
from opsn.core.catalogue import CATALOGUE_DIR, find_catalogue, load_catalogue
from opsn.core.errors import CatalogueError

HERE = Path(__file__).resolve().parent
CDG82 = (CATALOGUE_DIR / "cdg82" / "2020.yaml").read_text(encoding="utf-8")


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


# -- R28 : prix sans clause de révision --------------------------------------------------


def test_r28_cdg47_price_without_year_bills_2019_as_printed() -> None:
    subject = member(simulate("R28-sans-annee"))
    line = next(x for x in subject["lignes"] if x["composante"] == "sauvegarde_supplementaire")
    assert (line["montant"], line["annee_base"], line["revision"]) == ("49.00", None, [])
    assert "sans clause de révision (R28)" in line["explication"]
    assert subject["total_ttc"] == "49.00"


def test_r28_no_invented_year_in_catalogues_without_revision_clause() -> None:
    for ref in ("cdg47/ancienne-annexe", "cdg47/nouvelle-annexe"):
        catalogue = find_catalogue(ref)
        assert catalogue.revision is None
        years = {
            comp.price.year
            for service in catalogue.services.values()
            for comp in service.components
            if comp.price.kind == "montant"
        }
        assert years <= {None}, f"{ref} : année de prix inventée {years}"


def test_r28_price_without_year_is_refused_in_a_catalogue_with_a_revision_clause() -> None:
    text = CDG82.replace('prix: {montant: "40.00", annee: 2020}', 'prix: {montant: "40.00"}', 1)
    assert text != CDG82
    with pytest.raises(CatalogueError) as info:
        load_catalogue(Path("faux.yaml"), text=text)
    error = info.value
    assert error.file == "faux.yaml" and error.line is not None
    assert error.key is not None and error.key.endswith(".prix.annee")
    message = str(error)
    assert message.startswith(f"faux.yaml, ligne {error.line}, clé « {error.key} »")
    assert "sans année" in message and "clause de révision" in message and "R28" in message


# -- R20 : dépassement d'une dotation ----------------------------------------------------

V1 = (CATALOGUE_DIR / "cdg47" / "v1-ancienne-annexe.yaml").read_text(encoding="utf-8")


def fill_day_rate(text: str, service: str, amount: str) -> str:
    """Remplit le « Tarif journalier » à renseigner d'un service, comme l'opérateur (R15)."""
    start = text.index(f"\n  - code: {service}\n")
    hole = 'prix: {a_renseigner: "Tarif journalier"}'
    at = text.index(hole, start)
    return (
        text[:at]
        + f'prix: {{montant: "{amount}", texte: "Tarif journalier"}}'
        + text[at + len(hole) :]
    )


def test_r20_audit_overrun_without_prices_names_the_audit_prestation() -> None:
    subject = member(simulate("R20-audit"))
    days = [
        (x["service"], x["statut"], x["quantite"])
        for x in subject["lignes"]
        if x["unite"] == "jour"
    ]
    assert days == [
        ("audit_securite", "inclus", "1"),
        ("audit_securite", "prix_manquant", "0.5"),
    ]


def test_r20_audit_overrun_is_billed_at_the_audit_own_tariff(tmp_path: Path) -> None:
    catalogue = fill_day_rate(V1, "audit_securite", "600.00")
    catalogue = fill_day_rate(catalogue, "intervention_technique", "450.00")
    (tmp_path / "cdg47.yaml").write_text(catalogue, encoding="utf-8")
    scenario = (HERE / "R20-audit.yaml").read_text(encoding="utf-8")
    scenario = scenario.replace(
        "catalogue: cdg47/ancienne-annexe", f"catalogue: {tmp_path / 'cdg47.yaml'}"
    )
    (tmp_path / "R20-audit.yaml").write_text(scenario, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["simuler", str(tmp_path / "R20-audit.yaml"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    subject = member(json.loads(result.output))
    billed = [x for x in subject["lignes"] if x["unite"] == "jour" and x["statut"] == "montant"]
    assert [(x["service"], x["quantite"], x["prix_unitaire"], x["montant"]) for x in billed] == [
        ("audit_securite", "0.5", "600.00", "300.00")
    ]
    assert "au-delà de la dotation" in billed[0]["explication"]
    assert subject["total_ttc"] == "300.00"


# -- R24 : qui est facturé ---------------------------------------------------------------


def test_r24_commune_subscribing_outside_its_epci_is_refused_never_a_silent_zero() -> None:
    message = refused("R24-commune-hors-epci")
    assert "Commune de 800 habitants" in message
    assert "Participation individuelle des communes (facturée à l'EPCI)" in message
    assert "facturé(e) à l'EPCI adhérent" in message
    assert "« Participation individuelle des communes facturée à l'EPCI »" in message
    assert "(R24)" in message


def test_r24_the_same_commune_within_its_epci_is_billed_to_the_epci() -> None:
    subject = member(simulate("R24-epci"))
    (line,) = subject["lignes"]
    assert (line["montant"], line["facture_a"]) == ("900.00", "Communauté de communes d'essai")
    assert (subject["total_ttc"], subject["total_tva"]) == ("900.00", "0.00")


# -- plafonds imprimés -------------------------------------------------------------------


def test_cap_three_certificates_are_refused_with_the_reason() -> None:
    message = refused("plafond-certificats")
    assert "Identité électronique : certificat RGS 2* (valable 3 ans)" in message
    assert "3 certificats demandé(s), au-delà du plafond de 2" in message
    assert "« Certificat électronique (Eidas), limité à 2 par collectivités »" in message
    assert "003" in message


def test_cap_two_certificates_are_billed(tmp_path: Path) -> None:
    scenario = (HERE / "plafond-certificats.yaml").read_text(encoding="utf-8")
    (tmp_path / "deux.yaml").write_text(
        scenario.replace("quantite: 3", "quantite: 2"), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["simuler", str(tmp_path / "deux.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    subject = member(json.loads(result.output))
    assert (subject["total_ht"], subject["total_ttc"]) == ("350.00", "420.00")


def test_cap_opendemande_users_above_the_class_maximum_are_refused() -> None:
    message = refused("plafond-opendemande")
    assert "Opendemande : logiciel de gestion de flux citoyen" in message
    assert "9 utilisateurs d'opendemande demandé(s), au-delà du plafond de 8" in message
    assert "Communes < 10 000 habitants et Communauté de communes" in message
    assert "« Nombre d'utilisateurs maximum »" in message


def test_cap_opendemande_users_at_the_maximum_are_billed(tmp_path: Path) -> None:
    scenario = (HERE / "plafond-opendemande.yaml").read_text(encoding="utf-8")
    (tmp_path / "huit.yaml").write_text(
        scenario.replace("utilisateurs: 9", "utilisateurs: 8"), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["simuler", str(tmp_path / "huit.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    subject = member(json.loads(result.output))
    assert (subject["total_ht"], subject["total_tva"], subject["total_ttc"]) == (
        "4882.91",
        "976.58",
        "5859.49",
    )


# -- format du catalogue : chaque règle est une donnée citée ------------------------------


def load_error(text: str) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(Path("faux.yaml"), text=text)
    assert info.value.file == "faux.yaml" and info.value.line is not None
    return info.value


def test_r20_an_allowance_must_name_the_prestation_billing_its_overrun() -> None:
    text = V1.replace("        facture_par: audit_securite\n", "", 1)
    error = load_error(text)
    assert error.key is not None and error.key.endswith(".facture_par")
    text = V1.replace("facture_par: audit_securite", "facture_par: audit_inconnu", 1)
    assert "service « audit_inconnu » inconnu" in str(load_error(text))


def test_r16_an_overrun_states_either_a_quota_or_the_printed_included_quantity() -> None:
    text = V1.replace("          droit: sauvegarde_go\n", "", 1)
    assert "« droit »" in str(load_error(text)) and "« inclus »" in str(load_error(text))
    text = V1.replace(
        "achats: [{service: sauvegarde_go_supplementaires, quantite: go}]",
        "achats: [{service: sauvegarde_go_supplementaires, quantite: to}]",
        1,
    )
    assert "quantité « to » non déclarée" in str(load_error(text))
