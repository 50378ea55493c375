"""Fichiers de scénario : adhérents, abonnements, usages, interventions (docs/scenario.md).

Un scénario est validé contre son catalogue : un service inconnu, une quantité
non déclarée ou une date invalide sont signalés avec le fichier, la ligne et la clé.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from opsn.core import bounds
from opsn.core.bounds import Bound, BoundError
from opsn.core.catalogue import find_catalogue
from opsn.core.errors import ScenarioError
from opsn.core.index import IndexTable, IndexValue, load_index
from opsn.core.members import Convention, Intervention, Member, Subscription
from opsn.core.model import EPCI_NATURES, MEMBER_TYPES, Catalogue
from opsn.core.reader import Reader
from opsn.core.yamlsrc import YList, YMap, load_yaml

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CATEGORY_RE = re.compile(r"^[a-z_]+$")

# Résout un adhérent donné par code INSEE ou SIREN : renvoie les champs connus
# (nom, type, populations…) ou lève ValueError avec un message français.
MemberResolver = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    path: str
    catalogue: Catalogue
    year: int
    members: tuple[Member, ...]
    index: IndexTable
    description: str | None = None


def load_scenario(
    path: Path,
    year: int | None = None,
    *,
    resolver: MemberResolver | None = None,
    text: str | None = None,
) -> Scenario:
    data = load_yaml(path, ScenarioError, text)
    return _ScenarioParser(str(path), data, resolver).parse(year)


class _ScenarioParser:
    def __init__(self, file: str, data: Any, resolver: MemberResolver | None) -> None:
        self.r = Reader(file, ScenarioError)
        self.data = data
        self.resolver = resolver

    def parse(self, year_override: int | None) -> Scenario:
        r = self.r
        doc = r.block(self.data, "", 1)
        r.keys(doc, {"catalogue", "annee", "description", "indices", "membres"}, "")
        year = (
            year_override
            if year_override is not None
            else r.get(doc, "annee", "entier", "", required=False)
        )
        if year is None:
            r.fail(
                "année absente : indiquez « annee » dans le scénario ou --annee",
                line=doc.line,
                key="annee",
            )
        if not bounds.YEAR_MIN <= year <= bounds.YEAR_DB_MAX:
            where = "--annee" if year_override is not None else "annee"
            r.fail(
                f"année {year} hors limites ({where}) : de {bounds.YEAR_MIN} à "
                f"{bounds.YEAR_DB_MAX}",
                line=doc.line_of("annee"),
                key="annee",
            )
        # les dates du scénario sont bornées autour de l'année simulée (jamais l'horloge)
        self.today = dt.date(year, 1, 1)
        ref = r.get(doc, "catalogue", "texte", "")
        try:
            catalogue = find_catalogue(ref, year)
        except Exception as exc:  # CatalogueError : on la rattache au scénario
            r.fail(str(exc), line=doc.line_of("catalogue"), key="catalogue")
        index = load_index("syntec")
        extra = []
        for i, item in enumerate(
            r.get(doc, "indices", "liste", "", required=False, default=YList())
        ):
            path = f"indices[{i + 1}]"
            item = r.block(item, path, doc.line_of("indices"))
            r.keys(item, {"mois", "valeur", "serie", "source"}, path)
            month = str(r.get(item, "mois", "texte", path))
            if not MONTH_RE.match(month):
                r.fail(f"mois « {month} » invalide (AAAA-MM)", line=item.line, key=f"{path}.mois")
            value = self.bounded(
                r.get(item, "valeur", "decimal", path),
                bounds.INDEX,
                item.line_of("valeur"),
                f"{path}.valeur",
            )
            serie = r.get(item, "serie", "texte", path)
            if serie not in index.series:
                r.fail(
                    f"série « {serie} » inconnue ({', '.join(index.series)})",
                    line=item.line,
                    key=f"{path}.serie",
                )
            extra.append(
                IndexValue(
                    month,
                    value,
                    serie,
                    r.get(item, "source", "texte", path, required=False, default="scénario"),
                )
            )
        if extra:
            index = index.with_values(extra)
        self.catalogue = catalogue
        members_raw = r.get(doc, "membres", "liste", "")
        if not members_raw:
            r.fail("aucun adhérent", line=doc.line_of("membres"), key="membres")
        members = []
        idents: set[str] = set()
        for i, raw in enumerate(members_raw):
            member = self.member(raw, f"membres[{i + 1}]", members_raw.line_of(i), top=True)
            if member.ident in idents:
                r.fail(
                    f"identifiant « {member.ident} » en double",
                    line=members_raw.line_of(i),
                    key=f"membres[{i + 1}]",
                )
            idents.add(member.ident)
            members.append(member)
        return Scenario(
            self.r.file,
            catalogue,
            year,
            tuple(members),
            index,
            r.get(doc, "description", "texte", "", required=False),
        )

    def member(self, raw: Any, path: str, line: int, *, top: bool) -> Member:
        r = self.r
        block = r.block(raw, path, line)
        allowed = {
            "id",
            "nom",
            "type",
            "nature",
            "insee",
            "siren",
            "population",
            "population_municipale",
            "agents",
            "budget_keur",
            "categories",
        }
        if top:
            allowed |= {
                "convention",
                "usage",
                "communes",
                "etablissements",
                "abonnements",
                "interventions",
            }
        r.keys(block, allowed, path)
        fields: dict[str, Any] = {}
        code = None
        for key in ("insee", "siren"):
            if key in block:
                code = str(r.get(block, key, "texte", path))
                if self.resolver is None:
                    r.fail(
                        "le référentiel n'est pas disponible pour résoudre ce code",
                        line=block.line_of(key),
                        key=f"{path}.{key}",
                    )
                try:
                    fields = self.resolver(code)
                except ValueError as exc:
                    r.fail(str(exc), line=block.line_of(key), key=f"{path}.{key}")
        name = r.get(block, "nom", "texte", path, required=not fields, default=fields.get("nom"))
        kind = r.get(block, "type", "texte", path, required=not fields, default=fields.get("type"))
        if kind not in MEMBER_TYPES:
            r.fail(
                f"type « {kind} » inconnu ({', '.join(MEMBER_TYPES)})",
                line=block.line_of("type"),
                key=f"{path}.type",
            )
        nature = r.get(block, "nature", "texte", path, required=False, default=fields.get("nature"))
        if nature is not None and (kind != "epci" or nature not in EPCI_NATURES):
            r.fail(
                f"nature « {nature} » : réservée aux EPCI ({', '.join(EPCI_NATURES)})",
                line=block.line_of("nature"),
                key=f"{path}.nature",
            )
        pop_t = self.natural(
            block, "population", path, fields.get("population_totale"), bounds.POPULATION
        )
        pop_m = self.natural(
            block,
            "population_municipale",
            path,
            fields.get("population_municipale"),
            bounds.POPULATION,
        )
        source = "saisie" if "population" in block else fields.get("population_source")
        agents = self.natural(block, "agents", path, fields.get("agents"), bounds.AGENTS)
        budget = r.get(block, "budget_keur", "decimal", path, required=False)
        if budget is not None:
            self.bounded(
                budget, bounds.BUDGET_KEUR, block.line_of("budget_keur"), f"{path}.budget_keur"
            )
        categories = r.get(block, "categories", "liste", path, required=False, default=[])
        for c in categories:
            if not isinstance(c, str) or not CATEGORY_RE.match(c):
                r.fail(
                    f"catégorie « {c} » invalide",
                    line=block.line_of("categories"),
                    key=f"{path}.categories",
                )
        ident = str(r.get(block, "id", "texte", path, required=False, default=code or name))
        attached: list[Member] = list(fields.get("rattaches", ()))
        if top:
            for key in ("communes", "etablissements"):
                items = r.get(block, key, "liste", path, required=False, default=YList())
                if items:
                    attached = [m for m in attached if (m.kind == "commune") != (key == "communes")]
                for j, item in enumerate(items):
                    child = self.member(item, f"{path}.{key}[{j + 1}]", items.line_of(j), top=False)
                    if key == "communes" and child.kind != "commune":
                        r.fail(
                            "une commune membre doit être de type commune",
                            line=items.line_of(j),
                            key=f"{path}.{key}[{j + 1}]",
                        )
                    attached.append(child)
        convention = self.convention(block, path) if top else None
        subscriptions = self.subscriptions(block, path, convention) if top else ()
        usage = {}
        if top and "usage" in block:
            ub = r.get(block, "usage", "bloc", path)
            for k in ub:
                value = r.convert(ub[k], "decimal", f"{path}.usage.{k}", ub.line_of(k))
                usage[str(k)] = self.bounded(
                    value, bounds.usage_bound(str(k)), ub.line_of(k), f"{path}.usage.{k}"
                )
        interventions = self.interventions(block, path) if top else ()
        return Member(
            ident=ident,
            name=name,
            kind=kind,
            nature=nature,
            population_totale=pop_t,
            population_municipale=pop_m,
            population_source=source,
            agents=agents,
            budget_keur=budget,
            categories=frozenset(categories),
            attached=tuple(attached),
            usage=usage,
            subscriptions=tuple(subscriptions),
            convention=convention,
            interventions=tuple(interventions),
            insee=fields.get("insee"),
            siren=fields.get("siren"),
        )

    def natural(
        self, block: YMap, key: str, path: str, default: int | None, bound: Bound
    ) -> int | None:
        value = self.r.get(block, key, "entier", path, required=False, default=default)
        if value is not None and value < 0:
            self.r.fail(
                f"« {key} » ne peut pas être négatif", line=block.line_of(key), key=f"{path}.{key}"
            )
        if value is not None and key in block:
            self.bounded(value, bound, block.line_of(key), f"{path}.{key}")
        return value

    def bounded(self, value: Decimal | int, bound: Bound, line: int, key: str) -> Decimal:
        """La valeur dans son domaine (opsn.core.bounds), sinon une erreur localisée."""
        try:
            return bound.check(value)
        except BoundError as exc:
            self.r.fail(f"{bound.label} : {exc}", line=line, key=key)

    def date(self, block: YMap, key: str, path: str, **kwargs: Any) -> dt.date | None:
        """Une date du scénario, bornée autour de l'année simulée."""
        value = self.r.get(block, key, "date", path, **kwargs)
        if value is not None:
            try:
                bounds.check_date(value, self.today)
            except BoundError as exc:
                self.r.fail(str(exc), line=block.line_of(key), key=f"{path}.{key}")
        return value

    def convention(self, block: YMap, path: str) -> Convention | None:
        r = self.r
        if "convention" not in block:
            return None
        cpath = f"{path}.convention"
        cb = r.get(block, "convention", "bloc", path)
        r.keys(cb, {"signature", "preavis_recu", "fin"}, cpath)
        signature = self.date(cb, "signature", cpath)
        notice = self.date(cb, "preavis_recu", cpath, required=False)
        end = self.date(cb, "fin", cpath, required=False)
        if notice is not None and notice < signature:
            r.fail(
                "préavis reçu avant la signature",
                line=cb.line_of("preavis_recu"),
                key=f"{cpath}.preavis_recu",
            )
        if end is not None and end <= signature:
            r.fail("fin antérieure à la signature", line=cb.line_of("fin"), key=f"{cpath}.fin")
        return Convention(signature, notice, end)

    def subscriptions(
        self, block: YMap, path: str, convention: Convention | None
    ) -> list[Subscription]:
        r = self.r
        services = self.catalogue.services
        result = []
        items = r.get(block, "abonnements", "liste", path, required=False, default=YList())
        for j, raw in enumerate(items):
            spath = f"{path}.abonnements[{j + 1}]"
            sb = r.block(raw, spath, items.line_of(j))
            r.keys(sb, {"service", "debut", "fin", "quantites", "quantite", "montants"}, spath)
            code = r.get(sb, "service", "texte", spath)
            if code not in services:
                known = ", ".join(sorted(services))
                r.fail(
                    f"service « {code} » absent du catalogue {self.catalogue.ident} "
                    f"(services : {known})",
                    line=sb.line_of("service"),
                    key=f"{spath}.service",
                )
            service = services[code]
            start = self.date(
                sb,
                "debut",
                spath,
                required=convention is None,
                default=convention.signature if convention else None,
            )
            end = self.date(sb, "fin", spath, required=False)
            if end is not None and end <= start:
                r.fail("fin antérieure au début", line=sb.line_of("fin"), key=f"{spath}.fin")
            declared = {q.code for q in service.quantities}
            quantities: dict[str, Decimal] = {}
            if "quantite" in sb:
                if len(declared) != 1:
                    r.fail(
                        f"« quantite » seule est ambiguë pour ce service ; utilisez "
                        f"« quantites » avec : {', '.join(sorted(declared)) or 'aucune'}",
                        line=sb.line_of("quantite"),
                        key=f"{spath}.quantite",
                    )
                quantities[next(iter(declared))] = self.quantity(
                    sb["quantite"], f"{spath}.quantite", sb.line_of("quantite")
                )
            if "quantites" in sb:
                qb = r.get(sb, "quantites", "bloc", spath)
                for k in qb:
                    if k not in declared:
                        r.fail(
                            f"quantité « {k} » inconnue pour « {service.label} » (quantités : "
                            f"{', '.join(sorted(declared)) or 'aucune'})",
                            line=qb.line_of(k),
                            key=f"{spath}.quantites.{k}",
                        )
                    quantities[str(k)] = self.quantity(
                        qb[k], f"{spath}.quantites.{k}", qb.line_of(k)
                    )
            required = {q.code for q in service.quantities if not q.optional}
            if required and not quantities:
                r.fail(
                    f"quantités à renseigner pour « {service.label} » : "
                    f"{', '.join(sorted(required))}",
                    line=sb.line,
                    key=spath,
                )
            amounts = {}
            if "montants" in sb:
                mb = r.get(sb, "montants", "bloc", spath)
                comps = {c.code for c in service.components}
                for k in mb:
                    if k not in comps:
                        r.fail(
                            f"composante « {k} » inconnue (composantes : "
                            f"{', '.join(sorted(comps))})",
                            line=mb.line_of(k),
                            key=f"{spath}.montants.{k}",
                        )
                    value = r.convert(mb[k], "decimal", f"{spath}.montants.{k}", mb.line_of(k))
                    if value < 0:
                        r.fail("montant négatif", line=mb.line_of(k), key=f"{spath}.montants.{k}")
                    amounts[str(k)] = self.bounded(
                        value, bounds.AMOUNT, mb.line_of(k), f"{spath}.montants.{k}"
                    )
            result.append(Subscription(code, start, quantities, end, amounts))
        return result

    def quantity(self, raw: Any, path: str, line: int) -> Decimal:
        value = self.r.convert(raw, "decimal", path, line)
        if value < 0:
            self.r.fail("quantité négative", line=line, key=path)
        return self.bounded(value, bounds.QUANTITY, line, path)

    def interventions(self, block: YMap, path: str) -> list[Intervention]:
        r = self.r
        result = []
        items = r.get(block, "interventions", "liste", path, required=False, default=YList())
        for j, raw in enumerate(items):
            ipath = f"{path}.interventions[{j + 1}]"
            ib = r.block(raw, ipath, items.line_of(j))
            r.keys(ib, {"date", "jours", "objet", "dotation"}, ipath)
            days = r.get(ib, "jours", "decimal", ipath)
            self.bounded(days, bounds.DAYS, ib.line_of("jours"), f"{ipath}.jours")
            result.append(
                Intervention(
                    self.date(ib, "date", ipath),
                    days,
                    r.get(
                        ib,
                        "objet",
                        "texte",
                        ipath,
                        required=False,
                        default="Intervention hors convention",
                    ),
                    r.get(ib, "dotation", "texte", ipath, required=False),
                )
            )
        return result
