"""Sous-processus du test d'attente des écritures concurrentes (test_ecritures_concurrentes).

    python ecrivain.py preparer
    python ecrivain.py premier DOSSIER   # prend le verrou de séquence et le garde
    python ecrivain.py second DOSSIER    # écrit pendant que le premier le garde

Écriture « comme une campagne » : transaction, ligne de séquence de numérotation verrouillée
(`select_for_update`, transaction IMMEDIATE sous SQLite), numéro suivant, enregistrement.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import django

PREFIX = "9999"


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def _take_number(hold: Path | None = None, release: Path | None = None) -> int:
    from django.db import transaction

    from opsn.gestion.models import InvoiceSequence, Operator

    operator = Operator.objects.get(code="cdg82")
    with transaction.atomic():
        seq = InvoiceSequence.objects.select_for_update().get(operator=operator, prefix=PREFIX)
        seq.last_number += 1
        seq.save(update_fields=["last_number"])
        if hold is not None and release is not None:
            hold.touch()  # le verrou est pris : le second peut tenter sa propre écriture
            _wait_for(release)  # le second a commencé sa tentative
            time.sleep(1.0)  # … et attend le verrou pendant que celui-ci reste pris
        return seq.last_number


def main() -> None:
    django.setup()
    role = sys.argv[1]
    if role == "preparer":
        from django.core.management import call_command

        from opsn.gestion import services
        from opsn.gestion.models import InvoiceSequence, Operator

        call_command("migrate", interactive=False, verbosity=0)
        services.catalogues_load_shipped()
        InvoiceSequence.objects.create(operator=Operator.objects.get(code="cdg82"), prefix=PREFIX)
        return
    folder = Path(sys.argv[2])
    held, started = folder / "verrou-pris", folder / "second-commence"
    if role == "premier":
        print(_take_number(hold=held, release=started), flush=True)
    else:
        _wait_for(held)
        started.touch()
        print(_take_number(), flush=True)


if __name__ == "__main__":
    main()
