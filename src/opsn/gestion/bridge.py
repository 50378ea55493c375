"""Passage de la base au cœur pur : catalogues, indices et adhérents deviennent des valeurs
immuables du cœur (`opsn.core`), qui calcule sans rien savoir de Django."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import connection

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


def _decimals(values: dict) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in values.items()}


# -- Populations en vigueur l'année facturée (R4, R6) ----------------------------------------
#
# Une commune ou un EPCI venu du référentiel (source « INSEE… ») prend les chiffres en
# vigueur l'année facturée (table `ReferentialPopulation`, chargée par `opsn referentiel
# millesimes`) ; un chiffre saisi (syndicat, CCAS, population corrigée à la main) reste le
# sien. Une commune rattachée à un EPCI qu'elle n'avait pas rejoint (ou avait quitté) cette
# année-là n'est pas un rattaché de l'EPCI pour l'année (comptage R6, participations R24).
# Table vide : chiffres de l'adhérent, comme avant.

REFERENTIAL_SOURCE_PREFIX = "INSEE"


@dataclass(frozen=True, slots=True)
class InForce:
    """Chiffres d'un code (INSEE ou SIREN) en vigueur l'année facturée."""

    population_totale: int | None
    population_municipale: int | None
    epci_siren: str
    source: str


def referential_code(kind: str, insee: str, siren: str, source: str) -> str | None:
    """Code sous lequel chercher les chiffres de l'année, None pour un chiffre saisi."""
    if not (source or "").startswith(REFERENTIAL_SOURCE_PREFIX):
        return None
    if kind == "commune" and insee:
        return insee
    if kind == "epci" and siren:
        return siren
    return None


class PopulationsInForce:
    """Lecture des chiffres en vigueur une année, par lots de codes (une requête par lot)."""

    def __init__(self, year: int) -> None:
        self.year = year
        table = connection.ops.quote_name(m.ReferentialPopulation._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN(year), MAX(year) FROM {table}")
            low, high = cursor.fetchone()
        self.enabled = low is not None
        self.table_year = min(max(year, low), high) if self.enabled else year
        self.note = ""
        if self.enabled and year < low:
            self.note = f" ; {year} antérieure aux millésimes du référentiel : ceux de {low}"
        elif self.enabled and year > high:
            self.note = f" ; {year} postérieure aux millésimes du référentiel : ceux de {high}"
        self._sql = (
            "SELECT code, population_totale, population_municipale, epci_siren, source "
            f"FROM {table} WHERE year = %s AND code IN ({{codes}})"
        )

    def read(self, codes: set[str]) -> dict[str, InForce]:
        if not self.enabled or not codes:
            return {}
        ordered = sorted(codes)
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql.format(codes=", ".join(["%s"] * len(ordered))),
                [self.table_year, *ordered],
            )
            rows = cursor.fetchall()
        note = self.note
        return {
            code: InForce(totale, municipale, epci or "", source + note)
            for code, totale, municipale, epci, source in rows
        }


def _member_in_force(member: Any, found: dict[str, InForce]) -> InForce | None:
    code = referential_code(member.kind, member.insee, member.siren, member.population_source)
    return found.get(code) if code is not None else None


def _attached_in_year(parent: Any, child: Any, found: dict[str, InForce]) -> bool:
    """Faux si, l'année facturée, la commune rattachée n'était pas membre de cet EPCI."""
    if parent.kind != "epci" or not parent.siren or child.kind != "commune":
        return True
    figures = _member_in_force(child, found)
    return figures is None or figures.epci_siren == parent.siren


def _subscription_values(
    subs: list[m.Subscription], year: int | None, decode: Any = _decimals
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
                quantities=decode(s.quantities),
                amounts=decode(s.amounts),
                first_start=root.started_on if root is not s else None,
            )
        )
    return tuple(result)


def _member_value(
    member: m.Member,
    attached: tuple[core.Member, ...] = (),
    convention: m.Convention | None = None,
    year: int | None = None,
    figures: InForce | None = None,
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
    if figures is not None:
        totale, municipale = figures.population_totale, figures.population_municipale
        source: str | None = figures.source
    else:
        totale, municipale = member.population_totale, member.population_municipale
        source = member.population_source or None
    return core.Member(
        ident=str(member.pk),
        name=member.name,
        kind=member.kind,
        nature=member.nature or None,
        population_totale=totale,
        population_municipale=municipale,
        population_source=source,
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
    children = list(member.attached.all())
    found: dict[str, InForce] = {}
    populations = PopulationsInForce(year)
    if populations.enabled:
        codes = {
            code
            for x in (member, *children)
            if (code := referential_code(x.kind, x.insee, x.siren, x.population_source))
        }
        found = populations.read(codes)
    attached = tuple(
        _member_value(child, figures=_member_in_force(child, found))
        for child in children
        if _attached_in_year(member, child, found)
    )
    return _member_value(member, attached, convention, year, _member_in_force(member, found))


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


# -- Lecture en masse (campagnes) ------------------------------------------------------------
#
# Une campagne nationale lit des centaines de milliers d'abonnements : pas d'instances de
# modèles Django ici, mais des lignes lues par lots (`values_list`, ou SQL direct pour les
# abonnements) et transformées directement en valeurs du cœur. Même résultat que
# `core_member` : mêmes règles d'avenants (`_subscription_values`), relevés de l'année,
# interventions ; rattachés, abonnements et interventions dans l'ordre de leur création.

BILL_MEMBER_FIELDS = (
    "id",
    "name",
    "kind",
    "nature",
    "population_totale",
    "population_municipale",
    "population_source",
    "agents",
    "budget_keur",
    "categories",
    "insee",
    "siren",
    "siret",
    "address",
    "address_complement",
    "postcode",
    "city",
    "email",
    "electronic_address",
    "electronic_address_scheme",
    "service_code",
    "engagement_number",
    "engagement_required",
    "parent_id",
)


class BillMember:
    """Un adhérent tel que la campagne le lit : identité du débiteur (contrôles, copie
    dans la pièce) et grandeurs du calcul, sans instance de modèle. Mêmes noms d'attributs
    que `gestion.models.Member` pour ce qui est lu (`pk`, `name`, `siren`…)."""

    __slots__ = (*BILL_MEMBER_FIELDS, "core")

    def __init__(self, row: tuple) -> None:
        for name, value in zip(BILL_MEMBER_FIELDS, row, strict=True):
            setattr(self, name, value)
        self.core: core.Member | None = None  # valeur du cœur, sans convention (rattaché)

    @property
    def pk(self) -> int:
        return self.id  # type: ignore[attr-defined, no-any-return]

    def __str__(self) -> str:
        return self.name  # type: ignore[attr-defined, no-any-return]

    def core_value(self) -> core.Member:
        if self.core is None:
            self.core = _core_member_of(self, (), None, (), {}, ())
        return self.core


class BillConvention:
    """Une convention telle que la campagne la lit."""

    __slots__ = (
        "catalogue_id",
        "ended_on",
        "member_id",
        "notice_received_on",
        "pk",
        "reference",
        "signed_on",
    )

    def __init__(self, row: tuple) -> None:
        (
            self.pk,
            self.member_id,
            self.catalogue_id,
            self.reference,
            self.signed_on,
            self.notice_received_on,
            self.ended_on,
        ) = row


def _core_member_of(
    member: BillMember,
    attached: tuple[core.Member, ...],
    convention: core.Convention | None,
    subscriptions: tuple[core.Subscription, ...],
    usage: dict[str, Decimal],
    interventions: tuple[core.Intervention, ...],
) -> core.Member:
    m: Any = member
    return core.Member(
        ident=str(m.id),
        name=m.name,
        kind=m.kind,
        nature=m.nature or None,
        population_totale=m.population_totale,
        population_municipale=m.population_municipale,
        population_source=m.population_source or None,
        agents=m.agents,
        budget_keur=m.budget_keur,
        categories=frozenset(m.categories or ()),
        attached=attached,
        usage=usage,
        subscriptions=subscriptions,
        convention=convention,
        interventions=interventions,
        insee=m.insee or None,
        siren=m.siren or None,
    )


class _SubscriptionRow:
    """Abonnement lu (SQL direct), avec les attributs que `_subscription_values` lit."""

    __slots__ = ("amounts", "ended_on", "pk", "previous_id", "quantities", "service_code")
    __slots__ += ("started_on",)

    def __init__(self, row: tuple) -> None:
        self.pk, _, self.service_code, self.started_on, self.ended_on = row[:5]
        self.quantities, self.amounts, self.previous_id = row[5:8]


@dataclass
class Chunk:
    """Un lot d'adhérents lus ensemble : adhérents (et leurs rattachés), conventions dans
    l'ordre de leur signature, valeur du cœur de chaque convention pour l'année."""

    members: dict[int, BillMember]
    conventions: list[BillConvention]
    values: dict[int, core.Member]


def _converter(model: type, name: str) -> Any:
    """Conversion d'une valeur lue en SQL direct, exactement comme l'ORM la ferait
    (convertisseurs de la base puis du champ : décimaux arrondis à leurs décimales sous
    SQLite, JSON décodé, booléens)."""
    field = model._meta.get_field(name)
    col = field.get_col(model._meta.db_table)
    steps = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
    if not steps:
        return None

    def convert(value: Any) -> Any:
        for step in steps:
            value = step(value, col, connection)
        return value

    return convert


class ChunkReader:
    """Lit les adhérents d'un opérateur par lots, pour une année (`read`), en SQL direct :
    une requête par table et par lot, valeurs converties comme par l'ORM."""

    def __init__(self, operator: m.Operator, year: int) -> None:
        self.operator = operator
        self.year = year
        self.populations = PopulationsInForce(year)
        self._json: dict[str, dict[str, Decimal]] = {}  # texte JSON → valeurs (partagées)
        quote = connection.ops.quote_name
        cast = "::text" if connection.vendor == "postgresql" else ""

        def table(model: type) -> str:
            return quote(model._meta.db_table)

        members = ", ".join(
            quote(m.Member._meta.get_field(f.removesuffix("_id")).column)
            for f in BILL_MEMBER_FIELDS
        )
        self._members_sql = f"SELECT {members} FROM {table(m.Member)} WHERE id IN ({{ids}})"
        self._children_sql = (
            f"SELECT {members} FROM {table(m.Member)} WHERE parent_id IN ({{ids}}) ORDER BY id"
        )
        self._member_converters = [
            (i, convert)
            for i, name in enumerate(BILL_MEMBER_FIELDS)
            if (convert := _converter(m.Member, name.removesuffix("_id"))) is not None
        ]
        self._conventions_sql = (
            "SELECT id, member_id, catalogue_id, reference, signed_on, notice_received_on, "
            f"ended_on FROM {table(m.Convention)} WHERE operator_id = %s AND member_id IN "
            "({ids})"
        )
        self._subscriptions_sql = (
            "SELECT id, convention_id, service_code, started_on, ended_on, "
            f"quantities{cast}, amounts{cast}, previous_id FROM {table(m.Subscription)} "
            "WHERE convention_id IN ({ids}) ORDER BY convention_id, id"
        )
        self._usage_sql = (
            f"SELECT member_id, counter, quantity FROM {table(m.UsageRecord)} "
            "WHERE year = %s AND member_id IN ({ids}) ORDER BY id"
        )
        self._usage_quantity = _converter(m.UsageRecord, "quantity")
        self._interventions_sql = (
            f"SELECT member_id, day, days, label, allowance FROM {table(m.Intervention)} "
            "WHERE member_id IN ({ids}) ORDER BY id"
        )
        self._intervention_days = _converter(m.Intervention, "days")

    def _values(self, text: Any) -> dict[str, Decimal]:
        """Quantités ou montants saisis (JSON) en décimaux ; le cœur ne les modifie jamais,
        une même valeur sert donc à tous les abonnements qui ont le même texte."""
        if not isinstance(text, str):  # JSON déjà décodé (pilote)
            return {k: Decimal(str(v)) for k, v in (text or {}).items()}
        found = self._json.get(text)
        if found is None:
            found = {k: Decimal(str(v)) for k, v in json.loads(text).items()}
            if len(self._json) < 50_000:
                self._json[text] = found
        return found

    @staticmethod
    def _fetch(sql: str, ids: list[int], *before: Any) -> list[tuple]:
        if not ids:
            return []
        with connection.cursor() as cursor:
            cursor.execute(sql.format(ids=", ".join(["%s"] * len(ids))), [*before, *ids])
            return cursor.fetchall()

    def _member(self, row: tuple) -> BillMember:
        if self._member_converters:
            values = list(row)
            for i, convert in self._member_converters:
                values[i] = convert(values[i])
            row = tuple(values)
        return BillMember(row)

    def _subscriptions(self, rows: list[tuple]) -> tuple[core.Subscription, ...]:
        """Abonnements d'une convention (`_subscription_values`), sans détour quand aucun
        avenant ne les relie (cas courant)."""
        values = self._values
        if all(row[7] is None for row in rows):
            return tuple(
                core.Subscription(row[2], row[3], values(row[5]), row[4], values(row[6]))
                for row in rows
            )
        return _subscription_values(
            [_SubscriptionRow(row) for row in rows],  # type: ignore[misc]
            self.year,
            values,
        )

    def _in_force(
        self, members: dict[int, BillMember], children: dict[int, list[BillMember]]
    ) -> None:
        """Chiffres de l'année pour les adhérents du lot et leurs rattachés (une requête),
        rattachés qui n'étaient pas membres de l'EPCI cette année-là retirés."""
        everyone: list[Any] = [*members.values()]
        for kids in children.values():
            everyone.extend(kids)
        codes = {
            code
            for x in everyone
            if (code := referential_code(x.kind, x.insee, x.siren, x.population_source))
        }
        found = self.populations.read(codes)
        if not found:
            return
        for x in everyone:
            figures = _member_in_force(x, found)
            if figures is not None:
                x.population_totale = figures.population_totale
                x.population_municipale = figures.population_municipale
                x.population_source = figures.source
        for parent_id, kids in children.items():
            parent = members.get(parent_id)
            if parent is not None:
                kept = [k for k in kids if _attached_in_year(parent, k, found)]
                if len(kept) != len(kids):
                    children[parent_id] = kept

    def read(self, member_ids: list[int]) -> Chunk:
        year = self.year
        members = {row[0]: self._member(row) for row in self._fetch(self._members_sql, member_ids)}
        children: dict[int, list[BillMember]] = {}
        for row in self._fetch(self._children_sql, member_ids):
            child = self._member(row)
            children.setdefault(child.parent_id, []).append(child)  # type: ignore[attr-defined]
        if self.populations.enabled:
            self._in_force(members, children)
        conventions = sorted(
            (
                BillConvention(row)
                for row in self._fetch(self._conventions_sql, member_ids, self.operator.pk)
            ),
            key=lambda c: (c.signed_on, c.pk),
        )
        subscriptions: dict[int, list[tuple]] = {}
        for row in self._fetch(self._subscriptions_sql, [c.pk for c in conventions]):
            subscriptions.setdefault(row[1], []).append(row)
        usage: dict[int, dict[str, Decimal]] = {}
        convert = self._usage_quantity or (lambda value: value)
        for member_id, counter, quantity in self._fetch(self._usage_sql, member_ids, year):
            usage.setdefault(member_id, {})[counter] = convert(quantity)
        interventions: dict[int, list[core.Intervention]] = {}
        convert = self._intervention_days or (lambda value: value)
        for member_id, day, days, label, allowance in self._fetch(
            self._interventions_sql, member_ids
        ):
            interventions.setdefault(member_id, []).append(
                core.Intervention(day, convert(days), label, allowance or None)
            )
        values: dict[int, core.Member] = {}
        attached_of: dict[int, tuple[core.Member, ...]] = {}
        for conv in conventions:
            member = members[conv.member_id]
            attached = attached_of.get(conv.member_id)
            if attached is None:
                attached = attached_of[conv.member_id] = tuple(
                    child.core_value() for child in children.get(conv.member_id, ())
                )
            values[conv.pk] = _core_member_of(
                member,
                attached,
                core.Convention(conv.signed_on, conv.notice_received_on, conv.ended_on),
                self._subscriptions(subscriptions.get(conv.pk, [])),
                usage.get(conv.member_id, {}),
                tuple(interventions.get(conv.member_id, ())),
            )
        return Chunk(members, conventions, values)
