"""Mise en forme des résultats de simulation (dictionnaire JSON, montants en texte)."""

from __future__ import annotations

from typing import Any

from opsn.core.money import ZERO, fmt
from opsn.core.pricing import Line, MemberQuote, Totals


def line_to_dict(line: Line) -> dict[str, Any]:
    rev = line.revision
    return {
        "service": line.service,
        "service_libelle": line.service_label,
        "composante": line.component,
        "libelle": line.label,
        "statut": line.status,
        "regle": line.rule,
        "strate": line.stratum,
        "prix_base": fmt(line.base_price) if line.base_price is not None else None,
        "annee_base": line.base_year,
        "ratio_indice": str(line.index_ratio) if line.index_ratio is not None else None,
        "revision": [s.explain() for s in rev.steps] if rev else [],
        "prix_unitaire": fmt(line.unit_price) if line.unit_price is not None else None,
        "quantite": f"{line.quantity.normalize():f}",
        "unite": line.unit,
        "montant": fmt(line.amount) if line.amount is not None else None,
        "tva": {
            "regime": line.vat.code,
            "type": line.vat.kind,
            "taux": f"{line.vat.rate.normalize():f}",
        },
        "facture_a": line.billed_to,
        "explication": line.detail,
    }


def totals_to_dict(totals: Totals) -> dict[str, Any]:
    return {
        "total_ht": fmt(totals.net),
        "total_tva": fmt(totals.vat),
        "total_ttc": fmt(totals.gross),
        "par_taux": [
            {
                "regime": t.regime.code,
                "libelle": t.regime.label,
                "taux": f"{t.regime.rate.normalize():f}",
                "base_ht": fmt(t.net),
                "tva": fmt(t.vat),
                "mention": t.regime.mention,
            }
            for t in totals.by_rate
        ],
    }


def quote_to_dict(quote: MemberQuote) -> dict[str, Any]:
    m = quote.member
    population = None
    if m.population_totale is not None or m.population_municipale is not None:
        population = {
            "totale": m.population_totale,
            "municipale": m.population_municipale,
            "source": m.population_source,
        }
    return {
        "id": m.ident,
        "nom": m.name,
        "type": m.kind,
        "insee": m.insee,
        "siren": m.siren,
        "population": population,
        "agents": m.agents,
        "lignes": [line_to_dict(line) for line in quote.lines],
        **totals_to_dict(quote.totals),
        "sur_devis": [_ref(line) for line in quote.sur_devis],
        "prix_manquants": [_ref(line) for line in quote.missing_prices],
        "droits": dict(quote.entitlements),
        "strate_droits": quote.entitlements_stratum,
        "dotations": [
            {
                "code": a.code,
                "libelle": a.label,
                "quantite": f"{a.quantity.normalize():f}",
                "consomme": f"{a.used.normalize():f}",
                "periode_ans": a.period_years,
            }
            for a in quote.allowances
        ],
        "avertissements": list(quote.warnings),
        "notes": list(quote.notes),
    }


def _ref(line: Line) -> dict[str, str]:
    return {
        "service": line.service,
        "composante": line.component,
        "libelle": line.label,
        "explication": line.detail,
    }


def simulation_to_dict(catalogue: str, year: int, quotes: list[MemberQuote]) -> dict[str, Any]:
    # Le total général est la somme des totaux par adhérent (chaque facture arrondit sa TVA).
    net = sum((q.totals.net for q in quotes), ZERO)
    vat = sum((q.totals.vat for q in quotes), ZERO)
    result = {
        "catalogue": catalogue,
        "annee": year,
        "membres": [quote_to_dict(q) for q in quotes],
        "total_ht": fmt(net),
        "total_tva": fmt(vat),
        "total_ttc": fmt(net + vat),
        "sur_devis": [_ref(line) for q in quotes for line in q.sur_devis],
        "prix_manquants": [_ref(line) for q in quotes for line in q.missing_prices],
    }
    return result
