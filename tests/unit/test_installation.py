"""L'environnement installé par `uv` : les dépendances arrivent compilées en bytecode
(`compile-bytecode` dans `pyproject.toml`), pour que chaque processus opsn démarre sans
recompiler Django, même sous PYTHONDONTWRITEBYTECODE (réglage courant des conteneurs)."""

from __future__ import annotations

import importlib
import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_uv_is_told_to_compile_the_dependencies() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert settings["tool"]["uv"]["compile-bytecode"] is True


@pytest.mark.parametrize(
    "module", ["django.db.models.query", "django.template.base", "typer.main", "yaml.scanner"]
)
def test_installed_dependencies_carry_their_bytecode(module: str) -> None:
    source = importlib.import_module(module).__file__
    assert source is not None and source.endswith(".py")
    cached = Path(importlib.util.cache_from_source(source))
    assert cached.is_file(), f"{module} : pas de bytecode installé ({cached})"
