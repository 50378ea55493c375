"""Fixtures des tests de facturation : scénarios d'acceptance chargés en base, comptes par
rôle, base dans un fichier (ou une base PostgreSQL dédiée) pour les sous-processus."""

from __future__ import annotations

import os
import secrets
import urllib.parse

import pytest

from .scenarios import load_case, make_user


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def load(db):
    """Chargeur de scénarios d'acceptance en base."""
    return load_case


@pytest.fixture
def users(db):
    """Fabrique de comptes avec un rôle chez un opérateur."""
    return make_user


def _pg_admin(url: str):
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    return psycopg.connect(
        host=cfg["HOST"] or None,
        port=cfg["PORT"] or None,
        user=cfg["USER"] or None,
        password=cfg["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture
def file_db_env(tmp_path):
    """Environnement d'un sous-processus `opsn` sur une base à lui : SQLite dans tmp_path,
    ou, si DATABASE_URL désigne PostgreSQL, une base créée pour le test et supprimée après."""
    env = {**os.environ, "OPSN_DONNEES": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        env.pop("DATABASE_URL", None)
        yield env
        return
    name = f"opsn_kill_{secrets.token_hex(4)}"
    with _pg_admin(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = urllib.parse.urlsplit(url)._replace(path=f"/{name}").geturl()
    try:
        yield env
    finally:
        with _pg_admin(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
