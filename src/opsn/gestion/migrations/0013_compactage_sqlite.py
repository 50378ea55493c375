"""SQLite : rend au disque la place libérée par le XML compressé (0012). Sans cela, la base
garde sa taille d'avant (l'ancienne table est vidée, pas rendue) : à l'échelle nationale,
2,6 Go au lieu de 0,65 Go, pour 3,4 s de `VACUUM`. Hors transaction (VACUUM n'y est pas
permis) ; si la base est occupée, la migration passe sans compacter (rien n'est perdu, la
place sera seulement réutilisée par les écritures suivantes)."""

from django.db import DatabaseError, migrations


def vacuum(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
    except DatabaseError:
        pass


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("gestion", "0012_xml_compresse"),
    ]

    operations = [
        migrations.RunPython(vacuum, migrations.RunPython.noop, atomic=False),
    ]
