"""Strates, paliers et comptages (R1–R8) aux bornes de chaque table livrée."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from opsn.core.catalogue import find_catalogue
from opsn.core.members import Member, Subscription
from opsn.core.model import Catalogue
from opsn.core.pricing import Pricer, resolve_grid, resolve_stratum

JAN_2020 = dt.date(2020, 1, 1)
JAN_2021 = dt.date(2021, 1, 1)


@pytest.fixture(scope="module")
def cdg82() -> Catalogue:
    return find_catalogue("cdg82", 2020)


@pytest.fixture(scope="module")
def gironde() -> Catalogue:
    return find_catalogue("gironde-numerique", 2021)


def commune(population: int, **kwargs) -> Member:
    return Member(
        ident=f"c{population}",
        name=f"Commune de {population} hab.",
        kind="commune",
        population_totale=population,
        **kwargs,
    )


def epci(nature: str = "CC", **kwargs) -> Member:
    return Member(ident="epci", name=f"{nature} de test", kind="epci", nature=nature, **kwargs)


# -- CDG82, grille RGPD (R7 : tranches entières inclusives, 001 art. 5.6) -------


@pytest.mark.parametrize(
    ("population", "tier", "first_year", "following"),
    [
        (0, "0-300", "400", "250"),
        (300, "0-300", "400", "250"),
        (301, "301-500", "560", "350"),
        (500, "301-500", "560", "350"),
        (501, "501-700", "770", "450"),
        (700, "501-700", "770", "450"),
        (701, "701-900", "1040", "650"),
        (900, "701-900", "1040", "650"),
        (901, "901-2000", "1200", "750"),
        (2000, "901-2000", "1200", "750"),
        (2001, "2001-2500", "1360", "850"),
        (2500, "2001-2500", "1360", "850"),
        (2501, "2501-5000", "1520", "950"),
        (5000, "2501-5000", "1520", "950"),
        (5001, "5001-10000", "2080", "1300"),
        (10000, "5001-10000", "2080", "1300"),
    ],
)
def test_cdg82_rgpd_tiers(
    cdg82: Catalogue, population: int, tier: str, first_year: str, following: str
) -> None:
    row = resolve_stratum(cdg82.tables["rgpd_tranches"], commune(population))
    assert row is not None
    assert row.label == tier
    assert row.values == {
        "mise_en_place": Decimal(first_year),
        "accompagnement": Decimal(following),
    }


def rgpd_quote(cdg82: Catalogue, member: Member):
    subscribed = replace(member, subscriptions=(Subscription("rgpd_dpd", JAN_2020),))
    return Pricer(cdg82, None, 2020).quote(subscribed)


def test_cdg82_rgpd_10000_inhabitants_pays_2080_the_first_year(cdg82: Catalogue) -> None:
    quote = rgpd_quote(cdg82, commune(10000))
    (line,) = quote.lines
    assert (line.component, line.status, line.amount) == ("mise_en_place", "montant", 2080)
    assert line.stratum == "5001-10000"
    assert quote.totals.gross == Decimal("2080.00")


@pytest.mark.parametrize(
    "member",
    [commune(10001), commune(250000), epci("CC", population_totale=800)],
    ids=["commune-10001", "commune-250000", "epci"],
)
def test_cdg82_rgpd_is_sur_devis_above_10000_or_for_non_communes(
    cdg82: Catalogue, member: Member
) -> None:
    row = resolve_stratum(cdg82.tables["rgpd_tranches"], member)
    assert row is not None
    assert row.values["mise_en_place"] == "sur_devis"
    quote = rgpd_quote(cdg82, member)
    (line,) = quote.lines
    assert line.status == "sur_devis"
    assert line.amount is None
    assert quote.totals.gross == 0


# -- Gironde Numérique, participation individuelle (R7 : bornes strictes) --------


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        (0, 350),
        (99, 350),
        (100, 500),
        (499, 500),
        (500, 900),
        (999, 900),
        (1000, 1500),
        (9999, 4000),
        (10000, 7500),
        (99999, 20000),
    ],
)
def test_gironde_individual_participation(
    gironde: Catalogue, population: int, expected: int
) -> None:
    value, _ = resolve_grid(gironde.grids["participation_communes"], commune(population), gironde)
    assert value == Decimal(expected)


def test_gironde_individual_participation_from_100000_is_sur_devis(gironde: Catalogue) -> None:
    value, label = resolve_grid(gironde.grids["participation_communes"], commune(100000), gironde)
    assert value == "sur_devis"
    assert "au-delà" in label


# -- Gironde Numérique, adhésion mutualisée (R5 : colonnes et lignes « jusqu'à ») --


def territory(communes: int, data_go: str | int, population: int = 1000) -> Member:
    attached = tuple(commune(population) for _ in range(communes))
    return epci("CC", attached=attached, usage={"donnees_go": Decimal(data_go)})


GRID_COLUMNS = (0, 3, 5, 10, 14, 18, 22, 25, 28, 31, 34, 37, 40, 43, 46)


@pytest.mark.parametrize(
    ("eps", "column_label"),
    [
        (0, "CDC seule"),
        (3, "CDC + 3 EP"),
        (4, "CDC + 5 EP"),
        (5, "CDC + 5 EP"),
        (11, "CDC + 14 EP"),
        (46, "CDC + 46 EP"),
    ],
)
def test_gironde_grid_column_is_smallest_ep_count_not_below(
    gironde: Catalogue, eps: int, column_label: str
) -> None:
    grid = gironde.grids["adhesion_mutualisee"]
    value, label = resolve_grid(grid, territory(eps, 500), gironde)
    assert f"« {column_label} »" in label
    column = next(i for i, bound in enumerate(GRID_COLUMNS) if bound >= eps)
    assert value == grid.cells[0][column]


def test_gironde_grid_printed_cells(gironde: Catalogue) -> None:
    grid = gironde.grids["adhesion_mutualisee"]
    assert resolve_grid(grid, territory(0, 500), gironde)[0] == Decimal(5802)
    assert resolve_grid(grid, territory(46, 3500), gironde)[0] == Decimal(58020)
    # P11 : CC du Val de l'Eyre, 5 communes comptées, 1,7 To → « 2 To » × « CDC + 5 EP »
    assert resolve_grid(grid, territory(5, 1700), gironde)[0] == Decimal(18461)


def test_gironde_grid_beyond_46_eps_is_sur_devis(gironde: Catalogue) -> None:
    value, label = resolve_grid(gironde.grids["adhesion_mutualisee"], territory(47, 500), gironde)
    assert value == "sur_devis"
    assert "au-delà" in label


@pytest.mark.parametrize(
    ("data_go", "row_label", "row"),
    [
        (0, "500 Go", 0),
        (500, "500 Go", 0),
        (501, "1 To", 1),
        (1000, "1 To", 1),
        ("1000.5", "1,5 To", 2),
        (3500, "3,5 To", 6),
    ],
)
def test_gironde_grid_row_is_smallest_volume_not_below(
    gironde: Catalogue, data_go: int | str, row_label: str, row: int
) -> None:
    grid = gironde.grids["adhesion_mutualisee"]
    value, label = resolve_grid(grid, territory(0, data_go), gironde)
    assert label.startswith(f"« {row_label} »")
    assert value == grid.cells[row][0]


def test_gironde_grid_beyond_3500_go_is_sur_devis(gironde: Catalogue) -> None:
    value, _ = resolve_grid(gironde.grids["adhesion_mutualisee"], territory(0, 3501), gironde)
    assert value == "sur_devis"


def test_gironde_grid_is_sur_devis_for_a_member_that_is_not_an_epci(gironde: Catalogue) -> None:
    value, label = resolve_grid(
        gironde.grids["adhesion_mutualisee"],
        commune(800, usage={"donnees_go": Decimal(100)}),
        gironde,
    )
    assert value == "sur_devis"
    assert "hors grille" in label


# -- R6 : comptage des EP ------------------------------------------------------------


def counted_column(gironde: Catalogue, *attached: Member) -> str:
    member = epci("CC", attached=attached, usage={"donnees_go": Decimal(100)})
    _, label = resolve_grid(gironde.grids["adhesion_mutualisee"], member, gironde)
    return label


def syndicat(population: int) -> Member:
    return Member("s", f"Syndicat de {population} hab.", "syndicat", population_totale=population)


def test_r6_commune_below_300_is_not_counted(gironde: Catalogue) -> None:
    label = counted_column(gironde, commune(299))
    assert "0 ep comptabilisés sur 1 rattachés" in label
    assert "« CDC seule »" in label


def test_r6_commune_of_300_is_counted(gironde: Catalogue) -> None:
    label = counted_column(gironde, commune(300))
    assert "1 ep comptabilisés sur 1 rattachés" in label
    assert "« CDC + 3 EP »" in label


def test_r6_other_public_body_below_1500_is_not_counted(gironde: Catalogue) -> None:
    # un syndicat de 1 499 habitants n'est pas compté, même s'il dépasse 300
    assert "0 ep comptabilisés sur 1" in counted_column(gironde, syndicat(1499))


def test_r6_other_public_body_of_1500_is_counted(gironde: Catalogue) -> None:
    assert "1 ep comptabilisés sur 1" in counted_column(gironde, syndicat(1500))


def test_r6_mixed_territory(gironde: Catalogue) -> None:
    label = counted_column(
        gironde,
        commune(299),
        commune(300),
        commune(5000),
        syndicat(1499),
        syndicat(1500),
        commune(120),
    )
    assert "3 ep comptabilisés sur 6 rattachés" in label
    assert "« CDC + 3 EP »" in label


# -- Opendemande : classes de population et nature d'EPCI ---------------------------


@pytest.mark.parametrize(
    ("member", "expected_label"),
    [
        (commune(3499), "Communes < 3 500 habitants"),
        (commune(3500), "Communes < 10 000 habitants et Communauté de communes"),
        (commune(9999), "Communes < 10 000 habitants et Communauté de communes"),
        (commune(10000), "Communes > 10 000 habitants et Communauté d'agglomération"),
        (epci("CC"), "Communes < 10 000 habitants et Communauté de communes"),
        (epci("CA"), "Communes > 10 000 habitants et Communauté d'agglomération"),
    ],
    ids=["3499", "3500", "9999", "10000", "CC", "CA"],
)
def test_opendemande_classes(gironde: Catalogue, member: Member, expected_label: str) -> None:
    row = resolve_stratum(gironde.tables["classes_opendemande"], member)
    assert row is not None
    assert row.label == expected_label


def test_opendemande_for_a_communaute_urbaine_is_sur_devis(gironde: Catalogue) -> None:
    member = epci("CU", subscriptions=(Subscription("opendemande", JAN_2021),))
    assert resolve_stratum(gironde.tables["classes_opendemande"], member) is None
    quote = Pricer(gironde, None, 2021).quote(member)
    assert {line.component for line in quote.lines} == {"initiales", "formation", "abonnement"}
    assert all(line.status == "sur_devis" and line.amount is None for line in quote.lines)
    assert quote.totals.gross == 0


# -- Logilibre : agents de police (R8 : 5 agents relève de « > 5 agents ») ---------


@pytest.mark.parametrize(
    ("agents", "expected_label", "installation"),
    [
        (1, "< 10 000 hbts, < 3 agents", "725.00"),
        (2, "< 10 000 hbts, < 3 agents", "725.00"),
        (3, "< 10 000 hbts, < 5 agents", "1125.00"),
        (4, "< 10 000 hbts, < 5 agents", "1125.00"),
        (5, "< 10 000 hbts, > 5 agents", "1875.00"),
        (12, "< 10 000 hbts, > 5 agents", "1875.00"),
    ],
)
def test_logilibre_agent_classes(
    gironde: Catalogue, agents: int, expected_label: str, installation: str
) -> None:
    quantities = {"agents_police": Decimal(agents)}
    row = resolve_stratum(gironde.tables["classes_logilibre"], commune(4000), quantities)
    assert row is not None
    assert row.label == expected_label
    member = commune(4000, subscriptions=(Subscription("logilibre", JAN_2021, quantities),))
    lines = {line.component: line for line in Pricer(gironde, None, 2021).quote(member).lines}
    assert lines["installation"].amount == Decimal(installation)
    assert lines["installation"].stratum == expected_label
    assert lines["assistance"].quantity == agents


def test_logilibre_above_10000_inhabitants_ignores_agents(gironde: Catalogue) -> None:
    table = gironde.tables["classes_logilibre"]
    for agents in (1, 5, 20):
        row = resolve_stratum(table, commune(10000), {"agents_police": Decimal(agents)})
        assert row is not None
        assert row.label == "> 10 000 hbts"


# -- Gironde, conformité RGPD par budget (k€) ---------------------------------------


@pytest.mark.parametrize(
    ("budget", "expected_label", "access_fee"),
    [
        ("0", "< 500K€", 500),
        ("499.99", "< 500K€", 500),
        ("500", "< 1 000K€", 1000),
        ("999.99", "< 1 000K€", 1000),
        ("1000", "< 5 000K€", 2000),
        ("4999.99", "< 5 000K€", 2000),
        ("5000", "> 5 000K€", 3000),
        ("80000", "> 5 000K€", 3000),
    ],
)
def test_gironde_rgpd_budget_classes(
    gironde: Catalogue, budget: str, expected_label: str, access_fee: int
) -> None:
    member = Member("b", "Budget", "commune", budget_keur=Decimal(budget))
    row = resolve_stratum(gironde.tables["rgpd_budget"], member)
    assert row is not None
    assert row.label == expected_label
    assert row.values["frais_acces"] == Decimal(access_fee)


# -- CDG47, ancienne annexe (000) : droits du Forfait Technologie --------------------
# (logiciels de sécurité / Go de sauvegarde / certificats)

ROW_100 = (1, 4, 1)
ROW_250 = (1, 6, 1)
ROW_499 = (1, 9, 1)
ROW_999 = (2, 12, 1)
ROW_1999 = (2, 15, 1)
ROW_3499 = (5, 18, 2)
ROW_4999 = (10, 21, 2)
ROW_5000 = (15, 24, 2)
ROW_10000 = (15, 27, 2)
HOSTED = (0, 4, 0)


@pytest.fixture(scope="module")
def cdg47() -> Catalogue:
    return find_catalogue("cdg47/ancienne-annexe")


def technology_entitlements(cdg47: Catalogue, member: Member) -> tuple[int, int, int]:
    subscribed = replace(member, subscriptions=(Subscription("forfait_technologie", JAN_2021),))
    quote = Pricer(cdg47, None, 2021).quote(subscribed)
    e = quote.entitlements
    return e["logiciels_securite"], e["sauvegarde_go"], e["certificats"]


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        (0, ROW_100),
        (80, ROW_100),
        (99, ROW_100),
        (100, ROW_250),
        (249, ROW_250),
        (250, ROW_499),
        (499, ROW_499),
        (500, ROW_999),
        (999, ROW_999),
        (1000, ROW_1999),
        (1999, ROW_1999),
        (2000, ROW_3499),
        (3499, ROW_3499),
        (3500, ROW_4999),
        (4999, ROW_4999),
        (5000, ROW_5000),
        (9999, ROW_5000),
        (10000, ROW_10000),
        (12000, ROW_10000),
    ],
)
def test_cdg47_commune_strata(
    cdg47: Catalogue, population: int, expected: tuple[int, int, int]
) -> None:
    assert technology_entitlements(cdg47, commune(population)) == expected


def public_body(agents: int, kind: str = "etablissement_public") -> Member:
    return Member("ep", f"EP de {agents} agents", kind, agents=agents)


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (0, ROW_250),
        (3, ROW_250),
        (4, ROW_499),
        (7, ROW_499),
        (8, ROW_999),
        (9, ROW_999),
        (10, ROW_1999),
        (19, ROW_1999),
        (20, ROW_3499),
        (25, ROW_3499),
        (29, ROW_3499),
        (30, ROW_4999),
        (59, ROW_4999),
        (60, ROW_5000),
        (119, ROW_5000),
        (120, ROW_10000),
    ],
)
def test_cdg47_public_body_strata_by_agents(
    cdg47: Catalogue, agents: int, expected: tuple[int, int, int]
) -> None:
    assert technology_entitlements(cdg47, public_body(agents)) == expected


@pytest.mark.parametrize("kind", ["budget_annexe", "epci", "syndicat", "ccas"])
def test_cdg47_other_bodies_are_placed_by_agents(cdg47: Catalogue, kind: str) -> None:
    assert technology_entitlements(cdg47, public_body(25, kind)) == ROW_3499


@pytest.mark.parametrize("member", [commune(80), commune(12000), public_body(200)])
def test_cdg47_hosted_category_wins_whatever_the_size(cdg47: Catalogue, member: Member) -> None:
    hosted = replace(member, categories=frozenset({"hebergee"}))
    assert technology_entitlements(cdg47, hosted) == HOSTED


@pytest.mark.parametrize("member", [commune(80), commune(3000), public_body(5)])
def test_cdg47_non_affiliated_gets_the_last_row(cdg47: Catalogue, member: Member) -> None:
    outsider = replace(member, categories=frozenset({"non_affiliee"}))
    assert technology_entitlements(cdg47, outsider) == ROW_10000


def test_cdg47_forfait_price_is_missing_but_entitlements_are_reported(cdg47: Catalogue) -> None:
    member = commune(250, subscriptions=(Subscription("forfait_technologie", JAN_2021),))
    quote = Pricer(cdg47, None, 2021).quote(member)
    assert quote.entitlements_stratum is not None
    assert quote.entitlements_stratum.startswith("Communes de 250 à 499 habitants")
    assert [line.status for line in quote.missing_prices] == ["prix_manquant"]
    assert quote.totals.gross == 0


# -- CDG47, nouvelle annexe (002/004) ------------------------------------------------


def test_p09_newer_annex_entitlements_and_overage_at_7_euros() -> None:
    catalogue = find_catalogue("cdg47/nouvelle-annexe")
    member = commune(
        1200,
        usage={"sauvegarde_go": Decimal(12)},
        subscriptions=(Subscription("forfait_technologie", JAN_2021),),
    )
    quote = Pricer(catalogue, None, 2021).quote(member)
    assert quote.entitlements == {"logiciels_securite": 2, "sauvegarde_go": 5, "certificats": 1}
    priced = [line for line in quote.lines if line.status == "montant"]
    assert [(line.quantity, line.amount) for line in priced] == [(7, Decimal("49.00"))]
    assert [line.component for line in quote.missing_prices] == ["forfait"]
    assert quote.totals.gross == Decimal("49.00")
