"""XML des pièces stocké compressé (zlib, `models.pack_xml`) : chaque pièce existante est
convertie, et relue pour vérifier qu'elle redonne exactement son XML (le journal chaîné
porte sur ces octets). Les déclencheurs de garde des pièces émises sont retirés pendant
toute mise à jour du schéma (`gestion.integrity`), puis remis."""

import zlib

from django.db import migrations, models

LEVEL = 1  # models.XML_ZLIB_LEVEL au moment de cette migration
BATCH = 500


def _rewrite(apps, schema_editor, source, target, convert):
    """Chaque pièce dont `source` n'est pas vide reçoit `convert(source)` dans `target`."""
    Invoice = apps.get_model("gestion", "Invoice")
    objects = Invoice.objects.using(schema_editor.connection.alias)
    empty = Invoice._meta.get_field(source).get_default()
    pending = []
    rows = objects.exclude(**{source: empty}).values_list("pk", source)
    for pk, value in rows.iterator(chunk_size=BATCH):
        pending.append(Invoice(pk=pk, **{target: convert(pk, value)}))
        if len(pending) >= BATCH:
            objects.bulk_update(pending, [target])
            pending = []
    if pending:
        objects.bulk_update(pending, [target])


def _pack(pk, xml):
    data = xml.encode("utf-8")
    packed = zlib.compress(data, LEVEL)
    if zlib.decompress(packed) != data:  # garde-fou : jamais une pièce altérée
        raise RuntimeError(f"XML de la pièce {pk} : la compression ne le redonne pas")
    return packed


def compress_existing(apps, schema_editor):
    _rewrite(apps, schema_editor, "xml", "xml_compressed", _pack)


def restore_text(apps, schema_editor):
    _rewrite(
        apps,
        schema_editor,
        "xml_compressed",
        "xml",
        lambda pk, packed: zlib.decompress(packed).decode("utf-8"),
    )


def external_storage(apps, schema_editor):
    """PostgreSQL : la colonne est déjà compressée, TOAST ne la recompresse pas."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE gestion_invoice ALTER COLUMN xml_compressed SET STORAGE EXTERNAL"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("gestion", "0011_populations_par_annee"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="xml_compressed",
            field=models.BinaryField(
                blank=True,
                default=b"",
                verbose_name="XML Factur-X (CII EN 16931), compressé (zlib)",
            ),
        ),
        migrations.RunPython(compress_existing, restore_text),
        migrations.RemoveField(
            model_name="invoice",
            name="xml",
        ),
        migrations.RunPython(external_storage, migrations.RunPython.noop),
    ]
