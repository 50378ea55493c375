"""Fixtures des tests de facturation : scénarios d'acceptance chargés en base, comptes par
rôle, base dans un fichier (ou une base PostgreSQL dédiée) pour les sous-processus, vide ou
avec la démonstration déjà en place."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from .campagnes import prepare_demo
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


def _pg_url() -> str | None:
    """DATABASE_URL si elle désigne PostgreSQL, sinon None (SQLite dans OPSN_DONNEES)."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _with_database(url: str, name: str) -> str:
    return urllib.parse.urlsplit(url)._replace(path=f"/{name}").geturl()


def _subprocess_env(data_dir: Path) -> dict:
    env = {**os.environ, "OPSN_DONNEES": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if _pg_url() is None:
        env.pop("DATABASE_URL", None)
    return env


@contextlib.contextmanager
def _pg_database(url: str, prefix: str) -> Iterator[str]:
    """Base PostgreSQL jetable `<prefix>_<hex>` sur le serveur de DATABASE_URL : son URL,
    puis la base supprimée (connexions comprises) quoi qu'il arrive."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with _pg_admin(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _pg_admin(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def file_db_env(tmp_path):
    """Environnement d'un sous-processus `opsn` sur une base à lui : SQLite dans tmp_path,
    ou, si DATABASE_URL désigne PostgreSQL, une base créée pour le test et supprimée après."""
    env = _subprocess_env(tmp_path)
    url = _pg_url()
    if url is None:
        yield env
        return
    with _pg_database(url, "opsn_kill") as name:
        env["DATABASE_URL"] = _with_database(url, name)
        yield env


class DemoModel(NamedTuple):
    directory: Path  # dossier de données où la démonstration a été construite
    database: str | None  # base PostgreSQL modèle, None pour SQLite (fichier du dossier)


def _settle_sqlite(path: Path) -> None:
    """Reporte un éventuel journal WAL dans le fichier de la base : la copie de chaque test
    ne dépend pas de fichiers `-wal`/`-shm` laissés par le sous-processus. Il a fini et
    ferme d'ordinaire sa connexion (SQLite les supprime alors) ; ceci en est la garantie."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # dernière connexion fermée : SQLite supprime `-wal` et `-shm`
    leftovers = [p.name for p in path.parent.glob(f"{path.name}-*")]
    assert not leftovers, f"fichiers annexes de la base modèle restants : {leftovers}"


@pytest.fixture(scope="session")
def _demo_model(tmp_path_factory):
    """Démonstration (`opsn demo`, ≈ 7 s) construite une seule fois par processus de test,
    puis copiée pour chaque test par `demo_db_env`. pytest-xdist lance plusieurs processus :
    chacun construit son modèle, aucun n'est partagé entre processus. SQLite : un dossier de
    données complet (base, clé secrète, statiques) ; PostgreSQL : une base `opsn_modele_…`,
    supprimée en fin de session, qui sert de gabarit (TEMPLATE)."""
    directory = tmp_path_factory.mktemp("demo-modele")
    env = _subprocess_env(directory)
    url = _pg_url()
    if url is None:
        prepare_demo(env)
        _settle_sqlite(directory / "opsn.sqlite3")
        yield DemoModel(directory, None)
        return
    with _pg_database(url, "opsn_modele") as name:
        env["DATABASE_URL"] = _with_database(url, name)
        # Le sous-processus a fini : plus aucune connexion ouverte sur le modèle, condition
        # pour qu'il serve de gabarit à CREATE DATABASE … TEMPLATE.
        prepare_demo(env)
        yield DemoModel(directory, name)


@pytest.fixture
def demo_db_env(file_db_env, _demo_model):
    """Comme `file_db_env`, mais avec la démonstration déjà en place (sans factures ni
    millésimes, voir `prepare_demo`) : chaque test reçoit sa propre copie intacte du modèle
    construit une fois par processus de test, qu'il peut modifier ou casser sans gêner les
    autres. SQLite : copie du dossier de données du modèle ; PostgreSQL : la base vide du
    test est recréée à partir du modèle (CREATE DATABASE … TEMPLATE), et le dossier de
    données (clé secrète, statiques) est copié de même."""
    env = file_db_env
    shutil.copytree(_demo_model.directory, env["OPSN_DONNEES"], dirs_exist_ok=True)
    if _demo_model.database is not None:
        name = urllib.parse.urlsplit(env["DATABASE_URL"]).path.lstrip("/")
        with _pg_admin(env["DATABASE_URL"]) as conn:
            conn.execute(f'DROP DATABASE "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_demo_model.database}"')
    return env
