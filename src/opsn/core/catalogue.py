"""Chargement et validation des catalogues (format décrit dans docs/catalogue.md).

Un catalogue invalide n'est jamais chargé à moitié : la première erreur lève
`CatalogueError`, qui nomme le fichier, la ligne, la clé et le problème.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from opsn.core.bounds import AMOUNT, BoundError
from opsn.core.errors import CatalogueError
from opsn.core.model import (
    DEFAULT_ACCOUNT,
    DIMENSIONS,
    EPCI_NATURES,
    MATRIX_STATUS_FR,
    MEMBER_KIND_PARENTS,
    MEMBER_TYPES,
    PHASES,
    Allowance,
    Axis,
    Cap,
    Catalogue,
    CellValue,
    Column,
    Component,
    ConventionRules,
    CountingRule,
    Criterion,
    Entitlements,
    Family,
    Grid,
    Matrix,
    MatrixCell,
    MatrixRow,
    Operator,
    Prerequisite,
    Price,
    Quantity,
    QuantityDecl,
    Reading,
    RevisionClause,
    Service,
    StrataTable,
    StratumRow,
    Tier,
    VatRegime,
)
from opsn.core.ranges import Range, box_contains, box_inside, sample_points
from opsn.core.reader import Reader
from opsn.core.yamlsrc import YList, YMap, load_yaml

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "data" / "catalogues"
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$", re.IGNORECASE)
SCHEMA_VERSION = 1
SPECIAL_CELLS = ("sur_devis", "a_renseigner")


def load_catalogue(path: Path, text: str | None = None) -> Catalogue:
    """Charge et valide un fichier de catalogue."""
    data = load_yaml(path, CatalogueError, text)
    return _CatalogueParser(str(path), data).parse()


class _CatalogueParser:
    def __init__(self, file: str, data: Any) -> None:
        self.r = Reader(file, CatalogueError)
        self.file = file
        self.data = data
        self.revision_clause: RevisionClause | None = None
        self.pending_bought: list[tuple[tuple[str, str], str, int]] = []
        self.pending_billed_by: list[tuple[str, str, int]] = []

    # -- haut niveau ---------------------------------------------------------
    def parse(self) -> Catalogue:
        r = self.r
        doc = r.block(self.data, "", 1)
        r.keys(
            doc,
            {
                "schema",
                "operateur",
                "version",
                "libelle",
                "source",
                "valide_du",
                "tva",
                "revision",
                "convention",
                "journee",
                "familles",
                "lectures",
                "tables",
                "grilles",
                "comptages",
                "services",
                "matrices",
                "notes",
            },
            "",
        )
        schema = r.get(doc, "schema", "entier", "")
        if schema != SCHEMA_VERSION:
            r.fail(
                f"version de schéma {schema} non prise en charge (attendu : {SCHEMA_VERSION})",
                line=doc.line_of("schema"),
                key="schema",
            )
        op = r.get(doc, "operateur", "bloc", "")
        r.keys(op, {"code", "nom", "siren", "adresse"}, "operateur")
        operator = Operator(
            self.code(op, "code", "operateur"),
            r.get(op, "nom", "texte", "operateur"),
            r.get(op, "siren", "texte", "operateur", required=False),
            r.get(op, "adresse", "texte", "operateur", required=False),
        )
        vat = self.vat(r.get(doc, "tva", "bloc", ""))
        revision, revision_note = self.revision(doc)
        self.revision_clause = revision
        convention = self.convention(r.get(doc, "convention", "bloc", ""))
        families = self.families(r.get(doc, "familles", "liste", ""))
        self.tables = self.strata_tables(
            r.get(doc, "tables", "bloc", "", required=False, default=YMap())
        )
        self.grids = self.grids_(r.get(doc, "grilles", "bloc", "", required=False, default=YMap()))
        countings = self.countings(
            r.get(doc, "comptages", "bloc", "", required=False, default=YMap())
        )
        services = self.services(r.get(doc, "services", "liste", ""), vat, families)
        matrices = self.matrices(
            r.get(doc, "matrices", "liste", "", required=False, default=YList()), services
        )
        readings = tuple(
            Reading(
                r.get(item, "regle", "texte", f"lectures[{i}]"),
                r.get(item, "texte", "texte", f"lectures[{i}]"),
            )
            for i, item in enumerate(
                r.get(doc, "lectures", "liste", "", required=False, default=YList())
            )
        )
        day_rate = r.get(doc, "journee", "texte", "", required=False)
        if day_rate is not None and day_rate not in services:
            r.fail(f"service « {day_rate} » inconnu", line=doc.line_of("journee"), key="journee")
        notes = tuple(str(n) for n in (doc.get("notes") or []))
        self.check_usage_dimensions(countings)
        return Catalogue(
            operator=operator,
            version=r.get(doc, "version", "texte", ""),
            label=r.get(doc, "libelle", "texte", ""),
            source=r.get(doc, "source", "texte", ""),
            valid_from=r.get(doc, "valide_du", "date", "", required=False),
            path=self.file,
            vat_regimes=vat,
            revision=revision,
            revision_note=revision_note,
            convention=convention,
            families=families,
            services=services,
            tables=self.tables,
            grids=self.grids,
            countings=countings,
            matrices=matrices,
            readings=readings,
            day_rate_service=day_rate,
            notes=notes,
        )

    def population_kind(self, block: YMap, path: str) -> str:
        """R4 : « totale » (par défaut) ou « municipale »."""
        value = self.r.get(block, "population", "texte", path, required=False, default="totale")
        if value not in ("totale", "municipale"):
            self.r.fail(
                f"population « {value} » inconnue : « totale » ou « municipale » (R4)",
                line=block.line_of("population"),
                key=f"{path}.population",
            )
        return value

    def code(self, block: YMap, key: str, path: str) -> str:
        value = self.r.get(block, key, "texte", path)
        if not CODE_RE.match(value):
            self.r.fail(
                f"code « {value} » invalide (lettres, chiffres, _ et - seulement)",
                line=block.line_of(key),
                key=f"{path}.{key}",
            )
        return value

    def vat(self, block: YMap) -> dict[str, VatRegime]:
        r = self.r
        r.keys(block, {"defaut", "regimes"}, "tva")
        regimes_block = r.get(block, "regimes", "bloc", "tva")
        regimes: dict[str, VatRegime] = {}
        for code, item in regimes_block.items():
            path = f"tva.regimes.{code}"
            item = r.block(item, path, regimes_block.line_of(code))
            r.keys(item, {"type", "taux", "libelle", "mention", "clause"}, path)
            kind = r.get(item, "type", "texte", path)
            if kind not in ("ttc", "exonere", "ht"):
                r.fail(
                    f"type « {kind} » inconnu (ttc, exonere ou ht)",
                    line=item.line_of("type"),
                    key=f"{path}.type",
                )
            rate = r.get(item, "taux", "decimal", path, required=kind == "ht", default=Decimal(0))
            if kind != "ht" and rate != 0:
                r.fail(
                    "un taux n'a de sens que pour le type ht",
                    line=item.line_of("taux"),
                    key=f"{path}.taux",
                )
            if rate < 0 or rate >= 100:
                r.fail(
                    f"taux {rate} hors de [0 ; 100[", line=item.line_of("taux"), key=f"{path}.taux"
                )
            mention = r.get(item, "mention", "texte", path, required=kind == "exonere")
            regimes[str(code)] = VatRegime(
                str(code),
                kind,
                rate,
                r.get(item, "libelle", "texte", path),
                mention,
                r.get(item, "clause", "texte", path),
            )
        default = r.get(block, "defaut", "texte", "tva")
        if default not in regimes:
            r.fail(
                f"régime par défaut « {default} » absent de tva.regimes",
                line=block.line_of("defaut"),
                key="tva.defaut",
            )
        regimes["__defaut__"] = regimes[default]
        return regimes

    def revision(self, doc: YMap) -> tuple[RevisionClause | None, str | None]:
        r = self.r
        block = r.get(doc, "revision", "bloc", "")
        r.keys(block, {"indice", "mois", "clause", "texte", "aucune"}, "revision")
        if "aucune" in block:
            return None, r.get(block, "aucune", "texte", "revision")
        index = r.get(block, "indice", "texte", "revision")
        if index != "syntec":
            r.fail(
                f"indice « {index} » inconnu (indices livrés : syntec)",
                line=block.line_of("indice"),
                key="revision.indice",
            )
        month = r.get(block, "mois", "entier", "revision")
        if not 1 <= month <= 12:
            r.fail(f"mois {month} invalide", line=block.line_of("mois"), key="revision.mois")
        return RevisionClause(
            index,
            month,
            r.get(block, "clause", "texte", "revision"),
            r.get(block, "texte", "texte", "revision"),
        ), None

    def convention(self, block: YMap) -> ConventionRules:
        r = self.r
        r.keys(
            block,
            {"duree_mois", "reconduction_tacite", "preavis_mois", "prorata", "clause"},
            "convention",
        )
        if r.get(block, "prorata", "booleen", "convention"):
            r.fail(
                "le prorata temporis n'est pas pris en charge : une année commencée est due en "
                "entier (R21) ; écrivez « prorata: false »",
                line=block.line_of("prorata"),
                key="convention.prorata",
            )
        duration = r.get(block, "duree_mois", "entier", "convention")
        notice = r.get(block, "preavis_mois", "entier", "convention")
        if duration < 1 or notice < 0 or notice >= duration:
            r.fail(
                f"durée ({duration} mois) et préavis ({notice} mois) incohérents : il faut "
                "durée ≥ 1 et 0 ≤ préavis < durée",
                line=block.line,
                key="convention",
            )
        return ConventionRules(
            duration,
            r.get(block, "reconduction_tacite", "booleen", "convention"),
            notice,
            False,
            r.get(block, "clause", "texte", "convention"),
        )

    def families(self, items: YList) -> tuple[Family, ...]:
        result = []
        for i, item in enumerate(items):
            path = f"familles[{i + 1}]"
            item = self.r.block(item, path, items.line_of(i))
            self.r.keys(item, {"code", "libelle", "imputation"}, path)
            result.append(
                Family(
                    self.code(item, "code", path),
                    self.r.get(item, "libelle", "texte", path),
                    self.r.get(
                        item, "imputation", "texte", path, required=False, default=DEFAULT_ACCOUNT
                    ),
                )
            )
        return tuple(result)

    # -- critères et intervalles ---------------------------------------------
    def range_(self, value: Any, path: str, line: int) -> Range:
        r = self.r
        block = r.block(value, path, line)
        r.keys(block, {"de", "a", "moins_de", "plus_de"}, path)
        if "de" in block and "plus_de" in block:
            r.fail("« de » et « plus_de » s'excluent", line=block.line, key=path)
        if "a" in block and "moins_de" in block:
            r.fail("« a » et « moins_de » s'excluent", line=block.line, key=path)
        if not block:
            r.fail("intervalle vide", line=block.line, key=path)
        low, low_inc = Decimal(0), True
        if "de" in block:
            low = r.get(block, "de", "decimal", path)
        if "plus_de" in block:
            low, low_inc = r.get(block, "plus_de", "decimal", path), False
        high, high_inc = None, False
        if "a" in block:
            high, high_inc = r.get(block, "a", "decimal", path), True
        if "moins_de" in block:
            high = r.get(block, "moins_de", "decimal", path)
        if low < 0 or (high is not None and (high < low or (high == low and not high_inc))):
            r.fail("intervalle vide ou négatif", line=block.line, key=path)
        return Range(low, low_inc, high, high_inc)

    def criterion(self, value: Any, path: str, line: int) -> Criterion:
        r = self.r
        block = r.block(value, path, line)
        allowed = {"types", "natures", "categorie", *DIMENSIONS}
        allowed |= {k for k in block if isinstance(k, str) and k.startswith("quantite.")}
        r.keys(block, allowed, path)
        types = None
        if "types" in block:
            raw = r.get(block, "types", "liste", path)
            for t in raw:
                if t not in MEMBER_TYPES:
                    r.fail(
                        f"type d'adhérent « {t} » inconnu ({', '.join(MEMBER_TYPES)})",
                        line=block.line_of("types"),
                        key=f"{path}.types",
                    )
            types = frozenset(raw)
        natures = None
        if "natures" in block:
            raw = r.get(block, "natures", "liste", path)
            for n in raw:
                if n not in EPCI_NATURES:
                    r.fail(
                        f"nature d'EPCI « {n} » inconnue ({', '.join(EPCI_NATURES)})",
                        line=block.line_of("natures"),
                        key=f"{path}.natures",
                    )
            natures = frozenset(raw)
        category = r.get(block, "categorie", "texte", path, required=False)
        bounds = tuple(
            (str(k), self.range_(block[k], f"{path}.{k}", block.line_of(k)))
            for k in block
            if k in DIMENSIONS or str(k).startswith("quantite.")
        )
        if category and (types or bounds or natures):
            r.fail(
                "un critère de catégorie (R3) ne se combine pas avec un type ou une taille",
                line=block.line,
                key=path,
            )
        if not (category or types or bounds or natures):
            r.fail("critère vide", line=block.line, key=path)
        return Criterion(types, category, bounds, natures)

    def cell(self, value: Any, kind: str, path: str, line: int) -> CellValue:
        if isinstance(value, str) and value in SPECIAL_CELLS:
            return value
        if kind == "texte":
            return self.r.convert(value, "texte", path, line)
        number = self.r.convert(value, "decimal" if kind == "montant" else "entier", path, line)
        if number < 0:
            self.r.fail(f"valeur négative {number}", line=line, key=path)
        if kind == "montant":
            self.amount(number, path, line)
        return number

    def amount(self, value: Decimal, path: str, line: int) -> Decimal:
        """Un montant du catalogue dans son domaine (opsn.core.bounds.AMOUNT)."""
        try:
            return AMOUNT.check(value)
        except BoundError as exc:
            self.r.fail(f"montant : {exc}", line=line, key=path)

    # -- tables de strates ----------------------------------------------------
    def strata_tables(self, block: YMap) -> dict[str, StrataTable]:
        r = self.r
        tables = {}
        for code, item in block.items():
            path = f"tables.{code}"
            item = r.block(item, path, block.line_of(code))
            r.keys(
                item,
                {
                    "libelle",
                    "clause",
                    "colonnes",
                    "lignes",
                    "population",
                    "annee",
                    "hors_strates",
                    "note",
                },
                path,
            )
            cols_block = r.get(item, "colonnes", "bloc", path)
            columns = []
            for col_code, col in cols_block.items():
                cpath = f"{path}.colonnes.{col_code}"
                col = r.block(col, cpath, cols_block.line_of(col_code))
                r.keys(col, {"libelle", "type"}, cpath)
                kind = r.get(col, "type", "texte", cpath)
                if kind not in ("montant", "entier", "texte"):
                    r.fail(
                        f"type de colonne « {kind} » inconnu (montant, entier, texte)",
                        line=col.line_of("type"),
                        key=f"{cpath}.type",
                    )
                columns.append(Column(str(col_code), r.get(col, "libelle", "texte", cpath), kind))
            kinds = {c.code: c.kind for c in columns}
            rows = []
            raw_rows = r.get(item, "lignes", "liste", path)
            for i, row in enumerate(raw_rows):
                rpath = f"{path}.lignes[{i + 1}]"
                row = r.block(row, rpath, raw_rows.line_of(i))
                r.keys(row, {"libelle", "criteres", "valeurs"}, rpath)
                crit_items = r.get(row, "criteres", "liste", rpath)
                criteria = tuple(
                    self.criterion(c, f"{rpath}.criteres[{j + 1}]", crit_items.line_of(j))
                    for j, c in enumerate(crit_items)
                )
                values_block = r.get(row, "valeurs", "bloc", rpath)
                values: dict[str, CellValue] = {}
                for col_code in kinds:
                    if col_code not in values_block:
                        r.fail(
                            f"valeur de la colonne « {col_code} » absente",
                            line=values_block.line,
                            key=f"{rpath}.valeurs",
                        )
                for col_code, v in values_block.items():
                    if col_code not in kinds:
                        r.fail(
                            f"colonne « {col_code} » non déclarée",
                            line=values_block.line_of(col_code),
                            key=f"{rpath}.valeurs",
                        )
                    values[col_code] = self.cell(
                        v,
                        kinds[col_code],
                        f"{rpath}.valeurs.{col_code}",
                        values_block.line_of(col_code),
                    )
                rows.append(
                    StratumRow(
                        r.get(row, "libelle", "texte", rpath), criteria, values, raw_rows.line_of(i)
                    )
                )
            population = self.population_kind(item, path)
            outside = r.get(item, "hors_strates", "texte", path, required=False, default="erreur")
            if outside not in ("sur_devis", "erreur"):
                r.fail(
                    "hors_strates : « sur_devis » ou « erreur » attendu",
                    line=item.line_of("hors_strates"),
                    key=f"{path}.hors_strates",
                )
            has_money = any(c.kind == "montant" for c in columns)
            year = (
                self.price_year(item, path, "table de prix")
                if has_money
                else r.get(item, "annee", "entier", path, required=False)
            )
            table = StrataTable(
                str(code),
                r.get(item, "libelle", "texte", path),
                r.get(item, "clause", "texte", path),
                tuple(columns),
                tuple(rows),
                population,
                year,
                outside,
                r.get(item, "note", "texte", path, required=False),
            )
            self.check_strata(table, item.line)
            tables[str(code)] = table
        return tables

    def check_strata(self, table: StrataTable, line: int) -> None:
        """R2 : chevauchements emboîtés seulement ; R8 : aucun trou non déclaré.

        Pour chaque type d'adhérent visé par la table, on teste des points représentatifs
        de l'espace des grandeurs (bornes et intérieur de chaque intervalle) : chacun doit
        tomber dans au moins une ligne, et les lignes qui le contiennent doivent s'emboîter.
        """
        for member_type in MEMBER_TYPES:
            kinds = {member_type, *MEMBER_KIND_PARENTS.get(member_type, ())}
            entries = [
                (c, row)
                for row in table.rows
                for c in row.criteria
                if not c.category and not c.natures and (c.types is None or c.types & kinds)
            ]
            if not entries:
                continue
            boxes = [c.bounds for c, _ in entries]
            integer_dims = {d for box in boxes for d, _ in box if d != "budget_keur"}
            for point in sample_points(boxes, integer_dims):
                matched = [(c, row) for c, row in entries if box_contains(c.bounds, point)]
                where = ", ".join(f"{d} = {v}" for d, v in point.items()) or "toute taille"
                if not matched:
                    self.r.fail(
                        f"table « {table.code} » : trou non déclaré pour les {member_type} "
                        f"({where}) : aucune ligne ne s'applique ; dites laquelle (R8)",
                        line=line,
                        key=f"tables.{table.code}",
                    )
                for i, (a, row_a) in enumerate(matched):
                    for b, row_b in matched[i + 1 :]:
                        if row_a is row_b:
                            continue
                        if not (box_inside(a.bounds, b.bounds) or box_inside(b.bounds, a.bounds)):
                            self.r.fail(
                                f"table « {table.code} » : les lignes « {row_a.label} » et "
                                f"« {row_b.label} » se chevauchent sans que l'une contienne "
                                f"l'autre ({member_type}, {where}) : impossible de choisir la "
                                "plus spécifique (R2)",
                                line=row_b.line,
                                key=f"tables.{table.code}",
                            )
                        if a.bounds == b.bounds:
                            self.r.fail(
                                f"table « {table.code} » : les lignes « {row_a.label} » et "
                                f"« {row_b.label} » couvrent exactement les mêmes {member_type} "
                                f"({where}) : ambiguïté (R2)",
                                line=row_b.line,
                                key=f"tables.{table.code}",
                            )

    # -- grilles à paliers ----------------------------------------------------
    def axis(self, value: Any, path: str, line: int) -> Axis:
        r = self.r
        block = r.block(value, path, line)
        r.keys(block, {"dimension", "paliers"}, path)
        dimension = r.get(block, "dimension", "texte", path)
        tiers = []
        items = r.get(block, "paliers", "liste", path)
        previous = None
        for i, item in enumerate(items):
            tpath = f"{path}.paliers[{i + 1}]"
            item = r.block(item, tpath, items.line_of(i))
            r.keys(item, {"libelle", "jusqu_a", "moins_de"}, tpath)
            if ("jusqu_a" in item) == ("moins_de" in item):
                r.fail("« jusqu_a » ou « moins_de » attendu (un seul)", line=item.line, key=tpath)
            inclusive = "jusqu_a" in item
            bound = r.get(item, "jusqu_a" if inclusive else "moins_de", "decimal", tpath)
            if previous is not None and bound <= previous:
                r.fail(
                    f"paliers non croissants ({bound} après {previous})", line=item.line, key=tpath
                )
            previous = bound
            tiers.append(Tier(r.get(item, "libelle", "texte", tpath), bound, inclusive))
        if not tiers:
            r.fail("aucun palier", line=block.line, key=path)
        return Axis(dimension, tuple(tiers), block.line_of("dimension"))

    def grids_(self, block: YMap) -> dict[str, Grid]:
        r = self.r
        grids = {}
        for code, item in block.items():
            path = f"grilles.{code}"
            item = r.block(item, path, block.line_of(code))
            r.keys(
                item,
                {
                    "libelle",
                    "clause",
                    "colonnes",
                    "lignes",
                    "cellules",
                    "annee",
                    "population",
                    "au_dela",
                    "types",
                    "note",
                },
                path,
            )
            columns = self.axis(item.get("colonnes"), f"{path}.colonnes", item.line_of("colonnes"))
            rows = (
                self.axis(item["lignes"], f"{path}.lignes", item.line_of("lignes"))
                if "lignes" in item
                else None
            )
            raw = r.get(item, "cellules", "liste", path)
            expected_rows = len(rows.tiers) if rows else 1
            if len(raw) != expected_rows:
                r.fail(
                    f"{len(raw)} rangée(s) de cellules pour {expected_rows} palier(s) de lignes",
                    line=raw.line,
                    key=f"{path}.cellules",
                )
            cells = []
            for i, cell_row in enumerate(raw):
                cpath = f"{path}.cellules[{i + 1}]"
                cell_row = r.items(cell_row, cpath, raw.line_of(i))
                if len(cell_row) != len(columns.tiers):
                    r.fail(
                        f"{len(cell_row)} cellules pour {len(columns.tiers)} colonnes",
                        line=raw.line_of(i),
                        key=cpath,
                    )
                cells.append(
                    tuple(self.cell(v, "montant", cpath, raw.line_of(i)) for v in cell_row)
                )
            types = None
            if "types" in item:
                types = frozenset(r.get(item, "types", "liste", path))
                for t in types:
                    if t not in MEMBER_TYPES:
                        r.fail(
                            f"type d'adhérent « {t} » inconnu",
                            line=item.line_of("types"),
                            key=f"{path}.types",
                        )
            beyond = r.get(item, "au_dela", "texte", path)
            if beyond != "sur_devis":
                r.fail(
                    "au_dela : seule la valeur « sur_devis » est prévue",
                    line=item.line_of("au_dela"),
                    key=f"{path}.au_dela",
                )
            grids[str(code)] = Grid(
                str(code),
                r.get(item, "libelle", "texte", path),
                r.get(item, "clause", "texte", path),
                columns,
                rows,
                tuple(cells),
                self.price_year(item, path, "grille de prix"),
                self.population_kind(item, path),
                beyond,
                types,
                r.get(item, "note", "texte", path, required=False),
            )
        return grids

    def countings(self, block: YMap) -> dict[str, CountingRule]:
        r = self.r
        result = {}
        for code, item in block.items():
            path = f"comptages.{code}"
            item = r.block(item, path, block.line_of(code))
            r.keys(item, {"libelle", "clause", "exclure", "population"}, path)
            excl = r.get(item, "exclure", "liste", path)
            result[str(code)] = CountingRule(
                str(code),
                r.get(item, "libelle", "texte", path),
                r.get(item, "clause", "texte", path),
                tuple(
                    self.criterion(c, f"{path}.exclure[{i + 1}]", excl.line_of(i))
                    for i, c in enumerate(excl)
                ),
                self.population_kind(item, path),
            )
        return result

    # -- services ------------------------------------------------------------
    def services(
        self, items: YList, vat: dict[str, VatRegime], families: tuple[Family, ...]
    ) -> dict[str, Service]:
        r = self.r
        family_codes = {f.code for f in families}
        services: dict[str, Service] = {}
        pending_prereq: list[tuple[Prerequisite, str, int]] = []
        for i, item in enumerate(items):
            path = f"services[{i + 1}]"
            item = r.block(item, path, items.line_of(i))
            code = self.code(item, "code", path)
            path = f"services.{code}"
            if code in services:
                r.fail(f"service « {code} » défini deux fois", line=item.line, key=path)
            r.keys(
                item,
                {
                    "code",
                    "libelle",
                    "famille",
                    "clause",
                    "tva",
                    "facture_a",
                    "composantes",
                    "quantites",
                    "forfait",
                    "droits",
                    "allocations",
                    "prerequis",
                    "validite_ans",
                    "groupe_exclusif",
                    "note",
                    "revisable",
                    "journee",
                    "imputation",
                    "plafonds",
                },
                path,
            )
            family = r.get(item, "famille", "texte", path)
            if family not in family_codes:
                r.fail(
                    f"famille « {family} » inconnue",
                    line=item.line_of("famille"),
                    key=f"{path}.famille",
                )
            vat_code = r.get(item, "tva", "texte", path, required=False, default="__defaut__")
            if vat_code not in vat:
                r.fail(
                    f"régime de TVA « {vat_code} » inconnu",
                    line=item.line_of("tva"),
                    key=f"{path}.tva",
                )
            billed_to = r.get(item, "facture_a", "texte", path, required=False, default="adherent")
            if billed_to not in ("adherent", "epci"):
                r.fail(
                    "facture_a : « adherent » ou « epci » attendu",
                    line=item.line_of("facture_a"),
                    key=f"{path}.facture_a",
                )
            quantities = []
            qblock = r.get(item, "quantites", "bloc", path, required=False, default=YMap())
            for qcode, q in qblock.items():
                qpath = f"{path}.quantites.{qcode}"
                q = r.block(q, qpath, qblock.line_of(qcode))
                r.keys(q, {"libelle", "unite", "facultative"}, qpath)
                quantities.append(
                    QuantityDecl(
                        str(qcode),
                        r.get(q, "libelle", "texte", qpath),
                        r.get(q, "unite", "texte", qpath),
                        r.get(q, "facultative", "booleen", qpath, required=False, default=False),
                    )
                )
            declared = {q.code for q in quantities}
            revisable = r.get(item, "revisable", "booleen", path, required=False, default=True)
            entitlements = None
            if "droits" in item:
                eb = r.get(item, "droits", "bloc", path)
                r.keys(eb, {"table", "colonnes"}, f"{path}.droits")
                table_code = r.get(eb, "table", "texte", f"{path}.droits")
                if table_code not in self.tables:
                    r.fail(
                        f"table « {table_code} » inconnue",
                        line=eb.line_of("table"),
                        key=f"{path}.droits.table",
                    )
                cols = tuple(r.get(eb, "colonnes", "liste", f"{path}.droits"))
                known = {c.code: c for c in self.tables[table_code].columns}
                for c in cols:
                    if c not in known or known[c].kind != "entier":
                        r.fail(
                            f"colonne entière « {c} » absente de la table « {table_code} »",
                            line=eb.line_of("colonnes"),
                            key=f"{path}.droits.colonnes",
                        )
                entitlements = Entitlements(table_code, cols)
            comps_raw = r.get(item, "composantes", "liste", path)
            components = []
            for j, comp in enumerate(comps_raw):
                components.append(
                    self.component(
                        comp,
                        f"{path}.composantes[{j + 1}]",
                        comps_raw.line_of(j),
                        declared,
                        revisable,
                        entitlements,
                    )
                )
            if len({c.code for c in components}) != len(components):
                r.fail(
                    "deux composantes portent le même code",
                    line=comps_raw.line,
                    key=f"{path}.composantes",
                )
            allowances = []
            ablock = r.get(item, "allocations", "liste", path, required=False, default=YList())
            for j, a in enumerate(ablock):
                apath = f"{path}.allocations[{j + 1}]"
                a = r.block(a, apath, ablock.line_of(j))
                r.keys(
                    a,
                    {
                        "code",
                        "libelle",
                        "quantite",
                        "unite",
                        "periode_ans",
                        "clause",
                        "facture_par",
                    },
                    apath,
                )
                # R20 : le dépassement d'une dotation se facture au tarif de sa prestation
                # dans les prestations complémentaires, jamais comme intervention générique
                billed_by = r.get(a, "facture_par", "texte", apath)
                self.pending_billed_by.append((billed_by, apath, a.line_of("facture_par")))
                unit = r.get(a, "unite", "texte", apath)
                if unit != "jour":
                    r.fail(
                        "unité « jour » attendue (une demi-journée = 0.5)",
                        line=a.line_of("unite"),
                        key=f"{apath}.unite",
                    )
                allowances.append(
                    Allowance(
                        self.code(a, "code", apath),
                        r.get(a, "libelle", "texte", apath),
                        r.get(a, "quantite", "decimal", apath),
                        "jour",
                        r.get(a, "periode_ans", "entier", apath),
                        r.get(a, "clause", "texte", apath),
                        billed_by,
                    )
                )
            pblock = r.get(item, "prerequis", "liste", path, required=False, default=YList())
            prereqs = []
            for j, p in enumerate(pblock):
                ppath = f"{path}.prerequis[{j + 1}]"
                p = r.block(p, ppath, pblock.line_of(j))
                r.keys(p, {"libelle", "services", "droit", "clause"}, ppath)
                prereq = Prerequisite(
                    r.get(p, "libelle", "texte", ppath),
                    tuple(r.get(p, "services", "liste", ppath, required=False, default=[])),
                    r.get(p, "droit", "texte", ppath, required=False),
                    r.get(p, "clause", "texte", ppath),
                )
                pending_prereq.append((prereq, ppath, p.line))
                prereqs.append(prereq)
            validity = r.get(item, "validite_ans", "entier", path, required=False)
            if validity is not None and validity < 1:
                r.fail(
                    "validite_ans doit être ≥ 1",
                    line=item.line_of("validite_ans"),
                    key=f"{path}.validite_ans",
                )
            caps = self.caps(item, path, declared)
            services[code] = Service(
                code=code,
                label=r.get(item, "libelle", "texte", path),
                family=family,
                clause=r.get(item, "clause", "texte", path),
                vat=vat_code,
                billed_to=billed_to,
                components=tuple(components),
                quantities=tuple(quantities),
                forfait=r.get(item, "forfait", "booleen", path, required=False, default=False),
                entitlements=entitlements,
                allowances=tuple(allowances),
                prerequisites=tuple(prereqs),
                validity_years=validity,
                exclusive_group=r.get(item, "groupe_exclusif", "texte", path, required=False),
                note=r.get(item, "note", "texte", path, required=False),
                day_rate=r.get(item, "journee", "booleen", path, required=False, default=False),
                account=r.get(item, "imputation", "texte", path, required=False),
                caps=caps,
            )
        for prereq, ppath, line in pending_prereq:
            for s in prereq.services:
                if s not in services:
                    r.fail(f"service prérequis « {s} » inconnu", line=line, key=ppath)
        for (code, qty), apath, line in self.pending_bought:
            if code not in services:
                r.fail(f"service « {code} » inconnu", line=line, key=f"{apath}.service")
            if qty not in {q.code for q in services[code].quantities}:
                r.fail(
                    f"quantité « {qty} » non déclarée par le service « {code} »",
                    line=line,
                    key=f"{apath}.quantite",
                )
        for code, apath, line in self.pending_billed_by:
            target = services.get(code)
            if target is None:
                r.fail(f"service « {code} » inconnu", line=line, key=f"{apath}.facture_par")
            if not any(c.phase == "toutes" for c in target.components):
                r.fail(
                    f"le service « {code} » n'a pas de composante due chaque année : il ne "
                    "peut pas facturer un dépassement de dotation (R20)",
                    line=line,
                    key=f"{apath}.facture_par",
                )
        return services

    def caps(self, item: YMap, path: str, declared: set[str]) -> tuple[Cap, ...]:
        """Plafonds imprimés : « plafonds: [{quantite, max, clause}] », `max` entier ou
        {table, colonne} (colonne entière, selon la strate de l'adhérent)."""
        r = self.r
        items = r.get(item, "plafonds", "liste", path, required=False, default=YList())
        result = []
        for k, raw in enumerate(items):
            cpath = f"{path}.plafonds[{k + 1}]"
            block = r.block(raw, cpath, items.line_of(k))
            r.keys(block, {"quantite", "max", "clause"}, cpath)
            quantity = r.get(block, "quantite", "texte", cpath)
            if quantity not in declared:
                r.fail(
                    f"quantité « {quantity} » non déclarée dans « quantites » du service",
                    line=block.line_of("quantite"),
                    key=f"{cpath}.quantite",
                )
            clause = r.get(block, "clause", "texte", cpath)
            raw_max = block.get("max")
            if isinstance(raw_max, YMap):
                mpath = f"{cpath}.max"
                r.keys(raw_max, {"table", "colonne"}, mpath)
                table = r.get(raw_max, "table", "texte", mpath)
                column = r.get(raw_max, "colonne", "texte", mpath)
                known = (
                    {c.code: c for c in self.tables[table].columns} if table in self.tables else {}
                )
                if column not in known or known[column].kind != "entier":
                    r.fail(
                        f"colonne entière « {column} » absente de la table « {table} »",
                        line=raw_max.line,
                        key=mpath,
                    )
                result.append(Cap(quantity, clause, table=table, column=column))
                continue
            limit = r.get(block, "max", "entier", cpath)
            if limit < 0:
                r.fail("plafond négatif", line=block.line_of("max"), key=f"{cpath}.max")
            result.append(Cap(quantity, clause, limit=limit))
        return tuple(result)

    def component(
        self,
        value: Any,
        path: str,
        line: int,
        declared: set[str],
        revisable: bool,
        entitlements: Entitlements | None,
    ) -> Component:
        r = self.r
        block = r.block(value, path, line)
        r.keys(
            block,
            {"code", "libelle", "phase", "prix", "quantite", "unite", "clause", "revisable"},
            path,
        )
        code = self.code(block, "code", path)
        phase = r.get(block, "phase", "texte", path, required=False, default="toutes")
        if phase not in PHASES:
            r.fail(
                f"phase « {phase} » inconnue ({', '.join(PHASES)})",
                line=block.line_of("phase"),
                key=f"{path}.phase",
            )
        quantity = self.quantity(block, path, declared, entitlements)
        price = self.price(block.get("prix"), f"{path}.prix", block.line_of("prix"))
        return Component(
            code,
            r.get(block, "libelle", "texte", path),
            phase,
            price,
            quantity,
            r.get(block, "unite", "texte", path, required=False, default="forfait"),
            r.get(block, "clause", "texte", path),
            r.get(block, "revisable", "booleen", path, required=False, default=revisable),
        )

    def quantity(
        self, block: YMap, path: str, declared: set[str], entitlements: Entitlements | None
    ) -> Quantity:
        r = self.r
        raw = block.get("quantite")
        qpath = f"{path}.quantite"
        line = block.line_of("quantite")
        if raw is None:
            return Quantity("un")
        if isinstance(raw, str):
            if raw not in declared:
                r.fail(
                    f"quantité « {raw} » non déclarée dans « quantites » du service",
                    line=line,
                    key=qpath,
                )
            return Quantity("quantite", raw)
        q = r.block(raw, qpath, line)
        r.keys(q, {"usage", "depassement", "droit", "inclus", "achats", "communes_membres"}, qpath)
        if "usage" in q:
            return Quantity("usage", self.code(q, "usage", qpath))
        if "depassement" in q:
            counter = self.code(q, "depassement", qpath)
            bought = self.bought_units(q, qpath)
            if ("droit" in q) == ("inclus" in q):
                r.fail(
                    "dépassement : « droit » (quota selon la strate) ou « inclus » (quantité "
                    "incluse imprimée, 0 s'il n'y en a pas) attendu, un seul (R16)",
                    line=q.line,
                    key=qpath,
                )
            if "inclus" in q:
                included = r.get(q, "inclus", "entier", qpath)
                if included < 0:
                    r.fail(
                        "quantité incluse négative", line=q.line_of("inclus"), key=f"{qpath}.inclus"
                    )
                return Quantity("depassement", counter, None, included, bought)
            droit = r.get(q, "droit", "texte", qpath)
            if entitlements is None or droit not in entitlements.columns:
                r.fail(
                    f"droit « {droit} » absent des droits du service",
                    line=q.line,
                    key=f"{qpath}.droit",
                )
            return Quantity("depassement", counter, droit, 0, bought)
        if q.get("communes_membres") is True:
            return Quantity("communes_membres")
        r.fail(
            "quantité : « usage », « depassement » ou « communes_membres » attendu",
            line=line,
            key=qpath,
        )

    def price_year(self, block: YMap, path: str, what: str) -> int | None:
        """R9, R28 : l'année d'un prix. Obligatoire si le catalogue a une clause de révision
        (elle révise à partir de cette année) ; facultative sinon : un catalogue sans clause
        de révision applique ses prix tels qu'imprimés à toute année qu'il couvre, sans
        année de base inventée."""
        year = self.r.get(block, "annee", "entier", path, required=False)
        if year is None and self.revision_clause is not None:
            self.r.fail(
                f"{what} sans année : le catalogue a une clause de révision "
                f"({self.revision_clause.clause}) ; chaque prix doit porter l'année pour "
                "laquelle il est établi (R9). Seul un catalogue sans clause de révision admet "
                "un prix sans année (R28).",
                line=block.line,
                key=f"{path}.annee",
            )
        return year

    def bought_units(self, q: YMap, qpath: str) -> tuple[tuple[str, str], ...]:
        """R16 : « achats » = [{service, quantite}] ; vérifiés une fois tous les services lus."""
        r = self.r
        items = r.get(q, "achats", "liste", qpath, required=False, default=YList())
        result = []
        for k, item in enumerate(items):
            apath = f"{qpath}.achats[{k + 1}]"
            item = r.block(item, apath, items.line_of(k))
            r.keys(item, {"service", "quantite"}, apath)
            pair = (r.get(item, "service", "texte", apath), r.get(item, "quantite", "texte", apath))
            self.pending_bought.append((pair, apath, item.line))
            result.append(pair)
        return tuple(result)

    def price(self, raw: Any, path: str, line: int) -> Price:
        r = self.r
        if raw is None:
            r.fail(
                "prix absent (écrivez « a_renseigner » si la source ne le donne pas, R15)",
                line=line,
                key=path,
            )
        if isinstance(raw, str):
            if raw in ("sur_devis", "a_renseigner", "bon_de_commande"):
                return Price(raw)
            r.fail(
                f"prix « {raw} » inconnu (montant, sur_devis, a_renseigner, bon_de_commande, "
                "table, grille)",
                line=line,
                key=path,
            )
        block = r.block(raw, path, line)
        r.keys(
            block,
            {
                "montant",
                "annee",
                "sur_devis",
                "a_renseigner",
                "table",
                "colonne",
                "grille",
                "texte",
            },
            path,
        )
        text = r.get(block, "texte", "texte", path, required=False)
        if "montant" in block:
            amount = r.get(block, "montant", "decimal", path)
            if amount < 0:
                r.fail("montant négatif", line=block.line_of("montant"), key=f"{path}.montant")
            self.amount(amount, f"{path}.montant", block.line_of("montant"))
            return Price("montant", amount, self.price_year(block, path, "prix"), text=text)
        if "sur_devis" in block or "a_renseigner" in block:
            kind = "sur_devis" if "sur_devis" in block else "a_renseigner"
            return Price(kind, text=r.get(block, kind, "texte", path))
        if "table" in block:
            table = r.get(block, "table", "texte", path)
            if table not in self.tables:
                r.fail(
                    f"table « {table} » inconnue", line=block.line_of("table"), key=f"{path}.table"
                )
            column = r.get(block, "colonne", "texte", path)
            cols = {c.code: c for c in self.tables[table].columns}
            if column not in cols or cols[column].kind != "montant":
                r.fail(
                    f"colonne de montants « {column} » absente de la table « {table} »",
                    line=block.line_of("colonne"),
                    key=f"{path}.colonne",
                )
            return Price("table", table=table, column=column, text=text)
        if "grille" in block:
            grid = r.get(block, "grille", "texte", path)
            if grid not in self.grids:
                r.fail(
                    f"grille « {grid} » inconnue",
                    line=block.line_of("grille"),
                    key=f"{path}.grille",
                )
            return Price("grille", table=grid, text=text)
        r.fail(
            "prix : « montant », « sur_devis », « a_renseigner », « table » ou « grille » attendu",
            line=line,
            key=path,
        )

    def check_usage_dimensions(self, countings: dict[str, CountingRule]) -> None:
        """Les dimensions des grilles doivent être connues : grandeur, comptage ou usage."""
        for grid in self.grids.values():
            for name, axis in (("colonnes", grid.columns), ("lignes", grid.rows)):
                if axis is None:
                    continue
                if (
                    axis.dimension in DIMENSIONS
                    or axis.dimension in countings
                    or axis.dimension.startswith("usage.")
                ):
                    continue
                self.r.fail(
                    f"grille « {grid.code} » : dimension « {axis.dimension} » inconnue (grandeur "
                    f"{', '.join(DIMENSIONS)}, comptage déclaré, ou usage.<compteur>)",
                    line=axis.line,
                    key=f"grilles.{grid.code}.{name}.dimension",
                )

    def matrices(self, items: YList, services: dict[str, Service]) -> tuple[Matrix, ...]:
        r = self.r
        result = []
        for i, item in enumerate(items):
            path = f"matrices[{i + 1}]"
            item = r.block(item, path, items.line_of(i))
            r.keys(item, {"code", "titre", "clause", "colonnes", "lignes", "note"}, path)
            columns = tuple(r.get(item, "colonnes", "liste", path))
            for c in columns:
                if c not in services or not services[c].forfait:
                    r.fail(
                        f"colonne « {c} » : ce n'est pas un forfait du catalogue",
                        line=item.line_of("colonnes"),
                        key=f"{path}.colonnes",
                    )
            rows = []
            raw_rows = r.get(item, "lignes", "liste", path)
            group = None
            for j, row in enumerate(raw_rows):
                rpath = f"{path}.lignes[{j + 1}]"
                row = r.block(row, rpath, raw_rows.line_of(j))
                r.keys(row, {"groupe", "prestation", "cellules"}, rpath)
                group = (
                    None
                    if "groupe" in row and row["groupe"] is None
                    else r.get(row, "groupe", "texte", rpath, required=False, default=group)
                )
                cells_raw = r.get(row, "cellules", "liste", rpath)
                if len(cells_raw) != len(columns):
                    r.fail(
                        f"{len(cells_raw)} cellules pour {len(columns)} colonnes",
                        line=row.line,
                        key=f"{rpath}.cellules",
                    )
                cells = tuple(
                    self.matrix_cell(c, f"{rpath}.cellules[{k + 1}]", cells_raw.line_of(k))
                    for k, c in enumerate(cells_raw)
                )
                rows.append(MatrixRow(group, r.get(row, "prestation", "texte", rpath), cells))
            result.append(
                Matrix(
                    self.code(item, "code", path),
                    r.get(item, "titre", "texte", path),
                    r.get(item, "clause", "texte", path),
                    columns,
                    tuple(rows),
                    r.get(item, "note", "texte", path, required=False),
                )
            )
        return tuple(result)

    def matrix_cell(self, raw: Any, path: str, line: int) -> MatrixCell:
        r = self.r
        if isinstance(raw, str):
            if raw not in MATRIX_STATUS_FR or raw in ("texte", "selon_strate"):
                r.fail(
                    f"case « {raw} » inconnue ({', '.join(MATRIX_STATUS_FR)})", line=line, key=path
                )
            return MatrixCell(raw)
        block = r.block(raw, path, line)
        r.keys(block, {"statut", "texte", "droit"}, path)
        text = r.get(block, "texte", "texte", path, required=False)
        entitlement = r.get(block, "droit", "texte", path, required=False)
        status = r.get(
            block,
            "statut",
            "texte",
            path,
            required=False,
            default="selon_strate" if entitlement else "texte",
        )
        if status not in MATRIX_STATUS_FR:
            r.fail(f"statut « {status} » inconnu", line=line, key=path)
        if status == "texte" and not text:
            r.fail("case sans texte", line=line, key=path)
        return MatrixCell(status, text, entitlement)


# -- catalogues livrés --------------------------------------------------------


def catalogue_files(directory: Path = CATALOGUE_DIR) -> list[Path]:
    return sorted(directory.glob("*/*.yaml"))


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> Catalogue:
    return load_catalogue(Path(path))


def load_cached(path: Path) -> Catalogue:
    return _load_cached(str(path), path.stat().st_mtime)


def find_catalogue(ref: str, year: int | None = None, directory: Path = CATALOGUE_DIR) -> Catalogue:
    """Trouve un catalogue livré : « cdg82 » (version en vigueur), « cdg47/ancienne-annexe »,
    ou un chemin de fichier."""
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return load_cached(candidate)
    operator, _, version = ref.partition("/")
    folder = directory / operator
    if not folder.is_dir():
        known = sorted(p.name for p in directory.iterdir() if p.is_dir())
        raise CatalogueError(
            f"catalogue « {ref} » inconnu (catalogues livrés : {', '.join(known)})"
        )
    versions = [load_cached(p) for p in sorted(folder.glob("*.yaml"))]
    if version:
        for cat in versions:
            if cat.version == version:
                return cat
        raise CatalogueError(
            f"version « {version} » inconnue pour {operator} "
            f"(versions : {', '.join(c.version for c in versions)})"
        )
    eligible = [
        c for c in versions if year is None or c.valid_from is None or c.valid_from.year <= year
    ]
    if not eligible:
        raise CatalogueError(f"aucune version du catalogue {operator} n'est en vigueur en {year}")
    return eligible[-1]


__all__ = [
    "CATALOGUE_DIR",
    "catalogue_files",
    "find_catalogue",
    "load_cached",
    "load_catalogue",
]
