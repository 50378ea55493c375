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
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from opsn.core import dates
from opsn.core.errors import PricingError
from opsn.core.index import IndexTable, Revision
from opsn.core.members import Member, Subscription
from opsn.core.model import (
    PHASE_FR,
    Axis,
    Catalogue,
    CellValue,
    Component,
    Criterion,
    Grid,
    Service,
    StrataTable,
    StratumRow,
    VatRegime,
)
from opsn.core.money import ZERO, fmt_fr, round_cents
from opsn.core.ranges import box_inside

Status = Literal["montant", "sur_devis", "prix_manquant", "inclus"]


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
        )

    @property
    def index_ratio(self) -> Decimal | None:
        return self.revision.ratio if self.revision and self.revision.steps else None


@dataclass(frozen=True)
class VatTotal:
    regime: VatRegime
    net: Decimal
    vat: Decimal


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    groups: dict[tuple[str, Decimal], tuple[VatRegime, Decimal]] = {}
    for line in lines:
        if line.amount is None:
            continue
        key = (line.vat.kind, line.vat.rate)
        regime, net = groups.get(key, (line.vat, ZERO))
        groups[key] = (regime, net + line.amount)
    by_rate = []
    for (kind, rate), (regime, net) in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        vat = round_cents(net * rate / 100) if kind == "ht" else ZERO
        by_rate.append(VatTotal(regime, round_cents(net), vat))
    net = sum((t.net for t in by_rate), ZERO)
    vat = sum((t.vat for t in by_rate), ZERO)
    return Totals(net, vat, net + vat, tuple(by_rate))


class Pricer:
    """Calcule les devis d'un catalogue pour une année ; met en cache révisions et strates."""

    def __init__(self, catalogue: Catalogue, index: IndexTable | None, year: int) -> None:
        self.catalogue = catalogue
        self.index = index
        self.year = year
        self._revisions: dict[tuple[Decimal, int, str], Revision] = {}
        self._year_bounds = (dt.date(year, 1, 1), dt.date(year, 12, 31))

    # -- point d'entrée ------------------------------------------------------
    def quote(self, member: Member) -> MemberQuote:
        cat = self.catalogue
        year = self.year
        warnings: list[str] = []
        notes: list[str] = []
        conv_end = None
        if member.convention is not None:
            conv_end = member.convention.end or dates.effective_end(
                member.convention.signature, member.convention.notice_received, cat.convention
            )
            if conv_end is not None:
                notes.append(
                    f"Convention signée le {_d(member.convention.signature)}, fin au "
                    f"{_d(conv_end)} ({cat.convention.clause}) : dernière année facturée "
                    f"{dates.last_billed_year(conv_end)}."
                )
        # R21 : un abonnement actif un seul jour de l'année est dû pour l'année entière.
        first_day, last_day = self._year_bounds
        active: list[Subscription] = []
        for sub in member.subscriptions:
            end = _min_date(sub.end, conv_end)
            if self.start_of(member, sub) <= last_day and (end is None or end > first_day):
                active.append(sub)
        entitlements, stratum = self.entitlements(member, active)
        lines: list[Line] = []
        for sub in active:
            lines.extend(self.subscription_lines(member, sub, entitlements))
        self.check_rules(member, active, entitlements, warnings)
        allowance_uses = self.interventions(member, active, conv_end, lines)
        return MemberQuote(
            member=member,
            year=year,
            catalogue=cat.ident,
            lines=tuple(lines),
            entitlements=entitlements,
            entitlements_stratum=stratum,
            allowances=tuple(allowance_uses),
            warnings=tuple(warnings),
            totals=compute_totals(lines),
            notes=tuple(notes),
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
        result: dict[str, int] = {}
        label = None
        for sub in active:
            service = self.catalogue.services[sub.service]
            if service.entitlements is None:
                continue
            table = self.catalogue.tables[service.entitlements.table]
            row = resolve_stratum(table, member)
            if row is None:
                raise PricingError(
                    f"{member.name} : aucune strate de « {table.label} » ne correspond "
                    f"({_describe_member(member, table.population)})"
                )
            label = row.label
            for col in service.entitlements.columns:
                value = row.values[col]
                if isinstance(value, int):
                    result[col] = max(result.get(col, 0), value)
        return result, label

    # -- lignes d'un abonnement ----------------------------------------------
    def subscription_lines(
        self, member: Member, sub: Subscription, entitlements: dict[str, int]
    ) -> list[Line]:
        service = self.catalogue.services[sub.service]
        year = self.year
        first = self.first_year(member, sub)
        if service.validity_years:
            elapsed = year - first
            if elapsed % service.validity_years:
                return []
            phase_now = "premiere_annee" if elapsed == 0 else "renouvellement"
        else:
            phase_now = "premiere_annee" if year == first else "annees_suivantes"
        lines: list[Line] = []
        for comp in service.components:
            if comp.phase != "toutes" and comp.phase != phase_now:
                continue
            lines.extend(self.component_lines(member, sub, service, comp, entitlements, phase_now))
        return lines

    def component_lines(
        self,
        member: Member,
        sub: Subscription,
        service: Service,
        comp: Component,
        entitlements: dict[str, int],
        phase_now: str,
    ) -> list[Line]:
        q = comp.quantity
        if q.kind == "communes_membres":
            result = []
            for child in member.attached:
                if child.kind != "commune":
                    continue
                result.append(
                    self.make_line(
                        child,
                        sub,
                        service,
                        comp,
                        Decimal(1),
                        phase_now,
                        suffix=f" – {child.name}",
                        billed_to=member.name,
                    )
                )
            return result
        if q.kind == "un":
            quantity = Decimal(1)
            qty_note = ""
        elif q.kind == "quantite":
            quantity = sub.quantities.get(q.name, ZERO)  # type: ignore[arg-type]
            qty_note = ""
        elif q.kind == "usage":
            quantity = member.usage.get(q.name, ZERO)  # type: ignore[arg-type]
            qty_note = f"usage « {q.name} » {_qty(quantity)}"
        else:  # dépassement (R16)
            used = member.usage.get(q.name, ZERO)  # type: ignore[arg-type]
            included = Decimal(entitlements.get(q.entitlement, 0))  # type: ignore[arg-type]
            quantity = max(ZERO, used - included)
            qty_note = (
                f"usage {_qty(used)} − inclus {_qty(included)} = {_qty(quantity)} en dépassement"
            )
        if quantity == 0:
            return []
        if quantity < 0:
            raise PricingError(
                f"{member.name} : quantité négative ({quantity}) pour « {service.label} »."
            )
        billed_to = member.name
        return [
            self.make_line(
                member,
                sub,
                service,
                comp,
                quantity,
                phase_now,
                qty_note=qty_note,
                billed_to=billed_to,
            )
        ]

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
        cat = self.catalogue
        price = comp.price
        stratum = None
        base_amount: Decimal | None = None
        base_year: int | None = None
        status: Status = "montant"
        origin = ""
        if price.kind == "montant":
            base_amount, base_year = price.amount, price.year
        elif price.kind in ("table", "grille"):
            if price.kind == "table":
                table = cat.tables[price.table]  # type: ignore[index]
                row = resolve_stratum(table, subject, sub.quantities)
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
                value, stratum = resolve_grid(grid, subject, cat)
                year_of_table = grid.year
            if isinstance(value, Decimal):
                base_amount, base_year = value, year_of_table
            elif value == "a_renseigner":
                status = "prix_manquant"
            else:
                status = "sur_devis"
        elif price.kind == "sur_devis":
            status = "sur_devis"
        elif price.kind == "a_renseigner" or price.kind == "bon_de_commande":
            status = "prix_manquant"
        # montant saisi par l'utilisateur (R14 : devis accepté ; 001 art. 3.1 : bon de commande)
        entered = sub.amounts.get(comp.code)
        if entered is not None and status != "montant":
            status = "montant"
            base_amount, base_year = entered, self.year
            origin = "montant saisi (devis ou bon de commande)"
        revision = None
        unit_price = None
        amount = None
        if status == "montant":
            assert base_amount is not None and base_year is not None
            unit_price, revision = self.revise(
                base_amount, base_year, comp.revisable and not origin, comp, service
            )
            amount = round_cents(unit_price * quantity)
        # positionnel : c'est le chemin le plus chaud du calcul de masse (voir benchmarks/)
        return Line(
            service.code,
            service.label,
            comp.code,
            comp.label + suffix if suffix else comp.label,
            service.family,
            status,
            quantity,
            comp.unit,
            unit_price,
            amount,
            cat.vat_regimes[service.vat],
            comp.clause,
            stratum,
            base_amount,
            base_year,
            revision,
            billed_to,
            service,
            comp,
            phase_now,
            qty_note,
            origin,
        )

    # -- révision (R9–R11) ---------------------------------------------------
    def revise(
        self, amount: Decimal, base_year: int, revisable: bool, comp: Component, service: Service
    ) -> tuple[Decimal, Revision | None]:
        year = self.year
        if year < base_year:
            raise PricingError(
                f"« {service.label} – {comp.label} » : le tarif est établi pour {base_year} ; "
                f"il ne peut pas servir à facturer {year}."
            )
        clause = self.catalogue.revision
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
            if cat.day_rate_service is None:
                raise PricingError(
                    f"{member.name} : le catalogue {cat.ident} ne prévoit pas de tarif journalier "
                    "pour facturer des interventions."
                )
            service = cat.services[cat.day_rate_service]
            comp = service.components[0]
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


def resolve_grid(grid: Grid, member: Member, catalogue: Catalogue) -> tuple[CellValue, str]:
    """R5, R7 : le palier retenu est le plus petit qui contient la valeur ; au-delà, sur devis."""
    if grid.types is not None and not (member.kinds & grid.types):
        return "sur_devis", f"{member.kind} : hors grille"
    col, col_label = _tier(grid.columns, member, grid, catalogue)
    if col is None:
        return "sur_devis", f"{col_label} : au-delà de la grille"
    if grid.rows is None:
        return grid.cells[0][col], col_label
    row, row_label = _tier(grid.rows, member, grid, catalogue)
    if row is None:
        return "sur_devis", f"{row_label} : au-delà de la grille"
    return grid.cells[row][col], f"{row_label} × {col_label}"


def _tier(axis: Axis, member: Member, grid: Grid, catalogue: Catalogue) -> tuple[int | None, str]:
    value, what = _axis_value(axis.dimension, member, grid, catalogue)
    for i, tier in enumerate(axis.tiers):
        if value < tier.bound or (tier.inclusive and value == tier.bound):
            return i, f"« {tier.label} » ({what})"
    return None, what


def _axis_value(
    dimension: str, member: Member, grid: Grid, catalogue: Catalogue
) -> tuple[Decimal, str]:
    if dimension in catalogue.countings:
        rule = catalogue.countings[dimension]
        counted = [
            m
            for m in member.attached
            if not any(criterion_matches(c, m, rule.population) for c in rule.exclude)
        ]
        return Decimal(len(counted)), (
            f"{len(counted)} {rule.label.lower()} sur {len(member.attached)} rattachés"
        )
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
) -> str:
    parts = []
    if comp.phase != "toutes" or service.validity_years:
        parts.append(PHASE_FR[phase_now])
    if stratum:
        parts.append(f"strate/palier {stratum}")
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
