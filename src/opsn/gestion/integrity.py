"""Pièces émises protégées par la base elle-même (déclencheurs SQLite et PostgreSQL).

Une facture ou un avoir émis, ses lignes, son PDF conservé et le journal chaîné ne se
modifient ni ne se suppriment, même par une requête SQL directe.

Sous SQLite, la condition des déclencheurs appelle la fonction `opsn_garde()`, que seule
l'application enregistre sur ses connexions : une connexion qui ne la connaît pas (client
`sqlite3`) échoue donc aussi (« no such function ») au lieu de modifier. Elle répond 1 (garde
active) ; seule la remise à zéro complète d'une base de test la lève (`purge_allowed`).

Les déclencheurs sont retirés avant chaque `migrate` (signal `pre_migrate`) et réinstallés
après (`post_migrate`) : sous SQLite, une migration qui reconstruit une table perdrait ses
déclencheurs, ou échouerait à cause d'eux.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

MESSAGE = "Pièce émise : modification et suppression interdites (émettez un avoir)."
TABLES = (
    "gestion_invoice",
    "gestion_invoiceline",
    "gestion_invoicedocument",
    "gestion_journalentry",
)
_SQLITE_CONDITIONS = {
    "gestion_invoice": "OLD.status = 'emise'",
    "gestion_invoiceline": (
        "(SELECT status FROM gestion_invoice WHERE id = OLD.invoice_id) = 'emise'"
    ),
    "gestion_invoicedocument": "1",
    "gestion_journalentry": "1",
}
_PG_MESSAGE = MESSAGE.replace("'", "''")
# Une fonction par table : PL/pgSQL évalue une condition en entier, et `OLD.status` n'existe
# pas sur une ligne de facture.
_PG_FUNCTIONS = {
    "gestion_invoice": f"""
CREATE OR REPLACE FUNCTION opsn_garde_facture() RETURNS trigger AS $$
BEGIN
  IF OLD.status = 'emise' THEN
    RAISE EXCEPTION '{_PG_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
""",
    "gestion_invoiceline": f"""
CREATE OR REPLACE FUNCTION opsn_garde_ligne() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM gestion_invoice WHERE id = OLD.invoice_id AND status = 'emise') THEN
    RAISE EXCEPTION '{_PG_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
""",
    "*": f"""
CREATE OR REPLACE FUNCTION opsn_garde_toujours() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '{_PG_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
""",
}
_PG_FUNCTION_NAMES = {
    "gestion_invoice": "opsn_garde_facture",
    "gestion_invoiceline": "opsn_garde_ligne",
}

_state = {"purge": False}


def _guard() -> int:
    return 0 if _state["purge"] else 1


def register_guard(raw_connection: sqlite3.Connection) -> None:
    raw_connection.create_function("opsn_garde", 0, _guard, deterministic=False)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        register_guard(connection.connection)


def install_triggers(connection: Any) -> None:
    """Installe (ou réinstalle) les déclencheurs ; idempotent."""
    existing = set(connection.introspection.table_names())
    tables = [t for t in TABLES if t in existing]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            register_guard(connection.connection)
            message = MESSAGE.replace("'", "''")
            for table in tables:
                for event in ("UPDATE", "DELETE"):
                    cursor.execute(
                        f"CREATE TRIGGER IF NOT EXISTS opsn_{table}_{event.lower()} "
                        f"BEFORE {event} ON {table} FOR EACH ROW "
                        f"WHEN ({_SQLITE_CONDITIONS[table]}) AND opsn_garde() "
                        f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
                    )
        elif connection.vendor == "postgresql":
            for sql in _PG_FUNCTIONS.values():
                cursor.execute(sql)
            for table in tables:
                function = _PG_FUNCTION_NAMES.get(table, "opsn_garde_toujours")
                cursor.execute(f"DROP TRIGGER IF EXISTS opsn_{table}_garde ON {table}")
                cursor.execute(
                    f"CREATE TRIGGER opsn_{table}_garde BEFORE UPDATE OR DELETE ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {function}()"
                )


def drop_triggers(connection: Any) -> None:
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in (t for t in TABLES if t in existing):
            if connection.vendor == "sqlite":
                for event in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS opsn_{table}_{event}")
            elif connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS opsn_{table}_garde ON {table}")


def on_pre_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    drop_triggers(connections[using])


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    install_triggers(connections[using])


@contextlib.contextmanager
def purge_allowed() -> Iterator[None]:
    """Lève la garde le temps de vider une base entière (tests : `flush`)."""
    _state["purge"] = True
    try:
        yield
    finally:
        _state["purge"] = False
