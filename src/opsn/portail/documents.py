"""Devis imprimable : PDF rendu par Typst (paquet PyPI `typst`, polices embarquées, aucune
bibliothèque du système), comme les factures (`opsn.facturation.documents`) : les données
passent en JSON par `sys.inputs` (un nom « #set » ou « =HYPERLINK(…) » s'affiche tel quel),
PDF/A-2b et PDF/UA-1 (balisé, titre, langue), date de création = date du devis (le même
devis donne toujours les mêmes octets).

Le devis se rend depuis sa copie figée (`Quote.result`) : rouvert par sa référence, il
montre les mêmes lignes et les mêmes montants, même si le catalogue a changé depuis.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from opsn.core.money import fmt_fr
from opsn.gestion.models import Quote

TEMPLATES = Path(__file__).with_name("gabarits")
PDF_STANDARDS = ["a-2b", "ua-1"]
_lock = threading.Lock()


@functools.cache
def _compiler() -> Any:
    import typst

    return typst.Compiler(TEMPLATES / "devis.typ", root=TEMPLATES, ignore_system_fonts=True)


def _euros(text: str | None) -> str:
    return "—" if text in (None, "") else fmt_fr(Decimal(text))


def _qty(text: str) -> str:
    return text.replace(".", ",")


def _line(line: dict[str, Any]) -> dict[str, str]:
    status = line.get("statut")
    amount = {"sur_devis": "sur devis", "prix_manquant": "prix non publié"}.get(
        status, _euros(line.get("montant"))
    )
    tva = line["tva"]
    vat = f"{tva['taux'].replace('.', ',')} %" if tva["type"] == "ht" else tva.get("libelle", "")
    explanation = line.get("regle", "")
    if line.get("explication"):
        explanation += f" – {line['explication']}"
    return {
        "libelle": f"{line['service_libelle']} – {line['libelle']}",
        "explication": explanation,
        "quantite": f"{_qty(line['quantite'])} {line['unite']}".strip(),
        "prix": _euros(line.get("prix_unitaire")),
        "montant": amount,
        "tva": vat,
    }


def quote_document_data(quote: Quote) -> dict[str, Any]:
    """Contenu affiché par le devis (chaînes françaises mises en forme)."""
    r = quote.result
    subject = quote.subject
    operator = r.get("operateur", {})
    lines_subject = [subject.get("type_libelle", "")]
    codes = [f"code INSEE {subject['insee']}" if subject.get("insee") else ""]
    codes.append(f"SIREN {subject['siren']}" if subject.get("siren") else "")
    if any(codes):
        lines_subject.append(", ".join(c for c in codes if c))
    if subject.get("population"):
        lines_subject.append(f"Population : {subject['population']['texte']}")
    if subject.get("agents") is not None:
        lines_subject.append(f"Agents : {subject['agents']}")
    if subject.get("budget_keur"):
        lines_subject.append(f"Budget : {subject['budget_keur'].replace('.', ',')} k€")
    lines_operator = [x for x in (operator.get("adresse"), operator.get("courriel")) if x]
    if operator.get("siren"):
        lines_operator.append(f"SIREN {operator['siren']}")
    years = []
    for y in r["annees"]:
        totals = [
            {"libelle": "Total HT", "montant": _euros(y["total_ht"])},
            {"libelle": "TVA", "montant": _euros(y["total_tva"])},
            {"libelle": "Total TTC", "montant": _euros(y["total_ttc"])},
        ]
        notes = []
        if y.get("droits_libelles"):
            rights = ", ".join(f"{d['libelle']} : {d['quantite']}" for d in y["droits_libelles"])
            stratum = f" (strate « {y['strate_droits']} »)" if y.get("strate_droits") else ""
            notes.append(f"Droits inclus{stratum} : {rights}.")
        notes += [f"Sur devis (hors total) : {x['libelle']}." for x in y["sur_devis"]]
        notes += [
            f"Prix non publié (hors total) : {x['libelle']} – à demander à l'opérateur."
            for x in y["prix_manquants"]
        ]
        notes += [f"Attention : {w}" for w in y["avertissements"]]
        for t in y.get("par_taux", []):
            if t.get("mention") and t["mention"] not in notes:
                notes.append(t["mention"])
        years.append(
            {
                "titre": f"{y['libelle']} (tarifs {r['annee_tarifs']})",
                "titre_court": y["libelle"],
                "lignes": [_line(line) for line in y["lignes"]],
                "totaux": totals,
                "notes": notes,
            }
        )
    count = r["total"]["annees"]
    mentions = [
        f"Devis établi le {quote.issued_on:%d/%m/%Y} par le simulateur public, valable jusqu'au "
        f"{quote.valid_until:%d/%m/%Y} (3 mois). Il ne vaut pas convention : l'adhésion est "
        "conclue par une convention signée avec l'opérateur.",
        f"Catalogue appliqué : {r.get('catalogue_libelle', '')} ({r.get('catalogue', '')}). "
        "Chaque ligne indique la règle de la convention, la strate ou le palier, le prix de "
        "base et son année, et la révision appliquée.",
        "Les années suivantes sont chiffrées aux tarifs de l'année du devis"
        + (
            f" ; elles seront révisées chaque année selon la clause de révision ({r['revision']})."
            if r.get("revision")
            else " (le catalogue ne prévoit pas de révision)."
        ),
        "Aucun prorata temporis : une année commencée est due en entier.",
    ]
    if r.get("note_annee"):
        mentions.insert(1, f"Année des tarifs : {r['note_annee']}")
    if r.get("incomplet"):
        mentions.insert(
            0,
            "Des prestations sont sur devis ou sans prix publié : elles ne sont pas comptées "
            "dans les totaux.",
        )
    return {
        "titre": f"Devis {quote.reference}",
        "auteur": operator.get("nom", ""),
        "sujet": f"Devis {quote.reference} – {subject.get('nom', '')} – {operator.get('nom', '')}",
        "mots_cles": ["devis", "simulateur"],
        "reference": quote.reference,
        "entete": f"Devis n° {quote.reference}",
        "tete": [
            f"Établi le {quote.issued_on:%d/%m/%Y} – valable jusqu'au "
            f"{quote.valid_until:%d/%m/%Y} – tarifs {r['annee_tarifs']}",
        ],
        "operateur": {"nom": operator.get("nom", "—"), "lignes": lines_operator},
        "collectivite": {"nom": subject.get("nom", "—"), "lignes": lines_subject},
        "annees": years,
        "total": {
            "annees": f"{count} an{'s' if count > 1 else ''}",
            "lignes": [
                {"libelle": "Total HT", "montant": _euros(r["total"]["total_ht"])},
                {"libelle": "TVA", "montant": _euros(r["total"]["total_tva"])},
                {"libelle": "Total TTC", "montant": _euros(r["total"]["total_ttc"])},
            ],
        },
        "mentions": mentions,
    }


def quote_pdf(quote: Quote) -> bytes:
    data = quote_document_data(quote)
    when = dt.datetime.combine(quote.issued_on, dt.time(), tzinfo=dt.UTC)
    inputs = {"donnees": json.dumps(data, ensure_ascii=False)}
    with _lock:  # un compilateur par processus, un rendu à la fois
        pdf = _compiler().compile(
            format="pdf", sys_inputs=inputs, pdf_standards=PDF_STANDARDS, timestamp=when
        )
    assert isinstance(pdf, bytes)
    return pdf
