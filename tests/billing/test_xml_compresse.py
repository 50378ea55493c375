"""XML des pièces stocké compressé (migration 0012) : les pièces déjà émises sont converties
sans qu'un octet de leur XML change (le journal chaîné reste intact), et la migration se
défait en redonnant le texte d'origine. SQLite et PostgreSQL."""

from __future__ import annotations

import datetime as dt
import zlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from opsn.facturation.billing import billing_run
from opsn.facturation.journal import verify_chain
from opsn.gestion.integrity import drop_triggers, install_triggers
from opsn.gestion.models import Invoice, Operator, pack_xml, unpack_xml
from opsn.gestion.permissions import SYSTEM

from .scenarios import build_gironde_documents

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("gestion", "0011_populations_par_annee")


def _migrate(target: tuple[str, str] | None) -> None:
    """Vers `target`, ou vers la dernière migration (None) ; comme `migrate`, les gardes des
    pièces émises sont retirées pendant la mise à jour."""
    drop_triggers(connection)
    try:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([target] if target else executor.loader.graph.leaf_nodes("gestion"))
    finally:
        install_triggers(connection)


def test_issued_documents_survive_the_storage_change_byte_for_byte() -> None:
    build_gironde_documents()
    operator = Operator.objects.get(code="gironde-numerique")
    report = billing_run(actor=SYSTEM, operator=operator, year=2021, issued_on=dt.date(2022, 1, 15))
    assert len(report.created) == 3
    texts = {i.pk: i.xml for i in Invoice.objects.all()}
    assert all(t.startswith("<?xml") for t in texts.values())
    stored = dict(Invoice.objects.values_list("pk", "xml_compressed"))
    assert all(len(bytes(stored[pk])) * 3 < len(texts[pk].encode()) for pk in texts)

    _migrate(BEFORE)  # retour au texte
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, xml FROM gestion_invoice")
            assert dict(cursor.fetchall()) == texts
    finally:
        _migrate(None)  # et de nouveau compressé, par la migration cette fois

    assert {i.pk: i.xml for i in Invoice.objects.all()} == texts
    if connection.vendor == "sqlite":  # 0013 : la place de l'ancien texte rendue au disque
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA freelist_count")
            assert cursor.fetchone() == (0,)
    report = verify_chain(operator)
    assert report.ok and report.entries == 3, report.first_break


def test_packing_is_lossless_and_a_draft_stores_nothing() -> None:
    text = "<?xml version='1.0' encoding='UTF-8'?>\n<a>Élan – 1 000,00 €</a>\n".encode()
    packed = pack_xml(text)
    assert zlib.decompress(packed) == text and unpack_xml(memoryview(packed)) == text
    assert pack_xml(b"") == b"" and unpack_xml(b"") == b"" and unpack_xml(None) == b""
    draft = Invoice()
    assert draft.xml == ""
    draft.xml = text.decode()
    assert draft.xml == text.decode() and unpack_xml(draft.xml_compressed) == text
