"""Valeurs d'indice (SYNTEC) : données de référence de la plateforme.

L'indice SYNTEC est un fait national publié (par Syntec Numérique, repris par l'INSEE et
les éditeurs juridiques), le même pour tous les opérateurs : il est saisi une fois, avec sa
source, par l'administrateur de la plateforme, et lu par tous. Aucun opérateur ne l'écrit,
donc aucun ne change les montants d'un autre (voir docs/backoffice.md).

Règles d'écriture (service `index_value_set`) :
- le mois est au format AAAA-MM, pas avant 1990-01 ni après le mois de la date passée ;
- une valeur SYNTEC est comprise entre 50 et 1000 (bornes aussi en base) ;
- ressaisir un mois déjà connu est une correction : motif obligatoire, noté au journal ;
- un mois déjà utilisé par une facture émise ne change plus, dans aucune série (ajouter
  une série à un mois utilisé changerait aussi le rapport recalculé).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min

from opsn.core.index import load_index
from opsn.gestion import bridge
from opsn.gestion.audit import acting_as, with_reason
from opsn.gestion.models import (
    INDEX_FIRST_MONTH,
    SYNTEC_MAX,
    SYNTEC_MIN,
    CatalogueVersion,
    IndexValue,
    InvoiceLine,
    InvoiceStatus,
)
from opsn.plateforme.comptes import is_platform_admin

MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
BOUNDS: dict[str, tuple[Decimal, Decimal]] = {"syntec": (Decimal(SYNTEC_MIN), Decimal(SYNTEC_MAX))}
SOURCE_MAX = IndexValue._meta.get_field("source").max_length


def months_used_by_issued_invoices(index: str = "syntec") -> set[str]:
    """Mois d'indice qu'au moins une pièce émise a utilisés.

    Une ligne révisée garde `base_year` et `index_ratio`, sa facture `year` et `catalogue` ;
    la clause de révision du catalogue donne l'indice et le mois M. La révision de
    `base_year` à `year` (R10, `IndexTable.revise`) prend, pour chaque année y de
    base_year+1 à year, les mois (y−1)-M et (y−2)-M : soit les mois M des années
    base_year−1 à year−1.
    """
    rows = (
        InvoiceLine.objects.filter(
            invoice__status=InvoiceStatus.ISSUED,
            index_ratio__isnull=False,
            base_year__isnull=False,
        )
        .values("invoice__catalogue_id", "invoice__year")
        .annotate(first_base=Min("base_year"))
    )
    clauses: dict[int, Any] = {}
    used: set[str] = set()
    for row in rows:
        catalogue_id = row["invoice__catalogue_id"]
        if catalogue_id is None:
            continue
        if catalogue_id not in clauses:
            version = CatalogueVersion.objects.get(pk=catalogue_id)
            clauses[catalogue_id] = bridge.catalogue_of(version).revision
        clause = clauses[catalogue_id]
        if clause is None or clause.index != index:
            continue
        for year in range(row["first_base"] - 1, row["invoice__year"]):
            used.add(f"{year:04d}-{clause.month:02d}")
    return used


def parse_value(text: str) -> Decimal:
    """Valeur saisie (virgule ou point) ; erreur française si ce n'est pas un nombre fini."""
    try:
        value = Decimal(text.replace(",", ".").replace("\u202f", "").replace(" ", "").strip())
    except InvalidOperation:
        raise ValidationError(
            {"value": f"« {text} » n'est pas un nombre (par exemple 283,3)."}
        ) from None
    if not value.is_finite():
        raise ValidationError({"value": f"« {text} » n'est pas un nombre (par exemple 283,3)."})
    return value


def check_value(*, index: str, month: str, value: Decimal, series: str, today: dt.date) -> None:
    """Domaine d'une valeur d'indice ; erreurs par champ (month, value, series)."""
    errors: dict[str, str] = {}
    if not MONTH_RE.fullmatch(month or ""):
        errors["month"] = "Mois : AAAA-MM attendu (par exemple 2022-11)."
    elif month < INDEX_FIRST_MONTH:
        errors["month"] = f"Mois : pas avant {INDEX_FIRST_MONTH}."
    elif month > f"{today:%Y-%m}":
        errors["month"] = (
            f"Mois : {month} est dans le futur (au {today:%d/%m/%Y}) ; un indice se saisit "
            "une fois publié."
        )
    table = load_index(index)
    if series not in table.series:
        errors["series"] = f"Série « {series} » inconnue (séries : {', '.join(table.series)})."
    low, high = BOUNDS.get(index, (Decimal("0.0001"), Decimal("999999")))
    if not value.is_finite() or not low <= value <= high:
        errors["value"] = (
            f"Valeur : entre {_fr(low)} et {_fr(high)} pour l'indice {index.upper()} "
            f"(saisi : {_fr(value) if value.is_finite() else value})."
        )
    elif value != value.quantize(Decimal("0.0001")):
        errors["value"] = "Valeur : quatre décimales au plus."
    if errors:
        raise ValidationError(errors)


def _fr(value: Decimal) -> str:
    return f"{value.normalize():f}".replace(".", ",")


def index_value_set(
    *,
    actor: Any,
    month: str,
    value: Decimal,
    series: str,
    source: str,
    today: dt.date,
    reason: str = "",
    index: str = "syntec",
) -> IndexValue:
    """Enregistre une valeur d'indice (administrateur de la plateforme seulement).

    Un mois nouveau est une saisie ; un mois déjà connu dans la même série est une
    correction, qui exige `reason` (noté au journal d'audit avec l'avant et l'après).
    """
    if not is_platform_admin(actor):
        raise PermissionDenied(
            "Les indices sont des données de la plateforme : seul son administrateur les saisit."
        )
    month = (month or "").strip()
    source = (source or "").strip()
    reason = (reason or "").strip()
    check_value(index=index, month=month, value=value, series=series, today=today)
    if not source:
        raise ValidationError({"source": "Source : indiquez où la valeur est publiée."})
    if len(source) > SOURCE_MAX:
        raise ValidationError({"source": f"Source : {SOURCE_MAX} caractères au plus."})
    with acting_as(actor), transaction.atomic():
        existing = (
            IndexValue.objects.select_for_update()
            .filter(index=index, month=month, series=series)
            .first()
        )
        if existing is not None and existing.value == value and existing.source == source:
            return existing
        if month in months_used_by_issued_invoices(index):
            raise ValidationError(
                {
                    "month": f"{index.upper()} {month} a servi à des factures émises : sa valeur "
                    "ne change plus (les factures gardent leur rapport d'indice). Une erreur se "
                    "corrige par avoir puis nouvelle facture."
                }
            )
        if existing is None:
            return IndexValue.objects.create(
                index=index, month=month, series=series, value=value, source=source
            )
        if not reason:
            raise ValidationError(
                {
                    "reason": f"{index.upper()} {month} ({series}) vaut déjà "
                    f"{_fr(existing.value)} : une correction exige un motif."
                }
            )
        existing.value, existing.source = value, source
        with with_reason(reason):
            existing.save()
        return existing
