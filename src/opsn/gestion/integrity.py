"""Garde des pièces émises sous SQLite : la fonction `opsn_garde()` appelée par les
déclencheurs (migration 0006). Elle répond 1 (garde active) sur toute connexion de
l'application ; seule la remise à zéro complète d'une base de test la lève
(`purge_allowed`). Une connexion qui ne l'a pas enregistrée ne peut rien modifier."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

_state = {"purge": False}


def _guard() -> int:
    return 0 if _state["purge"] else 1


def register_guard(raw_connection: sqlite3.Connection) -> None:
    raw_connection.create_function("opsn_garde", 0, _guard, deterministic=False)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        register_guard(connection.connection)


@contextlib.contextmanager
def purge_allowed() -> Iterator[None]:
    """Lève la garde le temps de vider une base entière (tests : `flush`)."""
    _state["purge"] = True
    try:
        yield
    finally:
        _state["purge"] = False


def allow_purge(value: bool) -> None:
    _state["purge"] = value
