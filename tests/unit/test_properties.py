"""Propriétés vérifiées sur des entrées tirées au hasard (hypothesis)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from opsn.core.catalogue import catalogue_files, find_catalogue, load_cached
from opsn.core.errors import RefusedError
from opsn.core.index import IndexValue, load_index
from opsn.core.members import Member, Subscription
from opsn.core.model import Catalogue, StrataTable
from opsn.core.pricing import MemberQuote, Pricer, criterion_matches, resolve_stratum
from opsn.core.ranges import box_inside

FAST = settings(max_examples=200, deadline=None)
SOME = settings(max_examples=100, deadline=None)

CATALOGUES = [load_cached(path) for path in catalogue_files()]
COMMUNE_TABLES = [
    (catalogue.ident, table)
    for catalogue in CATALOGUES
    for table in catalogue.tables.values()
    if any(
        c.types is None or "commune" in c.types
        for row in table.rows
        for c in row.criteria
        if c.category is None
    )
]
CDG82 = find_catalogue("cdg82", 2020)
GIRONDE = find_catalogue("gironde-numerique", 2021)
INDEX = load_index()


def test_the_shipped_catalogues_have_commune_tables() -> None:
    idents = {ident for ident, _ in COMMUNE_TABLES}
    assert {"cdg82/2020", "gironde-numerique/2021", "cdg47/ancienne-annexe"} <= idents


# -- une commune tombe dans exactement une ligne de chaque table (R1, R2, R8) ----------


def quantities_for(table: StrataTable, value: int) -> dict[str, Decimal]:
    names = {
        dim.removeprefix("quantite.")
        for row in table.rows
        for c in row.criteria
        for dim, _ in c.bounds
        if dim.startswith("quantite.")
    }
    return {name: Decimal(value) for name in names}


def table_bounds(dimension: str) -> list[int]:
    """Bornes imprimées des tables livrées pour une grandeur, et leurs voisines (±1)."""
    values = set()
    for _, table in COMMUNE_TABLES:
        for row in table.rows:
            for c in row.criteria:
                for dim, rng in c.bounds:
                    if dim == dimension:
                        for bound in (rng.low, rng.high):
                            if bound is not None:
                                values.update({int(bound) - 1, int(bound), int(bound) + 1})
    return sorted(v for v in values if v >= 0)


POPULATIONS = st.one_of(
    st.integers(min_value=0, max_value=3_000_000), st.sampled_from(table_bounds("population"))
)
AGENTS = st.one_of(st.integers(min_value=0, max_value=500), st.sampled_from(table_bounds("agents")))
KINDS = st.sampled_from(["commune", "epci", "syndicat", "ccas", "etablissement_public"])


@FAST
@given(
    population=POPULATIONS,
    agents=AGENTS,
    budget=st.decimals(min_value=0, max_value=100_000, places=2),
    quantity=st.integers(min_value=0, max_value=200),
    kind=st.one_of(st.just("commune"), KINDS),
    nature=st.sampled_from(["CC", "CA", "CU", "METRO"]),
)
def test_a_member_lands_in_exactly_one_row_of_every_table(
    population: int, agents: int, budget: Decimal, quantity: int, kind: str, nature: str
) -> None:
    member = Member(
        "m",
        "Adhérent",
        kind,
        nature=nature if kind == "epci" else None,
        population_totale=population,
        population_municipale=population,
        agents=agents,
        budget_keur=budget,
    )
    for ident, table in COMMUNE_TABLES:
        quantities = quantities_for(table, quantity)
        matching = [
            (row, c)
            for row in table.rows
            for c in row.criteria
            if c.category is None and criterion_matches(c, member, table.population, quantities)
        ]
        where = f"{ident} {table.code}, {kind}, population {population}, agents {agents}"
        chosen = resolve_stratum(table, member, quantities)
        if kind == "commune":
            # R8 : aucun trou, toutes ces tables couvrent toutes les communes
            assert matching, f"aucune ligne pour {where}"
        if not matching:
            assert chosen is None, where
            continue
        # R2 : les lignes qui s'appliquent s'emboîtent deux à deux
        for i, (_, a) in enumerate(matching):
            for _, b in matching[i + 1 :]:
                assert box_inside(a.bounds, b.bounds) or box_inside(b.bounds, a.bounds), where
        # exactement une ligne est contenue dans toutes les autres : c'est elle qui gagne
        winners = {
            id(row)
            for row, c in matching
            if all(box_inside(c.bounds, other.bounds) for _, other in matching)
        }
        assert len(winners) == 1, where
        assert chosen is not None
        assert id(chosen) in winners, where


# -- totaux jamais négatifs, croissants avec les quantités -------------------------------


def member_from(
    catalogue: Catalogue,
    services: list[str],
    start_years: list[int],
    size: int,
    count: int,
    usage_value: int,
    epci: bool,
) -> Member:
    subscriptions = []
    usage: dict[str, Decimal] = {}
    for code, start in zip(services, start_years, strict=False):
        service = catalogue.services[code]
        if service.billed_to == "epci" and not epci:
            continue  # R24 : refusé à une commune (tests/regles), hors de ces propriétés
        quantities = {
            q.code: Decimal(min(count, catalogue.smallest_cap(code, q.code) or 10**9))
            for q in service.quantities
        }
        subscriptions.append(Subscription(code, dt.date(start, 1, 1), quantities=quantities))
        for comp in service.components:
            if comp.quantity.kind in ("usage", "depassement"):
                usage[comp.quantity.name] = Decimal(usage_value)
    usage["donnees_go"] = Decimal(min(usage_value, 3500))
    attached = tuple(
        Member(f"c{i}", f"Commune {i}", "commune", population_totale=size // (i + 1))
        for i in range(3)
    )
    common = {
        "population_totale": size,
        "agents": size // 100,
        "budget_keur": Decimal(size) / 10,
        "usage": usage,
        "subscriptions": tuple(subscriptions),
    }
    if epci:
        return Member("e", "EPCI", "epci", nature="CC", attached=attached, **common)
    return Member("c", "Commune", "commune", **common)


def catalogue_case(catalogue: Catalogue, first_year: int, last_year: int):
    codes = sorted(s for s in catalogue.services if not catalogue.services[s].day_rate)
    return st.tuples(
        st.lists(st.sampled_from(codes), min_size=1, max_size=6, unique=True),
        st.lists(st.integers(first_year, last_year), min_size=6, max_size=6),
        st.integers(0, 120_000),
        st.integers(0, 60),
        st.integers(0, 5000),
        st.booleans(),
        st.integers(first_year, last_year),
    )


def price(catalogue: Catalogue, case: tuple) -> MemberQuote:
    services, starts, size, quantity, usage, epci, year = case
    member = member_from(catalogue, services, starts, size, quantity, usage, epci)
    return Pricer(catalogue, INDEX, year).quote(member)


def assert_not_negative(q: MemberQuote) -> None:
    assert all(line.amount is None or line.amount >= 0 for line in q.lines)
    assert q.totals.net >= 0
    assert q.totals.vat >= 0
    assert q.totals.gross == q.totals.net + q.totals.vat
    assert q.totals.gross >= q.totals.net


@FAST
@given(case=catalogue_case(CDG82, 2020, 2022))
def test_cdg82_totals_are_never_negative(case: tuple) -> None:
    assert_not_negative(price(CDG82, case))


@FAST
@given(case=catalogue_case(GIRONDE, 2021, 2026))
def test_gironde_totals_are_never_negative(case: tuple) -> None:
    assert_not_negative(price(GIRONDE, case))


def bump_one(member: Member, pick: int, more: int) -> Member:
    """Même adhérent, une seule quantité (ou un seul compteur d'usage) augmentée."""
    slots = [("q", i, name) for i, s in enumerate(member.subscriptions) for name in s.quantities]
    slots += [("u", 0, name) for name in member.usage if name != "donnees_go"]
    if not slots:
        return member
    where, i, name = slots[pick % len(slots)]
    if where == "u":
        return replace(member, usage={**member.usage, name: member.usage[name] + more})
    subs = list(member.subscriptions)
    subs[i] = replace(
        subs[i], quantities={**subs[i].quantities, name: subs[i].quantities[name] + more}
    )
    return replace(member, subscriptions=tuple(subs))


def check_monotonic(catalogue: Catalogue, case: tuple, pick: int, more: int) -> None:
    services, starts, size, quantity, usage, epci, year = case
    member = member_from(catalogue, services, starts, size, quantity, usage, epci)
    bigger = bump_one(member, pick, more)
    pricer = Pricer(catalogue, INDEX, year)
    before = pricer.quote(member).totals.gross
    try:
        after = pricer.quote(bigger).totals.gross
    except RefusedError:
        return  # au-delà d'un plafond imprimé : refusé, aucun montant (tests/regles)
    assert after >= before


@SOME
@given(case=catalogue_case(CDG82, 2020, 2022), pick=st.integers(0, 50), more=st.integers(1, 30))
def test_cdg82_total_does_not_decrease_when_a_quantity_increases(
    case: tuple, pick: int, more: int
) -> None:
    check_monotonic(CDG82, case, pick, more)


@SOME
@given(case=catalogue_case(GIRONDE, 2021, 2026), pick=st.integers(0, 50), more=st.integers(1, 30))
def test_gironde_total_does_not_decrease_when_a_quantity_increases(
    case: tuple, pick: int, more: int
) -> None:
    check_monotonic(GIRONDE, case, pick, more)


# -- révision : deux décimales, dans les bornes du rapport d'indices ----------------------

NOVEMBER_2022 = st.decimals(min_value=250, max_value=330, places=1)


@FAST
@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100_000), places=2),
    base_year=st.integers(2018, 2023),
    years=st.integers(0, 5),
    nov_2022=NOVEMBER_2022,
)
def test_revised_price_has_two_decimals_and_stays_within_the_index_ratio(
    amount: Decimal, base_year: int, years: int, nov_2022: Decimal
) -> None:
    table = INDEX.with_values([IndexValue("2022-11", nov_2022, "revisee", "test")])
    year = min(base_year + years, 2024)  # novembre 2023 est la dernière valeur connue
    revision = table.revise(amount, base_year, year)
    assert revision.price.as_tuple().exponent == -2
    assert len(revision.steps) == year - base_year
    exact = amount
    tolerance = Decimal(0)
    for step in revision.steps:
        ratio = step.numerator / step.denominator
        exact = exact * ratio
        # chaque pas ajoute au plus un demi-centime, propagé par les rapports suivants
        tolerance = tolerance * ratio + Decimal("0.005")
    assert abs(revision.price - exact) <= tolerance
    if year == base_year:
        assert revision.price == amount
