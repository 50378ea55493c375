"""Écrire une nouvelle version d'un catalogue à partir du texte d'une autre : prix révisés
ou saisis, prix manquants renseignés, en-tête (version, libellé, validité).

Module pur (ni Django ni base) : il lit le YAML avec les positions de chaque nœud
(`yaml.compose`) et remplace **seulement** le texte des valeurs changées (un prix, une case
de table ou de grille, une année, l'en-tête). Commentaires, ordre des clés, lectures et
sources restent tels quels : la nouvelle version se relit comme l'ancienne, et la
différence entre les deux ne montre que les prix. Le résultat est revalidé par le chargeur
(`opsn.core.catalogue.load_catalogue`) et relu pour vérifier que chaque prix écrit est
celui demandé.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from opsn.core.catalogue import load_catalogue
from opsn.core.errors import OpsnError
from opsn.core.index import IndexTable
from opsn.core.model import Catalogue
from opsn.core.money import fmt_fr
from opsn.core.yamlsrc import compose

CENT = Decimal("0.01")
EDITABLE = ("montant", "a_renseigner")


class EditionError(OpsnError):
    """La nouvelle version ne peut pas être écrite (message en français)."""


@dataclass(frozen=True)
class PriceSite:
    """Un prix du catalogue : celui d'une composante, ou une case de table ou de grille."""

    key: str  # « service:<service>:<composante> », « table:<t>:<ligne>:<col> », « grille:… »
    group: str  # rubrique affichée (famille du service, table, grille)
    label: str
    kind: str  # montant, a_renseigner, sur_devis, bon_de_commande
    amount: Decimal | None
    year: int | None  # année du prix (pour une case : celle de sa table ou de sa grille)
    text: str | None  # texte du prix (« Tarif journalier »…)
    revisable: bool
    start: int  # position du nœud YAML de la valeur dans le texte
    end: int
    owner: str | None  # case : « table:<code> » ou « grille:<code> » ; composante : None
    line: int

    @property
    def editable(self) -> bool:
        return self.kind in EDITABLE

    def shown(self) -> str:
        """« 126,40 € (prix 2019) », « à renseigner : Tarif journalier », « sur devis »."""
        if self.kind == "montant" and self.amount is not None:
            return f"{fmt_fr(self.amount)}" + (f" (prix {self.year})" if self.year else "")
        words = {
            "a_renseigner": "à renseigner",
            "sur_devis": "sur devis",
            "bon_de_commande": "tarif du bon de commande",
        }.get(self.kind, self.kind)
        return f"{words} : {self.text}" if self.text else words


@dataclass(frozen=True)
class YearSite:
    key: str  # « table:<code> » ou « grille:<code> »
    label: str
    year: int | None
    start: int
    end: int


@dataclass(frozen=True)
class Anatomy:
    """Un catalogue validé et la position de chaque prix dans son texte."""

    text: str
    catalogue: Catalogue
    prices: tuple[PriceSite, ...]
    years: dict[str, YearSite]
    header: dict[str, tuple[int, int]]

    def site(self, key: str) -> PriceSite | None:
        return next((s for s in self.prices if s.key == key), None)

    @property
    def missing(self) -> list[PriceSite]:
        return [s for s in self.prices if s.kind == "a_renseigner"]


# -- lecture ------------------------------------------------------------------------------


def _get(node: Any, key: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _items(node: Any) -> list[Any]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def anatomy(text: str, path: str = "catalogue.yaml") -> Anatomy:
    """Valide le catalogue (mêmes erreurs que `opsn catalogue verifier`) et repère ses prix."""
    catalogue = load_catalogue(Path(path), text=text)
    root = compose(text)
    families = {f.code: f.label for f in catalogue.families}
    prices: list[PriceSite] = []
    years: dict[str, YearSite] = {}
    shared: dict[tuple[int, int], int] = {}  # nœud partagé (ancre YAML) → son prix

    for item in _items(_get(root, "services")):
        code_node = _get(item, "code")
        service = catalogue.services.get(str(code_node.value)) if code_node is not None else None
        if service is None:
            continue
        for comp_node in _items(_get(item, "composantes")):
            ccode = _get(comp_node, "code")
            comp = next((c for c in service.components if c.code == str(ccode.value)), None)
            price_node = _get(comp_node, "prix")
            if comp is None or price_node is None or comp.price.kind in ("table", "grille"):
                continue
            span = (price_node.start_mark.index, price_node.end_mark.index)
            if span in shared:  # composante reprise par une ancre (&…, *…) : un seul prix
                first = prices[shared[span]]
                prices[shared[span]] = replace(first, label=f"{first.label}, {service.label}")
                continue
            shared[span] = len(prices)
            prices.append(
                PriceSite(
                    key=f"service:{service.code}:{comp.code}",
                    group=families.get(service.family, service.family),
                    label=f"{service.label} – {comp.label}",
                    kind=comp.price.kind,
                    amount=comp.price.amount,
                    year=comp.price.year,
                    text=comp.price.text,
                    revisable=comp.revisable,
                    start=price_node.start_mark.index,
                    end=price_node.end_mark.index,
                    owner=None,
                    line=price_node.start_mark.line + 1,
                )
            )

    def revisable(kind: str, code: str) -> bool:
        users = [
            c
            for s in catalogue.services.values()
            for c in s.components
            if c.price.kind == kind and c.price.table == code
        ]
        return all(c.revisable for c in users)

    tables_node = _get(root, "tables")
    for key_node, table_node in tables_node.value if tables_node is not None else ():
        table = catalogue.tables.get(str(key_node.value))
        if table is None:
            continue
        money = {c.code: c for c in table.columns if c.kind == "montant"}
        if not money:
            continue
        owner = f"table:{table.code}"
        year_node = _get(table_node, "annee")
        if year_node is not None:
            years[owner] = YearSite(
                owner, table.label, table.year, year_node.start_mark.index, year_node.end_mark.index
            )
        can_revise = revisable("table", table.code)
        for i, row_node in enumerate(_items(_get(table_node, "lignes"))):
            row = table.rows[i]
            values = _get(row_node, "valeurs")
            for k, v in values.value if values is not None else ():
                column = money.get(str(k.value))
                if column is None:
                    continue
                prices.append(
                    _cell(
                        f"{owner}:{i}:{column.code}",
                        table.label,
                        f"{row.label} – {column.label}",
                        row.values[column.code],
                        table.year,
                        can_revise,
                        v,
                        owner,
                    )
                )

    grids_node = _get(root, "grilles")
    for key_node, grid_node in grids_node.value if grids_node is not None else ():
        grid = catalogue.grids.get(str(key_node.value))
        if grid is None:
            continue
        owner = f"grille:{grid.code}"
        year_node = _get(grid_node, "annee")
        if year_node is not None:
            years[owner] = YearSite(
                owner, grid.label, grid.year, year_node.start_mark.index, year_node.end_mark.index
            )
        can_revise = revisable("grille", grid.code)
        for i, row_node in enumerate(_items(_get(grid_node, "cellules"))):
            row_label = grid.rows.tiers[i].label if grid.rows is not None else ""
            for j, cell_node in enumerate(_items(row_node)):
                column_label = grid.columns.tiers[j].label
                label = f"{row_label} – {column_label}" if row_label else column_label
                prices.append(
                    _cell(
                        f"{owner}:{i}:{j}",
                        grid.label,
                        label,
                        grid.cells[i][j],
                        grid.year,
                        can_revise,
                        cell_node,
                        owner,
                    )
                )

    header = {}
    for key in ("version", "libelle", "valide_du"):
        node = _get(root, key)
        if node is not None:
            header[key] = (node.start_mark.index, node.end_mark.index)
    return Anatomy(text, catalogue, tuple(prices), years, header)


def _cell(
    key: str,
    group: str,
    label: str,
    value: Any,
    year: int | None,
    revisable: bool,
    node: Any,
    owner: str,
) -> PriceSite:
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        kind, amount, text = "montant", Decimal(value), None
    elif value in ("a_renseigner", "sur_devis"):
        kind, amount, text = str(value), None, None
    else:
        kind, amount, text = "texte", None, str(value)
    return PriceSite(
        key,
        group,
        label,
        kind,
        amount,
        year if kind == "montant" else None,
        text,
        revisable,
        node.start_mark.index,
        node.end_mark.index,
        owner,
        node.start_mark.line + 1,
    )


# -- révision par l'indice ------------------------------------------------------------------


def revised_prices(
    found: Anatomy, index: IndexTable, year: int
) -> tuple[dict[str, Decimal], list[str]]:
    """Prix de chaque montant révisé jusqu'à `year` par la clause du catalogue (R9–R11 :
    pas à pas, au centime) ; un prix non révisable (ou déjà établi pour `year` ou après)
    garde son montant. Rend aussi les remarques à montrer. `IndexMissingError` si une valeur
    de l'indice manque."""
    clause = found.catalogue.revision
    result: dict[str, Decimal] = {}
    notes: list[str] = []
    if clause is None:
        notes.append(
            "Ce catalogue n'a pas de clause de révision : les prix sont repris tels quels ; "
            "modifiez-les à la main si besoin."
        )
    kept = 0
    for site in found.prices:
        if site.kind != "montant" or site.amount is None:
            continue
        base = site.year
        if clause is None or not site.revisable or base is None or base >= year:
            result[site.key] = site.amount
            kept += site.revisable is False
            continue
        revision = index.revise(site.amount, base, year, clause.month, what=f"« {site.label} »")
        result[site.key] = revision.price
    if kept and clause is not None:
        notes.append(
            f"{kept} prix non révisable(s) (par exemple fournis à prix coûtant) : montant repris."
        )
    return result, notes


# -- écriture --------------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return json.dumps(f"{value.quantize(CENT)}")


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Header:
    version: str
    label: str
    valid_from: dt.date | None = None
    comment: str = ""


def rewrite(
    found: Anatomy,
    *,
    header: Header,
    prices: dict[str, tuple[Decimal, int | None]],
    years: dict[str, int] | None = None,
    path: str = "catalogue.yaml",
) -> str:
    """Texte de la nouvelle version : `prices` donne, par clé de prix, le montant et l'année
    (ignorée pour une case : l'année est celle de sa table ou de sa grille, `years`).
    Seules les valeurs changées sont réécrites. Le texte rendu est validé et relu."""
    years = years or {}
    edits: list[tuple[int, int, str]] = []
    for key, (amount, year) in prices.items():
        site = found.site(key)
        if site is None or not site.editable:
            raise EditionError(f"prix « {key} » introuvable ou non modifiable.")
        if site.owner is not None:
            if site.kind == "montant" and site.amount == amount:
                continue
            edits.append((site.start, site.end, _money(amount)))
            continue
        if site.kind == "montant" and site.amount == amount and site.year == year:
            continue
        if year is None and found.catalogue.revision is not None:
            raise EditionError(f"« {site.label} » : l'année du prix manque.")
        # R28 : sans clause de révision, le prix vaut tel quel pour toute année de la
        # version ; il n'a pas d'année (une année inventée interdirait les années d'avant)
        parts = [f"montant: {_money(amount)}"] + ([f"annee: {year}"] if year else [])
        if site.text:
            parts.append(f"texte: {_text(site.text)}")
        edits.append((site.start, site.end, "{" + ", ".join(parts) + "}"))
    for key, year in years.items():
        year_site = found.years.get(key)
        if year_site is None:
            raise EditionError(f"année « {key} » introuvable.")
        if year_site.year != year:
            edits.append((year_site.start, year_site.end, str(year)))
    text = found.text
    head = found.header
    edits.append((*head["version"], _text(header.version)))
    edits.append((*head["libelle"], _text(header.label)))
    if header.valid_from is not None:
        if "valide_du" in head:
            edits.append((*head["valide_du"], header.valid_from.isoformat()))
        else:
            end = text.find("\n", head["version"][1])
            end = len(text) if end < 0 else end
            edits.append((end, end, f"\nvalide_du: {header.valid_from.isoformat()}"))
    edits.sort(key=lambda e: e[0], reverse=True)
    previous_start = len(text) + 1
    for start, end, new in edits:
        if end > previous_start:
            raise EditionError("deux modifications se chevauchent dans le fichier.")
        old = text[start:end]
        trailing = old[len(old.rstrip()) :]  # fin de ligne d'un bloc : gardée
        text = text[:start] + new + trailing + text[end:]
        previous_start = start
    if header.comment:
        lines = "".join(f"# {line}\n" for line in header.comment.splitlines())
        text = lines + text
    result = anatomy(text, path)
    _check(result, header, prices, years)
    return text


def _check(
    result: Anatomy,
    header: Header,
    prices: dict[str, tuple[Decimal, int | None]],
    years: dict[str, int],
) -> None:
    """Relit la nouvelle version : chaque prix écrit est celui demandé."""
    cat = result.catalogue
    if cat.version != header.version or cat.label != header.label:
        raise EditionError("l'en-tête écrit n'est pas celui demandé.")
    if header.valid_from is not None and cat.valid_from != header.valid_from:
        raise EditionError("la date de validité écrite n'est pas celle demandée.")
    for key, (amount, year) in prices.items():
        site = result.site(key)
        if site is None or site.kind != "montant" or site.amount != amount:
            raise EditionError(f"« {key} » : le prix relu n'est pas celui écrit.")
        if site.owner is None and site.year != year:
            raise EditionError(f"« {key} » : l'année relue n'est pas celle écrite.")
    for key, year in years.items():
        if result.years[key].year != year:
            raise EditionError(f"« {key} » : l'année relue n'est pas celle écrite.")


# -- différences -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceChange:
    key: str
    group: str
    label: str
    before: str
    after: str
    change: str  # « modifié », « ajouté », « retiré »
    ratio: str | None  # « +2,35 % »


def price_changes(old: Anatomy, new: Anatomy) -> list[PriceChange]:
    """Prix qui diffèrent entre deux versions (composantes, cases de tables et de grilles),
    appariés par service et composante, table, ligne et colonne."""
    before = {s.key: s for s in old.prices}
    after = {s.key: s for s in new.prices}
    result = []
    for key in [*before, *(k for k in after if k not in before)]:
        a, b = before.get(key), after.get(key)
        if a is not None and b is not None:
            if (a.kind, a.amount, a.year, a.text) == (b.kind, b.amount, b.year, b.text):
                continue
            ratio = None
            if a.amount and b.amount is not None:
                pct = (b.amount / a.amount - 1) * 100
                ratio = f"{pct:+.2f} %".replace(".", ",")
            result.append(
                PriceChange(key, b.group, b.label, a.shown(), b.shown(), "modifié", ratio)
            )
        elif b is not None:
            result.append(PriceChange(key, b.group, b.label, "—", b.shown(), "ajouté", None))
        elif a is not None:
            result.append(PriceChange(key, a.group, a.label, a.shown(), "—", "retiré", None))
    return result
