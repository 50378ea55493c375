"""Passage de la base au cœur pur : catalogues, indices et adhérents deviennent des valeurs
immuables du cœur (`opsn.core`), qui calcule sans rien savoir de Django."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from opsn.core import members as core
from opsn.core.catalogue import load_catalogue
from opsn.core.index import IndexTable, IndexValue, load_index
from opsn.core.model import Catalogue
from opsn.core.pricing import MemberQuote, Pricer
from opsn.gestion import models as m


@lru_cache(maxsize=32)
def _parse(source_file: str, sha256: str, content: str) -> Catalogue:
    del sha256  # clé de cache : le contenu est figé par son empreinte
    return load_catalogue(Path(source_file), text=content)


def catalogue_of(version: m.CatalogueVersion) -> Catalogue:
    return _parse(version.source_file, version.sha256, version.content)


def index_table(index: str = "syntec") -> IndexTable:
    """Table d'indice de la base (séries et raccordements : métadonnées livrées)."""
    shipped = load_index(index)
    values = [
        IndexValue(v.month, _plain(v.value), v.series, v.source)
        for v in m.IndexValue.objects.filter(index=index)
    ]
    return IndexTable(shipped.code, shipped.label, shipped.series, {}, shipped.links).with_values(
        values
    )


def _plain(value: Decimal) -> Decimal:
    """274.7000 (colonne à 4 décimales) → 274.7, pour des explications lisibles."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _subscription_values(
    subs: list[m.Subscription], year: int | None
) -> tuple[core.Subscription, ...]:
    """Abonnements d'une convention pour une année. Quand un avenant a créé une nouvelle
    version pendant l'année, seule la plus récente est due pour toute l'année (R21, pas de
    prorata) ; ses phases partent du début de la première version (R12)."""
    by_id = {s.pk: s for s in subs}
    successor_start: dict[int, dt.date] = {}
    for s in subs:
        if s.previous_id is not None:
            successor_start[s.previous_id] = min(
                s.started_on, successor_start.get(s.previous_id, s.started_on)
            )
    result = []
    for s in subs:
        nxt = successor_start.get(s.pk)
        if year is not None and nxt is not None and nxt <= dt.date(year, 12, 31):
            continue  # remplacée par une version active cette année
        root, seen = s, set()
        while root.previous_id is not None and root.previous_id in by_id and root.pk not in seen:
            seen.add(root.pk)
            root = by_id[root.previous_id]
        result.append(
            core.Subscription(
                service=s.service_code,
                start=s.started_on,
                end=s.ended_on,
                quantities={k: Decimal(str(v)) for k, v in s.quantities.items()},
                amounts={k: Decimal(str(v)) for k, v in s.amounts.items()},
                first_start=root.started_on if root is not s else None,
            )
        )
    return tuple(result)


def _member_value(
    member: m.Member,
    attached: tuple[core.Member, ...] = (),
    convention: m.Convention | None = None,
    year: int | None = None,
) -> core.Member:
    subscriptions: tuple[core.Subscription, ...] = ()
    conv = None
    usage: dict[str, Decimal] = {}
    interventions: tuple[core.Intervention, ...] = ()
    if convention is not None:
        conv = core.Convention(
            convention.signed_on, convention.notice_received_on, convention.ended_on
        )
        subscriptions = _subscription_values(list(convention.subscriptions.all()), year)
    if year is not None:
        # relevés de l'année : préchargés par la campagne (attribut `usage_of_year`) ou lus
        records = getattr(member, "usage_of_year", None)
        if records is None:
            records = member.usage_records.filter(year=year)
        usage = {u.counter: u.quantity for u in records}
        interventions = tuple(
            core.Intervention(i.day, i.days, i.label, i.allowance or None)
            for i in member.interventions.all()
        )
    return core.Member(
        ident=str(member.pk),
        name=member.name,
        kind=member.kind,
        nature=member.nature or None,
        population_totale=member.population_totale,
        population_municipale=member.population_municipale,
        population_source=member.population_source or None,
        agents=member.agents,
        budget_keur=member.budget_keur,
        categories=frozenset(member.categories or ()),
        attached=attached,
        usage=usage,
        subscriptions=subscriptions,
        convention=conv,
        interventions=interventions,
        insee=member.insee or None,
        siren=member.siren or None,
    )


def core_member(convention: m.Convention, year: int) -> core.Member:
    member = convention.member
    attached = tuple(_member_value(child) for child in member.attached.all())
    return _member_value(member, attached, convention, year)


def quote(
    convention: m.Convention,
    year: int,
    index: IndexTable | None = None,
    pricers: dict[tuple[str, int], Pricer] | None = None,
) -> MemberQuote:
    """Devis d'une convention pour une année, calculé par le cœur.

    `pricers` garde un calculateur par catalogue d'une campagne à l'autre convention : ses
    caches (révisions déjà calculées) servent alors à tous les adhérents.
    """
    catalogue = catalogue_of(convention.catalogue)
    key = (convention.catalogue.sha256, year)
    pricer = pricers.get(key) if pricers is not None else None
    if pricer is None:
        pricer = Pricer(catalogue, index or index_table(), year)
        if pricers is not None:
            pricers[key] = pricer
    return pricer.quote(core_member(convention, year))
