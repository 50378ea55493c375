"""Éléments communs des commandes `opsn` : application Typer, consoles, sortie en erreur,
démarrage de Django, acteur et opérateurs désignés en ligne de commande."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from opsn.cli.francais import installer as _installer_francais

_installer_francais()  # aide et erreurs de Typer en français (opsn/cli/francais.py)

app = typer.Typer(
    help="opsn : catalogues, simulations et facturation des opérateurs publics de services "
    "numériques.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

console = Console(width=140)
# erreurs sans retour à la ligne inséré : le terminal replie, un chemin de fichier reste
# entier (copiable, lisible par un script), quelle que soit la largeur
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]Erreur[/] : {message}", highlight=False)
    raise typer.Exit(code=1)


def _django() -> None:
    from opsn.web.bootstrap import setup

    setup()


# verrou consultatif PostgreSQL des mises à jour du schéma (une seule à la fois)
_MIGRATION_LOCK = 4241


def _pending_migrations() -> bool:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _migrate() -> None:
    """Met la base à jour avant une commande. Plusieurs commandes démarrent souvent ensemble
    (travailleurs, campagnes simultanées) : une base déjà à jour n'est pas touchée (pas de
    signal de migration, donc les déclencheurs de garde des pièces émises restent en place) ;
    sinon les mises à jour passent l'une après l'autre (verrou consultatif sous PostgreSQL,
    verrou de fichier à côté de la base SQLite)."""
    from django.core.management import call_command
    from django.db import connection

    if not _pending_migrations():
        return
    with contextlib.ExitStack() as stack:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
            stack.callback(_advisory_unlock, connection)
        elif connection.vendor == "sqlite":
            name = str(connection.settings_dict["NAME"])
            if name and ":memory:" not in name and "mode=memory" not in name:
                lock = stack.enter_context(Path(f"{name}.migration.lock").open("a"))
                fcntl.flock(lock, fcntl.LOCK_EX)
        if _pending_migrations():  # un autre processus a pu la faire pendant l'attente
            call_command("migrate", interactive=False, verbosity=0)


def _advisory_unlock(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])


def _actor(username: str | None):  # noqa: ANN202
    from django.contrib.auth import get_user_model

    from opsn.gestion.permissions import SYSTEM

    if username is None:
        return SYSTEM
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        _fail(f"utilisateur « {username} » inconnu.")
    return user


def _operators(code: str | None) -> list:
    from opsn.gestion.models import Operator

    operators = list(Operator.objects.order_by("code"))
    if code:
        operators = [o for o in operators if o.code == code]
        if not operators:
            _fail(f"opérateur « {code} » inconnu.")
    if not operators:
        _fail("aucun opérateur en base : lancez d'abord « opsn demo » ou chargez les catalogues.")
    return operators


def _year(value: int, today: dt.date | None = None) -> int:
    """Année de facturation ou d'usage dans son domaine (opsn.core.bounds), sinon sortie en
    erreur : de 2000 à l'année suivant `today` (par défaut la date du jour)."""
    from opsn.core.bounds import BoundError, check_year

    try:
        return check_year(value, today or dt.date.today())
    except BoundError as exc:
        _fail(f"--annee : {exc}")
        raise  # pragma: no cover - _fail sort toujours


def _date_option(value: str | None, option: str) -> dt.date:
    """Date AAAA-MM-JJ d'une option (par défaut aujourd'hui), bornée (opsn.core.bounds)."""
    from opsn.core.bounds import BoundError, parse_date

    today = dt.date.today()
    if not value:
        return today
    try:
        return parse_date(value, today)
    except BoundError as exc:
        _fail(f"{option} : {exc}")
        raise  # pragma: no cover


def _write_text(path: Path, text: str) -> None:
    """Écrit un fichier de sortie ; dossier absent ou interdit : message français."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"impossible d'écrire {path} : {_os_reason(exc)}.")


def _writable_dir(path: Path) -> Path:
    """Crée au besoin le dossier de sortie et vérifie qu'on peut y écrire."""
    import os

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"impossible de créer le dossier {path} : {_os_reason(exc)}.")
    if not os.access(path, os.W_OK | os.X_OK):
        _fail(f"impossible d'écrire dans le dossier {path} : permission refusée.")
    return path


def _os_reason(exc: OSError) -> str:
    import errno

    return {
        errno.ENOENT: "dossier introuvable",
        errno.EACCES: "permission refusée",
        errno.EPERM: "opération interdite",
        errno.EISDIR: "c'est un dossier",
        errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
        errno.EEXIST: "un fichier du même nom existe déjà",
        errno.EROFS: "système de fichiers en lecture seule",
        errno.ENOSPC: "plus de place sur le disque",
    }.get(exc.errno or 0, exc.strerror or str(exc))


def _bounded_int(value: int, option: str, low: int, high: int) -> int:
    """Entier d'option borné, avec un message français (plutôt que celui de Click)."""
    if not low <= value <= high:
        _fail(f"{option} : {value} hors limites (de {low} à {high}).")
    return value
