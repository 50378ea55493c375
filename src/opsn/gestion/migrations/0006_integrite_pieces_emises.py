"""Pièces émises protégées par la base elle-même (déclencheurs SQLite et PostgreSQL).

Une facture ou un avoir émis, ses lignes, son PDF conservé et le journal chaîné ne se
modifient ni ne se suppriment, même par une requête SQL directe. Sous SQLite, la condition
appelle la fonction `opsn_garde()`, que seule l'application enregistre sur ses connexions
(`opsn.gestion.integrity`) : une connexion qui ne la connaît pas (client `sqlite3` en ligne
de commande) échoue donc aussi (« no such function ») au lieu de modifier.
"""

from django.db import migrations

GUARDED = "OLD.status = 'emise'"
LINE_GUARDED = "(SELECT status FROM gestion_invoice WHERE id = OLD.invoice_id) = 'emise'"
MSG = "Pièce émise : modification et suppression interdites (émettez un avoir)."

SQLITE = []
for table, cond in [
    ("gestion_invoice", GUARDED),
    ("gestion_invoiceline", LINE_GUARDED),
    ("gestion_invoicedocument", "1"),
    ("gestion_journalentry", "1"),
]:
    for event in ("UPDATE", "DELETE"):
        SQLITE.append(
            f"CREATE TRIGGER opsn_{table}_{event.lower()} BEFORE {event} ON {table} "
            f"FOR EACH ROW WHEN ({cond}) AND opsn_garde() "
            f"BEGIN SELECT RAISE(ABORT, '{MSG.replace(chr(39), chr(39) * 2)}'); END;"
        )

PG = [
    f"""
    CREATE OR REPLACE FUNCTION opsn_garde_piece() RETURNS trigger AS $$
    BEGIN
      IF TG_TABLE_NAME = 'gestion_invoice' AND OLD.status <> 'emise' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
      END IF;
      IF TG_TABLE_NAME = 'gestion_invoiceline' AND NOT EXISTS (
          SELECT 1 FROM gestion_invoice WHERE id = OLD.invoice_id AND status = 'emise') THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '{MSG.replace(chr(39), chr(39) * 2)}' USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql;
    """
]
for table in (
    "gestion_invoice",
    "gestion_invoiceline",
    "gestion_invoicedocument",
    "gestion_journalentry",
):
    PG.append(
        f"CREATE TRIGGER opsn_{table}_garde BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION opsn_garde_piece();"
    )


def forwards(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor == "sqlite":
        from opsn.gestion.integrity import register_guard

        register_guard(conn.connection)
        statements = SQLITE
    elif conn.vendor == "postgresql":
        statements = PG
    else:  # pragma: no cover - autres moteurs non pris en charge
        return
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    conn = schema_editor.connection
    tables = (
        "gestion_invoice",
        "gestion_invoiceline",
        "gestion_invoicedocument",
        "gestion_journalentry",
    )
    if conn.vendor == "sqlite":
        for table in tables:
            for event in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS opsn_{table}_{event}")
    elif conn.vendor == "postgresql":
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS opsn_{table}_garde ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS opsn_garde_piece()")


class Migration(migrations.Migration):
    dependencies = [("gestion", "0005_identites_journal_pes")]
    operations = [migrations.RunPython(forwards, backwards)]
