"""Processus de rendu des PDF : ce module n'importe ni Django ni la base, pour qu'un
processus « spawn » démarre vite (Typst seul, pas l'application) et n'ouvre aucune
connexion. Le processus parent lit les factures et les met en forme
(`exports.pdf_jobs`) ; chaque processus de rendu reçoit des lots de travaux
`(chemin, contenu, date de création, XML)`, rend et écrit les PDF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

# Un travail de rendu : chemin du PDF, puis contenu mis en forme, date de création et XML
# Factur-X ; contenu None quand le PDF existe déjà (la pièce émise ne change plus).
Job = tuple[str, dict[str, Any] | None, dt.datetime | None, bytes | None]


def init() -> None:
    """Amorce le processus : charge Typst et son compilateur de factures."""
    from opsn.facturation import pdf_typst

    pdf_typst._compiler("facture")


def render_jobs(jobs: list[Job]) -> list[str]:
    """Rend et écrit les PDF d'un lot (écriture atomique : fichier temporaire renommé)."""
    from opsn.facturation.pdf_typst import invoice_pdf_bytes

    written = []
    for path_name, data, when, xml in jobs:
        path = Path(path_name)
        if data is not None and not path.exists():
            assert when is not None and xml is not None
            tmp = path.with_suffix(".pdf.tmp")
            tmp.write_bytes(invoice_pdf_bytes(data, when, xml))
            tmp.replace(path)
        written.append(path_name)
    return written
