"""Modèles du back-office. Identifiants anglais, libellés français (verbose_name).

Les règles de prix ne sont pas ici : elles vivent dans les catalogues et le cœur
(`opsn.core`). Les modèles gardent les faits : adhérents, conventions, abonnements,
avenants (historique append-only), usages, interventions, certificats, indices.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Administrateur de l'opérateur"
    BILLING = "facturation", "Chargé de facturation"
    TECHNICIAN = "technicien", "Technicien"
    REFERENT = "referent", "Référent d'un adhérent"


class MemberKind(models.TextChoices):
    COMMUNE = "commune", "Commune"
    EPCI = "epci", "EPCI"
    SYNDICAT = "syndicat", "Syndicat"
    CCAS = "ccas", "CCAS"
    PUBLIC_BODY = "etablissement_public", "Établissement public"
    ANNEX_BUDGET = "budget_annexe", "Budget annexe"


class AppendOnlyError(ValidationError):
    pass


class Operator(models.Model):
    code = models.SlugField("code", max_length=40, unique=True)
    name = models.CharField("nom", max_length=200)
    siren = models.CharField("SIREN", max_length=9, blank=True)
    address = models.TextField("adresse", blank=True)

    class Meta:
        verbose_name = "opérateur"
        verbose_name_plural = "opérateurs"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class StaffMembership(models.Model):
    """Rôle d'un utilisateur chez un opérateur ; un référent est rattaché à un adhérent."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name="utilisateur",
    )
    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="staff", verbose_name="opérateur"
    )
    role = models.CharField("rôle", max_length=20, choices=Role.choices)
    member = models.ForeignKey(
        "Member",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="referents",
        verbose_name="adhérent (référent)",
    )

    class Meta:
        verbose_name = "habilitation"
        verbose_name_plural = "habilitations"
        constraints = [
            models.UniqueConstraint(fields=["user", "operator"], name="one_role_per_operator"),
            models.CheckConstraint(
                condition=(
                    models.Q(role="referent", member__isnull=False)
                    | (~models.Q(role="referent") & models.Q(member__isnull=True))
                ),
                name="referent_has_member",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} ({self.operator.code})"


class CatalogueVersion(models.Model):
    """Une version de catalogue chargée depuis un fichier livré ; figée dès qu'une
    facture émise l'utilise."""

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="catalogues", verbose_name="opérateur"
    )
    version = models.CharField("version", max_length=60)
    label = models.CharField("libellé", max_length=300)
    source_file = models.CharField("fichier source", max_length=300)
    content = models.TextField("contenu YAML")
    sha256 = models.CharField("empreinte SHA-256", max_length=64)
    valid_from = models.DateField("en vigueur à partir du", null=True, blank=True)
    loaded_at = models.DateTimeField("chargée le", auto_now_add=True)
    locked = models.BooleanField("figée (utilisée par une facture émise)", default=False)

    class Meta:
        verbose_name = "version de catalogue"
        verbose_name_plural = "versions de catalogue"
        ordering = ["operator__code", "valid_from", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "version"], name="unique_catalogue_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operator.code}/{self.version}"

    def save(self, *args, **kwargs) -> None:
        self.sha256 = hashlib.sha256(self.content.encode("utf-8")).hexdigest()
        if self.pk:
            previous = (
                CatalogueVersion.objects.filter(pk=self.pk).values("sha256", "locked").first()
            )
            if previous and previous["locked"] and previous["sha256"] != self.sha256:
                raise ValidationError(
                    f"La version {self} est figée : une facture émise l'utilise. Publiez une "
                    "nouvelle version au lieu de la modifier."
                )
        super().save(*args, **kwargs)


class IndexValue(models.Model):
    index = models.CharField("indice", max_length=20, default="syntec")
    month = models.CharField("mois (AAAA-MM)", max_length=7)
    value = models.DecimalField("valeur", max_digits=10, decimal_places=4)
    series = models.CharField("série", max_length=20)
    source = models.CharField("source", max_length=300)

    class Meta:
        verbose_name = "valeur d'indice"
        verbose_name_plural = "valeurs d'indice"
        ordering = ["index", "month", "series"]
        constraints = [
            models.UniqueConstraint(fields=["index", "month", "series"], name="unique_index_month"),
            models.CheckConstraint(condition=models.Q(value__gt=0), name="index_value_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.index.upper()} {self.month} ({self.series}) = {self.value}"


class Member(models.Model):
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="members", verbose_name="opérateur"
    )
    kind = models.CharField("type", max_length=30, choices=MemberKind.choices)
    name = models.CharField("nom", max_length=200)
    insee = models.CharField("code INSEE", max_length=5, blank=True)
    siren = models.CharField("SIREN", max_length=9, blank=True)
    siret = models.CharField("SIRET", max_length=14, blank=True)
    nature = models.CharField("nature d'EPCI", max_length=10, blank=True)
    population_totale = models.PositiveIntegerField("population totale", null=True, blank=True)
    population_municipale = models.PositiveIntegerField(
        "population municipale", null=True, blank=True
    )
    population_source = models.CharField("source de la population", max_length=200, blank=True)
    agents = models.PositiveIntegerField("agents", null=True, blank=True)
    budget_keur = models.DecimalField(
        "budget (k€)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    categories = models.JSONField("catégories", default=list, blank=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attached",
        verbose_name="rattaché à",
    )
    service_code = models.CharField("code service (Chorus Pro)", max_length=100, blank=True)
    engagement_number = models.CharField("numéro d'engagement", max_length=100, blank=True)
    address = models.TextField("adresse", blank=True)
    email = models.EmailField("courriel", blank=True)

    class Meta:
        verbose_name = "adhérent"
        verbose_name_plural = "adhérents"
        ordering = ["name"]
        indexes = [
            models.Index(fields=["operator", "name"]),
            models.Index(fields=["insee"]),
            models.Index(fields=["siren"]),
        ]

    def __str__(self) -> str:
        return self.name


class Convention(models.Model):
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="conventions", verbose_name="opérateur"
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="conventions", verbose_name="adhérent"
    )
    reference = models.CharField("référence", max_length=60)
    catalogue = models.ForeignKey(
        CatalogueVersion,
        on_delete=models.PROTECT,
        related_name="conventions",
        verbose_name="catalogue",
    )
    signed_on = models.DateField("date de signature")
    tacit_renewal = models.BooleanField("reconduction tacite", default=True)
    notice_received_on = models.DateField("préavis reçu le", null=True, blank=True)
    ended_on = models.DateField("fin convenue le", null=True, blank=True)

    class Meta:
        verbose_name = "convention"
        verbose_name_plural = "conventions"
        ordering = ["member__name", "signed_on"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "reference"], name="unique_convention_ref"),
            models.CheckConstraint(
                condition=models.Q(notice_received_on__isnull=True)
                | models.Q(notice_received_on__gte=models.F("signed_on")),
                name="notice_after_signature",
            ),
        ]

    def __str__(self) -> str:
        return f"Convention {self.reference} – {self.member}"


class Subscription(models.Model):
    convention = models.ForeignKey(
        Convention,
        on_delete=models.CASCADE,
        related_name="subscriptions",
        verbose_name="convention",
    )
    service_code = models.CharField("service", max_length=80)
    started_on = models.DateField("début")
    ended_on = models.DateField("fin", null=True, blank=True)
    quantities = models.JSONField("quantités", default=dict, blank=True)
    amounts = models.JSONField("montants saisis", default=dict, blank=True)

    class Meta:
        verbose_name = "abonnement"
        verbose_name_plural = "abonnements"
        ordering = ["convention", "service_code", "started_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_on__isnull=True)
                | models.Q(ended_on__gt=models.F("started_on")),
                name="subscription_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_code} ({self.convention.reference})"


class Amendment(models.Model):
    """Avenant : chaque modification d'une convention, qui et quand ; jamais modifié."""

    convention = models.ForeignKey(
        Convention, on_delete=models.PROTECT, related_name="amendments", verbose_name="convention"
    )
    number = models.PositiveIntegerField("numéro")
    created_at = models.DateTimeField("enregistré le", auto_now_add=True)
    effective_on = models.DateField("prend effet le")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name="par",
    )
    reason = models.TextField("motif", blank=True)
    changes = models.JSONField("modifications", default=list)

    class Meta:
        verbose_name = "avenant"
        verbose_name_plural = "avenants"
        ordering = ["convention", "number"]
        constraints = [
            models.UniqueConstraint(fields=["convention", "number"], name="unique_amendment"),
        ]

    def __str__(self) -> str:
        return f"Avenant n° {self.number} – {self.convention.reference}"

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            raise AppendOnlyError("Un avenant enregistré ne peut pas être modifié.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Un avenant enregistré ne peut pas être supprimé.")


class UsageRecord(models.Model):
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="usage_records", verbose_name="adhérent"
    )
    year = models.PositiveIntegerField("année")
    counter = models.CharField("compteur", max_length=60)
    quantity = models.DecimalField("quantité", max_digits=14, decimal_places=3)
    recorded_at = models.DateTimeField("saisi le", auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="saisi par",
    )

    class Meta:
        verbose_name = "relevé d'usage"
        verbose_name_plural = "relevés d'usage"
        ordering = ["member", "year", "counter"]
        constraints = [
            models.UniqueConstraint(fields=["member", "year", "counter"], name="unique_usage"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="usage_positive"),
        ]


class Intervention(models.Model):
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="interventions", verbose_name="adhérent"
    )
    day = models.DateField("date")
    days = models.DecimalField("durée (jours)", max_digits=5, decimal_places=1)
    label = models.CharField("objet", max_length=300)
    allowance = models.CharField("imputée sur la dotation", max_length=60, blank=True)
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="technicien",
    )

    class Meta:
        verbose_name = "intervention"
        verbose_name_plural = "interventions"
        ordering = ["-day"]
        constraints = [
            models.CheckConstraint(condition=models.Q(days__gt=0), name="intervention_positive"),
        ]


class Certificate(models.Model):
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="certificates", verbose_name="adhérent"
    )
    holder = models.CharField("titulaire", max_length=200)
    kind = models.CharField("type", max_length=100, default="RGS 2*")
    issued_on = models.DateField("émis le")
    expires_on = models.DateField("expire le")

    class Meta:
        verbose_name = "certificat"
        verbose_name_plural = "certificats"
        ordering = ["expires_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gt=models.F("issued_on")),
                name="certificate_expires_after_issue",
            ),
        ]


class AuditEntry(models.Model):
    """Journal d'audit : qui, quand, avant, après. Jamais modifié."""

    operator = models.ForeignKey(
        Operator,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="opérateur",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="auteur",
    )
    at = models.DateTimeField("le", auto_now_add=True)
    action = models.CharField("action", max_length=20)
    object_type = models.CharField("objet", max_length=60)
    object_id = models.CharField("identifiant", max_length=40)
    object_repr = models.CharField("désignation", max_length=300)
    before = models.JSONField("avant", null=True, blank=True)
    after = models.JSONField("après", null=True, blank=True)

    class Meta:
        verbose_name = "entrée du journal d'audit"
        verbose_name_plural = "journal d'audit"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            raise AppendOnlyError("Le journal d'audit ne se modifie pas.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Le journal d'audit ne se modifie pas.")
