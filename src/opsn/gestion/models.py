"""Modèles du back-office. Identifiants anglais, libellés français (verbose_name).

Les règles de prix ne sont pas ici : elles vivent dans les catalogues et le cœur
(`opsn.core`). Les modèles gardent les faits : adhérents, conventions, abonnements,
avenants (historique append-only), usages, interventions, certificats, indices.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact

from opsn.core import bounds
from opsn.referentiel.normalisation import normaliser

# -- domaines de saisie en base (opsn.core.bounds, docs/backoffice.md) ----------------------
# Dernier rempart : les formulaires, imports, scénarios et services bornent déjà chaque
# valeur avec un message français ; la base refuse ce qui passerait à côté (SQL direct,
# script). Les années ont une borne fixe (la base n'a pas d'horloge) ; les codes SIRET,
# SIREN et INSEE sont vides ou de la bonne longueur (Length : SQLite et PostgreSQL).


def _bounded(name: str, field: str, bound: bounds.Bound, *, nullable: bool = False) -> Any:
    low = (
        models.Q(**{f"{field}__gt": bound.minimum})
        if bound.min_exclusive
        else models.Q(**{f"{field}__gte": bound.minimum})
    )
    condition = low & models.Q(**{f"{field}__lte": bound.maximum})
    if nullable:
        condition |= models.Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(
        condition=condition,
        name=name,
        violation_error_message=f"{bound.label} hors limites : {bound.describe()} est attendu.",
    )


def _year_bounded(name: str, field: str = "year") -> Any:
    return models.CheckConstraint(
        condition=models.Q(
            **{f"{field}__gte": bounds.YEAR_MIN, f"{field}__lte": bounds.YEAR_DB_MAX}
        ),
        name=name,
        violation_error_message=f"année hors limites : de {bounds.YEAR_MIN} à "
        f"{bounds.YEAR_DB_MAX}.",
    )


def _code_length(name: str, field: str, length: int, label: str) -> Any:
    return models.CheckConstraint(
        condition=models.Q(**{field: ""}) | models.Q(Exact(Length(field), length)),
        name=name,
        violation_error_message=f"{label} : {length} caractères attendus (ou vide).",
    )


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
    """Émetteur des factures et des titres : identité légale, comptable public, compte du
    Trésor et codes Hélios (PES V2). Les champs obligatoires sont contrôlés avant chaque
    émission (`opsn.facturation.identites`)."""

    code = models.SlugField("code", max_length=40, unique=True)
    name = models.CharField("raison sociale", max_length=200)
    siren = models.CharField("SIREN", max_length=9, blank=True)
    siret = models.CharField("SIRET", max_length=14, blank=True)
    vat_number = models.CharField(
        "numéro de TVA intracommunautaire",
        max_length=13,
        blank=True,
        help_text="Seulement si l'opérateur est assujetti (prestations soumises ou exonérées).",
    )
    address = models.CharField("adresse (numéro et voie)", max_length=200, blank=True)
    address_complement = models.CharField("complément d'adresse", max_length=200, blank=True)
    postcode = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("commune", max_length=100, blank=True)
    email = models.EmailField("courriel de contact", blank=True)
    territory = models.JSONField(
        "territoire (départements)",
        default=list,
        blank=True,
        help_text="Codes des départements où l'opérateur propose ses services (par exemple "
        '["33"]) : le simulateur public le propose en premier aux collectivités de ce '
        "territoire. Vide : le département de son code postal.",
    )
    electronic_address = models.CharField(
        "adresse électronique de facturation",
        max_length=100,
        blank=True,
        help_text="Adresse de réception des factures électroniques (BT-34), par défaut le SIREN.",
    )
    electronic_address_scheme = models.CharField(
        "schéma de l'adresse électronique", max_length=4, default="0225"
    )
    vat_outside_scope_mention = models.CharField(
        "mention légale hors champ de TVA",
        max_length=300,
        blank=True,
        help_text="Fondement propre à l'opérateur pour les prestations hors du champ de la TVA "
        "(par exemple « TVA non applicable – article 256 B du CGI »).",
    )
    accountant_name = models.CharField("comptable public (poste)", max_length=200, blank=True)
    accountant_address = models.CharField("adresse du comptable", max_length=300, blank=True)
    iban = models.CharField("IBAN du compte au Trésor", max_length=34, blank=True)
    bic = models.CharField("BIC", max_length=11, blank=True)
    pes_id_post = models.CharField("codique du poste comptable (IdPost)", max_length=7, blank=True)
    pes_cod_col = models.CharField("code collectivité Hélios (CodCol)", max_length=3, blank=True)
    pes_cod_bud = models.CharField("code budget Hélios (CodBud)", max_length=2, blank=True)
    pes_budget_label = models.CharField("libellé du budget", max_length=100, blank=True)
    pes_product_code = models.CharField(
        "code produit local par défaut (CodProdLoc)", max_length=4, blank=True
    )
    pes_accounts = models.JSONField(
        "correspondance des imputations",
        default=dict,
        blank=True,
        help_text='Imputation du catalogue → {"nature": compte budgétaire, "produit": '
        'CodProdLoc, "fonction": code fonction}, réglée avec le comptable.',
    )
    # Avis des sommes à payer (ASAP) joint aux titres des débiteurs publics (PES_Facture).
    pes_ref_bdf = models.CharField(
        "numéro émetteur (RefBdf)",
        max_length=13,
        blank=True,
        help_text="Numéro émetteur du budget (paiement par talon) donné par le comptable.",
    )
    pes_signatory_last_name = models.CharField(
        "signataire des titres : nom", max_length=38, blank=True
    )
    pes_signatory_first_name = models.CharField(
        "signataire des titres : prénom", max_length=38, blank=True
    )
    pes_signatory_role = models.CharField(
        "signataire des titres : qualité",
        max_length=50,
        blank=True,
        help_text="Par exemple « Le Président ».",
    )
    pes_collection_centre = models.CharField(
        "centre d'encaissement des finances publiques",
        max_length=200,
        blank=True,
        help_text="TSA éventuel, code postal et ville, par exemple « TSA 12345, 35908 RENNES "
        "CEDEX 9 », donnés par le comptable.",
    )

    class Meta:
        verbose_name = "opérateur"
        verbose_name_plural = "opérateurs"
        ordering = ["code"]
        constraints = [
            _code_length("operator_siren_length", "siren", bounds.SIREN_LENGTH, "SIREN"),
            _code_length("operator_siret_length", "siret", bounds.SIRET_LENGTH, "SIRET"),
        ]

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        # le personnel d'un opérateur n'a aucun pouvoir hors de son opérateur (issue 9)
        if self.user.is_superuser or self.user.is_staff:
            raise ValidationError(
                "Le compte d'un opérateur n'est ni superutilisateur ni « staff » Django."
            )
        if PlatformAdmin.objects.filter(user_id=self.user_id).exists():
            raise ValidationError(
                "Un administrateur de la plateforme n'est personnel d'aucun opérateur."
            )
        super().save(*args, **kwargs)


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

    def save(self, *args: Any, **kwargs: Any) -> None:
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


class PlatformAdmin(models.Model):
    """Administrateur de la plateforme : crée les opérateurs, tient les données de référence
    (indices) et seul entre dans l'administration Django, limitée aux données de la
    plateforme. Jamais personnel d'un opérateur (`opsn.plateforme.comptes`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="platform_admin",
        verbose_name="utilisateur",
    )
    granted_at = models.DateTimeField("habilité le", auto_now_add=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="habilité par",
    )

    class Meta:
        verbose_name = "administrateur de la plateforme"
        verbose_name_plural = "administrateurs de la plateforme"

    def __str__(self) -> str:
        return str(self.user)


INDEX_MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
INDEX_FIRST_MONTH = "1990-01"
SYNTEC_MIN = 50
SYNTEC_MAX = 1000


class IndexValue(models.Model):
    """Donnée de référence de la plateforme (un fait national publié, avec sa source) :
    saisie par l'administrateur de la plateforme, lue par tous les opérateurs ; une valeur
    déjà utilisée par une facture émise ne change plus (`opsn.plateforme.indices`)."""

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
            models.CheckConstraint(
                condition=~models.Q(index="syntec")
                | models.Q(value__gte=SYNTEC_MIN, value__lte=SYNTEC_MAX),
                name="syntec_value_bounds",
            ),
            models.CheckConstraint(
                condition=models.Q(month__regex=INDEX_MONTH_PATTERN, month__gte=INDEX_FIRST_MONTH),
                name="index_month_format",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.index.upper()} {self.month} ({self.series}) = {self.value}"


class Member(models.Model):
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="members", verbose_name="opérateur"
    )
    kind = models.CharField("type", max_length=30, choices=MemberKind.choices)
    name = models.CharField("nom", max_length=200)
    # Nom sans accents, tirets ni majuscules (« saint magne » pour « Saint-Magne ») : la
    # recherche du back-office le compare au texte saisi, normalisé de même, sur SQLite comme
    # sur PostgreSQL. Tenu à jour à chaque enregistrement (`save`).
    search_name = models.CharField(
        "nom normalisé (recherche)", max_length=200, blank=True, default="", editable=False
    )
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
    engagement_number = models.CharField("numéro d'engagement", max_length=50, blank=True)
    engagement_required = models.BooleanField(
        "numéro d'engagement exigé",
        default=False,
        help_text="Le débiteur exige un numéro d'engagement sur ses factures (Chorus Pro).",
    )
    address = models.CharField("adresse (numéro et voie)", max_length=200, blank=True)
    address_complement = models.CharField("complément d'adresse", max_length=200, blank=True)
    postcode = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("commune", max_length=100, blank=True)
    email = models.EmailField("courriel", blank=True)
    electronic_address = models.CharField(
        "adresse électronique de facturation",
        max_length=100,
        blank=True,
        help_text="Adresse de réception des factures électroniques (BT-49), par défaut le SIREN.",
    )
    electronic_address_scheme = models.CharField(
        "schéma de l'adresse électronique", max_length=4, default="0225"
    )

    class Meta:
        verbose_name = "adhérent"
        verbose_name_plural = "adhérents"
        ordering = ["name"]
        indexes = [
            models.Index(fields=["operator", "name"]),
            models.Index(fields=["insee"]),
            models.Index(fields=["siren"]),
        ]
        constraints = [
            _bounded(
                "member_population_bounds", "population_totale", bounds.POPULATION, nullable=True
            ),
            _bounded(
                "member_municipal_population_bounds",
                "population_municipale",
                bounds.POPULATION,
                nullable=True,
            ),
            _bounded("member_agents_bounds", "agents", bounds.AGENTS, nullable=True),
            _bounded("member_budget_bounds", "budget_keur", bounds.BUDGET_KEUR, nullable=True),
            _code_length("member_siren_length", "siren", bounds.SIREN_LENGTH, "SIREN"),
            _code_length("member_siret_length", "siret", bounds.SIRET_LENGTH, "SIRET"),
            _code_length("member_insee_length", "insee", bounds.INSEE_LENGTH, "code INSEE"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_name = normaliser(self.name or "")[:200]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "search_name"}
        super().save(*args, **kwargs)


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
    previous = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="next_versions",
        verbose_name="version précédente",
        help_text="Un avenant qui change les quantités clôt la version en cours et en ouvre une "
        "nouvelle : les années passées gardent les quantités alors en vigueur.",
    )

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk:
            raise AppendOnlyError("Un avenant enregistré ne peut pas être modifié.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
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
            _bounded("usage_quantity_bounds", "quantity", bounds.USAGE),
            _year_bounded("usage_year_bounds"),
        ]

    def __str__(self) -> str:
        return f"Relevé d'usage {self.year} – {self.counter}"


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
            _bounded("intervention_days_bounds", "days", bounds.DAYS),
        ]

    def __str__(self) -> str:
        day = self.day.strftime("%d/%m/%Y") if hasattr(self.day, "strftime") else self.day
        return f"Intervention du {day} – {self.label}"


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
    reason = models.TextField("motif", blank=True, default="")

    class Meta:
        verbose_name = "entrée du journal d'audit"
        verbose_name_plural = "journal d'audit"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk:
            raise AppendOnlyError("Le journal d'audit ne se modifie pas.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Le journal d'audit ne se modifie pas.")


# -- facturation ---------------------------------------------------------------------


class InvoiceKind(models.TextChoices):
    INVOICE = "facture", "Facture"
    CREDIT_NOTE = "avoir", "Avoir"


class InvoiceStatus(models.TextChoices):
    DRAFT = "brouillon", "Brouillon"
    ISSUED = "emise", "Émise"
    CANCELLED = "annulee", "Annulée (brouillon abandonné)"


class ImmutableInvoiceError(ValidationError):
    pass


class InvoiceSequence(models.Model):
    """Séquence chronologique sans trou d'un émetteur (R25), par préfixe annuel."""

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="sequences", verbose_name="opérateur"
    )
    prefix = models.CharField("préfixe", max_length=10)
    last_number = models.PositiveIntegerField("dernier numéro", default=0)
    last_issued_on = models.DateField("dernière date d'émission", null=True, blank=True)

    class Meta:
        verbose_name = "séquence de numérotation"
        verbose_name_plural = "séquences de numérotation"
        constraints = [
            models.UniqueConstraint(fields=["operator", "prefix"], name="unique_sequence"),
        ]


class BillingRun(models.Model):
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="runs", verbose_name="opérateur"
    )
    year = models.PositiveIntegerField("année facturée")
    issued_on = models.DateField("date d'émission")
    created_at = models.DateTimeField("lancée le", auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="par",
    )
    invoices_created = models.PositiveIntegerField("factures créées", default=0)
    blocked = models.JSONField("adhérents bloqués", default=list)

    class Meta:
        verbose_name = "campagne de facturation"
        verbose_name_plural = "campagnes de facturation"
        ordering = ["-created_at"]
        constraints = [_year_bounded("billing_run_year_bounds")]


class _IssuedGuardQuerySet(models.QuerySet):
    """Refuse `update()` et `delete()` en masse dès qu'une pièce émise est concernée."""

    status_lookup = "status"
    what = "Une facture émise"

    def _guard(self, verb: str) -> None:
        if self.filter(**{self.status_lookup: InvoiceStatus.ISSUED}).exists():
            raise ImmutableInvoiceError(f"{self.what} ne se {verb} pas : émettez un avoir.")

    def update(self, **kwargs: Any) -> int:
        self._guard("modifie")
        return super().update(**kwargs)

    def delete(self) -> Any:
        self._guard("supprime")
        return super().delete()


class InvoiceQuerySet(_IssuedGuardQuerySet):
    pass


# Compression du XML des pièces : zlib (bibliothèque standard), niveau 1. Sur les pièces de
# l'échelle nationale : 1 Go de XML ramené à ≈ 0,2 Go, 3,6 s de compression pour 56 000
# pièces, moins que l'écriture et la recopie (journal WAL puis base) qu'elle épargne.
XML_ZLIB_LEVEL = 1


def pack_xml(data: bytes) -> bytes:
    """Forme stockée du XML d'une pièce (vide pour un brouillon)."""
    return zlib.compress(data, XML_ZLIB_LEVEL) if data else b""


def unpack_xml(stored: bytes | memoryview | None) -> bytes:
    """XML d'une pièce à partir de sa forme stockée (`pack_xml`)."""
    return zlib.decompress(stored) if stored else b""


class Invoice(models.Model):
    """Facture ou avoir. Un brouillon n'a pas de numéro ; l'émission lui donne le suivant de
    la séquence, et plus rien ne change ensuite (corrections par avoir)."""

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="invoices", verbose_name="émetteur"
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="invoices", verbose_name="débiteur"
    )
    run = models.ForeignKey(
        BillingRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        verbose_name="campagne",
    )
    convention = models.ForeignKey(
        Convention,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        verbose_name="convention",
    )
    catalogue = models.ForeignKey(
        CatalogueVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        verbose_name="catalogue",
    )
    kind = models.CharField(
        "nature", max_length=10, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE
    )
    status = models.CharField(
        "statut", max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    year = models.PositiveIntegerField("année facturée")
    number = models.CharField("numéro", max_length=30, null=True, blank=True)
    sequence_number = models.PositiveIntegerField("rang dans la séquence", null=True, blank=True)
    issued_on = models.DateField("date d'émission", null=True, blank=True)
    due_on = models.DateField("échéance", null=True, blank=True)
    period_start = models.DateField("période du")
    period_end = models.DateField("période au")
    total_ht = models.DecimalField("total HT", max_digits=14, decimal_places=2, default=0)
    total_tva = models.DecimalField("total TVA", max_digits=14, decimal_places=2, default=0)
    total_ttc = models.DecimalField("total TTC", max_digits=14, decimal_places=2, default=0)
    vat_breakdown = models.JSONField("TVA par taux", default=list)
    issuer = models.JSONField("émetteur (copie)", default=dict)
    debtor = models.JSONField("débiteur (copie)", default=dict)
    credited_invoice = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name="facture corrigée",
    )
    reason = models.TextField("motif (avoir)", blank=True)
    generation = models.PositiveSmallIntegerField(
        "rang de la facture de l'année",
        default=1,
        help_text="1 pour la facture de l'année ; 2, 3… pour une nouvelle facture émise après "
        "l'avoir total de la précédente.",
    )
    # Le XML tel qu'émis, compressé (`pack_xml`) : 17 Ko par facture, 1 Go par an à l'échelle
    # nationale, ramené au cinquième ; il se lit par `xml`.
    xml_compressed = models.BinaryField(
        "XML Factur-X (CII EN 16931), compressé (zlib)", blank=True, default=b""
    )

    objects = InvoiceQuerySet.as_manager()

    @property
    def xml(self) -> str:
        """XML Factur-X (CII EN 16931) de la pièce émise, octet pour octet ; vide pour un
        brouillon."""
        return unpack_xml(self.xml_compressed).decode("utf-8")

    @xml.setter
    def xml(self, text: str) -> None:
        self.xml_compressed = pack_xml(text.encode("utf-8"))

    class Meta:
        verbose_name = "facture"
        verbose_name_plural = "factures"
        ordering = ["operator", "sequence_number", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "number"], name="unique_invoice_number"),
            models.UniqueConstraint(
                fields=["operator", "member", "year", "generation"],
                condition=models.Q(kind="facture") & ~models.Q(status="annulee"),
                name="one_invoice_per_member_and_year",
            ),
            models.CheckConstraint(
                condition=models.Q(status="emise", number__isnull=False, issued_on__isnull=False)
                | (~models.Q(status="emise") & models.Q(number__isnull=True)),
                name="issued_invoice_has_number",
            ),
            _year_bounded("invoice_year_bounds"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number or '(brouillon)'} – {self.member}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk:
            previous = Invoice.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if previous == InvoiceStatus.ISSUED:
                raise ImmutableInvoiceError(
                    f"La facture {self.number} est émise : elle ne change plus (émettez un avoir)."
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        # l'état en base fait foi : une copie en mémoire d'un ancien brouillon ne suffit pas
        if (
            self.status == InvoiceStatus.ISSUED
            or Invoice.objects.filter(pk=self.pk, status=InvoiceStatus.ISSUED).exists()
        ):
            raise ImmutableInvoiceError("Une facture émise ne se supprime pas.")
        return super().delete(*args, **kwargs)


class InvoiceLineQuerySet(_IssuedGuardQuerySet):
    status_lookup = "invoice__status"
    what = "Une ligne de facture émise"


class InvoiceLine(models.Model):
    """Une ligne garde tout ce qui l'explique (R25) : règle, strate, prix de base et année,
    rapport d'indice, catalogue."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name="facture"
    )
    position = models.PositiveIntegerField("rang")
    service_code = models.CharField("service", max_length=80)
    component = models.CharField("composante", max_length=80)
    label = models.CharField("libellé", max_length=400)
    family = models.CharField("famille", max_length=80)
    quantity = models.DecimalField("quantité", max_digits=14, decimal_places=3)
    unit = models.CharField("unité", max_length=40)
    unit_price = models.DecimalField("prix unitaire", max_digits=14, decimal_places=2)
    amount = models.DecimalField("montant", max_digits=14, decimal_places=2)
    vat_kind = models.CharField("régime de TVA", max_length=10)
    vat_rate = models.DecimalField("taux de TVA", max_digits=5, decimal_places=2)
    vat_label = models.CharField("libellé TVA", max_length=200)
    vat_mention = models.CharField("mention TVA", max_length=300, blank=True)
    rule = models.CharField("règle", max_length=300)
    stratum = models.CharField("strate ou palier", max_length=300, blank=True)
    base_price = models.DecimalField(
        "prix de base", max_digits=14, decimal_places=2, null=True, blank=True
    )
    base_year = models.PositiveIntegerField("année du prix de base", null=True, blank=True)
    index_ratio = models.DecimalField(
        "rapport d'indice", max_digits=12, decimal_places=6, null=True, blank=True
    )
    explanation = models.TextField("explication")
    revenue_account = models.CharField("imputation", max_length=40, blank=True)
    origin_position = models.PositiveIntegerField(
        "ligne corrigée (avoir)",
        null=True,
        blank=True,
        help_text="Rang de la ligne de la facture d'origine que cette ligne d'avoir annule.",
    )

    objects = InvoiceLineQuerySet.as_manager()

    class Meta:
        verbose_name = "ligne de facture"
        verbose_name_plural = "lignes de facture"
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="unique_line_position"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if Invoice.objects.filter(pk=self.invoice_id, status=InvoiceStatus.ISSUED).exists():
            raise ImmutableInvoiceError("Les lignes d'une facture émise ne se modifient pas.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if Invoice.objects.filter(pk=self.invoice_id, status=InvoiceStatus.ISSUED).exists():
            raise ImmutableInvoiceError("Les lignes d'une facture émise ne se suppriment pas.")
        return super().delete(*args, **kwargs)


class ChangeRequestKind(models.TextChoices):
    ADD = "ajout", "Ajouter un service"
    QUANTITY = "quantite", "Changer une quantité"
    STOP = "arret", "Arrêter un service"
    NOTICE = "preavis", "Dénoncer la convention (préavis)"
    OTHER = "autre", "Autre demande"


class ChangeRequestStatus(models.TextChoices):
    PENDING = "en_attente", "En attente"
    ACCEPTED = "acceptee", "Acceptée (avenant enregistré)"
    REFUSED = "refusee", "Refusée"
    CLOSED = "traitee", "Traitée"


class ChangeRequest(models.Model):
    """Demande de modification adressée par le référent d'un adhérent (portail) : ajout d'un
    service, changement de quantité, arrêt d'un service, préavis ou texte libre. Le
    personnel l'accepte (avenant pré-rempli) ou la refuse avec un motif que le référent lit."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="requests", verbose_name="adhérent"
    )
    convention = models.ForeignKey(
        Convention,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="requests",
        verbose_name="convention",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="demandeur",
    )
    created_at = models.DateTimeField("déposée le", auto_now_add=True)
    message = models.TextField("demande")
    kind = models.CharField(
        "nature", max_length=10, choices=ChangeRequestKind.choices, default=ChangeRequestKind.OTHER
    )
    service_code = models.CharField("service", max_length=80, blank=True)
    subscription = models.ForeignKey(
        "Subscription",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="abonnement concerné",
    )
    quantities = models.JSONField("quantités demandées", default=dict, blank=True)
    estimate = models.JSONField(
        "estimation montrée au référent",
        default=dict,
        blank=True,
        help_text="Coût annuel avant et après la modification, et pour un préavis la date de "
        "fin (R22), tels qu'affichés au dépôt de la demande.",
    )
    status = models.CharField(
        "suite",
        max_length=12,
        choices=ChangeRequestStatus.choices,
        default=ChangeRequestStatus.PENDING,
    )
    response = models.TextField("réponse de l'opérateur", blank=True)
    amendment = models.ForeignKey(
        "Amendment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="avenant issu de la demande",
    )
    handled_at = models.DateTimeField("traitée le", null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="traitée par",
    )

    class Meta:
        verbose_name = "demande de modification"
        verbose_name_plural = "demandes de modification"
        ordering = ["-created_at"]


class Notification(models.Model):
    """Avis au référent d'un adhérent (portail, et par courriel) : demande acceptée ou
    refusée, facture émise."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="notifications", verbose_name="adhérent"
    )
    kind = models.CharField("nature", max_length=20)
    message = models.CharField("message", max_length=500)
    link = models.CharField("lien", max_length=300, blank=True)
    created_at = models.DateTimeField("le", auto_now_add=True)
    read_at = models.DateTimeField("lue le", null=True, blank=True)

    class Meta:
        verbose_name = "avis au référent"
        verbose_name_plural = "avis aux référents"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["member", "-created_at"], name="notification_recent")]


class Quote(models.Model):
    """Devis établi par le simulateur public : la collectivité, ses choix et le chiffrage tels
    qu'affichés (copie figée, rendue à l'identique par sa référence), valable 3 mois."""

    reference = models.CharField("référence", max_length=20, unique=True)
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="quotes", verbose_name="opérateur"
    )
    catalogue = models.ForeignKey(
        CatalogueVersion,
        on_delete=models.PROTECT,
        related_name="quotes",
        verbose_name="catalogue",
    )
    issued_on = models.DateField("établi le")
    valid_until = models.DateField("valable jusqu'au")
    year = models.PositiveIntegerField("année des tarifs")
    subject = models.JSONField("collectivité", default=dict)
    selection = models.JSONField("choix", default=dict)
    result = models.JSONField("chiffrage", default=dict)
    created_at = models.DateTimeField("enregistré le", auto_now_add=True)

    class Meta:
        verbose_name = "devis"
        verbose_name_plural = "devis"
        ordering = ["-created_at", "-pk"]
        constraints = [_year_bounded("quote_year_bounds")]

    def __str__(self) -> str:
        return f"Devis {self.reference}"


class Lead(models.Model):
    """Demande de contact laissée par un visiteur depuis un devis : le personnel de
    l'opérateur la voit dans le back-office (page « Prospects »)."""

    quote = models.ForeignKey(
        Quote, on_delete=models.PROTECT, related_name="leads", verbose_name="devis"
    )
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="leads", verbose_name="opérateur"
    )
    name = models.CharField("nom", max_length=200)
    role = models.CharField("fonction", max_length=200, blank=True)
    email = models.EmailField("courriel")
    phone = models.CharField("téléphone", max_length=30, blank=True)
    message = models.TextField("message", blank=True)
    created_at = models.DateTimeField("reçue le", auto_now_add=True)
    handled_at = models.DateTimeField("traitée le", null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="traitée par",
    )

    class Meta:
        verbose_name = "demande de contact"
        verbose_name_plural = "demandes de contact"
        ordering = ["-created_at", "-pk"]


# -- pièces émises : PDF conservé, journal chaîné, titres de recettes (PES V2) ------------


class InvoiceDocument(models.Model):
    """PDF Factur-X d'une pièce émise, conservé tel que rendu la première fois (avec son
    empreinte) : chaque téléchargement sert les mêmes octets."""

    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="document", verbose_name="pièce"
    )
    pdf = models.BinaryField("PDF/A-3 Factur-X")
    sha256 = models.CharField("empreinte SHA-256 du PDF", max_length=64)
    rendered_at = models.DateTimeField("rendu le", auto_now_add=True)

    class Meta:
        verbose_name = "PDF conservé"
        verbose_name_plural = "PDF conservés"


class JournalEntry(models.Model):
    """Journal append-only des pièces émises d'un opérateur : chaque entrée enchaîne
    l'empreinte de la pièce (XML Factur-X et données de tête) à celle de l'entrée
    précédente. `opsn factures verifier` recalcule la chaîne."""

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="journal", verbose_name="opérateur"
    )
    position = models.PositiveIntegerField("rang")
    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="journal_entry", verbose_name="pièce"
    )
    document_sha256 = models.CharField("empreinte de la pièce", max_length=64)
    previous_hash = models.CharField("maillon précédent", max_length=64)
    chain_hash = models.CharField("maillon", max_length=64)
    at = models.DateTimeField("enregistré le", auto_now_add=True)

    class Meta:
        verbose_name = "entrée du journal des pièces"
        verbose_name_plural = "journal des pièces"
        ordering = ["operator", "position"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "position"], name="unique_journal_rank"),
        ]


class PesBordereau(models.Model):
    """Bordereau de titres d'un flux PES V2 Recette : numéroté par exercice et par type de
    bordereau (01 ordinaire, 02 annulation-réduction), sans trou, indépendamment des
    numéros de facture."""

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="bordereaux", verbose_name="opérateur"
    )
    year = models.PositiveIntegerField("exercice")
    kind = models.CharField("type de bordereau (TypBord)", max_length=2)
    number = models.PositiveIntegerField("numéro (IdBord)")
    issued_on = models.DateField("date d'émission")
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    flow_name = models.CharField("nom du fichier PES", max_length=100, blank=True)

    class Meta:
        verbose_name = "bordereau de titres"
        verbose_name_plural = "bordereaux de titres"
        ordering = ["operator", "year", "kind", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "year", "kind", "number"], name="unique_bordereau"
            ),
            _year_bounded("bordereau_year_bounds"),
        ]


class PesTitre(models.Model):
    """Titre de recettes (pièce PES) d'une facture ou d'un avoir : un par pièce émise,
    numéroté par exercice (IdPce) sans trou."""

    bordereau = models.ForeignKey(
        PesBordereau, on_delete=models.PROTECT, related_name="titres", verbose_name="bordereau"
    )
    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="titre", verbose_name="pièce"
    )
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="+", verbose_name="opérateur"
    )
    year = models.PositiveIntegerField("exercice")
    number = models.PositiveIntegerField("numéro de titre (IdPce)")

    class Meta:
        verbose_name = "titre de recettes"
        verbose_name_plural = "titres de recettes"
        ordering = ["operator", "year", "number"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "year", "number"], name="unique_titre"),
            _year_bounded("titre_year_bounds"),
        ]


class BackgroundTask(models.Model):
    """Tâche de fond lancée depuis le back-office (`opsn.plateforme.taches`) : pour quel
    opérateur, par qui, au nom de quel droit, où elle en est et ce qu'elle a produit.

    L'état (en attente, en cours, terminée, échec) est celui de la file (`django_tasks_db`,
    identifiant `task_id`) ; cette fiche porte ce que la file ignore : l'opérateur et le droit
    qui décident qui la voit, la progression, le résumé et le fichier produit."""

    task_id = models.UUIDField("identifiant dans la file", unique=True)
    kind = models.CharField("nature", max_length=40)
    label = models.CharField("libellé", max_length=300)
    operator = models.ForeignKey(
        Operator,
        on_delete=models.PROTECT,
        related_name="background_tasks",
        verbose_name="opérateur",
    )
    action = models.CharField("droit requis", max_length=40)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="lancée par",
    )
    created_at = models.DateTimeField("lancée le", auto_now_add=True)
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retries",
        verbose_name="relance de",
    )
    work_key = models.CharField("dossier de travail", max_length=64)
    step = models.CharField("étape", max_length=200, blank=True)
    progress_done = models.PositiveIntegerField("fait", default=0)
    progress_total = models.PositiveIntegerField("à faire", null=True, blank=True)
    summary = models.TextField("résultat", blank=True)
    errors = models.JSONField("erreurs", default=list, blank=True)
    link = models.CharField("page du résultat", max_length=300, blank=True)
    output_name = models.CharField("fichier produit", max_length=200, blank=True)

    class Meta:
        verbose_name = "tâche de fond"
        verbose_name_plural = "tâches de fond"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["operator", "-created_at"], name="task_operator_recent")]

    def __str__(self) -> str:
        return self.label


class ReferentialPopulation(models.Model):
    """Population d'une commune (code INSEE) ou d'un EPCI (SIREN) en vigueur une année de
    facturation, et EPCI de la commune cette année-là (R4, R6). Copie des millésimes du
    référentiel livré (`opsn.referentiel.millesimes`), chargée par `opsn referentiel
    millesimes` ; la facturation de l'année N lit les lignes de l'année N."""

    code = models.CharField("code INSEE ou SIREN", max_length=9)
    year = models.PositiveSmallIntegerField("année d'effet")
    population_totale = models.PositiveIntegerField("population totale", null=True)
    population_municipale = models.PositiveIntegerField("population municipale", null=True)
    census_year = models.PositiveSmallIntegerField("recensement", null=True)
    census_year_totale = models.PositiveSmallIntegerField(
        "recensement de la population totale", null=True
    )
    epci_siren = models.CharField("EPCI de la commune", max_length=9, blank=True)
    source = models.CharField("source", max_length=300)

    class Meta:
        verbose_name = "population du référentiel par année"
        verbose_name_plural = "populations du référentiel par année"
        constraints = [
            models.UniqueConstraint(fields=["year", "code"], name="referential_population_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.year} : {self.population_totale}"
