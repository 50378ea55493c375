"""Réglages communs de la suite.

Sur une machine neuve (Python et pip seulement), la suite installe d'abord les paquets
Debian dont ses tests ont besoin (`scripts/ci/systeme.sh` : Chromium, PostgreSQL,
poppler, npm) : la commande de test du README suffit, et l'intégration continue n'installe rien
avant elle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _system_missing() -> list[str]:
    tools = ("chromium", "pdftoppm", "pdftotext", "npm")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql")
    return missing


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # processus de test : rien à préparer
        return
    # La suite passe sur le cœur que le produit utilise sur cette machine : compilé là où
    # elle le peut (`opsn.core.native`, ≈ 10 s la première fois, pendant l'installation des
    # paquets système sur une machine neuve), avant que les processus de test ne
    # l'importent ; `tests/unit/test_coeur_natif.py` repasse les tests du cœur en Python
    # pur, et l'intégration continue la partie PostgreSQL.
    from opsn.core.native import BackgroundBuild

    core = BackgroundBuild()
    _system_packages()
    print(f"\n{core.wait()}")


def _system_packages() -> None:
    if sys.platform != "linux" or os.environ.get("OPSN_SANS_PAQUETS_SYSTEME") == "1":
        return
    missing = _system_missing()
    if not missing:
        return
    print(f"\nInstallation des paquets système nécessaires aux tests : {', '.join(missing)}")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "ci" / "systeme.sh")])
    if result.returncode != 0:
        pytest.exit(
            "Impossible d'installer les paquets Debian nécessaires aux tests "
            f"({', '.join(missing)}) : lancez « bash scripts/ci/systeme.sh » en root.",
            returncode=3,
        )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (réglage par défaut de la suite) : un processus par cœur, au plus 4 ; chaque
    processus a sa base de test (SQLite en mémoire, ou `test_opsn_gwN` sous PostgreSQL) et
    ses navigateurs, au-delà de 4 la mémoire compte plus que les cœurs."""
    return max(1, min(os.cpu_count() or 1, 4))


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


@pytest.fixture(scope="session", autouse=True)
def _close_other_postgres_sessions(request):
    """Sous PostgreSQL, une connexion restée ouverte par un fil d'un serveur de test
    empêcherait de supprimer la base de test à la fin de la session : elles sont fermées
    juste avant (le démontage de ce fixture précède celui de la base)."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        yield
        return
    request.getfixturevalue("django_db_setup")
    blocker = request.getfixturevalue("django_db_blocker")
    from django.db import connection

    yield
    # aucune base de test créée quand aucun test choisi n'en utilise (tests multi-processus
    # seuls) : la connexion désigne encore la base de DATABASE_URL, il n'y a rien à fermer
    if not connection.settings_dict["NAME"].startswith("test_"):
        return
    with blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
