"""Banc du référentiel et de l'import : ce que les tests ne chronomètrent pas.

Usage :
    python3 -m uv run python benchmarks/referentiel.py [--lignes 5000]

Mesure, sur une base SQLite neuve dans un dossier temporaire :
1. le chargement à froid du référentiel livré et la construction de l'index des noms
   (première recherche) ;
2. le chargement des millésimes (`opsn referentiel millesimes` : ≈ 290 000 lignes) ;
3. l'aperçu d'un import de conventions de N lignes (N / 4 communes, 4 services chacune),
   sans écriture (`conventions_import(dry_run=True)`).

La dernière ligne est lisible par une machine :
`referentiel_s=… millesimes_s=… apercu_s=… lignes=…`
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

TODAY = dt.date(2026, 11, 30)
HEADER = "adherent;reference;signature;service;quantites;debut\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lignes", type=int, default=5000, help="lignes du fichier importé")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opsn-banc-ref-") as tmp:
        os.environ["OPSN_DONNEES"] = tmp
        os.environ.pop("DATABASE_URL", None)
        os.environ["DJANGO_SETTINGS_MODULE"] = "opsn.web.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

        from opsn.referentiel import Referentiel
        from opsn.referentiel.stockage import extrait_livre

        extrait_livre.cache_clear()
        t0 = time.perf_counter()
        referentiel = Referentiel.charger()
        referentiel.chercher("bordeaux")
        ref_s = time.perf_counter() - t0
        print(f"référentiel à froid et index des noms : {ref_s:.2f} s")

        from opsn.referentiel.chargement import importer_millesimes

        t0 = time.perf_counter()
        bilan = importer_millesimes()
        mil_s = time.perf_counter() - t0
        print(f"millésimes : {bilan.lignes} lignes en {mil_s:.2f} s")

        from opsn.gestion import services
        from opsn.gestion.imports import conventions_import
        from opsn.gestion.models import Operator
        from opsn.gestion.permissions import SYSTEM

        services.catalogues_load_shipped()
        operator = Operator.objects.get(code="cdg82")
        communes = list(referentiel.communes())[: max(1, args.lignes // 4)]
        rows = [HEADER]
        for c in communes:
            ref = f"BANC-{c.insee}"
            rows += [
                f"{c.insee};{ref};2020-01-01;assistance_srb;postes_n1=1 | postes_n2=2;\n",
                f"{c.insee};{ref};2020-01-01;assistance_metiers;postes_n3=1;\n",
                f"{c.insee};{ref};2020-01-01;dematerialisation;2;\n",
                f"{c.insee};{ref};2020-01-01;rgpd_dpd;;\n",
            ]
        path = Path(tmp) / "conventions.csv"
        path.write_text("".join(rows), encoding="utf-8")
        t0 = time.perf_counter()
        report = conventions_import(
            actor=SYSTEM,
            operator=operator,
            path=path,
            referentiel=referentiel,
            today=TODAY,
            dry_run=True,
        )
        preview_s = time.perf_counter() - t0
        lines = len(rows) - 1
        print(
            f"aperçu de {lines} lignes : {preview_s:.2f} s, "
            f"{len(report.errors)} erreur(s), {report.subscriptions_created} abonnement(s) prévus"
        )
    print(
        f"referentiel_s={ref_s:.2f} millesimes_s={mil_s:.2f} apercu_s={preview_s:.2f} "
        f"lignes={lines}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
