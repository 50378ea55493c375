"""Simulateur du portail (`opsn.portail.simulation`, sans base) : mêmes chiffres qu'`opsn
simuler`, au centime, sur les cas d'acceptation ; année des tarifs ; offre par service."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opsn.cli import app
from opsn.core.catalogue import find_catalogue
from opsn.core.index import load_index
from opsn.core.money import fmt
from opsn.core.scenario import load_scenario
from opsn.portail import simulation as sim
from opsn.referentiel import Referentiel
from opsn.referentiel.resolve import resolve_member

ROOT = Path(__file__).resolve().parents[1]
ACCEPTANCE = ROOT / "acceptance"
SHARED = Path(os.environ.get("OPSN_SHARED", ROOT.parents[1] / "shared"))
CASES = yaml.safe_load((SHARED / "acceptance" / "cases.yaml").read_text(encoding="utf-8"))


def _entries() -> list[tuple[str, dict]]:
    result = []
    for case_id, spec in CASES.items():
        entries = spec if isinstance(spec, list) else [spec]
        for i, entry in enumerate(entries):
            # P08 : préavis reçu en cours de convention, hors du champ d'un simulateur
            # d'adhésion (l'estimation du préavis du référent est testée à part, R22)
            if case_id != "P08":
                result.append((f"{case_id}-{i + 1}" if len(entries) > 1 else case_id, entry))
    return result


def opsn_simuler(case_id: str, year: int | None) -> dict:
    args = ["simuler", str(ACCEPTANCE / f"{case_id}.yaml"), "--format", "json"]
    if year is not None:
        args += ["--annee", str(year)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def subject_of(member) -> sim.Subject:
    """La collectivité telle que le visiteur la donne : son code, sinon sa description."""
    if member.siren or member.insee:
        return sim.subject_from_code(member.siren or member.insee, Referentiel.charger())
    return sim.subject_described(
        member.kind,
        population=member.population_totale,
        agents=member.agents,
        categories=member.categories,
    )


def selection_of(member, year: int) -> sim.Selection:
    days = sum((i.days for i in member.interventions if i.day.year == year), Decimal(0))
    return sim.Selection(
        tuple(sim.Choice(s.service, dict(s.quantities)) for s in member.subscriptions),
        dict(member.usage),
        days,
    )


@pytest.mark.parametrize(("label", "entry"), _entries(), ids=[e[0] for e in _entries()])
def test_simulator_figures_are_opsn_simuler_figures(label: str, entry: dict) -> None:
    case_id = label.split("-")[0]
    expected = opsn_simuler(case_id, entry.get("annee"))
    scenario = load_scenario(
        ACCEPTANCE / f"{case_id}.yaml", entry.get("annee"), resolver=resolve_member
    )
    key = entry.get("variant") or entry.get("member")
    members = [m for m in scenario.members if key in (None, m.ident, m.name)]
    assert members
    for member in members:
        cli = next(m for m in expected["membres"] if m["id"] == member.ident)
        rank = scenario.year - member.convention.signature.year
        result = sim.simulate(
            scenario.catalogue,
            scenario.index,
            scenario.year,
            subject_of(member),
            selection_of(member, scenario.year),
            years=rank + 1,
        )
        quote = result.years[rank].quote
        assert result.years[rank].label.startswith(f"{rank + 1}")
        for field, value in (
            ("total_ht", quote.totals.net),
            ("total_tva", quote.totals.vat),
            ("total_ttc", quote.totals.gross),
        ):
            assert fmt(value) == cli[field], (label, member.name, field)
            if field in entry:
                assert fmt(value) == entry[field], (label, field)
        assert [line.detail for line in quote.lines] == [x["explication"] for x in cli["lignes"]]
        assert len(quote.sur_devis) == len(cli["sur_devis"])
        assert len(quote.missing_prices) == len(cli["prix_manquants"])
        if "sur_devis" in entry:
            assert len(quote.sur_devis) == entry["sur_devis"]
        if "prix_manquant" in entry:
            assert len(quote.missing_prices) == entry["prix_manquant"]
        if "droits" in entry:
            assert {k: quote.entitlements.get(k) for k in entry["droits"]} == entry["droits"]


def test_tariff_year_waits_for_the_index_and_says_why() -> None:
    index = load_index("syntec")
    cdg82 = find_catalogue("cdg82", 2026)
    found = sim.tariff_year(cdg82, index, 2026)
    assert found.year == 2022  # SYNTEC de novembre 2022 absent de la table livrée
    assert "2022-11" in found.note and "2026" in found.note
    assert sim.tariff_year(cdg82, index, 2021) == sim.TariffYear(2021, None)
    assert sim.tariff_year(cdg82, index, 2015).year == 2020  # pas avant ses prix
    gironde = find_catalogue("gironde-numerique", 2026)
    assert sim.tariff_year(gironde, index, 2026) == sim.TariffYear(2026, None)  # sans révision


def test_saint_emilion_is_found_without_accents_or_hyphens() -> None:
    ref = Referentiel.charger()
    for text in ("saint emilion", "SAINT-ÉMILION", "st emilion", "Saint Émilion"):
        assert ref.chercher(text)[0].nom == "Saint-Émilion", text
    subject = sim.subject_from_code("33394", ref)
    assert subject.member.kind == "commune"
    assert "33" in subject.departements
    assert subject.epci is not None  # son EPCI est proposé
    assert "référentiel" in subject.population_text


def test_offers_side_by_side_for_a_commune() -> None:
    catalogue = find_catalogue("gironde-numerique", 2026)
    subject = sim.subject_from_code("33394", Referentiel.charger())
    offers = {o.service.code: o for o in sim.offers(catalogue, None, 2026, subject)}
    assert offers["adhesion_mutualisee"].unavailable  # réservée aux EPCI
    nas = offers["nas_50go"]
    assert nas.first.totals.gross == Decimal("1800.00")  # 1 500 HT + TVA 20 %
    assert nas.following.totals.gross == Decimal("360.00")
    assert nas.simulation.total.gross == Decimal("2520.00")  # 1 800 + 2 × 360
    assert offers["service_sur_mesure"].status == "sur devis"
    assert "budget" in offers["rgpd_conformite"].error  # budget inconnu : dit, pas inventé
    cdg47 = find_catalogue("cdg47/nouvelle-annexe", 2026)
    forfait = {o.service.code: o for o in sim.offers(cdg47, None, 2026, subject)}
    technologie = forfait["forfait_technologie"]
    assert technologie.status == "prix non publié"
    assert dict(technologie.entitlements)["Sauvegarde externalisée (volume en Go)"] > 0


def test_selection_checks_services_and_quantities() -> None:
    catalogue = find_catalogue("cdg82", 2020)
    subject = sim.subject_described("commune", population=850)
    with pytest.raises(sim.SimulationError, match="absent du catalogue"):
        sim.simulate(catalogue, None, 2020, subject, sim.Selection((sim.Choice("inconnu"),)))
    with pytest.raises(sim.SimulationError, match="quantité « postes » inconnue"):
        sim.simulate(
            catalogue,
            None,
            2020,
            subject,
            sim.Selection((sim.Choice("assistance_srb", {"postes": Decimal(1)}),)),
        )
    with pytest.raises(sim.SimulationError, match="de 1 à 5"):
        sim.simulate(catalogue, None, 2020, subject, sim.Selection(), years=6)
    with pytest.raises(sim.SimulationError, match="ni le code INSEE"):
        sim.subject_from_code("99999", Referentiel.charger())


@pytest.mark.parametrize(
    "text",
    ["saint emilion", "SAINT-ÉMILION", "emilion", "ag", "33394", "243301405", "bordeaux", "zzzz"],
)
def test_public_search_orders_like_the_referential(text: str) -> None:
    """L'index du simulateur (dichotomie, sans organismes importés) donne les communes et
    EPCI dans l'ordre de `Referentiel.chercher`."""
    from opsn.portail import recherche

    ref = Referentiel.charger()
    expected = [e.code for e in ref.chercher(text, limite=60) if hasattr(e, "millesime")][:10]
    assert [e.code for e in recherche.search(ref, text, 10)] == expected
    assert [e.code for e in recherche.search(ref, text, 10)] == expected  # mémorisée
