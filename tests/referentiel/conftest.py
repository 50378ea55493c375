"""Fixtures du référentiel : dossier de données isolé, jamais dans le dépôt."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsn.referentiel import Referentiel


@pytest.fixture
def donnees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Dossier de données vide désigné par OPSN_DONNEES ; le dossier courant est tmp_path."""
    dossier = tmp_path / "donnees"
    monkeypatch.setenv("OPSN_DONNEES", str(dossier))
    monkeypatch.chdir(tmp_path)
    return dossier


@pytest.fixture
def referentiel(donnees: Path) -> Referentiel:
    return Referentiel.charger()
