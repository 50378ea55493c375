from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("gestion", "0005_identites_journal_pes")]

    operations = [
        migrations.RemoveConstraint(model_name="invoice", name="one_invoice_per_member_and_year"),
        migrations.AddField(
            model_name="invoice",
            name="generation",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="1 pour la facture de l'année ; 2, 3… pour une nouvelle facture émise "
                "après l'avoir total de la précédente.",
                verbose_name="rang de la facture de l'année",
            ),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="origin_position",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Rang de la ligne de la facture d'origine que cette ligne d'avoir annule.",
                null=True,
                verbose_name="ligne corrigée (avoir)",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(
                condition=models.Q(kind="facture") & ~models.Q(status="annulee"),
                fields=("operator", "member", "year", "generation"),
                name="one_invoice_per_member_and_year",
            ),
        ),
    ]
