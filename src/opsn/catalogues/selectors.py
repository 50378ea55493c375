"""Lectures des catalogues (style HackSoft) : toujours filtrées par les droits de
l'utilisateur ; les versions d'un autre opérateur n'existent pas pour lui (404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from opsn.gestion.models import CatalogueVersion, InvoiceStatus, Operator, Role
from opsn.gestion.permissions import can, memberships


def managing_operators(user: Any) -> list[Operator]:
    """Opérateurs dont l'utilisateur gère les catalogues (administrateur, facturation)."""
    ops = [m.operator for m in memberships(user) if m.role != Role.REFERENT]
    return [o for o in ops if can(user, "gerer_catalogues", operator=o)]


def versions_of(operator: Operator) -> QuerySet[CatalogueVersion]:
    """Versions de l'opérateur, avec le nombre de conventions et de pièces émises qui les
    utilisent, de la plus ancienne à la plus récente."""
    return (
        CatalogueVersion.objects.filter(operator=operator)
        .annotate(
            conventions_count=Count("conventions", distinct=True),
            issued_count=Count(
                "invoices", filter=Q(invoices__status=InvoiceStatus.ISSUED), distinct=True
            ),
        )
        .order_by("valid_from", "pk")
    )


@dataclass(frozen=True)
class VersionRow:
    version: CatalogueVersion
    until: dt.date | None  # veille de la version suivante en vigueur


def version_rows(operator: Operator) -> list[VersionRow]:
    versions = list(versions_of(operator))
    rows = []
    for version in versions:
        later = [
            v.valid_from
            for v in versions
            if v.valid_from and version.valid_from and v.valid_from > version.valid_from
        ]
        until = min(later) - dt.timedelta(days=1) if later else None
        rows.append(VersionRow(version, until))
    return rows


def version_get(*, user: Any, version_id: int) -> CatalogueVersion:
    """La version, si l'utilisateur gère les catalogues de son opérateur ; sinon 404."""
    operators = managing_operators(user)
    version = (
        CatalogueVersion.objects.select_related("operator")
        .filter(pk=version_id, operator__in=operators)
        .first()
    )
    if version is None:
        raise Http404("Version de catalogue introuvable.")
    return version
