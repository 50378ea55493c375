"""Écriture en masse des pièces d'une campagne, en SQL direct, sans instances de modèles.

Une campagne nationale écrit 56 000 factures, 480 000 lignes et autant d'entrées de journal
qu'elle émet de pièces : la préparation champ par champ de Django (`bulk_create`) en
coûtait l'essentiel. Les valeurs sont déjà des types simples (texte, entier, `Decimal`,
date) ; seuls les champs JSON passent par l'adaptateur de la base.

- factures : `INSERT` à plusieurs lignes avec `RETURNING id` (SQLite 3.35+, PostgreSQL
  avec paramètres liés par le serveur), par paquets de 500, pour connaître leurs clés ;
- lignes et entrées de journal : `executemany` sous SQLite (environ 1 µs la ligne),
  `COPY … FROM STDIN` sous PostgreSQL.

Les colonnes écrites sont nommées ici (`INVOICE_COLUMNS`…) ; une colonne ajoutée au
modèle prend sa valeur par défaut, une colonne sans défaut est signalée dès l'import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import NOT_PROVIDED, Model

from opsn.gestion.models import Invoice, InvoiceLine, JournalEntry

INVOICE_COLUMNS = (
    "operator_id",
    "member_id",
    "run_id",
    "convention_id",
    "catalogue_id",
    "kind",
    "status",
    "year",
    "number",
    "sequence_number",
    "issued_on",
    "due_on",
    "period_start",
    "period_end",
    "total_ht",
    "total_tva",
    "total_ttc",
    "vat_breakdown",
    "issuer",
    "debtor",
    "generation",
    "xml_compressed",
)
INVOICE_JSON = ("vat_breakdown", "issuer", "debtor")
LINE_COLUMNS = (
    "invoice_id",
    "position",
    "service_code",
    "component",
    "label",
    "family",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "vat_kind",
    "vat_rate",
    "vat_label",
    "vat_mention",
    "rule",
    "stratum",
    "base_price",
    "base_year",
    "index_ratio",
    "explanation",
    "revenue_account",
)
JOURNAL_COLUMNS = (
    "operator_id",
    "position",
    "invoice_id",
    "document_sha256",
    "previous_hash",
    "chain_hash",
    "at",
)
INVOICE_BATCH = 500


class _Table:
    """Colonnes d'une table : celles que la campagne donne, puis les autres avec leur
    valeur par défaut (constante)."""

    def __init__(self, model: type[Model], given: Sequence[str]) -> None:
        fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
        unknown = set(given) - set(fields)
        if unknown:
            raise LookupError(f"{model.__name__} : colonnes inconnues {sorted(unknown)}")
        self.model = model
        self.given = tuple(given)
        self.rest = tuple(name for name in fields if name not in given)
        for name in self.rest:
            field = fields[name]
            if field.default is NOT_PROVIDED and not (field.null or field.empty_strings_allowed):
                raise LookupError(f"{model.__name__}.{name} : ni valeur ni défaut")
        self.defaults = tuple(fields[name].get_default() for name in self.rest)
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.columns = ", ".join(quote(fields[name].column) for name in self.given + self.rest)
        self.placeholder = "(" + ", ".join(["%s"] * (len(self.given) + len(self.rest))) + ")"
        self.pk = quote(model._meta.pk.column)

    def full(self, row: Sequence[Any]) -> tuple:
        return (*row, *self.defaults) if self.defaults else tuple(row)


class BulkWriter:
    """Écrit factures, lignes et entrées de journal d'une campagne sur la connexion
    courante (dans la transaction de la campagne)."""

    def __init__(self) -> None:
        self.invoices = _Table(Invoice, INVOICE_COLUMNS)
        self.lines = _Table(InvoiceLine, LINE_COLUMNS)
        self.journal = _Table(JournalEntry, JOURNAL_COLUMNS)
        self.postgres = connection.vendor == "postgresql"
        self._json = [INVOICE_COLUMNS.index(name) for name in INVOICE_JSON]

    def json(self, value: Any) -> Any:
        """Valeur d'un champ JSON telle que la base l'attend (texte, ou Jsonb)."""
        return connection.ops.adapt_json_value(value, None)

    def write_invoices(self, rows: list[list[Any]]) -> list[int]:
        """Insère les factures (valeurs dans l'ordre de `INVOICE_COLUMNS`, champs JSON en
        valeurs Python) ; rend leurs clés, dans l'ordre."""
        table = self.invoices
        ids: list[int] = []
        with self._binding_cursor() as cursor:
            for start in range(0, len(rows), INVOICE_BATCH):
                batch = rows[start : start + INVOICE_BATCH]
                params: list[Any] = []
                # un même objet (l'émetteur) adapté une fois ; gardé en vie avec sa valeur
                # adaptée, pour que son identifiant ne serve pas à un autre
                adapted: dict[int, tuple[Any, Any]] = {}
                for row in batch:
                    for i in self._json:
                        value = row[i]
                        found = adapted.get(id(value))
                        if found is None:
                            found = adapted[id(value)] = (value, self.json(value))
                        row[i] = found[1]
                    params.extend(table.full(row))
                cursor.execute(
                    f"INSERT INTO {table.table} ({table.columns}) VALUES "
                    + ", ".join([table.placeholder] * len(batch))
                    + f" RETURNING {table.pk}",
                    params,
                )
                ids.extend(row[0] for row in cursor.fetchall())
        return ids

    def _binding_cursor(self) -> Any:
        """Curseur à paramètres liés par le serveur sous PostgreSQL : le XML (17 Ko par
        facture) n'est pas recopié dans le texte de la requête, que le serveur relirait
        caractère par caractère ; les enveloppes d'exécution de Django restent actives."""
        if not self.postgres:
            return connection.cursor()
        from django.db.backends.postgresql.base import ServerBindingCursor

        connection.ensure_connection()
        return connection.make_cursor(ServerBindingCursor(connection.connection))

    def write_lines(self, rows: Iterable[Sequence[Any]]) -> None:
        """Lignes dans l'ordre de `LINE_COLUMNS`."""
        self._copy_or_insert(self.lines, rows)

    def write_journal(self, rows: Iterable[Sequence[Any]]) -> None:
        """Entrées de journal dans l'ordre de `JOURNAL_COLUMNS` (`at` : `now()`)."""
        self._copy_or_insert(self.journal, rows)

    def now(self, value: Any) -> Any:
        return value if self.postgres else connection.ops.adapt_datetimefield_value(value)

    def _copy_or_insert(self, table: _Table, rows: Iterable[Sequence[Any]]) -> None:
        with connection.cursor() as cursor:
            if self.postgres:
                sql = f"COPY {table.table} ({table.columns}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    write = copy.write_row
                    defaults = table.defaults
                    for row in rows:
                        write((*row, *defaults) if defaults else row)
                return
            full = table.full
            cursor.executemany(
                f"INSERT INTO {table.table} ({table.columns}) VALUES {table.placeholder}",
                [full(row) for row in rows],
            )
