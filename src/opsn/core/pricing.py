"""Calcul de ce qu'un adhérent doit pour une année, ligne par ligne, avec l'explication.

Toute règle de prix vient du catalogue (données) ; ce module applique les
mécanismes génériques, chacun rattaché à sa règle de business-rules.md :
strates (R1–R3), grilles « jusqu'à » (R5, R7), comptage des EP (R6), prix de
base et révision (R9–R11), phases (R12), niveaux (R13, par les composantes),
sur devis (R14), prix manquants (R15), quotas et dépassements (R16), usages
(R17), tarif journalier (R18), certificats et validité (R19), dotations (R20),
convention et préavis (R21, R22), TVA (R23), facturation à l'EPCI (R24),
explication des lignes (R25), arrondis (R26).
"""

from __future__ import annotations

import datetime as dt
import functools
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from opsn.core import dates
from opsn.core.errors import PricingError, RefusedError
from opsn.core.index import IndexTable, Revision
from opsn.core.members import Member, Subscription
from opsn.core.model import (
    DIMENSIONS,
    PHASE_FR,
    PHASES,
    Axis,
    Catalogue,
    CellValue,
    Component,
    CountingRule,
    Criterion,
    Grid,
    Service,
    StrataTable,
    StratumRow,
    VatRegime,
)
from opsn.core.money import CENT, ZERO, fmt_fr, round_cents
from opsn.core.ranges import box_inside

Status = Literal["montant", "sur_devis", "prix_manquant", "inclus"]
_ONE = Decimal(1)


@dataclass(slots=True, eq=False)
class Line:
    """Une ligne due. Valeur figée par convention (non `frozen` : l'initialisation d'une
    classe figée coûte deux fois plus cher, et on en crée des centaines de milliers)."""

    service: str
    service_label: str
    component: str
    label: str
    family: str
    status: Status
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    amount: Decimal | None
    vat: VatRegime
    rule: str
    stratum: str | None
    base_price: Decimal | None
    base_year: int | None
    revision: Revision | None
    billed_to: str
    # De quoi rédiger l'explication (R25) à la demande : la phrase n'est construite que si
    # on la lit (affichage, facture), pas pendant le calcul de masse.
    service_ref: Service | None = None
    component_ref: Component | None = None
    phase: str = "toutes"
    qty_note: str = ""
    origin: str = ""
    note: str | None = None
    # R4 : (adhérent, « totale » ou « municipale ») quand le prix dépend de la population ;
    # l'explication nomme alors le chiffre et son millésime (`Member.population_source`)
    population_ref: tuple[Member, str] | None = None

    @property
    def detail(self) -> str:
        """Phrase d'explication en français : règle, strate, prix de base, révision, calcul."""
        if self.note is not None or self.service_ref is None or self.component_ref is None:
            return self.note or ""
        return _explain(
            self.service_ref,
            self.component_ref,
            self.phase,
            self.quantity,
            self.unit_price,
            self.amount,
            self.base_price,
            self.base_year,
            self.revision,
            self.stratum,
            self.status,
            self.qty_note,
            self.origin,
            self.component_ref.price.text,
            self.population_ref,
        )

    @property
    def index_ratio(self) -> Decimal | None:
        return self.revision.ratio if self.revision and self.revision.steps else None


# Totaux et devis : valeurs figées par convention, comme `Line` (une classe `frozen` coûte
# trop cher à construire pour le calcul de masse : un devis par adhérent).
@dataclass(slots=True)
class VatTotal:
    regime: VatRegime
    net: Decimal
    vat: Decimal


@dataclass(slots=True)
class Totals:
    net: Decimal
    vat: Decimal
    gross: Decimal
    by_rate: tuple[VatTotal, ...]


@dataclass(frozen=True)
class AllowanceUse:
    code: str
    label: str
    quantity: Decimal
    used: Decimal
    period_years: int
    clause: str


@dataclass(slots=True)
class MemberQuote:
    member: Member
    year: int
    catalogue: str
    lines: tuple[Line, ...]
    entitlements: dict[str, int]
    entitlements_stratum: str | None
    allowances: tuple[AllowanceUse, ...]
    warnings: tuple[str, ...]
    totals: Totals
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sur_devis(self) -> list[Line]:
        return [line for line in self.lines if line.status == "sur_devis"]

    @property
    def missing_prices(self) -> list[Line]:
        return [line for line in self.lines if line.status == "prix_manquant"]


def compute_totals(lines: list[Line] | tuple[Line, ...]) -> Totals:
    """R23 : TVA par taux, calculée sur le total HT de ce taux, arrondie au centime."""
    # Regroupement par régime (objet du catalogue, partagé par ses lignes), puis par
    # (type, taux) : le premier régime rencontré d'un taux le nomme.
    regime: VatRegime | None = None
    net = ZERO
    for line in lines:  # cas courant : un seul régime pour toute la pièce
        amount = line.amount
        if amount is not None:
            if line.vat is not regime:
                if regime is not None:
                    break
                regime = line.vat
            net += amount
    else:
        if regime is None:
            return Totals(ZERO, ZERO, ZERO, ())
        vat = round_cents(net * regime.rate / 100) if regime.kind == "ht" else ZERO
        net = round_cents(net)
        return Totals(net, vat, net + vat, (VatTotal(regime, net, vat),))
    amounts: dict[int, list[Decimal]] = {}
    regimes: dict[int, VatRegime] = {}
    for line in lines:
        amount = line.amount
        if amount is not None:
            key = id(line.vat)
            found = amounts.get(key)
            if found is None:
                amounts[key] = [amount]
                regimes[key] = line.vat
            else:
                found.append(amount)
    groups: dict[tuple[str, Decimal], list] = {}
    for key, values in amounts.items():
        regime = regimes[key]
        rate_key = (regime.kind, regime.rate)
        group = groups.get(rate_key)
        if group is None:
            groups[rate_key] = [regime, sum(values, ZERO)]
        else:
            group[1] += sum(values, ZERO)
    if len(groups) == 1:
        (((kind, rate), (regime, net)),) = groups.items()
        vat = round_cents(net * rate / 100) if kind == "ht" else ZERO
        net = round_cents(net)
        return Totals(net, vat, net + vat, (VatTotal(regime, net, vat),))
    by_rate = []
    for (kind, rate), (regime, net) in sorted(groups.items()):
        vat = round_cents(net * rate / 100) if kind == "ht" else ZERO
        by_rate.append(VatTotal(regime, round_cents(net), vat))
    net = sum((t.net for t in by_rate), ZERO)
    vat = sum((t.vat for t in by_rate), ZERO)
    return Totals(net, vat, net + vat, tuple(by_rate))


class _Priced:
    """Prix d'une composante pour une clé donnée (voir `Pricer._priced`), et les champs
    d'une ligne qui en découlent, prêts à l'emploi : `head`, les 16 premiers champs d'une
    ligne d'une unité (quantité 1, libellé de la composante) ; `mid`, ses champs du
    statut à la révision (tout sauf l'identité du service et de la composante)."""

    __slots__ = (
        "base_amount",
        "base_year",
        "head",
        "mid",
        "origin",
        "post",
        "pre",
        "revision",
        "status",
        "stratum",
        "unit_price",
    )
    # n-uplets de longueur libre pour le typage : on les déplie dans `Line(...)`
    head: tuple
    mid: tuple
    pre: tuple
    post: tuple

    def __init__(
        self,
        cp: _ComponentPlan,
        status: Status,
        base_amount: Decimal | None,
        base_year: int | None,
        stratum: str | None,
        origin: str,
        unit_price: Decimal | None,
        revision: Revision | None,
    ) -> None:
        self.status = status
        self.base_amount = base_amount
        self.base_year = base_year
        self.stratum = stratum
        self.origin = origin
        self.unit_price = unit_price
        self.revision = revision
        service, comp = cp.service, cp.comp
        one = None if unit_price is None else round_cents(unit_price)
        mid: tuple = (status, _ONE, comp.unit, unit_price, one, cp.vat, comp.clause, stratum)
        self.mid = mid = (*mid, base_amount, base_year, revision)
        ident: tuple = (service.code, service.label, comp.code, comp.label, service.family)
        self.head = (*ident, *mid)
        # autour de la quantité, de l'unité, du prix unitaire et du montant
        self.pre = (*ident, status)
        self.post = (cp.vat, comp.clause, stratum, base_amount, base_year, revision)


class _ComponentPlan:
    """Ce que le calcul de masse lit d'une composante, réuni une fois par calculateur.

    Les prix sont mémorisés par clé : une composante à prix fixe (montant, sur devis, à
    renseigner, bon de commande sans montant saisi) n'en a qu'un ; une table par ligne de
    strate retenue ; une grille à grandeurs simples par type d'adhérent et grandeurs ; et
    chacun par montant saisi. Un prix est calculé à la première ligne qui en a besoin :
    la révision lève donc ses erreurs (tarif postérieur à l'année, indice manquant)
    exactement quand l'ancien calcul ligne à ligne les levait."""

    __slots__ = (
        "comp",
        "entitlement",
        "fixed",
        "fixed_kind",
        "grid_dims",
        "phase",
        "population",
        "price_kind",
        "prices",
        "qkind",
        "qname",
        "service",
        "static",
        "vat",
    )

    def __init__(
        self, catalogue: Catalogue, service: Service, comp: Component, vat: VatRegime
    ) -> None:
        self.service = service
        self.comp = comp
        self.phase = comp.phase
        self.qkind = comp.quantity.kind
        self.qname = comp.quantity.name
        self.entitlement = comp.quantity.entitlement
        self.price_kind = comp.price.kind
        # un montant imprimé ne dépend de rien (un montant saisi ne le remplace pas, R14) ;
        # sur devis, à renseigner, bon de commande ne dépendent que du montant saisi
        self.fixed_kind = comp.price.kind == "montant"
        self.static = comp.price.kind not in ("table", "grille")
        self.vat = vat
        self.fixed: _Priced | None = None
        self.prices: dict[tuple, _Priced] = {}
        # grandeurs des axes d'une grille, si ce sont toutes des grandeurs simples de
        # l'adhérent (population, agents, budget) : le prix et le libellé du palier n'en
        # dépendent qu'avec le type de l'adhérent
        self.grid_dims: tuple[tuple[str, str, list[Decimal]], ...] | None = None
        # R4 : population (« totale » ou « municipale ») dont dépend le prix, s'il en dépend
        self.population: str | None = None
        if comp.price.kind == "grille":
            grid = catalogue.grids[comp.price.table]  # type: ignore[index]
            axes = [grid.columns] if grid.rows is None else [grid.columns, grid.rows]
            if all(axis.dimension in DIMENSIONS for axis in axes):
                # bornes des paliers, triées : la clé ne retient que la région où tombe
                # la grandeur (entre deux bornes, ou sur l'une), comme `_CriteriaMemo`
                self.grid_dims = tuple(
                    (axis.dimension, grid.population, sorted({t.bound for t in axis.tiers}))
                    for axis in axes
                )
            if any(axis.dimension == "population" for axis in axes):
                self.population = grid.population
        elif comp.price.kind == "table":
            table = catalogue.tables[comp.price.table]  # type: ignore[index]
            if any(
                name == "population"
                for row in table.rows
                for criterion in row.criteria
                for name, _ in criterion.bounds
            ):
                self.population = table.population


class _ServicePlan:
    __slots__ = (
        "allowances",
        "by_phase",
        "caps",
        "components",
        "entitlements",
        "epci_only",
        "heads",
        "per_commune",
        "prerequisites",
        "ruled",
        "service",
        "validity_years",
    )

    def __init__(self, catalogue: Catalogue, service: Service) -> None:
        vat = catalogue.vat_regimes[service.vat]
        self.service = service
        self.components = tuple(
            _ComponentPlan(catalogue, service, comp, vat) for comp in service.components
        )
        # composantes dues selon la phase de l'abonnement (R12)
        self.by_phase = {
            phase: tuple(cp for cp in self.components if cp.phase in ("toutes", phase))
            for phase in PHASES
        }
        self.validity_years = service.validity_years
        self.entitlements = service.entitlements
        # en-têtes des lignes par phase, si toutes les composantes sont « un » à montant
        # fixe (`Pricer._heads`) ; None sinon
        self.heads: dict[str, tuple | None] = {}
        # exclusivités et prérequis : contrôlés seulement si un service actif en a
        self.ruled = bool(service.exclusive_group or service.prerequisites)
        self.prerequisites = tuple(
            (frozenset(p.services), p.entitlement) for p in service.prerequisites
        )
        # plafonds imprimés (« limité à 2 par collectivités »…) : au-delà, refus
        self.caps = service.caps
        # R24 : service facturé à l'EPCI (adhésion mutualisée, participations des communes)
        self.epci_only = service.billed_to == "epci"
        self.per_commune = any(c.quantity.kind == "communes_membres" for c in service.components)
        # dotations sans intervention : leur usage de l'année est nul (R20)
        self.allowances = tuple(
            (a.code, AllowanceUse(a.code, a.label, a.quantity, ZERO, a.period_years, a.clause))
            for a in service.allowances
        )


class _CriteriaMemo:
    """Résultat mémorisé d'un calcul qui ne dépend de l'adhérent qu'à travers des critères
    (R1–R3) : la ligne retenue d'une table de strates, l'exclusion d'un rattaché du
    comptage des EP (R6).

    Un critère ne lit que le type, la nature et les catégories de l'adhérent, et la région
    élémentaire où tombe chaque grandeur contrainte : entre deux bornes consécutives des
    intervalles (ou sur une borne), l'appartenance à chaque intervalle est constante (comme
    pour `ranges.sample_points`). La clé de mémoire est donc exacte ; une grandeur
    manquante repasse par le calcul complet, qui lève la même erreur qu'avant."""

    __slots__ = ("compute", "dims", "memo", "population")

    def __init__(
        self,
        criteria: Iterable[Criterion],
        population: str,
        compute: Callable[[Member, dict[str, Decimal] | None], Any],
    ) -> None:
        bounds: dict[str, set[Decimal]] = {}
        for c in criteria:
            for dim, rng in c.bounds:
                found = bounds.setdefault(dim, set())
                found.add(rng.low)
                if rng.high is not None:
                    found.add(rng.high)
        self.dims = tuple((dim, sorted(values)) for dim, values in sorted(bounds.items()))
        self.population = population
        self.compute = compute
        self.memo: dict[tuple, Any] = {}

    def __call__(self, member: Member, quantities: dict[str, Decimal] | None = None) -> Any:
        key: list = [member.kind, member.nature, member.categories]
        for dim, ordered in self.dims:
            if dim == "population":
                value: Any = member.population(self.population)
            elif dim == "agents":
                value = member.agents
            elif dim == "budget_keur":
                value = member.budget_keur
            elif dim.startswith("quantite."):
                value = (quantities or {}).get(dim[9:])
            else:
                value = None
            if value is None:
                return self.compute(member, quantities)
            i = bisect_left(ordered, value)
            key.append(2 * i + 1 if i < len(ordered) and ordered[i] == value else 2 * i)
        frozen = tuple(key)
        try:
            return self.memo[frozen]
        except KeyError:
            result = self.memo[frozen] = self.compute(member, quantities)
            return result


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _grid_key(
    dims: tuple[tuple[str, str, list[Decimal]], ...] | None,
    member: Member,
    entered: Decimal | None,
) -> tuple | None:
    """Clé du prix d'une grille à grandeurs simples ; None si une grandeur manque (le calcul
    complet lève alors son erreur) ou si la grille compte des rattachés ou lit un usage.
    Chaque grandeur n'y figure que par sa région entre les bornes des paliers (sur une
    borne : 2i + 1 ; entre deux : 2i) : le palier « jusqu'à » ou « moins de » retenu, son
    libellé et son prix y sont constants, la clé est donc exacte."""
    if dims is None:
        return None
    # montants saisis par leur texte : 100 et 100,00 s'écrivent différemment
    key: list = [member.kind, _text(entered)]
    for dim, population, ordered in dims:
        if dim == "population":
            value: Any = member.population(population)
        elif dim == "agents":
            value = member.agents
        else:
            value = member.budget_keur
        if value is None:
            return None
        i = bisect_left(ordered, value)
        key.append(2 * i + 1 if i < len(ordered) and ordered[i] == value else 2 * i)
    return tuple(key)


class Pricer:
    """Calcule les devis d'un catalogue pour une année ; met en cache révisions et strates.

    Le calcul de masse (benchmarks/) passe par des plans préparés une fois par service
    (`_ServicePlan`) : prix fixes révisés une seule fois, strates mémorisées par région
    (`_StrataIndex`), contrôles sautés quand aucun service actif n'en porte. Chaque ligne
    garde de quoi rédiger son explication à la demande (R25)."""

    def __init__(self, catalogue: Catalogue, index: IndexTable | None, year: int) -> None:
        self.catalogue = catalogue
        self.index = index
        self.year = year
        self._revisions: dict[tuple[Decimal, int, str], Revision] = {}
        self._year_bounds = (dt.date(year, 1, 1), dt.date(year, 12, 31))
        self._plans: dict[str, _ServicePlan] = {}
        self._strata: dict[int, _CriteriaMemo] = {}
        self._exclusions: dict[int, _CriteriaMemo] = {}
        self._last_count: tuple[Member, CountingRule, int] | None = None
        self._last_stratum: tuple[Member, StrataTable, object, StratumRow | None] | None = None

    def _plan(self, code: str) -> _ServicePlan:
        plan = self._plans.get(code)
        if plan is None:
            plan = self._plans[code] = _ServicePlan(self.catalogue, self.catalogue.services[code])
        return plan

    def _stratum(
        self, table: StrataTable, member: Member, quantities: dict[str, Decimal] | None = None
    ) -> StratumRow | None:
        # plusieurs composantes d'un même service lisent la même table à la suite : la
        # dernière réponse est gardée pour le même adhérent et les mêmes quantités
        last = self._last_stratum
        if last is not None and last[0] is member and last[1] is table and last[2] is quantities:
            return last[3]
        memo = self._strata.get(id(table))
        if memo is None:
            memo = self._strata[id(table)] = _CriteriaMemo(
                (c for row in table.rows for c in row.criteria),
                table.population,
                functools.partial(resolve_stratum, table),
            )
        row = memo(member, quantities)
        self._last_stratum = (member, table, quantities, row)
        return row

    def _counted(self, rule: CountingRule, member: Member) -> int:
        """R6 : rattachés comptés (exclusions mémorisées ; compte gardé pour l'adhérent en
        cours, dont plusieurs composantes lisent le même comptage)."""
        last = self._last_count
        if last is not None and last[0] is member and last[1] is rule:
            return last[2]
        memo = self._exclusions.get(id(rule))
        if memo is None:

            def excluded(m: Member, _: object) -> bool:
                return any(criterion_matches(c, m, rule.population) for c in rule.exclude)

            memo = self._exclusions[id(rule)] = _CriteriaMemo(
                rule.exclude, rule.population, excluded
            )
        count = sum(1 for m in member.attached if not memo(m))
        self._last_count = (member, rule, count)
        return count

    # -- point d'entrée ------------------------------------------------------
    def quote(self, member: Member) -> MemberQuote:
        cat = self.catalogue
        year = self.year
        warnings: list[str] = []
        notes: list[str] = []
        conv_end = None
        convention = member.convention
        signature = None
        if convention is not None:
            signature = convention.signature
            conv_end = convention.end or dates.effective_end(
                signature, convention.notice_received, cat.convention
            )
            if conv_end is not None:
                notes.append(
                    f"Convention signée le {_d(signature)}, fin au "
                    f"{_d(conv_end)} ({cat.convention.clause}) : dernière année facturée "
                    f"{dates.last_billed_year(conv_end)}."
                )
        # R21 : un abonnement actif un seul jour de l'année est dû pour l'année entière.
        first_day, last_day = self._year_bounds
        plan_of = self._plans.get
        active: list[tuple[Subscription, _ServicePlan]] = []
        ruled = entitled = allowed = capped = False
        for sub in member.subscriptions:
            start = sub.start
            if signature is not None and signature > start:
                start = signature
            end = sub.end
            if conv_end is not None and (end is None or conv_end < end):
                end = conv_end
            if start <= last_day and (end is None or end > first_day):
                plan = plan_of(sub.service) or self._plan(sub.service)
                if plan.epci_only:
                    self._billed_to_epci(member, plan, warnings)
                active.append((sub, plan))
                if plan.ruled:
                    ruled = True
                if plan.entitlements is not None:
                    entitled = True
                if plan.allowances:
                    allowed = True
                if plan.caps:
                    capped = True
        if capped:
            self._check_caps(member, active)
        entitlements, stratum = self._entitlements(member, active) if entitled else ({}, None)
        lines = self._lines(member, active, entitlements)
        if ruled:
            warnings.extend(self._rules(member, active, entitlements))
        if member.interventions:
            allowance_uses: tuple[AllowanceUse, ...] = tuple(
                self.interventions(member, [s for s, _ in active], conv_end, lines)
            )
        elif allowed:
            zero: dict[str, AllowanceUse] = {}
            for _, plan in active:
                for code, use in plan.allowances:
                    zero[code] = use
            allowance_uses = tuple(zero.values())
        else:
            allowance_uses = ()
        return MemberQuote(
            member,
            year,
            cat.ident,
            tuple(lines),
            entitlements,
            stratum,
            allowance_uses,
            tuple(warnings) if warnings else (),
            compute_totals(lines),
            tuple(notes) if notes else (),
        )

    def _check_caps(self, member: Member, active: list[tuple[Subscription, _ServicePlan]]) -> None:
        """Plafonds imprimés par la source : la quantité souscrite (toutes les souscriptions
        actives du service réunies, le plafond valant « par collectivité ») ne dépasse pas le
        plafond ; sinon refus, avec le service, le plafond et la clause. Une quantité non
        renseignée (facultative) n'est pas contrôlée."""
        seen: set[str] = set()
        for _, plan in active:
            service = plan.service
            if not plan.caps or service.code in seen:
                continue
            seen.add(service.code)
            subs = [sub for sub, p in active if p is plan]
            for cap in plan.caps:
                given = [
                    sub.quantities[cap.quantity] for sub in subs if cap.quantity in sub.quantities
                ]
                if not given:
                    continue
                total = sum(given, ZERO)
                where = ""
                if cap.limit is not None:
                    limit = cap.limit
                else:
                    table = self.catalogue.tables[cap.table]  # type: ignore[index]
                    row = self._stratum(table, member, subs[0].quantities)
                    if row is None:
                        continue  # hors strates : sur devis, pas de plafond imprimé
                    limit = row.values[cap.column]  # type: ignore[index,assignment]
                    where = f" pour « {row.label} »"
                if total > limit:
                    decl = next(q for q in service.quantities if q.code == cap.quantity)
                    raise RefusedError(
                        f"{member.name} : « {service.label} » : {_qty(total)} "
                        f"{decl.label.lower()} demandé(s), au-delà du plafond de {limit}{where} "
                        f"({cap.clause}). Quantité refusée : elle ne peut être ni simulée ni "
                        "facturée."
                    )

    @staticmethod
    def _billed_to_epci(member: Member, plan: _ServicePlan, warnings: list[str]) -> None:
        """R24 : un service « facture_a: epci » n'est dû que par un EPCI adhérent. Souscrit
        par une commune hors de l'adhésion de son EPCI, il est refusé avec la raison ; jamais
        une ligne à 0,00 muette."""
        service = plan.service
        if "epci" not in member.kinds:
            raise RefusedError(
                f"{member.name} : « {service.label} » est facturé(e) à l'EPCI adhérent "
                f"({service.clause}) ; un adhérent de type {member.kind} ne peut pas le "
                "souscrire hors de l'adhésion mutualisée de son EPCI. Souscrivez-le dans "
                "l'abonnement de l'EPCI, qui liste ses communes membres (R24)."
            )
        if plan.per_commune and not any(child.kind == "commune" for child in member.attached):
            warnings.append(
                f"« {service.label} » : aucune commune membre n'est rattachée à {member.name} ; "
                "aucune participation individuelle n'est facturée (R24)."
            )

    @staticmethod
    def start_of(member: Member, sub: Subscription) -> dt.date:
        """Un abonnement ne commence pas avant la convention qui le porte."""
        if member.convention is not None and member.convention.signature > sub.start:
            return member.convention.signature
        return sub.start

    def first_year(self, member: Member, sub: Subscription) -> int:
        """R12 : la 1re année est la première année civile facturée de l'abonnement (de sa
        première version, si un avenant en a changé les quantités)."""
        if sub.first_start is not None:
            return self.start_of(member, replace(sub, start=sub.first_start)).year
        return self.start_of(member, sub).year

    # -- droits (R16) --------------------------------------------------------
    def entitlements(
        self, member: Member, active: list[Subscription]
    ) -> tuple[dict[str, int], str | None]:
        return self._entitlements(member, [(sub, self._plan(sub.service)) for sub in active])

    def _entitlements(
        self, member: Member, active: list[tuple[Subscription, _ServicePlan]]
    ) -> tuple[dict[str, int], str | None]:
        result: dict[str, int] = {}
        label = None
        for _, plan in active:
            rights = plan.entitlements
            if rights is None:
                continue
            table = self.catalogue.tables[rights.table]
            row = self._stratum(table, member)
            if row is None:
                raise PricingError(
                    f"{member.name} : aucune strate de « {table.label} » ne correspond "
                    f"({_describe_member(member, table.population)})"
                )
            label = row.label
            for col in rights.columns:
                value = row.values[col]
                if isinstance(value, int):
                    result[col] = max(result.get(col, 0), value)
        return result, label

    # -- lignes d'un abonnement ----------------------------------------------
    def subscription_lines(
        self, member: Member, sub: Subscription, entitlements: dict[str, int]
    ) -> list[Line]:
        return self._lines(member, [(sub, self._plan(sub.service))], entitlements)

    def _lines(
        self,
        member: Member,
        active: list[tuple[Subscription, _ServicePlan]],
        entitlements: dict[str, int],
    ) -> list[Line]:
        """Lignes des abonnements actifs, dans leur ordre, composante par composante."""
        year = self.year
        convention = member.convention
        signature = convention.signature if convention is not None else None
        name = member.name
        lines: list[Line] = []
        append = lines.append
        for sub, plan in active:
            start = sub.first_start if sub.first_start is not None else sub.start
            if signature is not None and signature > start:
                start = signature
            first = start.year
            validity = plan.validity_years
            if validity:
                elapsed = year - first
                if elapsed % validity:
                    continue
                phase_now = "premiere_annee" if elapsed == 0 else "renouvellement"
            else:
                phase_now = "premiere_annee" if year == first else "annees_suivantes"
            heads = plan.heads.get(phase_now)
            if heads is None and phase_now not in plan.heads:
                heads = self._heads(plan, phase_now, member, sub)
            if heads is not None:  # que des composantes « un » à montant fixe
                for head, service, comp in heads:
                    append(Line(*head, name, service, comp, phase_now, "", ""))  # type: ignore[call-arg]
                continue
            amounts = sub.amounts
            for cp in plan.by_phase[phase_now]:
                qkind = cp.qkind
                if qkind == "un":
                    priced = (
                        cp.fixed
                        if cp.fixed is not None
                        and (cp.fixed_kind or not amounts or cp.comp.code not in amounts)
                        else self._priced(cp, member, sub)
                    )
                    line = Line(  # type: ignore[call-arg]
                        *priced.head, name, cp.service, cp.comp, phase_now, "", priced.origin
                    )
                    if cp.population is not None:
                        line.population_ref = (member, cp.population)
                    append(line)
                    continue
                if qkind == "quantite":
                    quantity = sub.quantities.get(cp.qname, ZERO)  # type: ignore[arg-type]
                    qty_note = ""
                elif qkind == "communes_membres":
                    service, comp = cp.service, cp.comp
                    for child in member.attached:
                        if child.kind == "commune":
                            priced = self._priced(cp, child, sub)
                            line = Line(  # type: ignore[call-arg]
                                service.code,
                                service.label,
                                comp.code,
                                f"{comp.label} – {child.name}",
                                service.family,
                                *priced.mid,
                                name,
                                service,
                                comp,
                                phase_now,
                                "",
                                priced.origin,
                            )
                            if cp.population is not None:
                                line.population_ref = (child, cp.population)
                            append(line)
                    continue
                elif qkind == "usage":
                    quantity = member.usage.get(cp.qname, ZERO)  # type: ignore[arg-type]
                    if quantity == 0:
                        continue
                    qty_note = f"usage « {cp.qname} » {_qty(quantity)}"
                else:  # dépassement (R16)
                    used = member.usage.get(cp.qname, ZERO)  # type: ignore[arg-type]
                    if cp.entitlement is None:  # quantité incluse imprimée (0 : Forfait Hébergé)
                        included = Decimal(cp.comp.quantity.included)
                    else:
                        included = Decimal(entitlements.get(cp.entitlement, 0))
                    # R16 : les unités achetées en plus du quota relèvent le volume inclus ;
                    # elles sont facturées par leur propre service, jamais une 2e fois ici
                    bought = ZERO
                    for code, qname in cp.comp.quantity.bought:
                        for other, _ in active:
                            if other.service == code:
                                bought += other.quantities.get(qname, ZERO)
                    quantity = max(ZERO, used - included - bought)
                    if quantity == 0:
                        continue
                    qty_note = (
                        f"usage {_qty(used)} − inclus {_qty(included)}"
                        + (f" − acheté en plus {_qty(bought)}" if bought else "")
                        + f" = {_qty(quantity)} en dépassement"
                    )
                if quantity == 0:
                    continue
                if quantity < 0:
                    raise PricingError(
                        f"{name} : quantité négative ({quantity}) pour « {plan.service.label} »."
                    )
                fixed = cp.fixed
                if fixed is None or not (
                    cp.fixed_kind or not amounts or cp.comp.code not in amounts
                ):
                    append(self._line(cp, member, sub, quantity, phase_now, name, "", qty_note))
                    continue
                unit_price = fixed.unit_price
                append(
                    Line(  # type: ignore[call-arg]
                        *fixed.pre,
                        quantity,
                        cp.comp.unit,
                        unit_price,
                        None
                        if unit_price is None
                        else (unit_price * quantity).quantize(CENT, ROUND_HALF_UP),
                        *fixed.post,
                        name,
                        cp.service,
                        cp.comp,
                        phase_now,
                        qty_note,
                        fixed.origin,
                    )
                )
        return lines

    def _heads(
        self, plan: _ServicePlan, phase: str, member: Member, sub: Subscription
    ) -> tuple[tuple[tuple, Service, Component], ...] | None:
        """En-têtes des lignes d'un service dans une phase quand toutes ses composantes sont
        « un » à montant fixe (elles ne dépendent alors de rien d'autre) ; None sinon. Les
        prix sont calculés ici, dans l'ordre des composantes, comme ligne à ligne."""
        cps = plan.by_phase[phase]
        if not all(cp.qkind == "un" and cp.fixed_kind for cp in cps):
            plan.heads[phase] = None
            return None
        heads = tuple((self._priced(cp, member, sub).head, cp.service, cp.comp) for cp in cps)
        plan.heads[phase] = heads
        return heads

    def make_line(
        self,
        subject: Member,
        sub: Subscription,
        service: Service,
        comp: Component,
        quantity: Decimal,
        phase_now: str,
        *,
        billed_to: str,
        suffix: str = "",
        qty_note: str = "",
    ) -> Line:
        plan = next(cp for cp in self._plan(service.code).components if cp.comp is comp)
        return self._line(plan, subject, sub, quantity, phase_now, billed_to, suffix, qty_note)

    def _line(
        self,
        cp: _ComponentPlan,
        subject: Member,
        sub: Subscription,
        quantity: Decimal,
        phase_now: str,
        billed_to: str,
        suffix: str,
        qty_note: str,
    ) -> Line:
        priced = self._priced(cp, subject, sub)
        unit_price = priced.unit_price
        if unit_price is None:
            amount = None
        elif quantity is _ONE:
            amount = priced.mid[4]
        else:
            amount = (unit_price * quantity).quantize(CENT, ROUND_HALF_UP)
        comp = cp.comp
        service = cp.service
        # positionnel : c'est le chemin le plus chaud du calcul de masse (voir benchmarks/)
        line = Line(
            service.code,
            service.label,
            comp.code,
            comp.label + suffix if suffix else comp.label,
            service.family,
            priced.status,
            quantity,
            comp.unit,
            unit_price,
            amount,
            cp.vat,
            comp.clause,
            priced.stratum,
            priced.base_amount,
            priced.base_year,
            priced.revision,
            billed_to,
            service,
            comp,
            phase_now,
            qty_note,
            priced.origin,
        )
        if cp.population is not None:
            line.population_ref = (subject, cp.population)
        return line

    def _priced(self, cp: _ComponentPlan, subject: Member, sub: Subscription) -> _Priced:
        """Prix mémorisé de la composante pour cet adhérent et cet abonnement : il ne
        dépend que de la ligne de strate retenue (table), des grandeurs de l'adhérent
        (grille à population, agents ou budget) et du montant saisi."""
        kind = cp.price_kind
        entered = sub.amounts.get(cp.comp.code) if sub.amounts else None
        key: tuple | None
        if cp.static and (entered is None or cp.fixed_kind):
            if cp.fixed is None:
                cp.fixed = self._pricing(cp, None, None)
            return cp.fixed
        if entered is not None and kind != "table" and kind != "grille":
            # montant saisi (devis, bon de commande) : propre à l'abonnement, presque jamais
            # répété ; le garder ferait grandir la mémoire avec le nombre d'adhérents
            return self._pricing(cp, subject, sub)
        if kind == "table":
            table = self.catalogue.tables[cp.comp.price.table]  # type: ignore[index]
            row = self._stratum(table, subject, sub.quantities)
            key = (id(row) if row is not None else None, _text(entered))
        elif kind == "grille":
            key = _grid_key(cp.grid_dims, subject, entered)
        else:
            key = (None, _text(entered))
        priced = cp.prices.get(key) if key is not None else None
        if priced is None:
            priced = self._pricing(cp, subject, sub)
            if key is not None:
                cp.prices[key] = priced
        return priced

    def _pricing(
        self, cp: _ComponentPlan, subject: Member | None, sub: Subscription | None
    ) -> _Priced:
        """Prix d'une composante (calcul complet). `subject` et `sub` ne servent pas à un
        prix fixe (il ne dépend que du catalogue et de l'année)."""
        cat = self.catalogue
        comp = cp.comp
        price = comp.price
        kind = cp.price_kind
        stratum = None
        base_amount: Decimal | None = None
        base_year: int | None = None
        status: Status = "montant"
        origin = ""
        if kind == "montant":
            base_amount, base_year = price.amount, price.year
        elif kind == "table" or kind == "grille":
            assert subject is not None and sub is not None
            if kind == "table":
                table = cat.tables[price.table]  # type: ignore[index]
                row = self._stratum(table, subject, sub.quantities)
                if row is None:
                    if table.outside == "sur_devis":
                        value: CellValue = "sur_devis"
                        stratum = "hors strates"
                    else:
                        raise PricingError(
                            f"{subject.name} : aucune ligne de « {table.label} » ne correspond "
                            f"({_describe_member(subject, table.population)})"
                        )
                else:
                    value = row.values[price.column]  # type: ignore[index]
                    stratum = row.label
                year_of_table = table.year
            else:
                grid = cat.grids[price.table]  # type: ignore[index]
                value, stratum = resolve_grid(grid, subject, cat, self._counted)
                year_of_table = grid.year
            if isinstance(value, Decimal):
                base_amount, base_year = value, year_of_table
            elif value == "a_renseigner":
                status = "prix_manquant"
            else:
                status = "sur_devis"
        elif kind == "sur_devis":
            status = "sur_devis"
        elif kind == "a_renseigner" or kind == "bon_de_commande":
            status = "prix_manquant"
        # montant saisi par l'utilisateur (R14 : devis accepté ; 001 art. 3.1 : bon de commande)
        entered = sub.amounts.get(comp.code) if sub is not None and sub.amounts else None
        if entered is not None and status != "montant":
            status = "montant"
            base_amount, base_year = entered, self.year
            origin = "montant saisi (devis ou bon de commande)"
        revision = None
        unit_price = None
        if status == "montant":
            assert base_amount is not None
            unit_price, revision = self.revise(
                base_amount, base_year, comp.revisable and not origin, comp, cp.service
            )
        return _Priced(cp, status, base_amount, base_year, stratum, origin, unit_price, revision)

    # -- révision (R9–R11) ---------------------------------------------------
    def revise(
        self,
        amount: Decimal,
        base_year: int | None,
        revisable: bool,
        comp: Component,
        service: Service,
    ) -> tuple[Decimal, Revision | None]:
        year = self.year
        clause = self.catalogue.revision
        if base_year is None:
            # R28 : prix sans année, admis seulement sans clause de révision (le chargeur le
            # garantit) : il s'applique tel qu'imprimé à toute année du catalogue
            if clause is not None and revisable:
                raise PricingError(
                    f"« {service.label} – {comp.label} » : prix sans année dans un catalogue "
                    "révisable (R9)."
                )
            return amount, None
        if year < base_year:
            raise PricingError(
                f"« {service.label} – {comp.label} » : le tarif est établi pour {base_year} ; "
                f"il ne peut pas servir à facturer {year}."
            )
        if not revisable or clause is None or year == base_year:
            return amount, None
        key = (amount, base_year, clause.index)
        cached = self._revisions.get(key)
        if cached is None:
            if self.index is None:
                raise PricingError("aucune table d'indice fournie pour réviser les tarifs")
            cached = self.index.revise(
                amount, base_year, year, clause.month, what=f"« {service.label} – {comp.label} »"
            )
            self._revisions[key] = cached
        return cached.price, cached

    # -- contrôles : exclusivités, prérequis ---------------------------------
    def _rules(
        self,
        member: Member,
        active: list[tuple[Subscription, _ServicePlan]],
        entitlements: dict[str, int],
    ) -> list[str]:
        """Avertissements de `check_rules` : le cas courant (aucune exclusivité violée,
        prérequis présents) est reconnu sans rien trier ni rédiger."""
        groups: dict[str, str] = {}
        codes: set[str] | None = None
        for _, plan in active:
            service = plan.service
            group = service.exclusive_group
            if group and groups.setdefault(group, service.code) != service.code:
                break
            if plan.prerequisites:
                if codes is None:
                    codes = {s.service for s, _ in active}
                for required, right in plan.prerequisites:
                    if codes.isdisjoint(required) and not (
                        right is not None and entitlements.get(right, 0) > 0
                    ):
                        break
                else:
                    continue
                break
        else:
            return []
        warnings: list[str] = []
        self.check_rules(member, [sub for sub, _ in active], entitlements, warnings)
        return warnings

    def check_rules(
        self,
        member: Member,
        active: list[Subscription],
        entitlements: dict[str, int],
        warnings: list[str],
    ) -> None:
        services = self.catalogue.services
        codes = {s.service for s in active}
        groups: dict[str, list[str]] = {}
        for code in sorted(codes):
            group = services[code].exclusive_group
            if group:
                groups.setdefault(group, []).append(services[code].label)
        for labels in groups.values():
            if len(labels) > 1:
                warnings.append(f"{' et '.join(labels)} s'excluent : un seul peut être souscrit.")
        for code in sorted(codes):
            for prereq in services[code].prerequisites:
                ok = any(s in codes for s in prereq.services) or (
                    prereq.entitlement is not None and entitlements.get(prereq.entitlement, 0) > 0
                )
                if not ok:
                    warnings.append(
                        f"« {services[code].label} » nécessite {prereq.label} ({prereq.clause})."
                    )

    # -- interventions au tarif journalier (R18) et dotations (R20) ----------
    def interventions(
        self,
        member: Member,
        active: list[Subscription],
        conv_end: dt.date | None,
        lines: list[Line],
    ) -> list[AllowanceUse]:
        cat = self.catalogue
        year = self.year
        allowances = {}
        for sub in active:
            for a in cat.services[sub.service].allowances:
                allowances[a.code] = a
        # R20 : chaque intervention imputée consomme la dotation de sa propre fenêtre
        # (les `period_years` années civiles qui finissent avec la sienne), dans l'ordre
        # chronologique ; ce qui a été facturé ne se réimpute jamais plus tard.
        included_by: list[tuple[str, int, Decimal]] = []  # (dotation, année, jours inclus)
        for item in sorted(member.interventions, key=lambda i: i.day):
            days = item.days
            included = ZERO
            if item.allowance is not None:
                if item.allowance not in allowances:
                    raise PricingError(
                        f"{member.name} : l'intervention du {_d(item.day)} est imputée sur la "
                        f"dotation « {item.allowance} », que ses forfaits ne comportent pas."
                    )
                a = allowances[item.allowance]
                consumed = sum(
                    (
                        q
                        for code, y, q in included_by
                        if code == a.code and item.day.year - a.period_years < y
                    ),
                    ZERO,
                )
                included = min(max(ZERO, a.quantity - consumed), days)
                if included:
                    included_by.append((a.code, item.day.year, included))
            if item.day.year != year:
                continue
            if item.allowance is not None:
                # R20 : au-delà de la dotation, le tarif de la prestation elle-même (prestations
                # complémentaires), que la dotation nomme (`facture_par`)
                service = cat.services[allowances[item.allowance].billed_by]
            elif cat.day_rate_service is None:
                raise PricingError(
                    f"{member.name} : le catalogue {cat.ident} ne prévoit pas de tarif journalier "
                    "pour facturer des interventions."
                )
            else:
                service = cat.services[cat.day_rate_service]
            comp = next(c for c in service.components if c.phase == "toutes")
            sub = Subscription(service=service.code, start=item.day)
            if included:
                vat = cat.vat_regimes[service.vat]
                a = allowances[item.allowance]  # type: ignore[index]
                lines.append(
                    Line(
                        service=service.code,
                        service_label=service.label,
                        component=comp.code,
                        label=f"{item.label} ({_d(item.day)})",
                        family=service.family,
                        status="inclus",
                        quantity=included,
                        unit="jour",
                        unit_price=ZERO,
                        amount=ZERO,
                        vat=vat,
                        rule=a.clause,
                        stratum=None,
                        base_price=None,
                        base_year=None,
                        revision=None,
                        billed_to=member.name,
                        note=f"{_days(included)} imputé(s) sur la dotation « {a.label} » "
                        f"({a.quantity} j tous les {a.period_years} an(s)) : inclus.",
                    )
                )
            rest = days - included
            if rest > 0:
                line = self.make_line(
                    member,
                    sub,
                    service,
                    comp,
                    rest,
                    "toutes",
                    billed_to=member.name,
                    suffix=f" – {item.label} ({_d(item.day)})",
                    qty_note=(
                        f"{_days(rest)} au-delà de la dotation "
                        f"« {allowances[item.allowance].label} » : tarif de la prestation (R20)"
                        if item.allowance is not None
                        else ""
                    ),
                )
                lines.append(line)
        return [
            AllowanceUse(
                a.code,
                a.label,
                a.quantity,
                sum(
                    (
                        q
                        for code, y, q in included_by
                        if code == a.code and year - a.period_years < y <= year
                    ),
                    ZERO,
                ),
                a.period_years,
                a.clause,
            )
            for a in allowances.values()
        ]


# -- résolution des strates et des grilles -----------------------------------


def criterion_matches(
    c: Criterion, member: Member, population: str, quantities: dict[str, Decimal] | None = None
) -> bool:
    if c.category is not None:
        return c.category in member.categories
    if c.types is not None and not (member.kinds & c.types):
        return False
    if c.natures is not None and member.nature not in c.natures:
        return False
    for dim, rng in c.bounds:
        if dim.startswith("quantite."):
            name = dim.removeprefix("quantite.")
            value = (quantities or {}).get(name)
            if value is None:
                raise PricingError(
                    f"{member.name} : la quantité « {name} » est nécessaire pour choisir la strate"
                )
        else:
            value = _dimension(member, dim, population)
        if not rng.contains(value):
            return False
    return True


def resolve_stratum(
    table: StrataTable, member: Member, quantities: dict[str, Decimal] | None = None
) -> StratumRow | None:
    """R3 : une catégorie choisit la ligne ; R2 : sinon la ligne la plus spécifique gagne."""
    best: tuple[StratumRow, Criterion] | None = None
    for row in table.rows:
        for c in row.criteria:
            if c.category is not None and c.category in member.categories:
                return row
    for row in table.rows:
        for c in row.criteria:
            if c.category is not None:
                continue
            if not criterion_matches(c, member, table.population, quantities):
                continue
            if best is None or _more_specific(c, best[1]):
                best = (row, c)
    return best[0] if best else None


def _more_specific(a: Criterion, b: Criterion) -> bool:
    """R2 : la ligne dont le pavé est contenu dans l'autre gagne."""
    return box_inside(a.bounds, b.bounds) and a.bounds != b.bounds


Counter = Callable[[CountingRule, Member], int]


def resolve_grid(
    grid: Grid, member: Member, catalogue: Catalogue, counted: Counter | None = None
) -> tuple[CellValue, str]:
    """R5, R7 : le palier retenu est le plus petit qui contient la valeur ; au-delà, sur devis.
    `counted` compte les rattachés d'une règle de comptage (R6), si l'appelant le mémorise."""
    if grid.types is not None and not (member.kinds & grid.types):
        return "sur_devis", f"{member.kind} : hors grille"
    col, col_label = _tier(grid.columns, member, grid, catalogue, counted)
    if col is None:
        return "sur_devis", f"{col_label} : au-delà de la grille"
    if grid.rows is None:
        return grid.cells[0][col], col_label
    row, row_label = _tier(grid.rows, member, grid, catalogue, counted)
    if row is None:
        return "sur_devis", f"{row_label} : au-delà de la grille"
    return grid.cells[row][col], f"{row_label} × {col_label}"


def _tier(
    axis: Axis, member: Member, grid: Grid, catalogue: Catalogue, counted: Counter | None = None
) -> tuple[int | None, str]:
    value, what = _axis_value(axis.dimension, member, grid, catalogue, counted)
    for i, tier in enumerate(axis.tiers):
        if value < tier.bound or (tier.inclusive and value == tier.bound):
            return i, f"« {tier.label} » ({what})"
    return None, what


def _axis_value(
    dimension: str,
    member: Member,
    grid: Grid,
    catalogue: Catalogue,
    counted: Counter | None = None,
) -> tuple[Decimal, str]:
    if dimension in catalogue.countings:
        rule = catalogue.countings[dimension]
        if counted is not None:
            count = counted(rule, member)
        else:
            count = sum(
                1
                for m in member.attached
                if not any(criterion_matches(c, m, rule.population) for c in rule.exclude)
            )
        return Decimal(count), f"{count} {rule.label.lower()} sur {len(member.attached)} rattachés"
    if dimension.startswith("usage."):
        counter = dimension.removeprefix("usage.")
        if counter not in member.usage:
            raise PricingError(
                f"{member.name} : l'usage « {counter} » n'est pas renseigné "
                f"(nécessaire pour « {grid.label} »)"
            )
        return member.usage[counter], f"{counter} = {member.usage[counter]}"
    value = _dimension(member, dimension, grid.population)
    unit = " hab." if dimension == "population" else ""
    return value, f"{dimension} {value}{unit}"


def _dimension(member: Member, dimension: str, population: str) -> Decimal:
    if dimension == "population":
        value = member.population(population)
        if value is None:
            raise PricingError(f"{member.name} : population {population} inconnue")
        return Decimal(value)
    if dimension == "agents":
        if member.agents is None:
            raise PricingError(f"{member.name} : nombre d'agents inconnu")
        return Decimal(member.agents)
    if dimension == "budget_keur":
        if member.budget_keur is None:
            raise PricingError(f"{member.name} : budget (k€) inconnu")
        return member.budget_keur
    raise PricingError(f"grandeur « {dimension} » inconnue")


def _describe_member(member: Member, population: str) -> str:
    parts = [member.kind]
    if member.population(population) is not None:
        parts.append(f"population {population} {member.population(population)}")
    if member.agents is not None:
        parts.append(f"{member.agents} agents")
    return ", ".join(parts)


# -- explications (R25) ------------------------------------------------------


def _explain(
    service: Service,
    comp: Component,
    phase_now: str,
    quantity: Decimal,
    unit_price: Decimal | None,
    amount: Decimal | None,
    base: Decimal | None,
    base_year: int | None,
    revision: Revision | None,
    stratum: str | None,
    status: Status,
    qty_note: str,
    origin: str,
    printed: str | None,
    population_ref: tuple[Member, str] | None = None,
) -> str:
    parts = []
    if comp.phase != "toutes" or service.validity_years:
        parts.append(PHASE_FR[phase_now])
    if stratum:
        parts.append(f"strate/palier {stratum}")
    if population_ref is not None:
        subject, which = population_ref
        figure = subject.population(which)
        if figure is not None:
            source = f" ({subject.population_source})" if subject.population_source else ""
            parts.append(f"population {which} {figure:,}".replace(",", "\u202f") + source)
    if status == "sur_devis":
        parts.append("sur devis : aucun montant tant qu'un devis n'est pas saisi (R14)")
    elif status == "prix_manquant":
        parts.append(
            (
                f"prix « {printed} » non chiffré dans la source"
                if printed
                else "prix à renseigner : absent de la source"
            )
            + " ; la facturation est bloquée (R15)"
        )
    elif origin:
        parts.append(origin)
    elif base is not None:
        if revision and revision.steps:
            steps = " ; ".join(s.explain() for s in revision.steps)
            parts.append(f"prix de base {fmt_fr(base)} ({base_year}), révisé SYNTEC : {steps}")
        elif base_year is None:
            parts.append(f"prix {fmt_fr(base)} tel qu'imprimé, sans clause de révision (R28)")
        elif not comp.revisable:
            parts.append(f"prix {fmt_fr(base)} ({base_year}), non révisable")
        else:
            parts.append(f"prix {fmt_fr(base)} ({base_year})")
    if qty_note:
        parts.append(qty_note)
    if amount is not None and unit_price is not None:
        parts.append(f"{_qty(quantity)} {comp.unit} × {fmt_fr(unit_price)} = {fmt_fr(amount)}")
    return " ; ".join(parts)


def _qty(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def _days(value: Decimal) -> str:
    return f"{_qty(value)} j"


def _d(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _min_date(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
