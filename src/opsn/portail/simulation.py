"""Simulateur des membres : ce que chaque service d'un catalogue coûte à une collectivité,
la première année, les années suivantes et sur plusieurs années, et le chiffrage d'un choix
de services (base du devis imprimable).

Module sans Django ni horloge (l'année est passée en paramètre) : il assemble un adhérent
du cœur (`opsn.core.members.Member`) et le fait chiffrer par `opsn.core.pricing.Pricer`,
exactement comme `opsn simuler` (mêmes lignes, mêmes explications, mêmes arrondis). Les
montants des années sont ceux d'un adhérent dont la convention a commencé 0, 1, 2… ans plus
tôt, calculés aux tarifs d'une même année : la 1re année et les années suivantes (R12),
les renouvellements (validité pluriannuelle, R19) tombent d'eux-mêmes ; la révision des
années à venir n'est pas connue (l'indice n'est pas encore publié) et n'est pas inventée.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from opsn.core.errors import IndexMissingError, OpsnError
from opsn.core.index import IndexTable
from opsn.core.members import Convention, Intervention, Member, Subscription
from opsn.core.model import Catalogue, Service
from opsn.core.money import ZERO, fmt, fmt_fr
from opsn.core.pricing import MemberQuote, Pricer, Totals
from opsn.core.report import quote_to_dict
from opsn.referentiel.modeles import Commune, Epci
from opsn.referentiel.referentiel import Referentiel
from opsn.referentiel.resolve import resolve_member

MAX_YEARS = 5
DEFAULT_YEARS = 3
KIND_LABELS = {
    "commune": "Commune",
    "epci": "EPCI",
    "syndicat": "Syndicat",
    "ccas": "CCAS",
    "etablissement_public": "Établissement public",
    "budget_annexe": "Budget annexe",
}
NATURE_LABELS = {
    "CC": "communauté de communes",
    "CA": "communauté d'agglomération",
    "CU": "communauté urbaine",
    "METRO": "métropole",
}
YEAR_LABELS = {0: "1re année", 1: "2e année", 2: "3e année", 3: "4e année", 4: "5e année"}
STATUS_LABELS = {
    "montant": "",
    "inclus": "inclus",
    "sur_devis": "sur devis",
    "prix_manquant": "prix non publié",
}


class SimulationError(ValueError):
    """Entrée du simulateur impossible à chiffrer ; le message se lit tel quel."""


# -- la collectivité ---------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """La collectivité simulée : un adhérent du cœur sans abonnement, et ce qui l'a placée
    (population et son millésime, départements, EPCI de rattachement d'une commune)."""

    member: Member
    code: str | None
    departements: frozenset[str] = frozenset()
    epci: tuple[str, str] | None = None  # (SIREN, nom) de l'EPCI d'une commune

    @property
    def kind_label(self) -> str:
        label = KIND_LABELS.get(self.member.kind, self.member.kind)
        if self.member.nature:
            label += f" ({NATURE_LABELS.get(self.member.nature, self.member.nature)})"
        return label

    @property
    def title(self) -> str:
        return f"{self.member.name} ({self.code})" if self.code else self.member.name

    @property
    def population_text(self) -> str | None:
        m = self.member
        if m.population_totale is None:
            return None
        text = f"{_int(m.population_totale)} habitants (population totale"
        if m.population_municipale is not None and m.population_municipale != m.population_totale:
            text += f" ; population municipale {_int(m.population_municipale)}"
        text += ")"
        if m.population_source:
            text += f" – source : {m.population_source}"
        return text

    def key(self) -> tuple:
        m = self.member
        return (
            self.code,
            m.kind,
            m.nature,
            m.population_totale,
            m.population_municipale,
            m.agents,
            str(m.budget_keur),
            tuple(sorted(m.categories)),
        )

    def as_dict(self) -> dict[str, Any]:
        m = self.member
        return {
            "nom": m.name,
            "type": m.kind,
            "type_libelle": self.kind_label,
            "code": self.code,
            "insee": m.insee,
            "siren": m.siren,
            "population": None
            if m.population_totale is None
            else {
                "totale": m.population_totale,
                "municipale": m.population_municipale,
                "source": m.population_source,
                "texte": self.population_text,
            },
            "agents": m.agents,
            "budget_keur": None if m.budget_keur is None else str(m.budget_keur),
            "categories": sorted(m.categories),
            "departements": sorted(self.departements),
            "epci": None if self.epci is None else {"siren": self.epci[0], "nom": self.epci[1]},
            "rattaches": len(m.attached),
        }


def _int(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def subject_from_code(
    code: str,
    referentiel: Referentiel,
    *,
    agents: int | None = None,
    budget_keur: Decimal | None = None,
) -> Subject:
    """Commune (code INSEE ou SIREN) ou EPCI (SIREN) du référentiel, avec ce que
    `opsn simuler` en tire (populations et millésime, communes et organismes rattachés)."""
    entity = referentiel.par_code(code.strip()) if code.strip() else None
    if not isinstance(entity, (Commune, Epci)):
        raise SimulationError(
            f"« {code.strip()[:40]} » n'est ni le code INSEE ni le SIREN d'une commune ou d'un "
            f"EPCI du référentiel {referentiel.millesime}."
        )
    fields = resolve_member(entity.code, referentiel)
    member = Member(
        ident=entity.code,
        name=fields["nom"],
        kind=fields["type"],
        nature=fields.get("nature"),
        population_totale=fields.get("population_totale"),
        population_municipale=fields.get("population_municipale"),
        population_source=fields.get("population_source"),
        agents=agents,
        budget_keur=budget_keur,
        attached=tuple(fields.get("rattaches", ())),
        insee=fields.get("insee"),
        siren=fields.get("siren"),
    )
    epci = None
    if isinstance(entity, Commune):
        found = referentiel.epci_de(entity.insee)
        epci = (found.siren, found.nom) if found is not None else None
    return Subject(member, entity.code, referentiel.departements(entity), epci)


def subject_described(
    kind: str,
    *,
    population: int | None = None,
    agents: int | None = None,
    budget_keur: Decimal | None = None,
    nature: str | None = None,
    categories: frozenset[str] = frozenset(),
    departement: str | None = None,
) -> Subject:
    """Collectivité décrite par le visiteur (établissement sans code, ou taille seule)."""
    if kind not in KIND_LABELS:
        raise SimulationError(f"type de collectivité « {kind[:40]} » inconnu.")
    if nature is not None and (kind != "epci" or nature not in NATURE_LABELS):
        raise SimulationError("la nature (CC, CA, CU, métropole) ne concerne que les EPCI.")
    if population is None and agents is None:
        raise SimulationError("indiquez la population ou le nombre d'agents.")
    parts = [KIND_LABELS[kind]]
    if population is not None:
        parts.append(f"de {_int(population)} habitants")
    if agents is not None:
        parts.append(("et " if population is not None else "de ") + f"{_int(agents)} agents")
    member = Member(
        ident="simulation",
        name=" ".join(parts),
        kind=kind,
        nature=nature,
        population_totale=population,
        population_municipale=population,
        population_source="saisie" if population is not None else None,
        agents=agents,
        budget_keur=budget_keur,
        categories=categories,
    )
    return Subject(member, None, frozenset({departement}) if departement else frozenset())


# -- le choix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    service: str
    quantities: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Selection:
    """Services choisis (avec leurs quantités), usages estimés par an, journées
    d'intervention au tarif journalier par an."""

    services: tuple[Choice, ...] = ()
    usage: dict[str, Decimal] = field(default_factory=dict)
    intervention_days: Decimal = ZERO

    def key(self) -> tuple:
        return (
            tuple((c.service, tuple(sorted(c.quantities.items()))) for c in self.services),
            tuple(sorted(self.usage.items())),
            self.intervention_days,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "services": [
                {"service": c.service, "quantites": {k: _num(v) for k, v in c.quantities.items()}}
                for c in self.services
            ],
            "usages": {k: _num(v) for k, v in self.usage.items()},
            "jours_intervention": _num(self.intervention_days),
        }


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def check_selection(catalogue: Catalogue, selection: Selection) -> None:
    """Services connus, quantités déclarées, pas de doublon, tarif journalier disponible."""
    seen: set[str] = set()
    for choice in selection.services:
        service = catalogue.services.get(choice.service)
        if service is None or service.day_rate:
            raise SimulationError(
                f"service « {choice.service[:60]} » absent du catalogue {catalogue.ident}."
            )
        if choice.service in seen:
            raise SimulationError(f"« {service.label} » est choisi deux fois.")
        seen.add(choice.service)
        declared = {q.code for q in service.quantities}
        for key in choice.quantities:
            if key not in declared:
                raise SimulationError(
                    f"« {service.label} » : quantité « {key[:40]} » inconnue "
                    f"({', '.join(q.label for q in service.quantities) or 'aucune'})."
                )
    known = {c.code for c in usage_counters(catalogue)}
    for counter in selection.usage:
        if counter not in known:
            raise SimulationError(f"usage « {counter[:40]} » inconnu du catalogue.")
    if selection.intervention_days and catalogue.day_rate_service is None:
        raise SimulationError(f"le catalogue {catalogue.ident} n'a pas de tarif journalier.")


@dataclass(frozen=True)
class Counter:
    """Un usage annuel que des prix lisent (volume de données, SMS, actes…)."""

    code: str
    label: str
    unit: str


def usage_counters(catalogue: Catalogue) -> list[Counter]:
    """Compteurs d'usage du catalogue, avec un libellé lisible (jamais le code seul)."""
    found: dict[str, Counter] = {}
    for service in catalogue.services.values():
        for comp in service.components:
            q = comp.quantity
            if q.kind == "usage" and q.name and q.name not in found:
                found[q.name] = Counter(q.name, f"{service.label} – {comp.label}", comp.unit)
            elif q.kind == "depassement" and q.name and q.name not in found:
                label = _entitlement_label(catalogue, service, q.entitlement) or comp.label
                found[q.name] = Counter(q.name, f"{label} : volume utilisé", comp.unit)
    for grid in catalogue.grids.values():
        for axis in (grid.columns, grid.rows):
            if axis is not None and axis.dimension.startswith("usage."):
                name = axis.dimension.removeprefix("usage.")
                unit = axis.tiers[0].label.split()[-1] if axis.tiers else ""
                if name not in found:
                    found[name] = Counter(name, f"Volume de données pour « {grid.label} »", unit)
    return sorted(found.values(), key=lambda c: c.label)


def _entitlement_label(catalogue: Catalogue, service: Service, code: str | None) -> str | None:
    if code is None or service.entitlements is None:
        return None
    table = catalogue.tables[service.entitlements.table]
    return next((c.label for c in table.columns if c.code == code), None)


def entitlement_labels(catalogue: Catalogue) -> dict[str, str]:
    """Droits inclus (colonnes des tables de strates) → libellé."""
    labels: dict[str, str] = {}
    for service in catalogue.services.values():
        if service.entitlements is not None:
            table = catalogue.tables[service.entitlements.table]
            for col in table.columns:
                if col.code in service.entitlements.columns:
                    labels.setdefault(col.code, col.label)
    return labels


def default_quantities(service: Service) -> dict[str, Decimal]:
    """Une unité de chaque quantité déclarée : le prix d'un poste, d'un utilisateur…"""
    return {q.code: Decimal(1) for q in service.quantities}


def applicable(catalogue: Catalogue, service: Service, member: Member) -> str | None:
    """None si le service peut être proposé à ce type de collectivité, sinon la raison."""
    kinds = member.kinds
    reasons = []
    for comp in service.components:
        if comp.quantity.kind == "communes_membres" and member.kind != "epci":
            reasons.append("réservé aux EPCI (participation de leurs communes)")
        elif comp.price.kind == "grille":
            grid = catalogue.grids[comp.price.table]  # type: ignore[index]
            if grid.types is not None and not (kinds & grid.types):
                names = ", ".join(sorted(KIND_LABELS.get(t, t) for t in grid.types))
                reasons.append(f"réservé : {names}")
        else:
            return None
    if service.billed_to == "epci" and member.kind != "epci" and not reasons:
        reasons.append("facturé à l'EPCI")
    return reasons[0] if reasons else None


# -- l'année des tarifs ---------------------------------------------------------------------


@dataclass(frozen=True)
class TariffYear:
    year: int
    note: str | None  # pourquoi ce n'est pas l'année demandée


def tariff_year(catalogue: Catalogue, index: IndexTable | None, wanted: int) -> TariffYear:
    """La dernière année, au plus `wanted`, dont les tarifs se calculent : une année dont la
    révision attend un indice non publié (ou non saisi) ne se chiffre pas, on ne l'invente
    pas. Jamais avant l'entrée en vigueur du catalogue ni avant l'année de ses prix."""
    years = _price_years(catalogue)
    starts = years + ([catalogue.valid_from.year] if catalogue.valid_from else [])
    floor = max(starts, default=wanted)
    if wanted < floor:
        return TariffYear(floor, f"le catalogue s'applique à partir de {floor}.")
    clause = catalogue.revision
    if clause is None or not years or index is None:
        return TariffYear(wanted, None)
    base = min(years)
    year = wanted
    missing: IndexMissingError | None = None
    while year > floor:
        try:
            index.revise(Decimal(100), base, year, clause.month)
            break
        except IndexMissingError as exc:
            missing = missing or exc
            year -= 1
    if year == wanted:
        return TariffYear(year, None)
    assert missing is not None
    return TariffYear(
        year,
        f"les tarifs {wanted} ne se calculent pas encore : la valeur de l'indice "
        f"{missing.index.upper()} de {missing.month} manque à la révision ({clause.clause}). "
        f"Tarifs {year}, les derniers connus.",
    )


def _price_years(catalogue: Catalogue) -> list[int]:
    years = set()
    for service in catalogue.services.values():
        for comp in service.components:
            if comp.price.kind == "montant" and comp.price.year is not None:
                years.add(comp.price.year)
    for table in catalogue.tables.values():
        if table.year is not None:
            years.add(table.year)
    for grid in catalogue.grids.values():
        if grid.year is not None:
            years.add(grid.year)
    return sorted(years)


# -- le chiffrage ----------------------------------------------------------------------------


@dataclass(frozen=True)
class YearQuote:
    rank: int  # 0 : 1re année
    quote: MemberQuote

    @property
    def label(self) -> str:
        return YEAR_LABELS.get(self.rank, f"{self.rank + 1}e année")


@dataclass(frozen=True)
class Simulation:
    catalogue: Catalogue
    year: int
    subject: Subject
    selection: Selection
    years: tuple[YearQuote, ...]

    @property
    def total(self) -> Totals:
        net = sum((y.quote.totals.net for y in self.years), ZERO)
        vat = sum((y.quote.totals.vat for y in self.years), ZERO)
        return Totals(net, vat, net + vat, ())

    @property
    def incomplete(self) -> bool:
        """Vrai si une ligne est sur devis ou sans prix publié (hors des totaux)."""
        return any(y.quote.sur_devis or y.quote.missing_prices for y in self.years)


def member_for(
    subject: Subject, selection: Selection, catalogue: Catalogue, year: int, rank: int
) -> Member:
    """L'adhérent tel qu'il serait facturé l'année `year`, sa convention ayant commencé
    `rank` années plus tôt (le 1er janvier : pas de prorata, R21)."""
    start = dt.date(year - rank, 1, 1)
    interventions: tuple[Intervention, ...] = ()
    if selection.intervention_days:
        interventions = (
            Intervention(
                dt.date(year, 1, 1),
                selection.intervention_days,
                "Journées d'intervention (estimation)",
            ),
        )
    return replace(
        subject.member,
        subscriptions=tuple(
            Subscription(c.service, start, dict(c.quantities)) for c in selection.services
        ),
        convention=Convention(start),
        usage=dict(selection.usage),
        interventions=interventions,
    )


_pricers: OrderedDict[tuple, Pricer] = OrderedDict()
_lock = threading.Lock()


def _pricer(catalogue: Catalogue, index: IndexTable | None, year: int) -> Pricer:
    """Un calculateur par catalogue, table d'indice et année, gardé (ses caches de
    révisions et de strates servent à toutes les simulations)."""
    key = (id(catalogue), id(index), year)
    with _lock:
        found = _pricers.get(key)
        if found is not None and found.catalogue is catalogue and found.index is index:
            _pricers.move_to_end(key)
            return found
        pricer = Pricer(catalogue, index, year)
        _pricers[key] = pricer
        while len(_pricers) > 64:
            _pricers.popitem(last=False)
        return pricer


def simulate(
    catalogue: Catalogue,
    index: IndexTable | None,
    year: int,
    subject: Subject,
    selection: Selection,
    *,
    years: int = DEFAULT_YEARS,
) -> Simulation:
    """Chiffre le choix pour `years` années consécutives aux tarifs de `year`."""
    if not 1 <= years <= MAX_YEARS:
        raise SimulationError(f"de 1 à {MAX_YEARS} années.")
    check_selection(catalogue, selection)
    pricer = _pricer(catalogue, index, year)
    quotes = tuple(
        YearQuote(rank, pricer.quote(member_for(subject, selection, catalogue, year, rank)))
        for rank in range(years)
    )
    return Simulation(catalogue, year, subject, selection, quotes)


# -- l'offre, service par service --------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # identité : l'offre mémorisée sert de clé (offer_dict)
class Offer:
    """Un service du catalogue chiffré seul pour la collectivité (colonnes du comparatif)."""

    service: Service
    quantities: dict[str, Decimal]
    unavailable: str | None = None
    error: str | None = None
    simulation: Simulation | None = None
    entitlements: tuple[tuple[str, int], ...] = ()
    stratum: str | None = None

    @property
    def first(self) -> MemberQuote | None:
        return self.simulation.years[0].quote if self.simulation else None

    @property
    def following(self) -> MemberQuote | None:
        if self.simulation is None or len(self.simulation.years) < 2:
            return None
        return self.simulation.years[1].quote

    @property
    def status(self) -> str:
        """« sur devis », « prix non publié » ou vide (le montant se lit dans les totaux)."""
        if self.simulation is None:
            return ""
        lines = [line for y in self.simulation.years for line in y.quote.lines]
        if any(line.status == "sur_devis" for line in lines):
            return "sur devis"
        if any(line.status == "prix_manquant" for line in lines):
            return "prix non publié"
        return ""

    def prices(self) -> list[str]:
        """Prix unitaires de l'année, composante par composante (1re année puis suivantes)."""
        if self.simulation is None:
            return []
        texts: list[str] = []
        for y in self.simulation.years[:2]:
            for line in y.quote.lines:
                text = _price_text(line, y.rank)
                if text not in texts:
                    texts.append(text)
        return texts


def _price_text(line: Any, rank: int) -> str:
    label = line.label
    if line.status == "sur_devis":
        return f"{label} : sur devis"
    if line.status == "prix_manquant":
        return f"{label} : prix non publié"
    if line.unit_price is None:
        return label
    per = f" par {line.unit}" if line.unit and line.unit != "forfait" else ""
    when = ""
    if line.detail.startswith(("1re année", "années suivantes", "renouvellement")):
        when = f" ({line.detail.split(' ; ')[0]})"
    return f"{label}{when} : {fmt_fr(line.unit_price)}{per}"


_offers: OrderedDict[tuple, list[Offer]] = OrderedDict()


def offers(
    catalogue: Catalogue,
    index: IndexTable | None,
    year: int,
    subject: Subject,
    *,
    quantities: dict[str, dict[str, Decimal]] | None = None,
    usage: dict[str, Decimal] | None = None,
    years: int = DEFAULT_YEARS,
) -> list[Offer]:
    """Chaque service du catalogue (hors tarif journalier) chiffré seul, aux quantités
    données (une unité par défaut), dans l'ordre du catalogue. Mémorisé par entrée."""
    quantities = quantities or {}
    usage = usage or {}
    key = (
        id(catalogue),
        id(index),
        year,
        subject.key(),
        tuple(sorted((k, tuple(sorted(v.items()))) for k, v in quantities.items())),
        tuple(sorted(usage.items())),
        years,
    )
    with _lock:
        found = _offers.get(key)
        if found is not None:
            _offers.move_to_end(key)
            return found
    result = []
    labels = entitlement_labels(catalogue)
    for service in catalogue.services.values():
        if service.day_rate:
            continue
        qty = quantities.get(service.code) or default_quantities(service)
        reason = applicable(catalogue, service, subject.member)
        if reason is not None:
            result.append(Offer(service, qty, unavailable=reason))
            continue
        selection = Selection((Choice(service.code, qty),), dict(usage))
        try:
            sim = simulate(catalogue, index, year, subject, selection, years=years)
        except OpsnError as exc:
            result.append(Offer(service, qty, error=str(exc)))
            continue
        first = sim.years[0].quote
        rights = tuple((labels.get(k, k), v) for k, v in first.entitlements.items())
        result.append(Offer(service, qty, None, None, sim, rights, first.entitlements_stratum))
    with _lock:
        _offers[key] = result
        while len(_offers) > 256:
            _offers.popitem(last=False)
    return result


# -- sorties JSON (API et devis) -----------------------------------------------------------------


def totals_dict(totals: Totals) -> dict[str, str]:
    return {
        "total_ht": fmt(totals.net),
        "total_tva": fmt(totals.vat),
        "total_ttc": fmt(totals.gross),
    }


def simulation_dict(sim: Simulation) -> dict[str, Any]:
    """Le chiffrage en JSON : pour chaque année, le devis du cœur au format d'`opsn simuler
    --format json` (`opsn.core.report.quote_to_dict`), plus le total des années."""
    labels = entitlement_labels(sim.catalogue)
    years = []
    for y in sim.years:
        data = quote_to_dict(y.quote)
        data["annee"] = sim.year
        data["rang"] = y.rank + 1
        data["libelle"] = y.label
        data["droits_libelles"] = [
            {"code": k, "libelle": labels.get(k, k), "quantite": v}
            for k, v in y.quote.entitlements.items()
        ]
        for line, raw in zip(data["lignes"], y.quote.lines, strict=True):
            line["statut_libelle"] = STATUS_LABELS.get(raw.status, raw.status)
            line["tva"]["libelle"] = raw.vat.label
        years.append(data)
    return {
        "catalogue": sim.catalogue.ident,
        "catalogue_libelle": sim.catalogue.label,
        "annee_tarifs": sim.year,
        "collectivite": sim.subject.as_dict(),
        "choix": sim.selection.as_dict(),
        "annees": years,
        "total": {**totals_dict(sim.total), "annees": len(sim.years)},
        "incomplet": sim.incomplete,
    }


@functools.lru_cache(maxsize=8192)
def offer_dict(offer: Offer) -> dict[str, Any]:
    """L'offre en JSON (mémorisée avec l'offre : à ne pas modifier)."""
    data: dict[str, Any] = {
        "service": offer.service.code,
        "libelle": offer.service.label,
        "famille": offer.service.family,
        "forfait": offer.service.forfait,
        "quantites": [
            {
                "code": q.code,
                "libelle": q.label,
                "unite": q.unit,
                "valeur": _num(offer.quantities.get(q.code, ZERO)),
            }
            for q in offer.service.quantities
        ],
        "indisponible": offer.unavailable,
        "erreur": offer.error,
        "statut": offer.status,
        "droits": [{"libelle": label, "quantite": v} for label, v in offer.entitlements],
        "strate": offer.stratum,
        "prix": offer.prices(),
        "premiere_annee": None,
        "annees_suivantes": None,
        "total": None,
    }
    if offer.simulation is not None:
        data["textes"] = {
            "premiere_annee": fmt_fr(offer.first.totals.gross),  # type: ignore[union-attr]
            "annees_suivantes": fmt_fr(offer.following.totals.gross)
            if offer.following is not None
            else "",
            "total": fmt_fr(offer.simulation.total.gross),
        }
        data["premiere_annee"] = totals_dict(offer.first.totals)  # type: ignore[union-attr]
        if offer.following is not None:
            data["annees_suivantes"] = totals_dict(offer.following.totals)
        data["total"] = {
            **totals_dict(offer.simulation.total),
            "annees": len(offer.simulation.years),
        }
    return data
