"""Modèle d'un catalogue d'OPSN : des valeurs immuables, sans logique de calcul.

Le format des fichiers est décrit dans docs/catalogue.md ; le chargement et la
validation sont dans `opsn.core.catalogue`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from opsn.core.ranges import Box

# Types d'adhérents. « etablissement_public » couvre aussi epci, syndicat et ccas
# (un EPCI est un établissement public) : voir MEMBER_KIND_PARENTS.
MEMBER_TYPES = ("commune", "epci", "syndicat", "ccas", "etablissement_public", "budget_annexe")
MEMBER_KIND_PARENTS = {
    "epci": ("etablissement_public",),
    "syndicat": ("etablissement_public",),
    "ccas": ("etablissement_public",),
}
EPCI_NATURES = ("CC", "CA", "CU", "METRO")
DIMENSIONS = ("population", "agents", "budget_keur")
# Imputation par défaut des recettes : compte 706 « Prestations de services » (M57/M14).
# Les annexes ne la donnent pas ; un catalogue la précise par famille (clé `imputation`).
DEFAULT_ACCOUNT = "706"
PHASES = ("toutes", "premiere_annee", "annees_suivantes", "renouvellement")
PHASE_FR = {
    "toutes": "chaque année",
    "premiere_annee": "1re année",
    "annees_suivantes": "années suivantes",
    "renouvellement": "renouvellement",
}

PriceKind = Literal["montant", "sur_devis", "a_renseigner", "bon_de_commande", "table", "grille"]


@dataclass(frozen=True)
class VatRegime:
    code: str
    kind: Literal["ttc", "exonere", "ht"]
    rate: Decimal  # 0 pour ttc et exonere
    label: str
    mention: str | None
    clause: str


@dataclass(frozen=True)
class RevisionClause:
    index: str
    month: int
    clause: str
    text: str


@dataclass(frozen=True)
class ConventionRules:
    """R21, R22 : durée, reconduction, préavis, pas de prorata."""

    duration_months: int
    tacit_renewal: bool
    notice_months: int
    pro_rata: bool
    clause: str


@dataclass(frozen=True)
class Price:
    kind: PriceKind
    amount: Decimal | None = None
    year: int | None = None
    table: str | None = None
    column: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Quantity:
    """D'où vient la quantité d'une composante."""

    kind: Literal["un", "quantite", "usage", "depassement", "communes_membres"]
    name: str | None = None  # quantité déclarée, compteur d'usage
    entitlement: str | None = None  # droit déduit (dépassement)
    # dépassement sans droit selon la strate : quantité incluse imprimée (0 pour le Forfait
    # Hébergé, R16)
    included: int = 0
    # R16 : unités achetées en plus du quota (service, quantité déclarée) ; elles relèvent
    # le volume inclus avant le calcul du dépassement, jamais facturées deux fois
    bought: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Component:
    code: str
    label: str
    phase: str
    price: Price
    quantity: Quantity
    unit: str
    clause: str
    revisable: bool


@dataclass(frozen=True)
class QuantityDecl:
    code: str
    label: str
    unit: str
    optional: bool = False  # « facultative » : l'abonnement peut ne pas la renseigner


@dataclass(frozen=True)
class Cap:
    """Plafond imprimé d'une quantité (« limité à 2 par collectivités ») : au-delà, refus.

    `limit` est un nombre, ou vient de la colonne entière `column` de la table `table`
    (selon la strate de l'adhérent)."""

    quantity: str
    clause: str
    limit: int | None = None
    table: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class Allowance:
    """R20 : dotation périodique (« 1 journée tous les 3 ans »)."""

    code: str
    label: str
    quantity: Decimal
    unit: Literal["jour"]
    period_years: int
    clause: str
    # R20 : prestation des prestations complémentaires dont le tarif facture le dépassement
    billed_by: str = ""


@dataclass(frozen=True)
class Prerequisite:
    label: str
    services: tuple[str, ...]
    entitlement: str | None
    clause: str


@dataclass(frozen=True)
class Entitlements:
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    code: str
    label: str
    family: str
    clause: str
    vat: str
    billed_to: Literal["adherent", "epci"]
    components: tuple[Component, ...]
    quantities: tuple[QuantityDecl, ...] = ()
    forfait: bool = False
    entitlements: Entitlements | None = None
    allowances: tuple[Allowance, ...] = ()
    prerequisites: tuple[Prerequisite, ...] = ()
    validity_years: int | None = None
    exclusive_group: str | None = None
    note: str | None = None
    day_rate: bool = False
    account: str | None = None  # imputation propre au service (sinon celle de sa famille)
    caps: tuple[Cap, ...] = ()


@dataclass(frozen=True)
class Criterion:
    """Un critère : type d'adhérent, nature d'EPCI, catégorie (R3) ou pavé de grandeurs.

    `bounds` associe chaque grandeur contrainte (population, agents, budget_keur,
    quantite.<nom>) à son intervalle ; plusieurs grandeurs se combinent par ET.
    """

    types: frozenset[str] | None
    category: str | None
    bounds: Box = ()
    natures: frozenset[str] | None = None

    def describe(self) -> str:
        parts = []
        if self.category:
            parts.append(f"catégorie {self.category}")
        if self.types:
            parts.append("/".join(sorted(self.types)))
        if self.natures:
            parts.append("/".join(sorted(self.natures)))
        parts.extend(f"{dim} {rng.label()}" for dim, rng in self.bounds)
        return " ".join(parts)


CellValue = Decimal | int | str  # str : « sur_devis », « a_renseigner » ou texte


@dataclass(frozen=True)
class Column:
    code: str
    label: str
    kind: Literal["montant", "entier", "texte"]


@dataclass(frozen=True)
class StratumRow:
    label: str
    criteria: tuple[Criterion, ...]
    values: dict[str, CellValue]
    line: int = 0


@dataclass(frozen=True)
class StrataTable:
    """Table de strates (R1–R3, R8) : lignes à critères, la plus spécifique gagne."""

    code: str
    label: str
    clause: str
    columns: tuple[Column, ...]
    rows: tuple[StratumRow, ...]
    population: Literal["totale", "municipale"]
    year: int | None
    outside: Literal["sur_devis", "erreur"]
    note: str | None = None


@dataclass(frozen=True)
class Tier:
    label: str
    bound: Decimal
    inclusive: bool  # True : « jusqu'à » ; False : « moins de »


@dataclass(frozen=True)
class Axis:
    dimension: str
    tiers: tuple[Tier, ...]
    line: int = 0


@dataclass(frozen=True)
class Grid:
    """Grille à paliers « jusqu'à » (R5, R7), à une ou deux dimensions."""

    code: str
    label: str
    clause: str
    columns: Axis
    rows: Axis | None
    cells: tuple[tuple[CellValue, ...], ...]
    year: int | None
    population: Literal["totale", "municipale"]
    beyond: Literal["sur_devis"]
    types: frozenset[str] | None
    note: str | None = None


@dataclass(frozen=True)
class CountingRule:
    """R6 : comptage des EP rattachés, avec exclusions."""

    code: str
    label: str
    clause: str
    exclude: tuple[Criterion, ...]
    population: Literal["totale", "municipale"]


@dataclass(frozen=True)
class MatrixCell:
    status: str
    text: str | None = None
    entitlement: str | None = None


@dataclass(frozen=True)
class MatrixRow:
    group: str | None
    label: str
    cells: tuple[MatrixCell, ...]


@dataclass(frozen=True)
class Matrix:
    code: str
    title: str
    clause: str
    columns: tuple[str, ...]
    rows: tuple[MatrixRow, ...]
    note: str | None = None


MATRIX_STATUS_FR = {
    "inclus": "Inclus",
    "non_inclus": "Non inclus",
    "option": "En option",
    "inclus_avec_certificat": "Inclus avec un certificat",
    "selon_strate": "Selon strate",
    "payant": "Payant",
    "vide": "—",
    "non_mentionne": "— (absent de ce tableau)",
    "texte": "",
}


@dataclass(frozen=True)
class Reading:
    """Lecture retenue là où la source est ambiguë (visible par l'utilisateur)."""

    rule: str
    text: str


@dataclass(frozen=True)
class Operator:
    code: str
    name: str
    siren: str | None
    address: str | None


@dataclass(frozen=True)
class Family:
    code: str
    label: str
    account: str = DEFAULT_ACCOUNT  # imputation comptable des recettes (titres de recettes)


@dataclass(frozen=True)
class Catalogue:
    operator: Operator
    version: str
    label: str
    source: str
    valid_from: dt.date | None
    path: str
    vat_regimes: dict[str, VatRegime]
    revision: RevisionClause | None
    revision_note: str | None
    convention: ConventionRules
    families: tuple[Family, ...]
    services: dict[str, Service]
    tables: dict[str, StrataTable]
    grids: dict[str, Grid]
    countings: dict[str, CountingRule]
    matrices: tuple[Matrix, ...]
    readings: tuple[Reading, ...]
    day_rate_service: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ident(self) -> str:
        return f"{self.operator.code}/{self.version}"

    def account_of(self, service_code: str) -> str:
        """Imputation des recettes d'un service : la sienne, sinon celle de sa famille."""
        service = self.services[service_code]
        if service.account:
            return service.account
        family = next((f for f in self.families if f.code == service.family), None)
        return family.account if family else DEFAULT_ACCOUNT

    def forfaits(self) -> list[Service]:
        return [s for s in self.services.values() if s.forfait]

    def smallest_cap(self, service_code: str, quantity: str) -> int | None:
        """Plus petit plafond imprimé d'une quantité, toutes strates confondues (003 : 2
        certificats, 5/8/15 utilisateurs d'Opendemande) ; None si elle n'en a pas. Au-delà
        du plafond de sa strate, le cœur refuse l'abonnement (`Pricer._check_caps`)."""
        limits: list[int] = []
        for cap in self.services[service_code].caps:
            if cap.quantity != quantity:
                continue
            if cap.limit is not None:
                limits.append(cap.limit)
            else:
                rows = self.tables[cap.table].rows  # type: ignore[index]
                limits.extend(int(row.values[cap.column]) for row in rows)  # type: ignore[index,arg-type]
        return min(limits) if limits else None
