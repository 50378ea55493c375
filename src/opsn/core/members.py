"""Adhérents, conventions, abonnements, usages et interventions (entrées du calcul)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from opsn.core.model import MEMBER_KIND_PARENTS

_KINDS = {kind: frozenset((kind, *parents)) for kind, parents in MEMBER_KIND_PARENTS.items()}
_KINDS.update({k: frozenset((k,)) for k in ("commune", "etablissement_public", "budget_annexe")})


@dataclass(frozen=True)
class Convention:
    signature: dt.date
    notice_received: dt.date | None = None
    end: dt.date | None = None  # fin explicite (résiliation convenue), exclue


@dataclass(frozen=True)
class Subscription:
    service: str
    start: dt.date
    quantities: dict[str, Decimal] = field(default_factory=dict)
    end: dt.date | None = None
    amounts: dict[str, Decimal] = field(default_factory=dict)  # montants saisis (devis, bon)
    # début de la première version quand un avenant a créé celle-ci (phases R12)
    first_start: dt.date | None = None


@dataclass(frozen=True)
class Intervention:
    day: dt.date
    days: Decimal
    label: str
    allowance: str | None = None


@dataclass(frozen=True)
class Member:
    ident: str
    name: str
    kind: str
    nature: str | None = None  # CC, CA, CU, METRO pour un EPCI
    population_totale: int | None = None
    population_municipale: int | None = None
    population_source: str | None = None  # « saisie », « INSEE 2026 »…
    agents: int | None = None
    budget_keur: Decimal | None = None
    categories: frozenset[str] = frozenset()
    attached: tuple[Member, ...] = ()
    usage: dict[str, Decimal] = field(default_factory=dict)
    subscriptions: tuple[Subscription, ...] = ()
    convention: Convention | None = None
    interventions: tuple[Intervention, ...] = ()
    insee: str | None = None
    siren: str | None = None

    @property
    def kinds(self) -> frozenset[str]:
        return _KINDS.get(self.kind) or frozenset((self.kind,))

    def population(self, which: str) -> int | None:
        return self.population_totale if which == "totale" else self.population_municipale
