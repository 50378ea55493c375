"""Tâches lancées en sous-processus par les tests (base fichier ou PostgreSQL dédiée) :

- `python tests/billing/taches.py etat` : état des factures, campagnes et séquences (JSON) ;
- `python tests/billing/taches.py rendu DOSSIER` : jeu Gironde Numérique facturé, avoir,
  `render_pdfs(workers=2)` et `pdf_zip`, empreintes des mêmes PDF rendus dans ce
  processus (JSON).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path


def _setup() -> None:
    from django.core.management import call_command

    from opsn.web.bootstrap import setup

    setup()
    call_command("migrate", interactive=False, verbosity=0)


def etat() -> dict:
    from django.db.models import Count, Sum

    from opsn.gestion.models import BillingRun, Invoice, InvoiceSequence

    invoices = (
        Invoice.objects.select_related("operator", "member")
        .annotate(lines_sum=Sum("lines__amount"), lines_count=Count("lines"))
        .order_by("operator__code", "sequence_number", "pk")
    )
    return {
        "factures": [
            {
                "operateur": i.operator.code,
                "adherent": i.member.name,
                "numero": i.number,
                "rang": i.sequence_number,
                "statut": i.status,
                "nature": i.kind,
                "annee": i.year,
                "emise_le": i.issued_on.isoformat() if i.issued_on else None,
                "total_ht": str(i.total_ht),
                "total_ttc": str(i.total_ttc),
                "somme_lignes": f"{Decimal(i.lines_sum or 0):.2f}",
                "lignes": i.lines_count,
                "campagne": i.run_id,
                "xml": bool(i.xml),
            }
            for i in invoices
        ],
        "campagnes": [
            {
                "id": r.pk,
                "operateur": r.operator.code,
                "annee": r.year,
                "factures_creees": r.invoices_created,
                "factures_liees": r.invoices.count(),
            }
            for r in BillingRun.objects.select_related("operator").order_by("pk")
        ],
        "sequences": {
            f"{s.operator.code}/{s.prefix}": s.last_number
            for s in InvoiceSequence.objects.select_related("operator")
        },
    }


def rendu(directory: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scenarios import build_gironde_documents

    from opsn.facturation.billing import billing_run, invoice_credit
    from opsn.facturation.documents import invoice_pdf
    from opsn.facturation.exports import pdf_zip, render_pdfs
    from opsn.gestion.models import Invoice, Operator
    from opsn.gestion.permissions import SYSTEM

    members = build_gironde_documents()
    gn = Operator.objects.get(code="gironde-numerique")
    billing_run(actor=SYSTEM, operator=gn, year=2021, issued_on=dt.date(2022, 1, 15))
    invoice_credit(
        actor=SYSTEM,
        invoice=Invoice.objects.get(member=members["vat"]),
        reason="Erreur de classe",
        issued_on=dt.date(2022, 1, 20),
    )
    paths = render_pdfs(gn, 2021, directory / "pdf", workers=2)
    again = render_pdfs(gn, 2021, directory / "pdf", workers=2)
    archive = pdf_zip(paths, directory / "factures.zip")
    return {
        "numeros": sorted(Invoice.objects.filter(operator=gn).values_list("number", flat=True)),
        "xml": {i.number: i.xml for i in Invoice.objects.filter(operator=gn)},
        # rendu dans ce processus-ci : les processus « spawn » doivent donner les mêmes octets
        "empreintes": {
            i.number: hashlib.sha256(invoice_pdf(i)).hexdigest()
            for i in Invoice.objects.filter(operator=gn)
        },
        "chemins": [str(p) for p in paths],
        "relance": [str(p) for p in again],
        "archive": str(archive),
    }


if __name__ == "__main__":
    _setup()
    if sys.argv[1] == "etat":
        result = etat()
    elif sys.argv[1] == "rendu":
        result = rendu(Path(sys.argv[2]))
    else:
        raise SystemExit(f"tâche inconnue : {sys.argv[1]}")
    print(json.dumps(result, ensure_ascii=False))
