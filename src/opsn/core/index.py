"""Indices de révision (SYNTEC) et révision des prix (règles R9 à R11).

R10 (001 art. 6.3) : P(A) = P(A−1) × S(nov. A−1) / S(nov. A−2), arrondi au
centime à chaque pas annuel. R11 : la série a changé de base en août 2022 ; un
rapport qui enjambe la rupture convertit d'abord l'ancienne valeur :
S_rév = S_anc × coefficient de raccordement (0,97975).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from opsn.core.errors import IndexMissingError, SourceError, month_fr
from opsn.core.money import round_cents, to_decimal
from opsn.core.yamlsrc import load_yaml

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "indices"
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class IndexFileError(SourceError):
    """Fichier d'indices invalide."""


@dataclass(frozen=True)
class IndexValue:
    month: str
    value: Decimal
    series: str
    source: str


@dataclass(frozen=True)
class SeriesLink:
    month: str
    from_series: str
    to_series: str
    coefficient: Decimal
    source: str


@dataclass(frozen=True)
class RevisionStep:
    """Un pas annuel : prix de l'année `year` = précédent × numerator / denominator."""

    year: int
    numerator_month: str
    numerator: Decimal
    denominator_month: str
    denominator: Decimal
    converted: bool
    price: Decimal

    def explain(self) -> str:
        den = f"{self.denominator}"
        if self.converted:
            den = f"{self.denominator} (ancienne série × coefficient de raccordement)"
        return (
            f"{self.year} : × {self.numerator} / {den} "
            f"({month_fr(self.numerator_month)} / {month_fr(self.denominator_month)})"
            f" = {self.price}"
        )


@dataclass(frozen=True)
class Revision:
    base_price: Decimal
    base_year: int
    year: int
    price: Decimal
    steps: tuple[RevisionStep, ...] = ()

    @property
    def ratio(self) -> Decimal:
        """Rapport cumulé des indices (information ; le prix vient des pas arrondis)."""
        ratio = Decimal(1)
        for step in self.steps:
            ratio = ratio * step.numerator / step.denominator
        return ratio.quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class IndexTable:
    """Valeurs d'un indice par mois et par série, et raccordements entre séries."""

    code: str
    label: str
    series: tuple[str, ...]
    values: dict[tuple[str, str], IndexValue] = field(default_factory=dict)
    links: tuple[SeriesLink, ...] = ()

    def with_values(self, extra: list[IndexValue]) -> IndexTable:
        values = dict(self.values)
        for item in extra:
            if item.series not in self.series:
                raise IndexFileError(
                    f"série « {item.series} » inconnue pour l'indice {self.code.upper()} "
                    f"(séries : {', '.join(self.series)})"
                )
            values[(item.month, item.series)] = item
        return IndexTable(self.code, self.label, self.series, values, self.links)

    def latest_series_for(self, month: str) -> str | None:
        for series in reversed(self.series):
            if (month, series) in self.values:
                return series
        return None

    def value_in(self, month: str, series: str) -> tuple[Decimal, bool] | None:
        """Valeur du mois exprimée dans `series` ; (valeur, convertie ?)."""
        direct = self.values.get((month, series))
        if direct is not None:
            return direct.value, False
        for link in self.links:
            if link.to_series == series:
                old = self.values.get((month, link.from_series))
                if old is not None:
                    return old.value * link.coefficient, True
        return None

    def ratio(self, numerator_month: str, denominator_month: str, purpose: str) -> tuple:
        series = self.latest_series_for(numerator_month)
        if series is None:
            raise IndexMissingError(self.code, numerator_month, purpose)
        num, _ = self.value_in(numerator_month, series)  # type: ignore[misc]
        den_converted = self.value_in(denominator_month, series)
        if den_converted is None:
            raise IndexMissingError(self.code, denominator_month, purpose)
        den, converted = den_converted
        return num, den, converted

    def revise(
        self, amount: Decimal, base_year: int, year: int, month: int = 11, what: str = "un tarif"
    ) -> Revision:
        """Révise `amount` (valable pour `base_year`) jusqu'à `year`, pas à pas (R10)."""
        price = amount
        steps = []
        for y in range(base_year + 1, year + 1):
            num_m = f"{y - 1}-{month:02d}"
            den_m = f"{y - 2}-{month:02d}"
            purpose = f"réviser {what} de {y - 1} à {y}"
            num, den, converted = self.ratio(num_m, den_m, purpose)
            price = round_cents(price * num / den)
            steps.append(RevisionStep(y, num_m, num, den_m, den, converted, price))
        return Revision(amount, base_year, year, price, tuple(steps))


def parse_index_csv(
    path: Path, series: tuple[str, ...], text: str | None = None
) -> list[IndexValue]:
    """Lit un CSV `mois,valeur,serie,source` ; erreur localisée à la ligne."""
    file = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IndexFileError("fichier introuvable", file=file) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0][:4]] != ["mois", "valeur", "serie", "source"]:
        raise IndexFileError("en-tête attendu : mois,valeur,serie,source", file=file, line=1)
    result = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 4:
            raise IndexFileError(
                "4 colonnes attendues (mois,valeur,serie,source)", file=file, line=number
            )
        month, raw, serie, source = (c.strip() for c in row[:4])
        if not MONTH_RE.match(month):
            raise IndexFileError(
                f"mois « {month} » invalide (AAAA-MM attendu)", file=file, line=number
            )
        try:
            value = to_decimal(raw)
        except ValueError as exc:
            raise IndexFileError(str(exc), file=file, line=number) from None
        if value <= 0:
            raise IndexFileError(f"valeur « {raw} » non positive", file=file, line=number)
        if serie not in series:
            raise IndexFileError(
                f"série « {serie} » inconnue (séries : {', '.join(series)})", file=file, line=number
            )
        if (month, serie) in seen:
            raise IndexFileError(f"{month} ({serie}) figure deux fois", file=file, line=number)
        seen.add((month, serie))
        result.append(IndexValue(month, value, serie, source))
    return result


_CACHE: dict[str, IndexTable] = {}


def load_index(code: str = "syntec", directory: Path = DATA_DIR) -> IndexTable:
    """Charge un indice livré avec le produit (métadonnées YAML + valeurs CSV)."""
    key = f"{directory}:{code}"
    if key in _CACHE:
        return _CACHE[key]
    meta = load_yaml(directory / f"{code}.yaml", IndexFileError)
    series = tuple(meta["series"])
    links = tuple(
        SeriesLink(
            str(link["mois"]),
            link["de"],
            link["vers"],
            to_decimal(link["coefficient"]),
            str(link["source"]),
        )
        for link in meta.get("raccordements") or []
    )
    values = parse_index_csv(directory / f"{code}.csv", series)
    table = IndexTable(code, meta["libelle"], series, {}, links).with_values(values)
    _CACHE[key] = table
    return table
