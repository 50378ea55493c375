"""Mise à jour du schéma au démarrage d'une commande : plusieurs commandes démarrent
ensemble (travailleurs, campagnes simultanées, tests/billing/test_concurrency.py)."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_migrate, pre_migrate

from opsn.cli.base import _migrate, _pending_migrations


@pytest.mark.django_db
def test_an_up_to_date_database_is_not_touched() -> None:
    """Avant, chaque commande relançait `migrate` : ses signaux retiraient puis reposaient les
    déclencheurs de garde des pièces émises pendant qu'une autre commande facturait, et deux
    démarrages simultanés se heurtaient sous PostgreSQL (« tuple concurrently updated »)."""
    calls: list[str] = []

    def seen(sender, **kwargs) -> None:
        calls.append(kwargs.get("using", "?"))

    pre_migrate.connect(seen, weak=False)
    post_migrate.connect(seen, weak=False)
    try:
        assert not _pending_migrations()
        _migrate()
    finally:
        pre_migrate.disconnect(seen)
        post_migrate.disconnect(seen)
    assert calls == []
