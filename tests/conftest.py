"""Réglages communs de la suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flush_lifts_the_issued_guard():
    """Vider toute la base entre deux tests transactionnels (`flush`) est la seule
    suppression de pièces émises admise : les déclencheurs SQLite la laissent passer ici
    seulement (PostgreSQL vide par TRUNCATE, que les déclencheurs de ligne ignorent)."""
    from django.core.management.commands import flush

    from opsn.gestion.integrity import purge_allowed

    original = flush.Command.handle

    def handle(self, *args, **options):
        with purge_allowed():
            return original(self, *args, **options)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original
