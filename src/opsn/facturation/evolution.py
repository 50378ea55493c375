"""Évolution d'une année sur l'autre : par adhérent et par service, le montant de l'année
contre celui de l'année précédente, l'écart et sa cause (révision d'indice, quantité,
changement de strate, première année ou phase, nouveau ou arrêté)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from opsn.core.errors import OpsnError
from opsn.core.pricing import Line
from opsn.gestion import bridge
from opsn.gestion.models import Convention, InvoiceLine, InvoiceStatus, Operator
from opsn.plateforme.csv import csv_text

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Evolution:
    member: str
    service: str
    previous: Decimal
    current: Decimal
    causes: tuple[str, ...]

    @property
    def delta(self) -> Decimal:
        return self.current - self.previous

    @property
    def percent(self) -> str:
        if not self.previous:
            return "—"
        return f"{(self.delta / self.previous * 100):+.1f} %".replace(".", ",")


def _by_service(lines: list[Line]) -> dict[str, list[Line]]:
    grouped: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        grouped[line.service_label].append(line)
    return grouped


def _causes(before: list[Line], after: list[Line]) -> list[str]:
    if not before:
        return ["nouveau service (1re année)"]
    if not after:
        return ["service arrêté ou non dû cette année"]
    causes = []
    by_comp_before = {(x.component, x.label): x for x in before}
    by_comp_after = {(x.component, x.label): x for x in after}
    if set(by_comp_before) != set(by_comp_after):
        causes.append("changement de phase (1re année → années suivantes) ou de composantes")
    for key in set(by_comp_before) & set(by_comp_after):
        a, b = by_comp_before[key], by_comp_after[key]
        if a.quantity != b.quantity:
            causes.append(f"quantité {a.quantity.normalize():f} → {b.quantity.normalize():f}")
        if a.stratum != b.stratum:
            causes.append(f"changement de strate ({a.stratum} → {b.stratum})")
        if a.unit_price != b.unit_price and a.base_price == b.base_price and a.stratum == b.stratum:
            causes.append("révision d'indice")
    return sorted(set(causes)) or ["inchangé"]


def evolution_report(*, operator: Operator, year: int) -> list[Evolution]:
    index = bridge.index_table()
    result = []
    conventions = (
        Convention.objects.filter(operator=operator)
        .select_related("member", "catalogue")
        .prefetch_related(
            "subscriptions", "member__attached", "member__usage_records", "member__interventions"
        )
        .order_by("member__name")
    )
    for conv in conventions:
        try:
            now = bridge.quote(conv, year, index).lines
        except OpsnError:
            now = []
        try:
            before = bridge.quote(conv, year - 1, index).lines
        except OpsnError:
            before = []
        now_by, before_by = _by_service(list(now)), _by_service(list(before))
        for service in sorted(set(now_by) | set(before_by)):
            a, b = before_by.get(service, []), now_by.get(service, [])
            previous = sum((x.amount or ZERO for x in a), ZERO)
            current = sum((x.amount or ZERO for x in b), ZERO)
            if not previous and not current:
                continue
            result.append(
                Evolution(conv.member.name, service, previous, current, tuple(_causes(a, b)))
            )
    return result


EVOLUTION_COLUMNS = (
    "adherent",
    "service",
    "montant_annee_precedente",
    "montant_annee",
    "ecart",
    "variation",
    "causes",
)
EVOLUTION_NUMBERS = ("montant_annee_precedente", "montant_annee", "ecart", "variation")


def evolution_csv(rows: list[Evolution]) -> str:
    """CSV de l'évolution ; noms d'adhérents et libellés neutralisés contre les formules de
    tableur, montants et variations (`-12.50`, `+5,3 %`) laissés tels quels."""
    return csv_text(
        EVOLUTION_COLUMNS,
        (
            (
                r.member,
                r.service,
                f"{r.previous:.2f}",
                f"{r.current:.2f}",
                f"{r.delta:.2f}",
                r.percent,
                " ; ".join(r.causes),
            )
            for r in rows
        ),
        numeric=EVOLUTION_NUMBERS,
    )


def revenue_by_family(*, operator_ids: list[int]) -> dict[str, dict[int, Decimal]]:
    """Recettes émises (factures moins avoirs) par famille de services et par année."""
    from django.db.models import Sum

    result: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    lines = InvoiceLine.objects.filter(
        invoice__operator_id__in=operator_ids, invoice__status=InvoiceStatus.ISSUED
    )
    # sommes faites par la base : une ligne par famille et par année, pas une par ligne
    totals = lines.values_list("family", "invoice__year").annotate(total=Sum("amount"))
    for family, year, amount in totals.order_by():
        result[family][year] += amount or Decimal(0)
    return {k: dict(v) for k, v in result.items()}
