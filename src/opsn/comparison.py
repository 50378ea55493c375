"""Tableau comparatif des forfaits d'un catalogue (terminal et HTML).

Reproduit les tableaux d'inclusion des annexes (« Inclus », « Non inclus »,
« En option »…) et, pour une strate donnée, remplace « selon strate » par la
quantité incluse (R2, R3, R16).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from opsn.core.members import Member
from opsn.core.model import MATRIX_STATUS_FR, Catalogue, MatrixCell, Service
from opsn.core.money import fmt_fr
from opsn.core.pricing import resolve_stratum


@dataclass(frozen=True)
class ComparisonRow:
    label: str
    cells: tuple[str, ...]
    group: str | None = None


@dataclass(frozen=True)
class ComparisonMatrix:
    title: str
    clause: str
    columns: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]


@dataclass(frozen=True)
class Comparison:
    subject: str | None
    matrices: tuple[ComparisonMatrix, ...]
    strata_note: str | None


def build_comparison(
    catalogue: Catalogue,
    *,
    population: int | None = None,
    agents: int | None = None,
    categories: list[str] | None = None,
) -> Comparison:
    member = None
    subject = None
    if population is not None or agents is not None or categories:
        if agents is not None:
            member = Member(
                "comparaison",
                "Établissement public",
                "etablissement_public",
                agents=agents,
                categories=frozenset(categories or ()),
            )
            subject = f"établissement public ou budget annexe de {agents} agents"
        else:
            member = Member(
                "comparaison",
                "Commune",
                "commune",
                population_totale=population,
                population_municipale=population,
                categories=frozenset(categories or ()),
            )
            subject = f"commune de {population} habitants" if population is not None else "commune"
        if categories:
            subject += f" (catégories : {', '.join(categories)})"
    matrices = []
    notes = []
    for matrix in catalogue.matrices:
        services = [catalogue.services[c] for c in matrix.columns]
        entitlements: dict[str, dict[str, int]] = {}
        for s in services:
            if member is not None and s.entitlements is not None:
                table = catalogue.tables[s.entitlements.table]
                row = resolve_stratum(table, member)
                if row is not None:
                    entitlements[s.code] = {
                        k: v for k, v in row.values.items() if isinstance(v, int)
                    }
                    note = f"Strate retenue ({table.label}) : « {row.label} »."
                    if note not in notes:
                        notes.append(note)
        rows = [ComparisonRow("Prix annuel du forfait", tuple(_price(s) for s in services))]
        for row in matrix.rows:
            label = f"{row.group} – {row.label}" if row.group else row.label
            cells = tuple(
                _cell(cell, entitlements.get(s.code))
                for cell, s in zip(row.cells, services, strict=True)
            )
            rows.append(ComparisonRow(label, cells, row.group))
        matrices.append(
            ComparisonMatrix(
                matrix.title, matrix.clause, tuple(s.label for s in services), tuple(rows)
            )
        )
    return Comparison(subject, tuple(matrices), " ".join(notes) or None)


def _price(service: Service) -> str:
    parts = []
    for comp in service.components:
        if comp.price.kind == "montant":
            parts.append(f"{fmt_fr(comp.price.amount)} ({comp.price.year})")  # type: ignore[arg-type]
        elif comp.price.kind == "a_renseigner":
            parts.append("à renseigner (absent de l'annexe)")
        elif comp.price.kind == "sur_devis":
            parts.append("sur devis")
        if parts:
            break
    return parts[0] if parts else "–"


def _cell(cell: MatrixCell, entitlements: dict[str, int] | None) -> str:
    if cell.status == "selon_strate" and entitlements is not None and cell.entitlement:
        value = entitlements.get(cell.entitlement)
        if value is not None:
            return f"{value} (selon strate)"
    if cell.text:
        return cell.text
    return MATRIX_STATUS_FR[cell.status]


def render_html(catalogue: Catalogue, comparison: Comparison) -> str:
    """Page HTML autonome et accessible (tableaux avec en-têtes de lignes et de colonnes)."""
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        f"<title>Comparatif des forfaits – {e(catalogue.label)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}"
        "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #555;"
        "padding:.4rem .6rem;text-align:left;vertical-align:top}thead th{background:#e8eef7}"
        "caption{font-weight:bold;text-align:left;padding:.4rem 0}"
        "td.inclus{background:#e6f4ea}td.non{background:#fbeaea}</style></head><body>",
        f"<h1>Comparatif des forfaits</h1><p>{e(catalogue.label)} ({e(catalogue.ident)}) – "
        f"source : {e(catalogue.source)}</p>",
    ]
    if comparison.subject:
        parts.append(f"<p>Pour : <strong>{e(comparison.subject)}</strong></p>")
    if comparison.strata_note:
        parts.append(f"<p>{e(comparison.strata_note)}</p>")
    for matrix in comparison.matrices:
        parts.append(f"<table><caption>{e(matrix.title)} ({e(matrix.clause)})</caption>")
        parts.append('<thead><tr><th scope="col">Prestation</th>')
        parts.extend(f'<th scope="col">{e(c)}</th>' for c in matrix.columns)
        parts.append("</tr></thead><tbody>")
        for row in matrix.rows:
            parts.append(f'<tr><th scope="row">{e(row.label)}</th>')
            for cell in row.cells:
                css = (
                    "inclus"
                    if cell.startswith("Inclus")
                    else "non"
                    if cell.startswith("Non inclus")
                    else ""
                )
                attr = f' class="{css}"' if css else ""
                parts.append(f"<td{attr}>{e(cell)}</td>")
            parts.append("</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
